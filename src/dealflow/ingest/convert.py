"""Turn mapped text columns into typed columns, collecting every refused cell as a problem."""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dealflow.errors import RowProblem
from dealflow.ingest.fields import Field, FieldType
from dealflow.ingest.readers import ROW

_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%SZ",
)
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M",
)
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y", "%m/%d/%y")
_TRUE = {"1", "true", "yes", "y", "t", "won", "converted", "x"}
_FALSE = {"0", "false", "no", "n", "f", "lost", "not converted", ""}


def _best_format(col: pl.Series, formats: tuple[str, ...], parse) -> pl.Series:  # type: ignore[no-untyped-def]
    """Parse with the format that reads the most cells (so 03/04 is read one way for the whole column)."""
    best = None
    best_count = -1
    for fmt in formats:
        parsed = parse(col, fmt)
        count = parsed.is_not_null().sum()
        if count > best_count:
            best, best_count = parsed, count
        if count == col.is_not_null().sum():
            break
    return best  # type: ignore[return-value]


def to_instants(col: pl.Series, timezone: str = "UTC") -> pl.Series:
    """Text to UTC instants: ISO with offsets, naive date-times (in ``timezone``) or dates."""
    text = col.str.replace(r"\+(\d\d)(\d\d)$", "+$1:$2")
    wanted = text.is_not_null().sum()
    aware = _best_format(text, _DATETIME_FORMATS, lambda c, f: c.str.to_datetime(f, strict=False, time_unit="us").dt.convert_time_zone("UTC"))
    if aware.is_not_null().sum() == wanted:  # the usual case: one ISO format fits the whole column
        return aware.alias(col.name)
    naive = _best_format(text, _NAIVE_FORMATS, lambda c, f: c.str.to_datetime(f, strict=False, time_unit="us"))
    dates = _best_format(text, _DATE_FORMATS, lambda c, f: c.str.to_date(f, strict=False).cast(pl.Datetime("us")))
    local = pl.select(pl.coalesce(naive, dates).dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")).to_series()
    return pl.select(pl.coalesce(aware, local)).to_series().alias(col.name)


def _convert(col: pl.Series, type_: FieldType) -> pl.Series:
    if type_ == "str":
        return col
    if type_ in ("float", "int"):
        cleaned = col.str.replace_all(r"[\s$€£¥,]|[A-Z]{3}$", "").str.replace(r"^\((.*)\)$", "-$1")
        out = cleaned.cast(pl.Float64, strict=False)
        if type_ == "int":
            out = pl.select(pl.when(out == out.round(0)).then(out).otherwise(None)).to_series().cast(pl.Int64, strict=False)
        return out.alias(col.name)
    if type_ == "datetime":
        return to_instants(col)
    if type_ == "date":
        d = _best_format(col, _DATE_FORMATS, lambda c, f: c.str.to_date(f, strict=False))
        return pl.select(pl.coalesce(d, to_instants(col).dt.date())).to_series().alias(col.name)
    if type_ == "bool":
        low = col.str.to_lowercase()
        return pl.select(
            pl.when(low.is_in(list(_TRUE))).then(True).when(low.is_in(list(_FALSE))).then(False).otherwise(None)
        ).to_series().alias(col.name)
    raise ValueError(type_)


_REASON = {
    "float": "is not a number",
    "int": "is not a whole number",
    "datetime": "is not a date or time (use ISO 8601, e.g. 2024-03-31 or 2024-03-31T14:00:00+02:00)",
    "date": "is not a date (use ISO 8601, e.g. 2024-03-31)",
    "bool": "is not yes/no (use 1/0, yes/no or true/false)",
}


@dataclass
class Typed:
    frame: pl.DataFrame  # one column per field, plus __row__
    problems: list[RowProblem]


def convert_columns(raw: pl.DataFrame, columns: dict[str, Field], source: str) -> Typed:
    """``columns`` maps file column -> field; returns typed field columns and each refused cell."""
    problems: list[RowProblem] = []
    out = [raw[ROW]]
    for column, field in columns.items():
        col = raw[column]
        typed = _convert(col, field.type).alias(field.name)
        bad = raw.select(ROW, pl.col(column)).filter(col.is_not_null() & typed.is_null())
        problems += [RowProblem(source, r, column, v, _REASON[field.type]) for r, v in bad.iter_rows()]
        if field.required:
            missing = raw.select(ROW).filter(col.is_null())
            problems += [RowProblem(source, r, column, None, f"is empty, but {field.name} is required") for (r,) in missing.iter_rows()]
        out.append(typed)
    return Typed(pl.DataFrame(out), problems)
