"""Backtest: replay history at past cut-offs and compare every scorer and forecaster with what happened.

At each cut-off D: rebuild the open deals as known on D, fit every scorer on what was known
on D, score the open deals and compare with their outcomes (deals still open at the end of
the data are left out). For the period (month by default) that D falls in, each forecaster
predicts the bookings and we compare with the bookings that happened.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from dealflow.domain.periods import Period, periods_between
from dealflow.forecast.metrics import coverage, reliability, scorer_metrics, wape
from dealflow.forecast.period import forecast_period
from dealflow.forecast.scorers import DealflowScorer, make_scorer
from dealflow.forecast.snapshot import outcomes, snapshot, training_snapshots
from dealflow.forecast.timeseries import BookingsTrend
from dealflow.history import History, to_utc

SCORER_NAMES = ("stage_default", "stage_rate", "naive_bayes", "dealflow")


@dataclass
class BacktestResult:
    cutoffs: list[datetime]
    scorers: pl.DataFrame  # name, auc, brier, log_loss, ece, deals
    forecasters: pl.DataFrame  # name, wape, coverage_p10_p90, periods
    periods: pl.DataFrame  # one row per cut-off and forecaster
    reliability: dict[str, pl.DataFrame]
    predictions: pl.DataFrame  # cutoff, deal_id, won, and one column per scorer
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        from dealflow.jsonable import to_jsonable

        return to_jsonable({
            "cutoffs": self.cutoffs, "scorers": self.scorers, "forecasters": self.forecasters,
            "periods": self.periods, "reliability": self.reliability, "seconds": self.seconds, "notes": self.notes,
        })


def monthly_cutoffs(history: History, *, warmup_days: int = 30, kind: str = "month") -> list[datetime]:
    """Starts of the periods that begin at least ``warmup_days`` after the first deal and end
    before the last event in the history (so their bookings are fully known)."""
    first = history.deals["first_seen_at"].min()
    if first is None:
        return []
    last = history.now
    periods = periods_between((first + timedelta(days=warmup_days)).date(), last.date(), kind)  # type: ignore[operator]
    return [p.start_instant() for p in periods if p.start_instant() >= first + timedelta(days=warmup_days) and p.end_instant() <= last]  # type: ignore[operator]


def _period_of(at: datetime, kind: str) -> Period:
    return periods_between(at.date(), at.date(), kind)[0]


def _won_in(history: History, start: datetime, end: datetime) -> float:
    d = history.deals.filter((pl.col("status") == "won") & (pl.col("closed_at") >= start) & (pl.col("closed_at") < end))
    return float(d["amount"].fill_null(0.0).sum())


def weighted_pipeline(snap: pl.DataFrame, end: datetime, *, sims: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Σ amount × stage default probability over the open deals expected to close by ``end``
    (all open deals when no expected close date is recorded); P10/P90 treat each as a coin flip."""
    days_left = (end - snap["cutoff"][0]).total_seconds() / 86400 if snap.height else 0.0
    due = snap.filter(pl.col("days_to_expected_close").is_null() | (pl.col("days_to_expected_close") < days_left))
    amounts = due["amount"].fill_null(0.0).to_numpy().astype(float)
    probs = due["stage_probability"].fill_null(0.0).to_numpy().astype(float)
    if amounts.size == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    totals = ((rng.random((amounts.size, sims)) < probs[:, None]) * amounts[:, None]).sum(axis=0)
    q = np.quantile(totals, [0.1, 0.9])
    return float((amounts * probs).sum()), float(q[0]), float(q[1])


def backtest(
    history: History,
    cutoffs: list[datetime] | None = None,
    *,
    scorers: tuple[str, ...] = SCORER_NAMES,
    period_kind: str = "month",
    forecasters: bool = True,
    sims: int = 2000,
    dealflow_params: dict | None = None,
    progress=None,  # type: ignore[no-untyped-def]
) -> BacktestResult:
    """Replay ``history`` at ``cutoffs`` (default: each month start with a full month of data after it).

    ``dealflow_params`` are passed to ``DealflowScorer`` (e.g. ``{"max_iter": 50}``).
    """
    clock = time.perf_counter()
    cutoffs = [to_utc(c) for c in (cutoffs or monthly_cutoffs(history, kind=period_kind))]
    notes: list[str] = []
    pred_frames = []
    period_rows = []
    has_truth = history.deals["true_probability"].null_count() < history.deals.height
    for at in cutoffs:
        if progress:
            progress(f"cut-off {at:%Y-%m-%d}")
        training = training_snapshots(history, at)
        snap = snapshot(history, at)
        labelled = outcomes(history, snap).filter(pl.col("won").is_not_null())
        fitted = {}
        cols = {"cutoff": [at] * labelled.height, "deal_id": labelled["deal_id"], "won": labelled["won"]}
        for name in scorers:
            scorer = DealflowScorer(**(dealflow_params or {})) if name == "dealflow" else make_scorer(name)
            if isinstance(scorer, DealflowScorer):
                scorer.fit(history, at, training=training)
                notes.extend(f"{at:%Y-%m-%d}: {n}" for n in scorer.notes_)
            else:
                scorer.fit(history, at)
            fitted[name] = scorer
            cols[name] = scorer.predict_proba(labelled) if labelled.height else np.zeros(0)
        if has_truth:
            cols["oracle"] = labelled["true_probability"].to_numpy()
        pred_frames.append(pl.DataFrame(cols))

        if not forecasters:
            continue
        period = _period_of(at, period_kind)
        start, end = period.start_instant(), period.end_instant()
        actual = _won_in(history, start, end)
        booked = _won_in(history.as_of(at), start, at)
        days = (end - at).total_seconds() / 86400
        scorer = fitted.get("dealflow") or DealflowScorer(**(dealflow_params or {})).fit(history, at, training=training)
        fc = forecast_period(history, period, as_of=at, scorer=scorer, sims=sims, training=training)
        wp = weighted_pipeline(snap, end, sims=sims)
        ts = BookingsTrend().fit(history, at)
        t_mean, t_lo, t_hi = ts.predict(days)
        for name, (mean, lo, hi) in {
            "dealflow": (fc.expected, fc.p10, fc.p90),
            "weighted_pipeline": (wp[0] + booked, wp[1] + booked, wp[2] + booked),
            "time_series": (t_mean + booked, t_lo + booked, t_hi + booked),
        }.items():
            period_rows.append({"period": period.label, "cutoff": at, "forecaster": name, "actual": actual,
                                "forecast": mean, "p10": lo, "p90": hi, "inside": lo <= actual <= hi})

    predictions = pl.concat(pred_frames, how="diagonal_relaxed") if pred_frames else pl.DataFrame()
    names = list(scorers) + (["oracle"] if has_truth else [])
    rows, tables = [], {}
    if predictions.height:
        y = predictions["won"].to_numpy().astype(bool)
        for name in names:
            p = predictions[name].to_numpy().astype(float)
            keep = ~np.isnan(p)
            rows.append({"name": name, **scorer_metrics(y[keep], p[keep])})
            tables[name] = reliability(y[keep], p[keep])
    scorer_frame = pl.DataFrame(rows) if rows else pl.DataFrame(schema={"name": pl.String})
    periods = pl.DataFrame(period_rows) if period_rows else pl.DataFrame()
    f_rows = []
    if periods.height:
        for (name,), g in periods.partition_by("forecaster", as_dict=True, maintain_order=True).items():
            f_rows.append({
                "name": name,
                "wape": wape(g["actual"].to_numpy(), g["forecast"].to_numpy()),
                "coverage_p10_p90": coverage(g["actual"].to_numpy(), g["p10"].to_numpy(), g["p90"].to_numpy()),
                "periods": g.height,
            })
    forecaster_frame = pl.DataFrame(f_rows) if f_rows else pl.DataFrame(schema={"name": pl.String})
    return BacktestResult(
        cutoffs=cutoffs, scorers=scorer_frame, forecasters=forecaster_frame, periods=periods, reliability=tables,
        predictions=predictions, seconds=time.perf_counter() - clock, notes=sorted(set(notes)),
    )

