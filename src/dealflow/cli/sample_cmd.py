"""``dealflow sample``: load a bundled real dataset."""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, console, open_store, tidy_note
from dealflow.errors import DealflowError
from dealflow.samples import HERE, SAMPLES

SampleName = StrEnum("SampleName", {n: n for n in SAMPLES})  # type: ignore[misc]


@app.command()
def sample(
    name: Annotated[SampleName, typer.Argument(help="Which sample.", metavar="NAME")] = SampleName.maven_crm,  # type: ignore[attr-defined]
    db: DbOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="Read the same files from this folder instead of the bundled copy.", show_default=False)] = None,
) -> None:
    """Load a bundled real sample: maven_crm (8,800 B2B deals) or bpi2012 (13,087 loan applications).

    Loading twice changes nothing.

    Example:
        dealflow sample maven_crm --db demo.db
    """
    from dealflow.ingest import load_mapping, run_import

    if data_dir is not None and not data_dir.is_dir():
        raise DealflowError(f"--data-dir {data_dir}: no such folder")
    store = open_store(db)
    name = SampleName(name).value
    folder = HERE / name
    # the same steps as dealflow.samples.load_sample, each result printed as soon as its file is in
    for kind, data_file, mapping_file in SAMPLES[name]:
        path = data_dir / data_file.removesuffix(".gz") if data_dir else folder / data_file
        console.print(f"Importing {kind} from {path.name} ...")
        result = run_import(store, kind, path, mapping=load_mapping(folder / mapping_file))
        console.print(
            f"  {path.name}: {result.rows:,} rows, {result.inserted:,} new, {result.updated:,} updated, {result.unchanged:,} unchanged"
        )
        for note in result.notes:
            console.print(f"  [cyan]note[/]: {tidy_note(note)}")
    console.print(f"Loaded {name} into {store.url}")
