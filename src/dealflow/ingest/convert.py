"""Turn mapped text columns into typed columns, collecting every refused cell as a problem.

Numbers live in ``numbers.py`` and dates in ``dates.py``; both read a whole column at once so
that a column is read one way (one decimal separator, one day/month order)."""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from dealflow.errors import RowProblem
from dealflow.ingest.dates import parse_instants
from dealflow.ingest.fields import Field
from dealflow.ingest.numbers import money_problems, parse_numbers, to_probabilities
from dealflow.ingest.options import ParseOptions
from dealflow.ingest.readers import ROW

_TRUE = {"1", "true", "yes", "y", "t", "won", "converted", "x"}
_FALSE = {"0", "false", "no", "n", "f", "lost", "not converted", ""}
_REASON = {
    "int": "is not a whole number",
    "bool": "is not yes/no (use 1/0, yes/no or true/false)",
}


def _rows(col: pl.Series) -> pl.Series:
    return pl.Series(ROW, range(2, len(col) + 2), dtype=pl.Int64)


def to_numbers(col: pl.Series, decimal: str | None = None) -> pl.Series:
    """Amounts as people type them: 1,200 / $1,200.50 / 1.234,56 / 12,5 / (300) / 1 200 EUR."""
    return parse_numbers(col, _rows(col), f"column {col.name!r}", decimal).values


def to_instants(col: pl.Series, timezone: str = "UTC", notes: list[str] | None = None, *,
                dayfirst: bool | None = None, date_format: str | None = None) -> pl.Series:
    """Text to UTC instants (see ``dates.py``); refused cells are null."""
    parsed = parse_instants(col, _rows(col), f"column {col.name!r}", dayfirst=dayfirst, date_format=date_format, timezone=timezone)
    if notes is not None:
        notes += parsed.notes
    return parsed.values


@dataclass
class Typed:
    frame: pl.DataFrame  # one column per field, plus __row__
    problems: list[RowProblem]
    notes: list[str]
    currency: dict[str, pl.Series] = field(default_factory=dict)  # money field -> the currency its cells named


def _convert(col: pl.Series, rows: pl.Series, f: Field, where: str, o: ParseOptions, notes: list[str],
             currency: dict[str, pl.Series]) -> tuple[pl.Series, pl.Series]:
    """The typed column and, per cell, why it was refused (null = fine)."""
    none = pl.Series(col.name, [None] * len(col), dtype=pl.String)
    if f.type == "str":
        return col, none
    if f.type in ("float", "int", "money", "probability"):
        numbers = parse_numbers(col, rows, where, o.decimal)
        notes += numbers.notes
        values, reasons = numbers.values, numbers.reasons
        if f.type != "probability":  # "35%" in an amount column is a mix-up, not 35
            reasons = pl.select(pl.when(numbers.percent).then(pl.lit("is a percentage; this column holds numbers")).otherwise(reasons)).to_series()
        if f.type == "money":
            if numbers.currency.is_not_null().any():
                currency[f.name] = numbers.currency
            reasons = pl.select(pl.coalesce(reasons, money_problems(values, o.allow_negative, o.max_amount))).to_series()
        elif f.type == "probability":
            values, reasons = to_probabilities(numbers)
        elif f.type == "int":
            whole = pl.select(pl.when(values == values.round(0)).then(values)).to_series().cast(pl.Int64, strict=False)
            reasons = pl.select(pl.when(values.is_not_null() & whole.is_null()).then(pl.lit(_REASON["int"])).otherwise(reasons)).to_series()
            values = whole
        return values, reasons
    if f.type in ("datetime", "date"):
        # A date has no time of day to shift: read it in UTC so 2024-03-31 stays 31 March.
        parsed = parse_instants(col, rows, where, dayfirst=o.dayfirst, date_format=o.date_format,
                                timezone=o.timezone if f.type == "datetime" else "UTC")
        notes += parsed.notes
        return (parsed.values if f.type == "datetime" else parsed.values.dt.date()), parsed.reasons
    if f.type == "bool":
        low = col.str.to_lowercase()
        values = pl.select(pl.when(low.is_in(list(_TRUE))).then(True).when(low.is_in(list(_FALSE))).then(False)).to_series()
        return values, pl.select(pl.when(col.is_not_null() & values.is_null()).then(pl.lit(_REASON["bool"]))).to_series()
    raise ValueError(f.type)


def convert_columns(raw: pl.DataFrame, columns: dict[str, Field], source: str, options: ParseOptions | None = None) -> Typed:
    """``columns`` maps file column -> field; returns typed field columns and each refused cell."""
    options = options or ParseOptions()
    problems: list[RowProblem] = []
    notes: list[str] = []
    currency: dict[str, pl.Series] = {}
    out = [raw[ROW]]
    for column, f in columns.items():
        col = raw[column]
        typed, reasons = _convert(col, raw[ROW], f, f"{source}, column {column!r}", options, notes, currency)
        bad = pl.DataFrame({"row": raw[ROW], "value": col, "reason": reasons}).filter(pl.col("reason").is_not_null())
        problems += [RowProblem(source, r, column, v, why) for r, v, why in bad.iter_rows()]
        if f.required:
            missing = raw.select(ROW).filter(col.is_null() | (typed.is_null() & reasons.is_null()))  # blank, or "0000-00-00"
            problems += [RowProblem(source, r, column, None, f"needs a value: it holds the required field {f.name}") for (r,) in missing.iter_rows()]
        out.append(typed.alias(f.name))
    problems += _currency_conflicts(raw, columns, currency, source)
    return Typed(pl.DataFrame(out), problems, notes, currency)


def _currency_conflicts(raw: pl.DataFrame, columns: dict[str, Field], currency: dict[str, pl.Series], source: str) -> list[RowProblem]:
    """"€1.200" in a row whose currency column says USD: one of the two is wrong."""
    amount = next((c for c, f in columns.items() if f.name == "amount"), None)
    given = next((c for c, f in columns.items() if f.name == "currency"), None)
    if amount is None or given is None or "amount" not in currency:
        return []
    named = currency["amount"]
    stated = raw[given].str.strip_chars().str.to_uppercase()
    bad = raw.select(ROW, amount, given).filter(named.is_not_null() & stated.is_not_null() & (named != stated))
    return [RowProblem(source, r, amount, v, f"names another currency than the column {given!r} ({c})") for r, v, c in bad.iter_rows()]


def with_named_currency(typed: Typed) -> pl.DataFrame:
    """Fill a deal's currency from its amount ("€1.200" -> EUR) where no currency column says it."""
    frame = typed.frame
    named = typed.currency.get("amount")
    if named is None:
        return frame
    given = pl.col("currency") if "currency" in frame.columns else pl.lit(None, pl.String)
    return frame.with_columns(pl.coalesce(given, pl.lit(named)).alias("currency"))


def with_probability_attribute(frame: pl.DataFrame) -> pl.DataFrame:
    """Deals have no column for a probability typed by people (``true_probability`` belongs to the
    synthetic generator), so it is kept with the custom fields: ``attributes["probability"]``."""
    if "probability" not in frame.columns:
        return frame
    attrs = pl.col("__attributes__").fill_null("{}") if "__attributes__" in frame.columns else pl.lit("{}")
    pair = pl.format('"probability": {}', pl.col("probability"))
    merged = (pl.when(pl.col("probability").is_null()).then(attrs)
              .when(attrs == "{}").then(pl.concat_str([pl.lit("{"), pair, pl.lit("}")]))
              .otherwise(pl.concat_str([attrs.str.strip_suffix("}"), pl.lit(", "), pair, pl.lit("}")])))
    return frame.with_columns(merged.alias("__attributes__"))
