"""What every command shares: the store option, the output format, and printing."""
from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from dealflow.jsonable import to_jsonable
from dealflow.settings import Settings

if TYPE_CHECKING:
    from dealflow.history import History
    from dealflow.store import Store

console = Console()
err_console = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class PeriodKind(StrEnum):
    """Months or quarters: cohorts, slipped close dates, bottleneck and backtest periods."""
    month = "month"
    quarter = "quarter"


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


def open_store(db: str | None) -> Store:
    from dealflow.store import Store

    settings = settings_for(db)
    return Store(settings.database_url, currency=settings.currency)


def load_history(db: str | None, as_of: str | None = None) -> History:
    """The store's history, as it stood at ``as_of`` if given; from the on-disk cache when it is current.

    A SQLite file whose cache is current is answered without opening a ``Store`` (no SQLAlchemy,
    no schema check: ``history_cache.peek_history``); anything else opens the store.
    """
    from dealflow.store.history_cache import cached_history, peek_history

    instant = parse_instant(as_of)
    settings = settings_for(db)
    history = peek_history(settings.database_url, settings.currency)
    if history is None:
        store = open_store(db)
        try:
            history = cached_history(store)
        finally:
            store.dispose()
    return history.as_of(instant) if instant is not None else history


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


def tidy_note(note: str) -> str:
    """Notes from the importer as people write them: "activities", not "activit(ies)"."""
    return note.replace("activit(ies)", "activities")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")


def print_csv(frame: pl.DataFrame) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(frame.columns)
    for row in frame.iter_rows():
        writer.writerow(["" if v is None else (v.isoformat() if isinstance(v, (date, datetime)) else v) for v in row])
    sys.stdout.write(buf.getvalue())


# Float columns with a word starting with one of these are rates, probabilities or scores on
# that scale (log loss, P10-P90 coverage, support): shown as 0.6315.
RATE_WORDS = ("rate", "probability", "conversion", "share", "lift", "ece", "brier", "auc", "wape", "loss", "coverage", "support")
# ... and these are durations in days: shown with one decimal.
DAY_WORDS = ("days", "day", "cycle", "lag")


def _words(column: str) -> list[str]:
    return column.lower().replace("-", "_").replace(" ", "_").split("_")


def column_kind(column: str | None) -> str:
    """``rate``, ``days`` or ``number``, from a column's name (words separated by _ or spaces)."""
    if not column:
        return "number"
    words = _words(column)
    if any(w.startswith(r) for w in words for r in RATE_WORDS):
        return "rate"
    if any(w in DAY_WORDS for w in words):
        return "days"
    return "number"


def fmt_value(value: Any, column: str | None = None) -> str:
    """One cell as people read it, the same way in every table.

    Rates and probabilities (a column named like ``win_rate``, ``conversion``, ``lift``, ``auc``)
    with 4 decimals (0.6315); days with 1 decimal; money and counts with thousands separators,
    no decimals from 100 on and 2 below (whole numbers without any). Missing values are ``–``.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "–"
        kind = column_kind(column)
        if kind == "rate":
            return f"{value:.4f}"
        if kind == "days":
            return f"{value:,.1f}"
        if abs(value) >= 100 or value == int(value):
            return f"{value:,.0f}"
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def frame_table(frame: pl.DataFrame, title: str | None = None, caption: str | None = None,
                labels: dict[str, str] | None = None) -> Table:
    """A rich table of ``frame``; ``labels`` renames headers (formats still follow the real column names).

    The first text column (the row's name: stage, owner, product) is never cut: other columns
    wrap first, so names like "Prospecting" stay whole at 80 columns.
    """
    table = Table(title=title, caption=caption, title_justify="left", header_style="bold")
    labels = labels or {}
    if frame.height:  # a column with nothing in it only takes room (e.g. owners of an ownerless log)
        frame = frame.select([c for c in frame.columns if frame[c].null_count() < frame.height])
    cells = [[fmt_value(v, c) for v, c in zip(row, frame.columns)] for row in frame.iter_rows()]
    for i, col in enumerate(frame.columns):
        numeric = frame.schema[col].is_numeric()
        header = labels.get(col, col.replace("_", " "))
        longest = max((len(r[i]) for r in cells), default=0)
        if numeric:  # numbers are never cut: the header wraps instead
            table.add_column(header, justify="right", min_width=longest, no_wrap=True)
        elif i == 0 and cells:  # the row's name (stage, owner, product) stays whole
            table.add_column(header, justify="left", min_width=min(max(longest, len(header)), 30))
        else:
            table.add_column(header, justify="left", min_width=min(longest, 10))
    for row in cells:
        table.add_row(*row)
    return table


def print_frame(frame: pl.DataFrame, title: str | None = None, caption: str | None = None,
                labels: dict[str, str] | None = None) -> None:
    console.print(frame_table(frame, title, caption, labels))
