"""What every command shares: the store option, the output format, and printing."""
from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from dealflow.settings import Settings

console = Console()
err_console = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database file path or URL (default: $DEALFLOW_DATABASE_URL, else ./dealflow.db).", show_default=False),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table for people; json or csv for machines.")]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Show it as it stood at this instant (2012-01-01 or 2012-01-01T00:00:00+01:00).", show_default=False),
]


def settings_for(db: str | None) -> Settings:
    settings = Settings.from_env()
    if db:
        from dataclasses import replace

        settings = replace(settings, database_url=db)
    return settings


def open_store(db: str | None):  # type: ignore[no-untyped-def]
    from dealflow.store import Store

    return Store(settings_for(db).database_url)


def parse_instant(text: str | None, *, option: str = "--as-of") -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date or instant; use 2012-01-01 or 2012-01-01T00:00:00+01:00", param_hint=option)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if value != value else value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pl.DataFrame):
        return [_plain(r) for r in value.to_dicts()]
    return value


def to_jsonable(value: Any) -> Any:
    """Frames become lists of records; dates become ISO strings; NaN becomes null."""
    return _plain(value)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")


def print_csv(frame: pl.DataFrame) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(frame.columns)
    for row in frame.iter_rows():
        writer.writerow(["" if v is None else (v.isoformat() if isinstance(v, (date, datetime)) else v) for v in row])
    sys.stdout.write(buf.getvalue())


def fmt_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "–"
        if abs(value) < 1 and value != 0:
            return f"{value:.4f}"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def frame_table(frame: pl.DataFrame, title: str | None = None, caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, title_justify="left", header_style="bold")
    for col in frame.columns:
        numeric = frame.schema[col].is_numeric()
        table.add_column(col.replace("_", " "), justify="right" if numeric else "left")
    for row in frame.iter_rows():
        table.add_row(*(fmt_value(v) for v in row))
    return table


def print_frame(frame: pl.DataFrame, title: str | None = None, caption: str | None = None) -> None:
    console.print(frame_table(frame, title, caption))
