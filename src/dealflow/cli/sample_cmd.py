"""``dealflow sample``: load a bundled real dataset."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, console, open_store
from dealflow.samples import SAMPLES, load_sample


@app.command()
def sample(
    name: Annotated[str, typer.Argument(help=f"Which sample: {', '.join(SAMPLES)}.")] = "maven_crm",
    db: DbOption = None,
    data_dir: Annotated[Path | None, typer.Option(help="Read the same files from this folder instead of the bundled copy.")] = None,
) -> None:
    """Load a bundled real sample: maven_crm (8,800 B2B deals) or bpi2012 (13,087 loan applications).

    Loading twice changes nothing.

    Example:
        dealflow sample maven_crm --db demo.db
    """
    store = open_store(db)
    for result in load_sample(store, name, data_dir, on_step=lambda s: console.print(f"Importing {s} ...")):
        console.print(
            f"  {result.rows:,} rows: {result.inserted:,} new, {result.updated:,} updated, {result.unchanged:,} unchanged"
        )
        for note in result.notes:
            console.print(f"  [cyan]note[/]: {note}")
    console.print(f"Loaded {name} into {store.url}")
