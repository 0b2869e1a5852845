"""Shared metric expressions (PRODUCT.md conventions), reused by every analysis."""
from __future__ import annotations

import math

import polars as pl

DAY_US = 86_400 * 1_000_000
Z95 = 1.959963984540054


def days_between(start: str | pl.Expr, end: str | pl.Expr) -> pl.Expr:
    """Fractional days from ``start`` to ``end`` (instants)."""
    s = pl.col(start) if isinstance(start, str) else start
    e = pl.col(end) if isinstance(end, str) else end
    return (e - s).dt.total_microseconds() / DAY_US


def cycle_days() -> pl.Expr:
    """Cycle length = closed_at − created_at (the first known date when created_at is missing)."""
    return days_between("first_seen_at", "closed_at").alias("cycle_days")


def win_rate(won: pl.Expr, lost: pl.Expr) -> pl.Expr:
    """won ÷ (won + lost); null when nothing closed. Open deals never count as lost."""
    return pl.when((won + lost) > 0).then(won / (won + lost)).otherwise(None)


def outcome_summary(deals: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per group: deals, open/won/lost counts, win rates by count and value, amounts, cycle."""
    status = pl.col("status")
    amount = pl.col("amount").fill_null(0)
    out = deals.with_columns(cycle_days()).group_by(by).agg(
        pl.len().alias("deals"),
        (status == "open").sum().alias("open"),
        (status == "won").sum().alias("won"),
        (status == "lost").sum().alias("lost"),
        amount.filter(status == "won").sum().alias("won_amount"),
        amount.filter(status == "lost").sum().alias("lost_amount"),
        amount.filter(status == "open").sum().alias("open_amount"),
        pl.col("amount").filter(status == "won").mean().alias("avg_won_amount"),
        pl.col("cycle_days").filter(status == "won").median().alias("median_cycle_won"),
    )
    return out.with_columns(
        win_rate(pl.col("won"), pl.col("lost")).alias("win_rate"),
        win_rate(pl.col("won_amount"), pl.col("lost_amount")).alias("value_win_rate"),
    ).sort(by)


def wilson(successes: pl.Expr, n: pl.Expr, z: float = Z95) -> tuple[pl.Expr, pl.Expr]:
    """The Wilson score interval of a proportion, as (low, high) expressions."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)).sqrt()) / denom
    return centre - half, centre + half


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson interval for one proportion; with no observations, nothing is known: NaN."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
