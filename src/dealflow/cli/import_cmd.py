"""``dealflow import``: load CSV/XLSX files and event logs."""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.markup import escape

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, console, open_store, print_frame, tidy_note
from dealflow.errors import ConfigError, RowProblem
from dealflow.ingest.fields import KINDS
from dealflow.ingest.options import DEFAULT_MAX_AMOUNT
from dealflow.ingest.presets import PRESETS

if TYPE_CHECKING:
    from dealflow.ingest import ImportResult


ImportKind = StrEnum("ImportKind", {k: k for k in KINDS})  # type: ignore[misc]


@app.command("import")
def import_file(
    kind_: Annotated[ImportKind, typer.Argument(help="What the file holds.", metavar="KIND", show_default=False)],
    file: Annotated[Path, typer.Argument(help="CSV (may be gzipped), XLSX or Parquet file.", metavar="FILE")],
    db: DbOption = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Override the detected mapping: COLUMN=FIELD (repeatable). FIELD may be 'ignore'.")] = None,
    mapping: Annotated[Path | None, typer.Option(help="A saved mapping file (TOML) to use instead of detection.")] = None,
    save_map: Annotated[Path | None, typer.Option("--save-map", help="Write the mapping used to this TOML file for reuse.")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Store the valid rows; write the rejected ones with reasons to a CSV.")] = False,
    rejects: Annotated[Path | None, typer.Option(help="Where --skip-invalid writes rejected rows (default: FILE.rejects.csv).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the mapping, parsed sample rows and every problem; store nothing.")] = False,
    preset_: Annotated[str | None, typer.Option("--preset", help=f"The layout of a CRM's standard export: {', '.join(PRESETS)}.")] = None,
    encoding: Annotated[str | None, typer.Option(help="The file's text encoding, e.g. cp1252 (default: detected).")] = None,
    sheet: Annotated[str | None, typer.Option(help="The XLSX sheet to read (default: the first).")] = None,
    decimal: Annotated[str | None, typer.Option(help="The decimal separator, ',' or '.' (default: decided per column).")] = None,
    dayfirst: Annotated[bool | None, typer.Option("--dayfirst/--monthfirst", help="Read 03/04/2024 as 3 April / as 4 March (default: decided per column; refused if it cannot be).", show_default=False)] = None,
    date_format: Annotated[str | None, typer.Option("--date-format", help="One strftime format for every date column, e.g. '%d/%m/%Y'.")] = None,
    allow_negative: Annotated[bool, typer.Option("--allow-negative", help="Accept amounts below zero (credits, refunds).")] = False,
    max_amount: Annotated[float, typer.Option("--max-amount", help="Refuse amounts above this as typos.")] = DEFAULT_MAX_AMOUNT,
    timezone: Annotated[str, typer.Option(help="The time zone of times written without an offset.")] = "UTC",
) -> None:
    """Import a file. Columns are matched to fields by their headers; the mapping is printed.

    The import is atomic: if any row is invalid, nothing is stored and each problem is named
    (file, row, column, value, reason). Importing the same file again changes nothing.

    Example:
        dealflow import accounts accounts.csv
        dealflow import deals opps.csv --map "Deal Value=amount"
        dealflow import deals opps.csv --save-map deals.toml
        dealflow import deals export.csv --dayfirst --decimal , --encoding cp1252
        dealflow import deals hubspot-deals.csv --preset hubspot --dry-run
        dealflow import stage_history opportunity-history.csv --preset salesforce
        dealflow import events events.csv --mapping examples/bpi2012/events.toml
    """
    from dealflow.ingest import load_mapping, parse_overrides, read_table, run_import
    from dealflow.ingest.mapping import resolve_mapping
    from dealflow.ingest.options import ParseOptions
    from dealflow.ingest.presets import preset_mapping

    kind = ImportKind(kind_).value
    for option, path in (("--rejects", rejects), ("--save-map", save_map)):
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"{option} {path}: the folder {path.parent} does not exist; create it first or choose another path")
        if path is not None and path.is_dir():
            raise ConfigError(f"{option} {path} is a directory; give a file name")
    options = ParseOptions(encoding=encoding, sheet=sheet, decimal=decimal, dayfirst=dayfirst,  # type: ignore[arg-type]
                           date_format=date_format, allow_negative=allow_negative, max_amount=max_amount, timezone=timezone)
    store = open_store(db)
    overrides = parse_overrides(map_ or [])
    headers = [c for c in read_table(file, options).columns if c != "__row__"]
    if preset_ and mapping:
        raise ConfigError("give --preset or --mapping, not both; adjust a preset with --map COLUMN=FIELD")
    preset = load_mapping(mapping) if mapping else (preset_mapping(preset_, kind, headers) if preset_ else None)
    used = resolve_mapping(kind, headers, mapping=preset, overrides=overrides)
    shown = pl.DataFrame({"column": headers, "field": [used.columns.get(h, "(attribute)" if kind in ("leads", "deals", "accounts") else "(ignored)") for h in headers]})
    print_frame(shown, f"Mapping for {file.name} ({kind})", "override with --map COLUMN=FIELD")
    if save_map:
        save_map.write_text(used.to_toml())
        console.print(f"Saved the mapping to {save_map}")
    with console.status(f"Importing {file.name} ..."):
        result = run_import(store, kind, file, mapping=preset, overrides=overrides, skip_invalid=skip_invalid,
                            reject_path=rejects, dry_run=dry_run, options=options)
    for note in result.notes:
        console.print(f"[cyan]note[/]: {tidy_note(note)}")
    if dry_run:
        _show_dry_run(result)
    elif result.warnings:
        _show_warnings(result.warnings, WARNINGS_SHOWN)
    if result.rejected and not dry_run:
        console.print(f"[yellow]{result.rejected} row(s) rejected[/]; reasons written to {result.reject_path}")
        for p in result.problems[:10]:
            console.print(f"  {p}")
    if dry_run:
        console.print(f"Checked {result.rows:,} row(s) of {file.name}: {result.rows - result.rejected:,} valid, "
                      f"{result.rejected:,} with errors, {len(result.warnings):,} warning(s)")
        console.print("Dry run: nothing was written.")
        if result.problems:
            raise typer.Exit(1)  # the real import would refuse this file
        return
    console.print(
        f"Read {result.rows:,} row(s) of {file.name}: {result.inserted:,} new, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged, {result.rejected:,} rejected"
    )
    if result.rows and result.rejected == result.rows:
        raise typer.Exit(1)  # nothing could be stored: scripts must not take this for success


WARNINGS_SHOWN = 20


def _show_warnings(warnings: list[RowProblem], limit: int | None) -> None:
    console.print(f"[yellow]{len(warnings)} warning(s)[/]: stored anyway, worth a look")
    for w in warnings[:limit]:
        console.print(f"  {escape(str(w))}")
    if limit is not None and len(warnings) > limit:
        console.print(f"  ... and {len(warnings) - limit} more (--dry-run lists them all)")


def _show_dry_run(result: ImportResult) -> None:
    """The parsed sample, then every error and warning: what the import would do."""
    if result.sample is not None and result.sample.height:
        # One line per field, one column per file row: fits a terminal however many fields there are.
        sample = result.sample.rename({"__attributes__": "custom fields"}, strict=False)
        fields = [c for c in sample.columns if c != "__row__"]
        shown = pl.DataFrame({"field": fields} | {
            f"row {r}": ["–" if v is None else str(v) for v in sample.row(i)[1:]]
            for i, r in enumerate(sample["__row__"].to_list())
        }).select("field", *[f"row {r}" for r in sample["__row__"].to_list()])
        print_frame(shown, f"First {sample.height} parsed row(s), as they would be stored")
    if result.problems:
        console.print(f"[red]{len(result.problems)} error(s)[/]: the import would store nothing (or, with --skip-invalid, set {result.rejected} row(s) aside)")
        for p in result.problems:
            console.print(f"  {escape(str(p))}")
    if result.warnings:
        _show_warnings(result.warnings, None)
    if not result.problems and not result.warnings:
        console.print("No errors or warnings.")
