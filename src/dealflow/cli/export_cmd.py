"""``dealflow export``: records as CSV, XLSX or Parquet that import back, now or as of an instant."""
from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

import polars as pl
import typer

from dealflow.cli.app import app
from dealflow.cli.common import AsOfOption, DbOption, console, err_console, open_store, parse_instant
from dealflow.errors import ConfigError
from dealflow.ingest.fields import IMPORTABLE

# Importable kinds export with the import's field names (they import back as they are); the
# others are the history's own tables, with the names people read joined in.
HISTORY_TABLES = ("stage_changes", "field_changes", "stages", "deal_products")
TABLES = (*IMPORTABLE, *HISTORY_TABLES)
ExportTable = StrEnum("ExportTable", {t: t for t in TABLES})  # type: ignore[misc]


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    xlsx = "xlsx"


# A spreadsheet runs a cell that starts with one of these as a formula (CSV/formula injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that start with = + - @ (or a tab / carriage return) with ``'``.

    Spreadsheets then show the text instead of running it as a formula. Numbers are left
    alone (a negative amount stays a number); only text columns change.
    """
    pattern = "^'*[=+\\-@\t\r]"  # an already escaped '= is escaped again, so the importer's unescaping is exact
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(pattern)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, dtype in frame.schema.items() if dtype == pl.String
    )


def write_xlsx(frame: pl.DataFrame, path: Path | BinaryIO, sheet: str) -> None:
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
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else _xlsx_number(v) for v in row])
    book.save(path)


def csv_numbers(frame: pl.DataFrame) -> pl.DataFrame:
    """Floats as text the importer reads back exactly: full precision, and 1.234 written 1.2340
    (alone in a column, 1.234 reads as a thousands separator, 1234)."""
    def text(col: str) -> pl.Expr:
        s = pl.col(col).cast(pl.String)
        return pl.when(s.str.contains(r"^-?[1-9]\d{0,2}\.\d{3}$")).then(s + "0").otherwise(s).alias(col)

    return frame.with_columns(text(c) for c, dtype in frame.schema.items() if dtype.is_float())


def write_frame(frame: pl.DataFrame, target: Path | BinaryIO, fmt: ExportFormat, sheet: str) -> None:
    if fmt is ExportFormat.parquet:
        frame.write_parquet(target)
    elif fmt is ExportFormat.xlsx:
        write_xlsx(neutralize_formulas(frame), target, sheet)
    else:
        csv_numbers(neutralize_formulas(frame)).write_csv(target)


def _xlsx_number(value: object) -> object:
    """openpyxl writes numbers with 16 significant digits; the rare float that needs 17 is
    written as its exact text instead (the importer reads it back as that number)."""
    if isinstance(value, float) and value == value and float(f"{value:.16g}") != value:
        return repr(value)
    return value


@app.command()
def export(
    table: Annotated[ExportTable, typer.Argument(help="What to export.", metavar="KIND", show_default=False)],
    file: Annotated[Path, typer.Argument(help="Output file; - (the default) writes to standard output.", metavar="FILE")] = Path("-"),
    db: DbOption = None,
    as_of: AsOfOption = None,
    format: Annotated[ExportFormat | None, typer.Option(  # noqa: A002
        "--format", "-f", help="csv, parquet or xlsx (default: from FILE's suffix, else csv).", show_default=False)] = None,
) -> None:
    """Export records as CSV, Parquet or XLSX in the form `dealflow import KIND` reads back.

    owners, accounts, contacts, products, rates, deals, leads, stage_history and activities
    are written with the import's field names, references as external ids, amounts in each
    deal's own currency, instants in UTC with their offset and numbers at full precision:
    importing the files into an empty store, in that order, gives the same records.
    stage_changes, field_changes, stages and deal_products are the history's tables as
    analyses see them. With --as-of, deals, leads, histories and activities are as they stood.

    In CSV and XLSX, text cells that start with = + - or @ get a leading ' so a spreadsheet shows
    them as text instead of running them as formulas (the importer takes the ' off again);
    Parquet keeps the values as they are.

    Example:
        dealflow export deals deals.parquet
        dealflow export deals --format csv > deals.csv
        dealflow export stage_history history.xlsx --as-of 2012-01-01
        dealflow export deals - | head
    """
    instant = parse_instant(as_of)
    to_stdout = str(file) == "-"
    suffix = file.suffix.lower().lstrip(".")
    fmt = format or (ExportFormat(suffix) if suffix in ExportFormat.__members__ else ExportFormat.csv)
    if to_stdout and fmt is not ExportFormat.csv and sys.stdout.isatty():
        raise ConfigError(f"{fmt.value} is binary: give a FILE (dealflow export {table.value} {table.value}.{fmt.value}) or redirect the output")
    if not to_stdout:
        if file.is_dir():
            raise ConfigError(f"cannot write {file}: it is a directory; give a file name such as {file / (table.value + '.' + fmt.value)}")
        if not file.parent.is_dir():
            raise ConfigError(f"cannot write {file}: the folder {file.parent} does not exist; create it first")
    from dealflow.ingest.exports import export_frame
    from dealflow.store.history_cache import cached_history  # on-disk cache, keyed by the store revision

    store = open_store(db)
    history = cached_history(store)
    if instant is not None:
        history = history.as_of(instant)
    frame: pl.DataFrame = export_frame(store, table.value, history) if table.value in IMPORTABLE else getattr(history, table.value)
    try:
        if to_stdout:
            if fmt is ExportFormat.csv:
                sys.stdout.write(csv_numbers(neutralize_formulas(frame)).write_csv())
                sys.stdout.flush()
            else:
                buffer = io.BytesIO()
                write_frame(frame, buffer, fmt, table.value)
                sys.stdout.buffer.write(buffer.getvalue())
                sys.stdout.buffer.flush()
            err_console.print(f"Wrote {frame.height:,} {table.value}")
            return
        write_frame(frame, file, fmt, table.value)
    except PermissionError as exc:
        raise ConfigError(f"cannot write {file}: permission denied") from exc
    console.print(f"Wrote {frame.height:,} {table.value} to {file}")
