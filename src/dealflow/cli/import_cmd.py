"""``dealflow import``: load CSV/XLSX files and event logs."""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, console, open_store, print_frame, tidy_note
from dealflow.errors import ConfigError
from dealflow.ingest import load_mapping, parse_overrides, read_table, run_import
from dealflow.ingest.fields import KINDS
from dealflow.ingest.mapping import resolve_mapping


ImportKind = StrEnum("ImportKind", {k: k for k in KINDS})  # type: ignore[misc]


@app.command("import")
def import_file(
    kind_: Annotated[ImportKind, typer.Argument(help="What the file holds.", metavar="KIND", show_default=False)],
    file: Annotated[Path, typer.Argument(help="CSV (may be gzipped) or XLSX file.", metavar="FILE")],
    db: DbOption = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Override the detected mapping: COLUMN=FIELD (repeatable). FIELD may be 'ignore'.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="A saved mapping file (TOML) to use instead of detection.")] = None,
    save_map: Annotated[Path | None, typer.Option("--save-map", help="Write the mapping used to this TOML file for reuse.")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Store the valid rows; write the rejected ones with reasons to a CSV.")] = False,
    rejects: Annotated[Path | None, typer.Option(help="Where --skip-invalid writes rejected rows (default: FILE.rejects.csv).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file and show the mapping; store nothing.")] = False,
) -> None:
    """Import a file. Columns are matched to fields by their headers; the mapping is printed.

    The import is atomic: if any row is invalid, nothing is stored and each problem is named
    (file, row, column, value, reason). Importing the same file again changes nothing.

    Example:
        dealflow import accounts accounts.csv
        dealflow import deals opps.csv --map "Deal Value=amount"
        dealflow import deals opps.csv --save-map deals.toml
        dealflow import events events.csv --mapping examples/bpi2012/events.toml
    """
    kind = ImportKind(kind_).value
    for option, path in (("--rejects", rejects), ("--save-map", save_map)):
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"{option} {path}: the folder {path.parent} does not exist; create it first or choose another path")
        if path is not None and path.is_dir():
            raise ConfigError(f"{option} {path} is a directory; give a file name")
    store = open_store(db)
    preset = load_mapping(mapping) if mapping else None
    overrides = parse_overrides(map_ or [])
    headers = [c for c in read_table(file).columns if c != "__row__"]
    used = resolve_mapping(kind, headers, mapping=preset, overrides=overrides)
    shown = pl.DataFrame({"column": headers, "field": [used.columns.get(h, "(attribute)" if kind in ("leads", "deals", "accounts") else "(ignored)") for h in headers]})
    print_frame(shown, f"Mapping for {file.name} ({kind})", "override with --map COLUMN=FIELD")
    if save_map:
        save_map.write_text(used.to_toml())
        console.print(f"Saved the mapping to {save_map}")
    with console.status(f"Importing {file.name} ..."):
        result = run_import(store, kind, file, mapping=preset, overrides=overrides, skip_invalid=skip_invalid,
                            reject_path=rejects, dry_run=dry_run)
    for note in result.notes:
        console.print(f"[cyan]note[/]: {tidy_note(note)}")
    if result.rejected:
        console.print(f"[yellow]{result.rejected} row(s) rejected[/]; reasons written to {result.reject_path}")
        for p in result.problems[:10]:
            console.print(f"  {p}")
    verb = "Checked" if dry_run else "Read"
    console.print(
        f"{verb} {result.rows:,} row(s) of {file.name}: {result.inserted:,} new, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged, {result.rejected:,} rejected"
    )
    if result.rows and result.rejected == result.rows:
        raise typer.Exit(1)  # nothing could be stored: scripts must not take this for success
