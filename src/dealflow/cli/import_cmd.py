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
from dealflow.errors import ConfigError, DealflowError, RowProblem
from dealflow.ingest.fields import KINDS
from dealflow.ingest.options import DEFAULT_MAX_AMOUNT
from dealflow.ingest.presets import PRESETS

if TYPE_CHECKING:
    from dealflow.ingest import ImportResult
    from dealflow.ingest.mapping import Mapping


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
    read_notes: list[str] = []
    read = [read_table(file, options, read_notes)]  # read once; handed over below (pop) so the import alone holds it
    headers = [c for c in read[0].columns if c != "__row__"]
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
                            reject_path=rejects, dry_run=dry_run, options=options, table=(read.pop(), read_notes))
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


# A folder's files in the order their references need: names before the deals that use them,
# deals before their history and activities. Event logs create deals; a deals file then adds to them.
FOLDER_ORDER = ("owners", "accounts", "contacts", "products", "rates", "leads", "events", "deals", "stage_history", "activities")
FOLDER_SUFFIXES = (".csv", ".csv.gz", ".xlsx", ".parquet")


def folder_files(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """The (kind, file) pairs of ``folder`` in import order, and the names of files left out."""
    by_kind: dict[str, list[Path]] = {}
    ignored = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        name = path.name.lower()
        suffix = next((x for x in FOLDER_SUFFIXES if name.endswith(x)), None)
        kind = name[: -len(suffix)] if suffix else None
        if kind in FOLDER_ORDER:
            by_kind.setdefault(kind, []).append(path)
        elif not name.endswith((".toml", ".rejects.csv")):
            ignored.append(path.name)
    doubled = {k: v for k, v in by_kind.items() if len(v) > 1}
    if doubled:
        kind, paths = next(iter(doubled.items()))
        raise ConfigError(f"{folder}: {' and '.join(p.name for p in paths)} both hold {kind}; keep one")
    return [(k, by_kind[k][0]) for k in FOLDER_ORDER if k in by_kind], ignored


@app.command("import-folder")
def import_folder(
    folder: Annotated[Path, typer.Argument(help="Folder of files named by what they hold: deals.csv, stage_history.csv, ...", metavar="FOLDER")],
    db: DbOption = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Store the valid rows; write each file's rejected ones with reasons to FILE.rejects.csv.")] = False,
    timezone: Annotated[str, typer.Option(help="The time zone of times written without an offset.")] = "UTC",
) -> None:
    """Import every file of a folder, in one process and in the order references need.

    Files are named by kind: owners, accounts, contacts, products, rates, leads, events, deals,
    stage_history, activities (.csv, .csv.gz, .xlsx or .parquet). A mapping file beside one
    (deals.toml for deals.csv) is used instead of detection. Each file is imported atomically, as
    `dealflow import` would; the first that fails stops the rest and is named. Re-running
    imports nothing twice.

    Example:
        dealflow generate --deals 10000 --out exports/
        dealflow import-folder exports/
    """
    from dealflow.ingest import read_table, run_import
    from dealflow.ingest.options import ParseOptions

    if not folder.exists():
        raise ConfigError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder; import one file with `dealflow import KIND FILE`")
    files, ignored = folder_files(folder)
    if not files:
        raise ConfigError(f"{folder}: no file named for a kind ({', '.join(FOLDER_ORDER)}; e.g. deals.csv)")
    if ignored:
        console.print(f"[cyan]note[/]: not imported (not named for a kind): {', '.join(ignored)}")
    mappings = _folder_mappings(files)  # every mapping file is checked before anything is stored
    options = ParseOptions(timezone=timezone)
    store = open_store(db)
    for n, (kind, file) in enumerate(files):
        mapping, toml = mappings[file]
        try:
            with console.status(f"Importing {file.name} ..."):
                notes: list[str] = []
                result = run_import(store, kind, file, mapping=mapping, options=options, skip_invalid=skip_invalid,
                                    table=(read_table(file, options, notes), notes))
        except DealflowError:
            stored = ", ".join(f.name for _, f in files[:n]) or "none"
            console.print(f"[red]{file.name} was not imported[/] (files stored before it: {stored}). Fix it and run the "
                          "folder again: files already stored change nothing the second time.")
            raise
        for note in result.notes:
            console.print(f"[cyan]note[/]: {tidy_note(note)}")
        if result.warnings:
            _show_warnings(result.warnings, 3)
        console.print(f"{file.name} ({kind}{', mapping ' + toml.name if toml else ''}): {result.rows:,} row(s), "
                      f"{result.inserted:,} new, {result.updated:,} updated, {result.unchanged:,} unchanged, {result.rejected:,} rejected")
        if result.rejected:
            console.print(f"[yellow]{result.rejected} row(s) rejected[/]; reasons written to {result.reject_path}")


def _folder_mappings(files: list[tuple[str, Path]]) -> dict[Path, tuple[Mapping | None, Path | None]]:
    """Each file's mapping file (deals.toml beside deals.csv), read and checked up front."""
    from dealflow.ingest import load_mapping

    out: dict[Path, tuple[Mapping | None, Path | None]] = {}
    for kind, file in files:
        toml = file.with_name(file.name.lower().split(".")[0] + ".toml")
        toml = toml if toml.is_file() else None
        mapping = load_mapping(toml) if toml else None
        if mapping is not None and mapping.kind != kind:
            raise ConfigError(f"{toml}: says kind = {mapping.kind!r}, but it sits beside {file.name}, which holds {kind}")
        if kind == "events" and (mapping is None or not mapping.activities):
            raise ConfigError(f"{file}: an event log needs a mapping file {file.with_name('events.toml').name} beside it with an "
                              "[activities] table (see examples/bpi2012/events.toml)")
        out[file] = (mapping, toml)
    return out


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
