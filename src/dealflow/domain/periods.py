"""Reporting periods: months, quarters and years, on a fiscal calendar.

``parse_period("2017Q3")``, ``parse_period("2017-05")``, ``parse_period("FY2018", fiscal_start_month=4)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

from dealflow.errors import DomainError


@dataclass(frozen=True)
class Period:
    label: str
    start: date  # inclusive
    end: date  # exclusive

    def start_instant(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=timezone.utc)

    def end_instant(self) -> datetime:
        return datetime(self.end.year, self.end.month, self.end.day, tzinfo=timezone.utc)

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def parse_period(text: str, *, fiscal_start_month: int = 1) -> Period:
    """Parse a month (2017-05), quarter (2017Q2, 2017-Q2) or year (2017, FY2017).

    Quarters and years follow the fiscal calendar: with ``fiscal_start_month=4``,
    FY2018 runs from April 2017 to March 2018 and 2018Q1 is April-June 2017.
    """
    t = text.strip().upper()
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", t):
        start = date(int(m[1]), int(m[2]), 1)
        return Period(f"{start:%Y-%m}", start, _add_months(start, 1))

    def fy0(year: int) -> date:
        """First day of fiscal year ``year`` (named for the calendar year it ends in)."""
        return _add_months(date(year, fiscal_start_month, 1), -12 if fiscal_start_month > 1 else 0)

    if m := re.fullmatch(r"(?:FY)?(\d{4})-?Q([1-4])", t):
        start = _add_months(fy0(int(m[1])), 3 * (int(m[2]) - 1))
        return Period(f"{m[1]}Q{m[2]}", start, _add_months(start, 3))
    if m := re.fullmatch(r"(?:FY)?(\d{4})", t):
        start = fy0(int(m[1]))
        return Period(("FY" if fiscal_start_month > 1 else "") + m[1], start, _add_months(start, 12))
    raise DomainError(f"cannot read period {text!r}: use a month (2017-05), a quarter (2017Q2) or a year (2017)")


def periods_between(first: date, last: date, kind: str = "month") -> list[Period]:
    """Consecutive months or quarters covering ``first``..``last``."""
    step = {"month": 1, "quarter": 3}[kind]
    start = date(first.year, ((first.month - 1) // step) * step + 1, 1)
    out = []
    while start <= last:
        end = _add_months(start, step)
        label = f"{start:%Y-%m}" if step == 1 else f"{start.year}Q{(start.month - 1) // 3 + 1}"
        out.append(Period(label, start, end))
        start = end
    return out


def earlier_periods(period: Period, count: int) -> list[Period]:
    """The ``count`` periods of the same length as ``period`` just before it, oldest first."""
    months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
    out = []
    for k in range(count, 0, -1):
        start, end = _add_months(period.start, -k * months), _add_months(period.end, -k * months)
        out.append(Period(f"{start:%Y-%m}..{end:%Y-%m}", start, end))
    return out
