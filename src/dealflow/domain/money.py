"""Amounts in the company currency, through a dated table of exchange rates.

A rate says how many company-currency units one unit of a currency is worth from its
``valid_from`` date until the next rate of that currency. A closed deal is converted at the
rate valid on its close date (what the money was worth when it was booked); an open deal at
the latest rate known (at the ``as_of`` instant, so a past view never uses a later rate).

A deal without a currency (legacy or unlabelled data) or in the company currency keeps its
amount. A deal in a currency with no usable rate gets a null company amount, so no total
ever adds it up as if it were company money; ``unconverted`` lists those deals.

Nothing here rounds: amounts keep full float precision, and only the figure finally shown
(a printed table, a web page) is rounded.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl

RATE_COLUMNS = {"currency": pl.String, "valid_from": pl.Date, "rate": pl.Float64}
_LATEST = date(9999, 12, 31)  # "the latest rate there is": later than any valid_from


def empty_rates() -> pl.DataFrame:
    return pl.DataFrame(schema=RATE_COLUMNS)


def normalize_currency(col: pl.Expr) -> pl.Expr:
    """" eur " and "EUR" are one currency; a blank is no currency."""
    text = col.str.strip_chars().str.to_uppercase()
    return pl.when(text == "").then(None).otherwise(text)


def to_company_currency(deals: pl.DataFrame, rates: pl.DataFrame, company: str, *, as_of: datetime | None = None) -> pl.DataFrame:
    """Convert ``amount`` to the company currency; keep the deal's own in ``amount_original``.

    ``deals`` needs amount, currency, status and closed_at (UTC instants); ``rates`` is
    currency, valid_from, rate. Adds ``amount_original`` and ``exchange_rate`` (1.0 for
    amounts already in the company currency, null when no rate applies). Row order is kept.
    """
    company = company.strip().upper()
    latest = _LATEST if as_of is None else as_of.astimezone(timezone.utc).date()
    closed = (pl.col("status") != "open") & pl.col("closed_at").is_not_null()
    # Normalize the few distinct codes, not a million cells.
    codes = deals.select(pl.col("currency").unique().drop_nulls()).with_columns(normalize_currency(pl.col("currency")).alias("_code"))
    currency = pl.col("currency").replace_strict(codes["currency"], codes["_code"], default=None, return_dtype=pl.String)
    home = currency.is_null() | (currency == company)
    # Only deals in another currency need a rate: look those up on a narrow frame, then scatter back.
    foreign = deals.select(
        currency.alias("_currency"),
        # A closed deal's close day in UTC; an open one (or a close without a date) takes the latest rate.
        pl.when(closed).then(pl.col("closed_at").dt.date()).otherwise(pl.lit(latest)).alias("_rate_day"),
    ).with_row_index("_row").filter(pl.col("_currency").is_not_null() & (pl.col("_currency") != company))
    rate = pl.repeat(None, deals.height, dtype=pl.Float64, eager=True).alias("_rate")
    if foreign.height:
        table = (
            rates.select(normalize_currency(pl.col("currency")).alias("_currency"), pl.col("valid_from").alias("_rate_day"),
                         pl.col("rate").cast(pl.Float64).alias("_rate"))
            .filter(pl.col("_currency").is_not_null() & (pl.col("_currency") != company))
            .sort("_rate_day")
        )
        found = foreign.sort("_rate_day").join_asof(
            table, on="_rate_day", by="_currency", strategy="backward", check_sortedness=False  # both sorted just above
        ).filter(pl.col("_rate").is_not_null())
        rate = rate.scatter(found["_row"], found["_rate"])
    applied = pl.when(home).then(pl.lit(1.0)).otherwise(pl.col("_rate"))
    return deals.with_columns(rate).with_columns(
        pl.col("amount").alias("amount_original"),
        (pl.col("amount") * applied).alias("amount"),
        applied.alias("exchange_rate"),
    ).drop("_rate")


def original_amounts(deals: pl.DataFrame) -> pl.DataFrame:
    """Undo ``to_company_currency``: each deal's amount in its own currency again."""
    if "amount_original" not in deals.columns:
        return deals
    return deals.with_columns(pl.col("amount_original").alias("amount")).drop("amount_original", "exchange_rate", strict=False)


def unconverted(deals: pl.DataFrame) -> pl.DataFrame:
    """Deals with an amount in a currency that no rate converts: left out of every total."""
    if "amount_original" not in deals.columns:
        return deals.clear()
    return deals.filter(pl.col("amount_original").is_not_null() & pl.col("amount").is_null())


def unconverted_note(deals: pl.DataFrame) -> str | None:
    """One sentence per currency, e.g. "12 deals in CHF have no exchange rate; their amounts are left out"."""
    missing = unconverted(deals)
    if missing.is_empty():
        return None
    counts = (
        missing.group_by(normalize_currency(pl.col("currency")).alias("currency")).len()
        .sort(["len", "currency"], descending=[True, False])
    )
    parts = [f"{n:,} deal{'s' if n != 1 else ''} in {c}" for c, n in counts.iter_rows()]
    tail = "has no exchange rate; its amount is left out" if missing.height == 1 else "have no exchange rate; their amounts are left out"
    return f"{', '.join(parts)} {tail} (import rates with `dealflow rates import FILE`)"
