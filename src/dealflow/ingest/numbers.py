"""Amounts and probabilities as people type them, read a whole column at a time.

The decimal separator is decided per column, from the values that prove it:
"1.234,56", "12,5" or "1.234.567" prove a decimal comma; "1,234.56", "12.5" or "1,234,567"
prove a decimal point. A column with proof both ways is refused. Values such as "1,234" or
"1.234" (one separator, then exactly three digits) fit both; in a column with no proof they
are read as thousands (1234) and a note says so; ``--decimal`` overrides all of this.
Spaces (also thin and no-break ones) and apostrophes group thousands: "1 234,56", "1'234.56".
A currency symbol or ISO code may stand before or after the number: "€1.200", "USD 1,200",
"1.200 €", "1200 kr".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from dealflow.errors import DealflowError

SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY"}
_CUR = r"[€$£¥]|[A-Za-z]{3}|[Kk][Rr]\.?"
_GROUP = r"[\s'’]"  # thousands grouping: any space (incl. U+00A0, U+2009, U+202F) or apostrophe
_SHAPE = (
    rf"^(?<pre>{_CUR})?\s*(?<neg>-)?\s*(?<pre2>{_CUR})?\s*(?<body>[\d.,'’\s]*\d(?:[.,]\d*)?|[.,]\d+)(?<exp>[eE][+-]?\d+)?"
    rf"\s*(?<post>{_CUR})?\s*(?<pct>%)?$"
)
_AMBIGUOUS = r"^[1-9]\d{0,2}[.,]\d{3}$"  # 1,234 or 1.234: a thousands separator or a decimal one
_COMMA_DECIMAL = r"^\d{1,3}(\.\d{3})+,\d*$|^\d*,\d+$|^\d{1,3}(\.\d{3}){2,}$"
_POINT_DECIMAL = r"^\d{1,3}(,\d{3})+\.\d*$|^\d*\.\d+$|^\d{1,3}(,\d{3}){2,}$"
_VALID = {
    ",": r"^(\d{1,3}(\.\d{3})*|\d+)(,\d*)?$|^,\d+$",
    ".": r"^(\d{1,3}(,\d{3})*|\d+)(\.\d*)?$|^\.\d+$",
    None: r"^\d+$|" + _AMBIGUOUS,
}
NOT_A_NUMBER = "is not a number (write 1200, 1,200.50 or 1.200,50)"


@dataclass
class Numbers:
    values: pl.Series  # Float64; null where the cell is blank or refused
    reasons: pl.Series  # String; why a non-blank cell was refused, else null
    percent: pl.Series  # Boolean; the cell ended in "%"
    currency: pl.Series  # String; ISO code the cell named ("€1.200" -> EUR), else null
    notes: list[str] = field(default_factory=list)


def _first(frame: pl.DataFrame, mask: str) -> tuple[int, str]:
    row = frame.filter(pl.col(mask)).row(0, named=True)
    return row["row"], row["text"]


def parse_numbers(col: pl.Series, rows: pl.Series, where: str, decimal: str | None = None) -> Numbers:
    """``where`` names the column in messages ("deals.csv, column 'Amount'")."""
    name = col.name
    frame = pl.DataFrame({"text": col.cast(pl.String), "row": rows})
    if decimal is None and frame["text"].str.contains(r"^-?\d+(\.\d+)?$").fill_null(True).all() \
            and not frame["text"].str.contains(r"^-?[1-9]\d{0,2}\.\d{3}$").any():
        # The common case (plain 1200 or 1200.50): one cast, no separators to decide.
        values = frame["text"].cast(pl.Float64, strict=False)
        return Numbers(values.alias(name), pl.Series(name, [None] * len(col), pl.String),
                       pl.Series(name, [False] * len(col)), pl.Series(name, [None] * len(col), pl.String))

    # Exports repeat values: read each distinct text once, then join back (a cheap estimate decides).
    if frame["text"].approx_n_unique() < frame.height // 2:
        distinct = frame.filter(pl.col("text").is_not_null()).group_by("text", maintain_order=True).agg(pl.col("row").first())
        once = parse_numbers(distinct["text"].alias(name), distinct["row"], where, decimal)
        read = distinct.select("text", v=once.values, r=once.reasons, p=once.percent, c=once.currency)
        back = frame.join(read, on="text", how="left", maintain_order="left")
        return Numbers(back["v"].alias(name), back["r"].alias(name), back["p"].fill_null(False).alias(name), back["c"].alias(name), once.notes)

    # "(300)" is accounting's -300.
    paren = pl.col("text").str.contains(r"^\(.*\)$").fill_null(False)
    inner = pl.col("text").str.replace(r"^\((.*)\)$", "$1")
    parts = frame.with_columns(paren=paren, p=inner.str.extract_groups(_SHAPE)).unnest("p")
    body = pl.col("body")
    grouped = body.str.contains(_GROUP)
    parts = parts.with_columns(
        bad_group=grouped & ~body.str.contains(rf"^\d{{1,3}}({_GROUP}\d{{3}})+([.,]\d+)?$"),
        b=body.str.replace_all(_GROUP, ""),
    ).with_columns(
        ambiguous=pl.col("b").str.contains(_AMBIGUOUS).fill_null(False),
    ).with_columns(
        comma=pl.col("b").str.contains(_COMMA_DECIMAL).fill_null(False) & ~pl.col("ambiguous"),
        point=pl.col("b").str.contains(_POINT_DECIMAL).fill_null(False) & ~pl.col("ambiguous"),
    )
    notes: list[str] = []
    if decimal is None:
        has_comma, has_point = parts["comma"].any(), parts["point"].any()
        if has_comma and has_point:
            r1, v1 = _first(parts, "comma")
            r2, v2 = _first(parts, "point")
            raise DealflowError(
                f"{where}: some numbers use a decimal comma (row {r1}: {v1!r}) and others a decimal point "
                f"(row {r2}: {v2!r}); fix the file or pass --decimal ',' or --decimal '.'"
            )
        decimal = "," if has_comma else "." if has_point else None
        if decimal is None and parts["ambiguous"].any():
            r, v = _first(parts, "ambiguous")
            sep, what = (",", "comma") if "," in v else (".", "point")
            notes.append(f"column {name!r}: {parts['ambiguous'].sum()} value(s) like {v!r} (row {r}) read as thousands "
                         f"({re.sub(r'[^0-9]', '', v)}); pass --decimal '{sep}' if that is a decimal {what}")
    b = pl.col("b")
    number = (b.str.replace_all(r"\.", "").str.replace(",", ".", literal=True) if decimal == ","
              else b.str.replace_all(",", "", literal=True) if decimal == "."
              else b.str.replace_all(r"[.,]", ""))
    pre = pl.coalesce("pre", "pre2")
    parts = parts.with_columns(
        currency_text=pl.coalesce(pre, "post"),
        two_currencies=pre.is_not_null() & pl.col("post").is_not_null() & (pre != pl.col("post")),
        fits=b.str.contains(_VALID[decimal]).fill_null(False) & ~pl.col("bad_group").fill_null(False),
        value=pl.concat_str([number, pl.col("exp").fill_null("")]).cast(pl.Float64, strict=False)
        * pl.when(pl.col("neg").is_not_null() ^ pl.col("paren")).then(-1.0).otherwise(1.0),
    )
    code = pl.col("currency_text").str.strip_chars_end(".")
    currency = (
        pl.when(code.is_in(list(SYMBOLS))).then(code.replace(SYMBOLS))
        .when(code.str.to_lowercase() == "kr").then(None)
        .otherwise(code.str.to_uppercase())
    )
    parts = parts.with_columns(currency=currency)
    if parts["currency_text"].is_in(["kr", "kr.", "Kr", "KR", "Kr."]).any():
        notes.append(f"column {name!r}: 'kr' may be SEK, NOK or DKK, so the currency is left blank; add a currency column")
    if parts["currency_text"].eq("$").any():
        notes.append(f"column {name!r}: '$' read as USD; add a currency column if it is another dollar")
    ok = pl.col("fits") & pl.col("value").is_finite().fill_null(False) & ~pl.col("two_currencies").fill_null(False)
    reason = (
        pl.when(pl.col("text").is_null() | ok).then(None)
        .when(pl.col("two_currencies")).then(pl.lit("names two different currencies"))
        .when((pl.col("comma") | pl.col("point")) & ~pl.col("bad_group").fill_null(False))
        .then(pl.lit(f"does not read with {decimal!r} as the decimal separator, as the rest of the column does"))
        .otherwise(pl.lit(NOT_A_NUMBER))
    )
    out = parts.select(
        value=pl.when(ok).then("value"), reason=reason, pct=pl.col("pct").is_not_null() & ok, currency=pl.when(ok).then("currency"),
    )
    return Numbers(out["value"].alias(name), out["reason"].alias(name), out["pct"].alias(name), out["currency"].alias(name), notes)


def money_problems(values: pl.Series, allow_negative: bool, max_amount: float) -> pl.Series:
    """Why an amount that parsed is still refused (null = fine)."""
    return pl.select(
        pl.when(values.lt(0) & pl.lit(not allow_negative)).then(pl.lit("is negative; pass --allow-negative if credits are real"))
        .when(values.abs().gt(max_amount)).then(pl.lit(f"is larger than {max_amount:,.0f}; a typo? pass --max-amount to allow it"))
    ).to_series().alias(values.name)


def to_probabilities(numbers: Numbers) -> tuple[pl.Series, pl.Series]:
    """"35%", "35" and "0.35" all mean 0.35: a plain value up to 1 is a fraction, above 1 (up
    to 100) a percent. Returns the probabilities and, for refused cells, the reasons."""
    v, pct = numbers.values, numbers.percent
    scaled = pl.select(pl.when(pct | (v > 1)).then(v / 100).otherwise(v).round(12)).to_series()  # 35 / 100 = 0.35, not 0.35000000000000003
    reasons = pl.select(
        pl.when(numbers.reasons.is_not_null()).then(numbers.reasons)
        .when(scaled < 0).then(pl.lit("is a negative probability"))
        .when(scaled > 1).then(pl.lit("is more than 100%; write 35%, 35 or 0.35"))
    ).to_series()
    ok = pl.select(pl.when(reasons.is_null()).then(scaled)).to_series()
    return ok.alias(v.name), reasons.alias(v.name)
