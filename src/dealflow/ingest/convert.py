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
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y")
_DAY_MONTH = {"%m/%d/%Y": "month/day/year", "%d/%m/%Y": "day/month/year", "%m/%d/%Y %H:%M:%S": "month/day/year",
              "%m/%d/%Y %H:%M": "month/day/year", "%d/%m/%Y %H:%M": "day/month/year"}
_TRUE = {"1", "true", "yes", "y", "t", "won", "converted", "x"}
_FALSE = {"0", "false", "no", "n", "f", "lost", "not converted", ""}
_YEARS = (1900, 2200)  # outside this, a parsed date is a typo, not a date


def _by_fit(col: pl.Series, formats: tuple[str, ...], parse) -> tuple[pl.Series, str | None]:  # type: ignore[no-untyped-def]
    """Parse with every format, the one that reads most cells first, the others filling in.

    An ambiguous 03/04/2024 is read the way most of the column reads (US order on a tie).
    """
    wanted = col.is_not_null().sum()
    tried = []
    for fmt in formats:
        parsed = parse(col, fmt)
        count = parsed.is_not_null().sum()
        if count == wanted:
            return parsed, fmt
        if count:
            tried.append((count, fmt, parsed))
    if not tried:
        return parse(col, formats[0]), None
    tried.sort(key=lambda t: -t[0])
    return pl.select(pl.coalesce([t[2] for t in tried])).to_series(), tried[0][1]


def _expand_two_digit_years(text: pl.Series) -> pl.Series:
    """12/31/99 -> 12/31/1999 and 1/2/24 -> 1/2/2024 (pivot at 70), so %Y never reads year 99."""
    pivot = r"^(\d{1,2})([/.-])(\d{1,2})([/.-])([7-9]\d)(\D.*)?$"
    text = text.str.replace(pivot, "${1}${2}${3}${4}19${5}${6}")
    return text.str.replace(r"^(\d{1,2})([/.-])(\d{1,2})([/.-])([0-6]\d)(\D.*)?$", "${1}${2}${3}${4}20${5}${6}")


def _plausible(instants: pl.Series) -> pl.Series:
    year = instants.dt.year()
    return pl.select(pl.when((year >= _YEARS[0]) & (year <= _YEARS[1])).then(instants).otherwise(None)).to_series()


def to_instants(col: pl.Series, timezone: str = "UTC", notes: list[str] | None = None) -> pl.Series:
    """Text to UTC instants: ISO with offsets, naive date-times (in ``timezone``) or dates."""
    text = _expand_two_digit_years(col.str.replace(r"\+(\d\d)(\d\d)$", "+$1:$2"))
    wanted = text.is_not_null().sum()
    aware, _ = _by_fit(text, _DATETIME_FORMATS, lambda c, f: c.str.to_datetime(f, strict=False, time_unit="us").dt.convert_time_zone("UTC"))
    if aware.is_not_null().sum() == wanted:  # the usual case: one ISO format fits the whole column
        return _plausible(aware).alias(col.name)
    naive, naive_fmt = _by_fit(text, _NAIVE_FORMATS, lambda c, f: c.str.to_datetime(f, strict=False, time_unit="us"))
    dates, date_fmt = _by_fit(text, _DATE_FORMATS, lambda c, f: c.str.to_date(f, strict=False).cast(pl.Datetime("us")))
    if notes is not None:
        for fmt in {naive_fmt, date_fmt} & set(_DAY_MONTH):
            notes.append(f"column {col.name!r}: dates read as {_DAY_MONTH[fmt]} (how most of its values read)")
    local = pl.select(pl.coalesce(naive, dates).dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")).to_series()
    return _plausible(pl.select(pl.coalesce(aware, local)).to_series()).alias(col.name)


def to_numbers(col: pl.Series) -> pl.Series:
    """Amounts as people type them: 1,200 / $1,200.50 / 1.234,56 / 12,5 / (300) / 1 200 EUR.

    With both separators, the last one is the decimal point; a lone comma is a thousands
    separator only in groups of three (1,200), else a decimal comma (12,5).
    """
    s = col.str.replace_all(r"[\s\u00a0$€£¥]|[A-Za-z]{3}$", "").str.replace(r"^\((.*)\)$", "-$1")
    comma_last = s.str.contains(r",\d*$") & s.str.contains(r"\.")
    thousands_commas = s.str.contains(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
    text = (
        pl.select(
            pl.when(comma_last & s.str.contains(r"\.\d*,")).then(s.str.replace_all(r"\.", "").str.replace(",", ".", literal=True))
            .when(thousands_commas).then(s.str.replace_all(",", "", literal=True))
            .when(s.str.contains(",") & ~s.str.contains(r"\.")).then(s.str.replace(",", ".", literal=True))
            .otherwise(s)
        ).to_series()
    )
    values = text.cast(pl.Float64, strict=False)
    return pl.select(pl.when(values.is_finite()).then(values).otherwise(None)).to_series().alias(col.name)


def _convert(col: pl.Series, type_: FieldType, notes: list[str]) -> pl.Series:
    if type_ == "str":
        return col
    if type_ in ("float", "int"):
        out = to_numbers(col)
        if type_ == "int":
            out = pl.select(pl.when(out == out.round(0)).then(out).otherwise(None)).to_series().cast(pl.Int64, strict=False)
        return out.alias(col.name)
    if type_ == "datetime":
        return to_instants(col, notes=notes)
    if type_ == "date":
        return to_instants(col, notes=notes).dt.date().alias(col.name)
    if type_ == "bool":
        low = col.str.to_lowercase()
        return pl.select(
            pl.when(low.is_in(list(_TRUE))).then(True).when(low.is_in(list(_FALSE))).then(False).otherwise(None)
        ).to_series().alias(col.name)
    raise ValueError(type_)


_REASON = {
    "float": "is not a number (write 1200, 1,200.50 or 1.200,50)",
    "int": "is not a whole number",
    "datetime": "is not a date or time between 1900 and 2200 (use ISO 8601, e.g. 2024-03-31 or 2024-03-31T14:00:00+02:00)",
    "date": "is not a date between 1900 and 2200 (use ISO 8601, e.g. 2024-03-31)",
    "bool": "is not yes/no (use 1/0, yes/no or true/false)",
}


@dataclass
class Typed:
    frame: pl.DataFrame  # one column per field, plus __row__
    problems: list[RowProblem]
    notes: list[str]


def convert_columns(raw: pl.DataFrame, columns: dict[str, Field], source: str) -> Typed:
    """``columns`` maps file column -> field; returns typed field columns and each refused cell."""
    problems: list[RowProblem] = []
    notes: list[str] = []
    out = [raw[ROW]]
    for column, field in columns.items():
        col = raw[column]
        typed = _convert(col, field.type, notes).alias(field.name)
        bad = raw.select(ROW, pl.col(column)).filter(col.is_not_null() & typed.is_null())
        problems += [RowProblem(source, r, column, v, _REASON[field.type]) for r, v in bad.iter_rows()]
        if field.required:
            missing = raw.select(ROW).filter(col.is_null())
            problems += [RowProblem(source, r, column, None, f"needs a value: it holds the required field {field.name}") for (r,) in missing.iter_rows()]
        out.append(typed)
    return Typed(pl.DataFrame(out), problems, notes)
