"""When deals close: time to close from the current stage (with close-date slippage), and the
rate at which new deals appear and convert.

- ``CloseTiming``: for a deal that will be won, the chance it closes inside a window of days
  after the cut-off. Learned from won deals in past snapshots: the days they still needed from
  each stage, and how far their actual close landed from the expected close date they carried
  (the slip). Deals with an expected close date use the slip; others the stage's times.
- ``NewPipeline``: deals not created yet: how many appear per day, the share won, how long
  from creation to win, and what a won deal is worth.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from dealflow.forecast.snapshot import DAY_US, known_at, training_snapshots
from dealflow.history import History, to_utc


def _window_share(sorted_days: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Share of ``sorted_days`` in [low, high), elementwise."""
    if sorted_days.size == 0:
        return np.zeros_like(low, dtype=float)
    a = np.searchsorted(sorted_days, low, side="left")
    b = np.searchsorted(sorted_days, high, side="left")
    return (b - a) / sorted_days.size


class CloseTiming:
    """P(close inside a window | the deal is won), from the current stage and expected close date.

    Attributes: ``by_stage_`` (stage → sorted days still needed), ``all_`` (pooled),
    ``slip_`` (sorted days between expected and actual close, or None), ``slip_rate_``
    (share of won deals that closed after their expected date).
    """

    def __init__(self, min_slip_deals: int = 30, every_days: int = 14, lookback_days: int = 365) -> None:
        self.min_slip_deals = min_slip_deals
        self.every_days = every_days
        self.lookback_days = lookback_days

    def fit(self, history: History, cutoff: datetime, *, training: pl.DataFrame | None = None) -> "CloseTiming":
        at = to_utc(cutoff)
        if training is None:
            training = training_snapshots(history, at, every_days=self.every_days, lookback_days=self.lookback_days)
        won = training.filter(pl.col("won")) if training.height else training
        self.all_ = np.sort(won["days_to_close"].to_numpy()) if won.height else np.array([30.0])
        self.by_stage_ = {
            stage: np.sort(frame["days_to_close"].to_numpy())
            for (stage,), frame in won.partition_by("stage", as_dict=True).items()
        } if won.height else {}
        self.slip_ = None
        self.slip_rate_ = None
        self.slip_by_stage_: dict[str, np.ndarray] = {}
        if won.height and "days_to_expected_close" in won.columns:
            known = won.filter(pl.col("days_to_expected_close").is_not_null())
            if known["deal_id"].n_unique() >= self.min_slip_deals:
                known = known.with_columns((pl.col("days_to_close") - pl.col("days_to_expected_close")).alias("_slip"))
                slip = known["_slip"].to_numpy()
                self.slip_ = np.sort(slip)
                self.slip_rate_ = float((slip > 1).mean())
                # per stage: late-stage deals slip less than early ones
                self.slip_by_stage_ = {
                    stage: np.sort(frame["_slip"].to_numpy())
                    for (stage,), frame in known.partition_by("stage", as_dict=True).items()
                    if frame.height >= self.min_slip_deals
                }
        self.cutoff_ = at
        return self

    def probability_in(self, snap: pl.DataFrame, start_days: float, end_days: float) -> np.ndarray:
        """P(a won deal closes between ``start_days`` and ``end_days`` after the cut-off)."""
        if not hasattr(self, "cutoff_"):
            from dealflow.forecast.scorers import NotFitted

            raise NotFitted("CloseTiming is not fitted yet; call fit(history, cutoff) first")
        n = snap.height
        out = np.zeros(n)
        stages = snap["stage"].to_numpy()
        for stage in np.unique(stages.astype(str)):
            rows = stages.astype(str) == stage
            days = self.by_stage_.get(stage, self.all_)
            if days.size < 10:
                days = self.all_
            out[rows] = _window_share(days, np.full(rows.sum(), start_days), np.full(rows.sum(), end_days))
        if self.slip_ is not None and "days_to_expected_close" in snap.columns:
            d = snap["days_to_expected_close"].to_numpy().astype(float)
            has = ~np.isnan(d)
            for stage in np.unique(stages.astype(str)):
                rows = has & (stages.astype(str) == stage)
                if not rows.any():
                    continue
                slip = self.slip_by_stage_.get(stage, self.slip_)
                # closing time = expected + slip, never before the cut-off
                low = np.where(start_days <= 0, -np.inf, start_days - d[rows])
                out[rows] = _window_share(slip, low, end_days - d[rows])
        return out


class NewPipeline:
    """Deals not created yet: creation rate, conversion, creation-to-win time, won amounts.

    The creation rate is the last ``rate_window_days`` days' rate; with ``seasonal=True`` and
    more than a year of history, it is the rate in the same window a year earlier, scaled by
    the growth between the last ``rate_window_days`` days and the same days a year before.

    Attributes: ``rate_per_day_``, ``win_rate_``, ``days_to_win_`` (sorted), ``won_amounts_``,
    ``created_ago_`` (sorted days before the cut-off each deal appeared).
    """

    def __init__(self, rate_window_days: int = 90, lookback_days: int = 365, seasonal: bool = True) -> None:
        self.rate_window_days = rate_window_days
        self.lookback_days = lookback_days
        self.seasonal = seasonal

    def fit(self, history: History, cutoff: datetime) -> "NewPipeline":
        at = to_utc(cutoff)
        d = known_at(history, at).deals
        first = d["first_seen_at"].min()
        window = min(self.rate_window_days, max(((at - first).days if first else 0), 1))  # type: ignore[operator]
        recent = d.filter(pl.col("first_seen_at") > at - timedelta(days=window))
        self.rate_per_day_ = recent.height / window
        ago = d.select(((pl.lit(at) - pl.col("first_seen_at")).dt.total_microseconds().cast(pl.Float64) / DAY_US).alias("a"))["a"]
        self.created_ago_ = np.sort(ago.drop_nulls().to_numpy())
        closed = d.filter(pl.col("status").is_in(["won", "lost"]) & (pl.col("first_seen_at") > at - timedelta(days=self.lookback_days)))
        cycle = (closed["closed_at"] - closed["first_seen_at"]).dt.total_microseconds().cast(pl.Float64) / DAY_US
        gap = float(cycle.quantile(0.9)) if len(cycle) else 60.0
        cohort = d.filter(
            (pl.col("first_seen_at") > at - timedelta(days=self.lookback_days))
            & (pl.col("first_seen_at") <= at - timedelta(days=gap))
        )
        self.win_rate_ = float((cohort["status"] == "won").mean()) if cohort.height else float((closed["status"] == "won").mean() or 0.0)  # type: ignore[arg-type]
        won = closed.filter(pl.col("status") == "won")
        self.days_to_win_ = np.sort(((won["closed_at"] - won["first_seen_at"]).dt.total_microseconds().cast(pl.Float64) / DAY_US).to_numpy())
        self.won_amounts_ = won["amount"].drop_nulls().to_numpy().astype(float)
        self.cutoff_ = at
        return self

    def expected_wins(self, start_days: float, end_days: float) -> float:
        """Expected number of deals created after the cut-off and won inside the window."""
        if self.days_to_win_.size == 0 or end_days <= 0:
            return 0.0
        created = np.arange(0.0, end_days, 1.0) + 0.5
        low = np.maximum(start_days - created, 0.0)
        p = _window_share(self.days_to_win_, low, end_days - created)
        return float(self.creation_rate(end_days) * self.win_rate_ * p.sum())

    def creation_rate(self, end_days: float) -> float:
        """Deals expected to appear per day over the next ``end_days`` days."""
        rate = self.rate_per_day_
        w = self.rate_window_days
        ago = self.created_ago_
        if not self.seasonal or ago.size == 0 or ago[-1] < 365 + max(end_days, w):
            return rate

        def count(lo: float, hi: float) -> int:
            return int(np.searchsorted(ago, hi) - np.searchsorted(ago, lo))

        same_window = count(365 - end_days, 365)
        recent, year_before = count(0, w), count(365, 365 + w)
        if same_window < 30 or year_before < 30:
            return rate
        return same_window / end_days * recent / year_before
