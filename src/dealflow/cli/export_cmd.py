"""``dealflow export``: any table of the history as CSV, XLSX or Parquet, now or as of an instant."""
from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from dealflow.cli.app import app
from dealflow.cli.common import AsOfOption, DbOption, console, err_console, open_store, parse_instant
from dealflow.errors import ConfigError
from dealflow.store.frames import load_history

TABLES = ("deals", "stage_changes", "field_changes", "activities", "leads", "accounts", "products", "owners", "stages", "deal_products")
ExportTable = StrEnum("ExportTable", {t: t for t in TABLES})  # type: ignore[misc]

# A spreadsheet runs a cell that starts with one of these as a formula (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that start with = + - @ (or a tab / carriage return) with ``'``.

    Spreadsheets then show the text instead of running it as a formula. Numbers are left
    alone (a negative amount stays a number); only text columns change.
    """
    pattern = "^[=+\\-@\t\r]"
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(pattern)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, dtype in frame.schema.items() if dtype == pl.String
    )


def write_xlsx(frame: pl.DataFrame, path: Path, sheet: str) -> None:
    """One sheet with a header row, written with openpyxl (times as UTC without a zone: Excel has none)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if frame.height + 1 > XLSX_MAX_ROWS:
        raise ConfigError(f"{frame.height:,} rows do not fit in one Excel sheet (at most {XLSX_MAX_ROWS - 1:,}); export to .csv or .parquet")
    frame = frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for c, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet[:31])
    ws.append(frame.columns)
    for row in frame.iter_rows():
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    book.save(path)


@app.command()
def export(
    table: Annotated[ExportTable, typer.Argument(help="What to export.", metavar="TABLE", show_default=False)],
    file: Annotated[Path, typer.Argument(help="Output file: .parquet writes Parquet, .xlsx an Excel sheet, anything else CSV; - writes CSV to standard output.", metavar="FILE")],
    db: DbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Export a table as CSV, XLSX or Parquet, joined with the names people read (stage, owner, account).

    In CSV and XLSX, text cells that start with = + - or @ get a leading ' so a spreadsheet shows
    them as text instead of running them as formulas; Parquet keeps the values as they are.
    The deals export has a true_probability column only when some deal has one (synthetic data).

    Example:
        dealflow export deals deals.parquet
        dealflow export stage_changes history.csv --as-of 2012-01-01
        dealflow export deals - | head
    """
    instant = parse_instant(as_of)
    to_stdout = str(file) == "-"
    suffix = file.suffix.lower()
    if not to_stdout:
        if file.is_dir():
            raise ConfigError(f"cannot write {file}: it is a directory; give a file name such as {file / (table.value + '.csv')}")
        if not file.parent.is_dir():
            raise ConfigError(f"cannot write {file}: the folder {file.parent} does not exist; create it first")
    history = load_history(open_store(db))
    if instant is not None:
        history = history.as_of(instant)
    frame: pl.DataFrame = getattr(history, table.value)
    if table.value == "deals" and "true_probability" in frame.columns and frame["true_probability"].null_count() == frame.height:
        frame = frame.drop("true_probability")
    try:
        if to_stdout:
            sys.stdout.write(neutralize_formulas(frame).write_csv())
            sys.stdout.flush()
            err_console.print(f"Wrote {frame.height:,} {table.value}")
            return
        if suffix == ".parquet":
            frame.write_parquet(file)
        elif suffix == ".xlsx":
            write_xlsx(neutralize_formulas(frame), file, table.value)
        else:
            neutralize_formulas(frame).write_csv(file)
    except PermissionError as exc:
        raise ConfigError(f"cannot write {file}: permission denied") from exc
    console.print(f"Wrote {frame.height:,} {table.value} to {file}")
