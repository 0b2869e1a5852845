"""Period forecast: expected bookings with P10/P50/P90 by Monte Carlo.

For each open deal, the chance it is won *inside the period* is its win probability (the
``dealflow`` scorer) times the chance a won deal closes in the window (``CloseTiming``).
Deals not created yet add a compound-Poisson amount: how many new deals appear, convert and
close in the window (``NewPipeline``), each worth a won amount drawn from history.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import polars as pl

from dealflow.domain.periods import Period, earlier_periods
from dealflow.forecast.calibration import relative_error, widen_range
from dealflow.forecast.scorers import DealflowScorer, Scorer
from dealflow.forecast.snapshot import snapshot, training_snapshots
from dealflow.forecast.timing import CloseTiming, NewPipeline
from dealflow.history import History, to_utc

COMMIT = 0.7  # chance of booking inside the period for "commit"
BEST_CASE = 0.3


def _quantiles(x: np.ndarray) -> tuple[float, float, float]:
    q = np.quantile(x, [0.1, 0.5, 0.9]) if x.size else np.zeros(3)
    return float(q[0]), float(q[1]), float(q[2])


@dataclass
class PeriodForecast:
    period: str
    as_of: datetime
    expected: float
    p10: float
    p50: float
    p90: float
    existing: dict[str, float]
    new: dict[str, float]
    already_booked: float
    deals: pl.DataFrame  # open deals: probability, in-period chance, expected value, category
    by: pl.DataFrame | None = None
    movers: pl.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    # The range from deal-level chance alone, before ``widen_range``; the period error it was widened by.
    simulated_p10: float | None = None
    simulated_p90: float | None = None
    period_error: float | None = None
    period_errors_used: int = 0

    @property
    def commit(self) -> pl.DataFrame:
        return self.deals.filter(pl.col("category") == "commit")

    @property
    def best_case(self) -> pl.DataFrame:
        return self.deals.filter(pl.col("category") == "best case")

    def summary(self) -> pl.DataFrame:
        return pl.DataFrame({
            "part": ["total", "existing pipeline", "new pipeline", "already booked"],
            "expected": [self.expected, self.existing["expected"], self.new["expected"], self.already_booked],
            "p10": [self.p10, self.existing["p10"], self.new["p10"], self.already_booked],
            "p50": [self.p50, self.existing["p50"], self.new["p50"], self.already_booked],
            "p90": [self.p90, self.existing["p90"], self.new["p90"], self.already_booked],
        })

    def to_dict(self) -> dict[str, object]:
        from dealflow.jsonable import to_jsonable

        return to_jsonable({
            "period": self.period, "as_of": self.as_of, "expected": self.expected, "p10": self.p10, "p50": self.p50,
            "p90": self.p90, "simulated_p10": self.simulated_p10, "simulated_p90": self.simulated_p90,
            "period_error": self.period_error, "period_errors_used": self.period_errors_used, "existing": self.existing, "new": self.new, "already_booked": self.already_booked,
            "commit": self.commit, "best_case": self.best_case, "movers": self.movers, "by": self.by, "notes": self.notes,
        })


# Deals × simulations drawn at once: a block of about 32 MB of doubles, however large the pipeline
# (a million-deal store has tens of thousands of open deals: the whole matrix would take gigabytes).
BLOCK_CELLS = 4_000_000


def simulated_totals(rng: np.random.Generator, amounts: np.ndarray, chances: np.ndarray, sims: int,
                     groups: np.ndarray | None = None, n_groups: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simulated booked amount of the deals, each won with its chance: the total per simulation
    (``sims``) and, when ``groups`` gives each deal's group index, per group (``n_groups`` × ``sims``).
    Equal, to the last bit, to summing the whole deals × sims matrix
    of ``simulate``: the same random stream is drawn a block of deals at a time, and each block is
    added row after row onto the running total (the order a full ``sum(axis=0)`` adds in)."""
    total = np.zeros(sims)
    by_group = np.zeros((n_groups, sims))
    step = max(BLOCK_CELLS // max(sims, 1), 1)
    for lo in range(0, amounts.size, step):
        hi = min(lo + step, amounts.size)
        block = (rng.random((hi - lo, sims)) < chances[lo:hi, None]) * amounts[lo:hi, None]
        if groups is not None:
            in_block = groups[lo:hi]
            for g in np.unique(in_block):
                by_group[g] = _add_rows(by_group[g], block[in_block == g])  # a copy: block stays as drawn
        total = _add_rows(total, block)
    return total, by_group


def _add_rows(running: np.ndarray, rows: np.ndarray) -> np.ndarray:
    rows[0] += running
    return rows.sum(axis=0)


def simulate(amounts: np.ndarray, chances: np.ndarray, new_mean_wins: float, won_amounts: np.ndarray,
             *, sims: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simulated bookings: per-deal existing matrix (deals × sims) and new-pipeline totals (sims).
    Holds the whole matrix: ``forecast_period`` uses ``simulated_totals`` and ``new_pipeline_totals``."""
    rng = np.random.default_rng(seed)
    existing = (rng.random((amounts.size, sims)) < chances[:, None]) * amounts[:, None]
    return existing, new_pipeline_totals(rng, new_mean_wins, won_amounts, sims)


def new_pipeline_totals(rng: np.random.Generator, new_mean_wins: float, won_amounts: np.ndarray, sims: int) -> np.ndarray:
    """Compound Poisson: a Poisson number of wins per simulation, each worth a drawn won amount."""
    if new_mean_wins > 0 and won_amounts.size:
        k = rng.poisson(new_mean_wins, sims)
        draws = rng.choice(won_amounts, int(k.sum()))
        return np.bincount(np.repeat(np.arange(sims), k), weights=draws, minlength=sims)
    return np.zeros(sims)


SPLITS = ("owner", "team", "product")


def won_then(known: History) -> pl.DataFrame:
    """The deals won in ``known`` (a history as of an instant), narrowed to what a forecast reads."""
    return known.deals.filter(pl.col("status") == "won").select("closed_at", "amount", *SPLITS)


def _group_index(snap: pl.DataFrame, by: str, labels: list[str]) -> np.ndarray:
    """Each open deal's position in ``labels`` (its ``by`` value, "(none)" when missing)."""
    values = snap.select(pl.col(by).cast(pl.String).fill_null("(none)")).to_series()
    return values.replace_strict(labels, list(range(len(labels))), return_dtype=pl.Int64).to_numpy()


def forecast_period(
    history: History, period: Period, *, as_of: datetime | None = None, by: str | None = None,
    scorer: Scorer | None = None, sims: int = 4000, seed: int = 0, training: pl.DataFrame | None = None,
    period_errors: Sequence[float | None] | None = None, known: History | None = None,
) -> PeriodForecast:
    """Expected bookings inside ``period`` as known at ``as_of`` (default: the history's now).

    ``period_errors``: relative errors of earlier forecasts whose periods had ended by ``as_of``
    (``relative_error``); the P10–P90 range is widened to cover them (``widen_range``).
    ``known``: ``history.as_of(as_of)``, when the caller has built it already (built once here otherwise).
    """
    if by is not None and by not in SPLITS:
        from dealflow.errors import DomainError

        raise DomainError(f"cannot split a forecast by {by!r}; use owner, team or product")
    at = to_utc(as_of) if as_of is not None else history.now
    start, end = period.start_instant(), period.end_instant()
    known = known if known is not None else history.as_of(at)
    won = won_then(known)
    notes: list[str] = []
    if at >= end:
        notes.append(f"{period.label} ended before {at:%Y-%m-%d}: the forecast is what was already booked")
    if training is None:
        training = training_snapshots(history, at, known=known)
    known = replace(known, activities=known.activities.clear())  # only the snapshots read them
    if scorer is None:
        scorer = DealflowScorer()
        scorer.fit(known, at, training=training)  # type: ignore[call-arg]
    timing = CloseTiming().fit(known, at, training=training)
    newp = NewPipeline().fit(known, at)
    del known  # wide: freed before the simulation (when the caller does not hold it)
    notes.extend(getattr(scorer, "notes_", []))

    snap = snapshot(history, at)
    a = max((start - at).total_seconds() / 86400, 0.0)
    b = max((end - at).total_seconds() / 86400, 0.0)
    p_win = scorer.predict_proba(snap) if snap.height else np.zeros(0)
    p_time = timing.probability_in(snap, a if a > 0 else -1.0, b) if snap.height else np.zeros(0)
    chance = p_win * p_time
    amounts = snap["amount"].fill_null(0.0).to_numpy().astype(float) if snap.height else np.zeros(0)
    mean_new = newp.expected_wins(a, b)
    booked_deals = won.filter((pl.col("closed_at") >= start) & (pl.col("closed_at") < end))
    booked = float(booked_deals["amount"].fill_null(0).sum())

    won_by, booked_by, labels, groups = None, {}, [], None
    if by is not None:  # new pipeline split by each group's share of the amount won so far
        won_by = won.group_by(pl.col(by).fill_null("(none)")).agg(pl.col("amount").sum())
        booked_by = dict(booked_deals.group_by(pl.col(by).fill_null("(none)")).agg(pl.col("amount").sum()).iter_rows())
        labels = sorted(set(snap[by].fill_null("(none)").to_list()) | set(won_by[by].to_list()) | set(booked_by))
        groups = _group_index(snap, by, labels)

    rng = np.random.default_rng(seed)
    ex_total, ex_by_group = simulated_totals(rng, amounts, chance, sims, groups, len(labels))
    new = new_pipeline_totals(rng, mean_new, newp.won_amounts_, sims)
    total = ex_total + new + booked
    p10, p50, p90 = _quantiles(total)
    e10, e50, e90 = _quantiles(ex_total)
    n10, n50, n90 = _quantiles(new)
    widened = widen_range(p10, p50, p90, booked, period_errors)
    if widened.note:
        notes.append(widened.note)

    deals = snap.select("deal_id", "external_id", "stage", "owner", "team", "product", "amount").with_columns(
        pl.Series("win_probability", p_win), pl.Series("in_period_probability", chance),
        pl.Series("expected_value", amounts * chance),
    )
    deals = deals.with_columns(
        pl.when(pl.col("in_period_probability") >= COMMIT).then(pl.lit("commit"))
        .when(pl.col("in_period_probability") >= BEST_CASE).then(pl.lit("best case"))
        .otherwise(pl.lit("pipeline")).alias("category")
    ).sort("expected_value", descending=True)
    spread = amounts * np.sqrt(chance * (1 - chance))
    movers = snap.select("deal_id", "external_id", "stage", "owner", "amount").with_columns(
        pl.Series("in_period_probability", chance), pl.Series("swing", spread),
        pl.Series("share_of_uncertainty", spread**2 / max(float((spread**2).sum()), 1e-9)),
    ).sort("swing", descending=True).head(10)

    by_frame = None
    if won_by is not None and groups is not None:
        total_won = float(won_by["amount"].sum() or 0.0)
        shares = {g: (float(v or 0.0) / total_won if total_won else 0.0) for g, v in won_by.iter_rows()}
        rows = []
        for i, g in enumerate(labels):
            g_total = ex_by_group[i] + new * shares.get(g, 0.0) + float(booked_by.get(g) or 0.0)
            q = _quantiles(g_total)
            rows.append({by: g, "open_deals": int((groups == i).sum()), "expected": float(g_total.mean()), "p10": q[0], "p50": q[1], "p90": q[2]})
        by_frame = pl.DataFrame(rows).sort("expected", descending=True) if rows else None

    return PeriodForecast(
        period=period.label, as_of=at, expected=float(total.mean()), p10=widened.p10, p50=p50, p90=widened.p90,
        existing={"expected": float(ex_total.mean()), "p10": e10, "p50": e50, "p90": e90, "deals": int(snap.height)},
        new={"expected": float(new.mean()), "p10": n10, "p50": n50, "p90": n90, "expected_wins": mean_new},
        already_booked=booked, deals=deals, by=by_frame, movers=movers, notes=notes,
        simulated_p10=p10, simulated_p90=p90, period_error=widened.scale, period_errors_used=widened.periods,
    )


def track_record(history: History, period: Period, *, as_of: datetime | None = None, periods: int = 3,
                 sims: int = 4000, seed: int = 0) -> list[float | None]:
    """``relative_error`` of forecasts made at the start of each of the ``periods`` periods before
    ``period`` (each from what was known at its start), against what they booked as known at
    ``as_of``; periods not ended by then are left out. One full forecast per period."""
    at = to_utc(as_of) if as_of is not None else history.now
    won = won_then(history.as_of(at))
    errors: list[float | None] = []
    for past in earlier_periods(period, periods):
        if past.end_instant() > at:
            continue
        fc = forecast_period(history, past, as_of=past.start_instant(), sims=sims, seed=seed)
        booked = won.filter((pl.col("closed_at") >= past.start_instant()) & (pl.col("closed_at") < past.end_instant()))
        errors.append(relative_error(float(booked["amount"].fill_null(0).sum()), fc.p50, fc.already_booked))
    return errors
