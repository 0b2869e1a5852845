"""Backtest: replay history at past cut-offs and compare every scorer and forecaster with what happened.

At each cut-off D: rebuild the open deals as known on D, fit every scorer on what was known
on D, score the open deals and compare with their outcomes (deals still open at the end of
the data are left out). For the period (month by default) that D falls in, each forecaster
predicts the bookings and we compare with the bookings that happened.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from dealflow.domain.periods import Period, periods_between
from dealflow.forecast.calibration import relative_error
from dealflow.forecast.metrics import coverage, reliability, scorer_metrics, wape
from dealflow.forecast.period import PeriodForecast, forecast_period, simulated_totals
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
    totals, _ = simulated_totals(np.random.default_rng(seed), amounts, probs, sims)
    q = np.quantile(totals, [0.1, 0.9])
    return float((amounts * probs).sum()), float(q[0]), float(q[1])


@dataclass
class _TrackRecord:
    """dealflow's earlier period forecasts: when each period ended and how far off it was."""

    ends: list[datetime] = field(default_factory=list)
    errors: list[float | None] = field(default_factory=list)

    def ended_by(self, at: datetime) -> list[float | None]:
        """The errors of the periods that had ended by ``at``: a forecast at ``at`` sees no later outcome."""
        return [e for end, e in zip(self.ends, self.errors) if end <= at]

    def add(self, end: datetime, error: float | None) -> None:
        self.ends.append(end)
        self.errors.append(error)


@dataclass
class _Settings:
    scorers: tuple[str, ...]
    period_kind: str
    forecasters: bool
    sims: int
    dealflow_params: dict
    has_truth: bool


# What the backtest's models read of the wide tables. Projections are free (the frames are
# memory-mapped), while every as-of copy and every touched page of a column costs memory:
# at a million deals, activity subjects and owners alone are hundreds of megabytes.
_ACTIVITY_COLUMNS = ("deal_id", "kind", "at")
_UNUSED_STAGE_CHANGE_COLUMNS = ("from_stage", "by")
_UNUSED_DEAL_COLUMNS = ("name",)


def narrowed(history: History) -> History:
    """``history`` with only the columns the backtest reads (same rows, same order), and no deal
    lines: no model reads them (deals carry their first product), yet each as-of copied them."""
    return replace(
        history,
        deals=history.deals.drop(_UNUSED_DEAL_COLUMNS, strict=False),
        deal_products=history.deal_products.clear(),
        stage_changes=history.stage_changes.drop(_UNUSED_STAGE_CHANGE_COLUMNS, strict=False),
        activities=history.activities.select(_ACTIVITY_COLUMNS),
    )


def _new_dealflow(settings: _Settings) -> DealflowScorer:
    return DealflowScorer(**settings.dealflow_params)


def _score_cutoff(known: History, at: datetime, settings: _Settings, training: pl.DataFrame,
                  labelled: pl.DataFrame, notes: list[str]) -> tuple[pl.DataFrame, DealflowScorer | None]:
    """Every scorer fitted on ``known`` (the history as known at ``at``) and applied to the deals
    open then; the fitted dealflow scorer is returned for the period forecast (the others are dropped here)."""
    cols: dict[str, object] = {"cutoff": [at] * labelled.height, "deal_id": labelled["deal_id"], "won": labelled["won"]}
    dealflow = None
    for name in settings.scorers:
        scorer = _new_dealflow(settings) if name == "dealflow" else make_scorer(name)
        if isinstance(scorer, DealflowScorer):
            scorer.fit(known, at, training=training)
            notes.extend(f"{at:%Y-%m-%d}: {n}" for n in scorer.notes_)
            dealflow = scorer
        else:
            scorer.fit(known, at)
        cols[name] = scorer.predict_proba(labelled) if labelled.height else np.zeros(0)
    if settings.has_truth:
        cols["oracle"] = labelled["true_probability"].to_numpy()
    return pl.DataFrame(cols), dealflow


def _forecast_cutoff(history: History, known: History, at: datetime, settings: _Settings, training: pl.DataFrame,
                     snap: pl.DataFrame, scorer: DealflowScorer | None, track: _TrackRecord) -> list[dict[str, object]]:
    """The period ``at`` falls in, forecast by each forecaster as known at ``at``, beside what was booked."""
    period = _period_of(at, settings.period_kind)
    start, end = period.start_instant(), period.end_instant()
    actual = _won_in(history, start, end)
    booked = _won_in(known, start, at)
    days = (end - at).total_seconds() / 86400
    if scorer is None:
        scorer = _new_dealflow(settings).fit(known, at, training=training)
    fc = forecast_period(history, period, as_of=at, scorer=scorer, sims=settings.sims, training=training,
                         period_errors=track.ended_by(at), known=known)
    track.add(end, relative_error(actual, fc.p50, fc.already_booked))
    wp = weighted_pipeline(snap, end, sims=settings.sims)
    t_mean, t_lo, t_hi = BookingsTrend().fit(known, at).predict(days)
    rows: list[dict[str, object]] = []
    for name, (mean, lo, hi) in {
        "dealflow": (fc.expected, fc.p10, fc.p90),
        "weighted_pipeline": (wp[0] + booked, wp[1] + booked, wp[2] + booked),
        "time_series": (t_mean + booked, t_lo + booked, t_hi + booked),
    }.items():
        rows.append({"period": period.label, "cutoff": at, "forecaster": name, "actual": actual,
                     "forecast": mean, "p10": lo, "p90": hi, "inside": lo <= actual <= hi,
                     **_dealflow_range(fc if name == "dealflow" else None)})
    return rows


def _dealflow_range(fc: PeriodForecast | None) -> dict[str, float | None]:
    """dealflow's P50, its range from deal-level chance alone and the period error it was widened
    by (the baselines have none of these): the widening can be checked against what it started from."""
    if fc is None:
        return {"p50": None, "simulated_p10": None, "simulated_p90": None, "period_error": None}
    return {"p50": fc.p50, "simulated_p10": fc.simulated_p10, "simulated_p90": fc.simulated_p90, "period_error": fc.period_error}


def _replay_cutoff(history: History, at: datetime, settings: _Settings, track: _TrackRecord,
                   notes: list[str]) -> tuple[pl.DataFrame, list[dict[str, object]]]:
    """Scores and period forecasts at one cut-off. Its own function so that everything built
    for the cut-off (labelled snapshots, fitted models, feature matrices) is freed on return,
    before the next cut-off builds its own: the loop kept both alive at once. The history as
    known at ``at`` is built once and shared by every model (each rebuilt it before)."""
    known = history.as_of(at)
    training = training_snapshots(history, at, known=known)
    known = replace(known, activities=known.activities.clear())  # read by the snapshots only: freed for the fits
    snap = snapshot(history, at)
    labelled = outcomes(history, snap).filter(pl.col("won").is_not_null())
    predictions, dealflow = _score_cutoff(known, at, settings, training, labelled, notes)
    del labelled
    if not settings.forecasters:
        return predictions, []
    return predictions, _forecast_cutoff(history, known, at, settings, training, snap, dealflow, track)


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

    ``dealflow_params`` are passed to ``DealflowScorer`` (e.g. ``{"max_iter": 50}``). dealflow's
    P10–P90 at a cut-off is widened by the errors of its forecasts at the earlier cut-offs whose
    periods had ended by then (``forecast.calibration``); the first ones have none to learn from.
    """
    clock = time.perf_counter()
    cutoffs = [to_utc(c) for c in (cutoffs or monthly_cutoffs(history, kind=period_kind))]
    history = narrowed(history)
    has_truth = history.deals["true_probability"].null_count() < history.deals.height
    settings = _Settings(scorers, period_kind, forecasters, sims, dealflow_params or {}, has_truth)
    track = _TrackRecord()
    notes: list[str] = []
    pred_frames = []
    period_rows: list[dict[str, object]] = []
    for at in cutoffs:
        if progress:
            progress(f"cut-off {at:%Y-%m-%d}")
        frame, rows = _replay_cutoff(history, at, settings, track, notes)
        pred_frames.append(frame)
        period_rows.extend(rows)

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
    periods = pl.DataFrame(period_rows, infer_schema_length=None) if period_rows else pl.DataFrame()
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

