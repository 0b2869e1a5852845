"""Dates and times as exports write them, read a whole column at a time, to UTC instants.

Accepted: ISO 8601 (T or space, fractions, Z, +02:00, +0200), numeric day/month/year in either
order (d.m.Y is always day first), two-digit years (00-69 -> 20xx, 70-99 -> 19xx), English
month names ("3 Mar 2024", "March 3, 2024", "03-Mar-24", "Mar 3 2024 14:05"), Excel serial day
numbers (1000-80000, fractions are the time of day), Unix epochs (10-digit seconds, 13-digit
milliseconds). "0000-00-00" is missing, never 1970. Naive times are in the given time zone.

Day/month order is decided per column and never guessed: 13/04 proves day first, 04/13
month first; a column with proof both ways, or with no proof while some value reads two
ways (03/04/2024), is refused with what to pass. Impossible dates (31 April) are refused.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field

import polars as pl

from dealflow.errors import DealflowError

YEARS = (1900, 2200)  # outside this, a parsed date is a typo, not a date
NOT_A_DATE = "is not a date or time between 1900 and 2200 (use ISO 8601, e.g. 2024-03-31 or 2024-03-31T14:00:00+02:00)"
_ZERO = r"^0{4}-0{2}-0{2}([T ]0{2}:0{2}(:0{2})?)?$|^0{2}[/.]0{2}[/.]0{4}$"
# The usual case, each tried on a sample before one pass over the whole column.
_FAST = (  # (format, zone): "Z" = the text says UTC, "offset" = the text gives one, None = naive
    ("%Y-%m-%dT%H:%M:%SZ", "Z"), ("%Y-%m-%dT%H:%M:%S%.fZ", "Z"),  # a literal Z parses 3x faster than %#z
    ("%Y-%m-%dT%H:%M:%S%.f%#z", True), ("%Y-%m-%d %H:%M:%S%.f%#z", True),
    ("%Y-%m-%dT%H:%M:%S%#z", True), ("%Y-%m-%d %H:%M:%S%#z", True),
    ("%Y-%m-%d", False), ("%Y-%m-%d %H:%M:%S", False), ("%Y-%m-%dT%H:%M:%S", False),
    ("%Y-%m-%d %H:%M:%S%.f", False), ("%Y-%m-%dT%H:%M:%S%.f", False), ("%Y-%m-%d %H:%M", False),
)
_TIME = r"(?<H>\d{1,2}):(?<M>\d{2})(?::(?<S>\d{2})(?:[.,](?<F>\d{1,9}))?)?\s*(?<ampm>[AaPp]\.?[Mm]\.?)?"
_ZONE = r"\s*(?<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_WEEKDAY = r"(?:[A-Za-z]{3,9},?\s+)?"
_SHAPES = {
    "iso": rf"^(?<y>\d{{4}})[-/.](?<m>\d{{1,2}})[-/.](?<d>\d{{1,2}})(?:[T ]{_TIME})?{_ZONE}$",
    "numeric": rf"^(?<a>\d{{1,2}})(?<sep>[-/.])(?<b>\d{{1,2}})[-/.](?<y>\d{{4}}|\d{{2}})(?:[T ,]+{_TIME})?{_ZONE}$",
    "day_name": rf"^{_WEEKDAY}(?<d>\d{{1,2}})(?:st|nd|rd|th)?[\s-]+(?<mon>[A-Za-z]{{3,9}})\.?,?[\s-]+(?<y>\d{{4}}|\d{{2}})(?:,?\s+{_TIME})?{_ZONE}$",
    "name_day": rf"^{_WEEKDAY}(?<mon>[A-Za-z]{{3,9}})\.?\s+(?<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?<y>\d{{4}}|\d{{2}})(?:,?\s+{_TIME})?{_ZONE}$",
    "number": r"^(?<int>\d+)(?:\.(?<frac>\d+))?$",
}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name} | {
    name.lower(): i for i, name in enumerate(calendar.month_abbr) if name} | {"sept": 9}
_PARTS = ("y", "m", "d", "mon", "a", "b", "sep", "H", "M", "S", "F", "ampm", "tz", "int", "frac")


@dataclass
class Instants:
    values: pl.Series  # Datetime(us, UTC); null where blank, missing or refused
    reasons: pl.Series  # String; why a non-blank cell was refused, else null
    notes: list[str] = field(default_factory=list)


def _localize(naive: pl.Expr, timezone: str) -> pl.Expr:
    return naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _finish(frame: pl.DataFrame, value: pl.Expr, reason: pl.Expr, name: str, notes: list[str]) -> Instants:
    """Refuse implausible years; blank cells are never refused."""
    year = value.dt.year()
    plausible = (year >= YEARS[0]) & (year <= YEARS[1])
    out = frame.select(
        v=pl.when(plausible).then(value),
        r=pl.when(pl.col("text").is_null()).then(None).when(reason.is_not_null()).then(reason)
        .when(plausible.fill_null(False).not_()).then(pl.lit(NOT_A_DATE)),
    )
    return Instants(out["v"].alias(name), out["r"].alias(name), notes)


def _strptime(text: pl.Series, fmt: str) -> pl.Series:
    if fmt == "%Y-%m-%d":
        return text.str.to_date(fmt, strict=False).cast(pl.Datetime("us"))
    return text.str.to_datetime(fmt, strict=False, time_unit="us")


def _fast(frame: pl.DataFrame, timezone: str) -> pl.Series | None:
    """One ISO format for the whole column: a single vectorized pass (10M-row imports)."""
    text = frame["text"]
    sample = text.drop_nulls().head(200)
    for fmt, aware in _FAST:
        zone = "UTC" if aware == "Z" else timezone
        if _strptime(sample, fmt).null_count():
            continue
        full = _strptime(text, fmt)
        full = full.dt.convert_time_zone("UTC") if aware is True else pl.select(_localize(pl.lit(full), zone)).to_series()
        # Anything left over (31 April, a time the clocks skipped) goes the slow way, for its reason.
        return full if full.null_count() == text.null_count() else None
    return None


def _with_format(frame: pl.DataFrame, fmt: str, timezone: str, name: str, notes: list[str]) -> Instants:
    aware = any(z in fmt for z in ("%z", "%:z", "%#z"))
    parsed = pl.col("text").str.to_datetime(fmt, strict=False, time_unit="us")
    value = parsed.dt.convert_time_zone("UTC") if aware else _localize(parsed, timezone)
    reason = pl.when(parsed.is_null()).then(pl.lit(f"does not match --date-format {fmt!r} or is not a real date"))
    return _finish(frame, value, reason, name, notes)


def _order(parts: pl.DataFrame, where: str, dayfirst: bool | None, name: str, notes: list[str]) -> bool:
    """Day first? Decided from the column's own numeric dates, or refused."""
    numeric = parts.filter(pl.col("a").is_not_null()).select(
        "row", "text", a=pl.col("a").cast(pl.Int32), b=pl.col("b").cast(pl.Int32), dot=pl.col("sep") == ".", y=pl.col("y"))
    if dayfirst is not None or numeric.is_empty():
        return bool(dayfirst)
    proofs = numeric.with_columns(
        day=((pl.col("a") > 12) & (pl.col("b") <= 12)) | pl.col("dot"),
        month=(pl.col("b") > 12) & (pl.col("a") <= 12) & ~pl.col("dot"),
        both=(pl.col("a") <= 12) & (pl.col("b") <= 12) & (pl.col("a") != pl.col("b")) & ~pl.col("dot"),
    )
    day, month = proofs.filter("day"), proofs.filter("month")
    if day.height and month.height:
        (r1, v1), (r2, v2) = day.select("row", "text").row(0), month.select("row", "text").row(0)
        raise DealflowError(
            f"{where}: some dates are day/month (row {r1}: {v1!r}) and others month/day (row {r2}: {v2!r}); "
            "fix the file, or pass --dayfirst, --monthfirst or --date-format"
        )
    if day.height or month.height:
        r, v = (day if day.height else month).select("row", "text").row(0)
        order = "day/month/year" if day.height else "month/day/year"
        if proofs["both"].any():
            notes.append(f"column {name!r}: dates read as {order} (row {r}: {v!r} shows it)")
        return bool(day.height)
    both = proofs.filter("both")
    if both.height:
        v, sep, y = both.select("text", "dot", "y").row(0)
        sep = next(ch for ch in v if ch in "/-")
        fmt = f"%d{sep}%m{sep}{'%Y' if len(y) == 4 else '%y'}"
        raise DealflowError(
            f"{where}: every date fits both day/month and month/day (e.g. {v!r}); "
            f"pass --dayfirst, --monthfirst or --date-format '{fmt}'"
        )
    return True  # every value has day == month: either order reads the same


def _int(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Int64, strict=False)


def parse_instants(col: pl.Series, rows: pl.Series, where: str, *, dayfirst: bool | None = None,
                   date_format: str | None = None, timezone: str = "UTC") -> Instants:
    """``where`` names the column in messages ("deals.csv, column 'Close Date'")."""
    name = col.name
    notes: list[str] = []
    text = col.cast(pl.String)
    zero = text.str.contains(_ZERO).fill_null(False)
    if zero.any():
        notes.append(f"column {name!r}: {zero.sum()} zero date(s) such as {text.filter(zero)[0]!r} read as missing")
        text = pl.select(pl.when(zero).then(None).otherwise(text)).to_series()
    frame = pl.DataFrame({"text": text, "row": rows})
    if date_format:
        return _with_format(frame, date_format, timezone, name, notes)
    fast = _fast(frame, timezone)
    if fast is not None:
        return _finish(frame.with_columns(v=fast), pl.col("v"), pl.lit(None, pl.String), name, notes)

    # Exports repeat dates: read each distinct text once, then join back (one row's work per value).
    if frame["text"].approx_n_unique() < frame.height // 2:  # a cheap estimate first
        distinct = frame.filter(pl.col("text").is_not_null()).group_by("text", maintain_order=True).agg(pl.col("row").first())
        once = _general(distinct, where, dayfirst, timezone, name, notes)
        read = distinct.select("text", v=once.values, r=once.reasons)
        back = frame.join(read, on="text", how="left", maintain_order="left")
        return Instants(back["v"].alias(name), back["r"].alias(name), notes)
    return _general(frame, where, dayfirst, timezone, name, notes)


def _general(frame: pl.DataFrame, where: str, dayfirst: bool | None, timezone: str, name: str, notes: list[str]) -> Instants:
    """Every shape of date, cell by cell (vectorized), for columns the fast path cannot read."""
    parts = frame
    for shape, regex in _SHAPES.items():
        got = frame.select(pl.col("text").str.extract_groups(regex).alias("g")).unnest("g")
        got = got.select([pl.col(c).alias(f"{shape}:{c}") for c in got.columns])
        parts = parts.hstack(got)
    parts = parts.with_columns(
        pl.coalesce([pl.col(f"{s}:{p}") for s in _SHAPES if f"{s}:{p}" in parts.columns]).alias(p) for p in _PARTS
    ).select("text", "row", *_PARTS)
    first = _order(parts, where, dayfirst, name, notes)

    y = _int("y")
    year = pl.when(pl.col("y").str.len_chars() == 2).then(pl.when(y < 70).then(2000 + y).otherwise(1900 + y)).otherwise(y)
    month = pl.coalesce(_int("m"), pl.col("mon").str.to_lowercase().replace_strict(_MONTHS, default=None, return_dtype=pl.Int64),
                        _int("b" if first else "a"))
    day = pl.coalesce(_int("d"), _int("a" if first else "b"))
    hour12 = _int("H")
    pm = pl.col("ampm").str.to_lowercase().str.starts_with("p")
    hour = pl.when(pl.col("ampm").is_null()).then(hour12).otherwise(hour12 % 12 + pl.when(pm).then(12).otherwise(0)).fill_null(0)
    minute, second = _int("M").fill_null(0), _int("S").fill_null(0)
    micro = pl.col("F").str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64, strict=False).fill_null(0)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in = (pl.when(month == 2).then(pl.when(leap).then(29).otherwise(28))
               .when(month.is_in([4, 6, 9, 11])).then(30).otherwise(31))
    tz = pl.col("tz")
    offset = (pl.when(tz.is_in(["Z", "UTC", "GMT"])).then(0)
              .otherwise(tz.str.slice(1, 2).cast(pl.Int64, strict=False) * 60
                         + tz.str.replace(":", "", literal=True).str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0))
              * pl.when(tz.str.starts_with("-")).then(-1).otherwise(1))
    number = _int("int")
    digits = pl.col("int").str.len_chars()
    serial = (pl.col("int").is_not_null() & (number >= 1000) & (number <= 80000)
              & (pl.col("frac").is_null() | (digits <= 5)))
    epoch_s = (digits == 10) & pl.col("frac").is_null()
    epoch_ms = (digits == 13) & pl.col("frac").is_null()

    parts = parts.with_columns(year=year, month=month, day=day, hour=hour, minute=minute, second=second, micro=micro,
                               days_in=days_in, offset=offset, serial=serial.fill_null(False),
                               epoch_s=epoch_s.fill_null(False), epoch_ms=epoch_ms.fill_null(False))
    good_month = pl.col("month").is_between(1, 12)
    good_day = pl.col("day").is_between(1, pl.col("days_in"))
    good_time = (pl.col("hour") < 24) & (pl.col("minute") < 60) & (pl.col("second") < 60) & (
        pl.col("ampm").is_null() | _int("H").is_between(1, 12))
    calendar_date = pl.col("year").is_not_null() & good_month & good_day & good_time
    safe = pl.when(calendar_date)
    naive = pl.datetime(safe.then("year").otherwise(2000), safe.then("month").otherwise(1), safe.then("day").otherwise(1),
                        safe.then("hour").otherwise(0), safe.then("minute").otherwise(0), safe.then("second").otherwise(0),
                        safe.then("micro").otherwise(0), time_unit="us")
    fraction = pl.concat_str([pl.col("int"), pl.lit("."), pl.col("frac").fill_null("0")]).cast(pl.Float64, strict=False)
    excel = pl.datetime(1899, 12, 30, time_unit="us") + pl.duration(microseconds=(fraction * 86_400e6).round(0).cast(pl.Int64))
    value = (
        pl.when(pl.col("serial")).then(_localize(excel, timezone))
        .when(pl.col("epoch_s")).then(pl.from_epoch(number, time_unit="s").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        .when(pl.col("epoch_ms")).then(pl.from_epoch(number, time_unit="ms").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
        .when(~calendar_date).then(None)
        .when(tz.is_not_null()).then((naive - pl.duration(minutes=pl.col("offset"))).dt.replace_time_zone("UTC"))
        .otherwise(_localize(naive, timezone))
    )
    month_name = pl.col("month").replace_strict(dict(enumerate(calendar.month_name)), default="", return_dtype=pl.String)
    reason = (
        pl.when(pl.col("year").is_null() & ~pl.col("serial") & ~pl.col("epoch_s") & ~pl.col("epoch_ms")).then(pl.lit(NOT_A_DATE))
        .when(pl.col("year").is_null()).then(None)
        .when(~good_month).then(pl.format("is not a real date (there is no month {})", "month"))
        .when(~good_day & (pl.col("month") == 2) & (pl.col("day") == 29)).then(pl.format("is not a real date ({} is not a leap year)", "year"))
        .when(~good_day).then(pl.format("is not a real date ({} has {} days)", month_name, "days_in"))
        .when(~good_time).then(pl.lit("is not a real time of day"))
        .when(tz.is_null() & _localize(naive, timezone).is_null()).then(pl.lit(f"does not exist in {timezone} (the clocks skipped that hour)"))
    )
    for mask, what in (("serial", "Excel serial day numbers"), ("epoch_s", "Unix times in seconds"), ("epoch_ms", "Unix times in milliseconds")):
        if parts[mask].any():
            notes.append(f"column {name!r}: {parts[mask].sum()} value(s) such as {parts.filter(mask)['text'][0]!r} read as {what}")
    return _finish(parts, value, reason, name, notes)
