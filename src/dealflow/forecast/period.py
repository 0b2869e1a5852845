"""Period forecast: expected bookings with P10/P50/P90 by Monte Carlo.

For each open deal, the chance it is won *inside the period* is its win probability (the
``dealflow`` scorer) times the chance a won deal closes in the window (``CloseTiming``).
Deals not created yet add a compound-Poisson amount: how many new deals appear, convert and
close in the window (``NewPipeline``), each worth a won amount drawn from history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from dealflow.domain.periods import Period
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
            "p90": self.p90, "existing": self.existing, "new": self.new, "already_booked": self.already_booked,
            "commit": self.commit, "best_case": self.best_case, "movers": self.movers, "by": self.by, "notes": self.notes,
        })


def simulate(amounts: np.ndarray, chances: np.ndarray, new_mean_wins: float, won_amounts: np.ndarray,
             *, sims: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simulated bookings: per-deal existing matrix (deals × sims) and new-pipeline totals (sims)."""
    rng = np.random.default_rng(seed)
    existing = (rng.random((amounts.size, sims)) < chances[:, None]) * amounts[:, None]
    if new_mean_wins > 0 and won_amounts.size:
        k = rng.poisson(new_mean_wins, sims)
        draws = rng.choice(won_amounts, int(k.sum()))
        new = np.bincount(np.repeat(np.arange(sims), k), weights=draws, minlength=sims)
    else:
        new = np.zeros(sims)
    return existing, new


def forecast_period(
    history: History, period: Period, *, as_of: datetime | None = None, by: str | None = None,
    scorer: Scorer | None = None, sims: int = 4000, seed: int = 0, training: pl.DataFrame | None = None,
) -> PeriodForecast:
    """Expected bookings inside ``period`` as known at ``as_of`` (default: the history's now)."""
    at = to_utc(as_of) if as_of is not None else history.now
    start, end = period.start_instant(), period.end_instant()
    deals_then = history.as_of(at).deals  # only the deals: the rest of that copy is freed before the fits
    notes: list[str] = []
    if at >= end:
        notes.append(f"{period.label} ended before {at:%Y-%m-%d}: the forecast is what was already booked")
    if training is None:
        training = training_snapshots(history, at)
    if scorer is None:
        scorer = DealflowScorer()
        scorer.fit(history, at, training=training)  # type: ignore[call-arg]
    timing = CloseTiming().fit(history, at, training=training)
    newp = NewPipeline().fit(history, at)
    notes.extend(getattr(scorer, "notes_", []))

    snap = snapshot(history, at)
    a = max((start - at).total_seconds() / 86400, 0.0)
    b = max((end - at).total_seconds() / 86400, 0.0)
    p_win = scorer.predict_proba(snap) if snap.height else np.zeros(0)
    p_time = timing.probability_in(snap, a if a > 0 else -1.0, b) if snap.height else np.zeros(0)
    chance = p_win * p_time
    amounts = snap["amount"].fill_null(0.0).to_numpy().astype(float) if snap.height else np.zeros(0)
    mean_new = newp.expected_wins(a, b)
    existing, new = simulate(amounts, chance, mean_new, newp.won_amounts_, sims=sims, seed=seed)
    ex_total = existing.sum(axis=0)
    booked_deals = deals_then.filter(
        (pl.col("status") == "won") & (pl.col("closed_at") >= start) & (pl.col("closed_at") < end)
    )
    booked = float(booked_deals["amount"].fill_null(0).sum())
    total = ex_total + new + booked
    p10, p50, p90 = _quantiles(total)
    e10, e50, e90 = _quantiles(ex_total)
    n10, n50, n90 = _quantiles(new)

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
    if by is not None:
        if by not in ("owner", "team", "product"):
            from dealflow.errors import DomainError

            raise DomainError(f"cannot split a forecast by {by!r}; use owner, team or product")
        groups = snap[by].fill_null("(none)").to_numpy().astype(str) if snap.height else np.array([], dtype=str)
        # new pipeline split by each group's share of won amount over the past year
        won_year = deals_then.filter(pl.col("status") == "won").group_by(pl.col(by).fill_null("(none)")).agg(pl.col("amount").sum())
        total_won = float(won_year["amount"].sum() or 0.0)
        shares = {g: (float(v or 0.0) / total_won if total_won else 0.0) for g, v in won_year.iter_rows()}
        booked_by = dict(booked_deals.group_by(pl.col(by).fill_null("(none)")).agg(pl.col("amount").sum()).iter_rows())
        rows = []
        for g in sorted(set(groups.tolist()) | set(shares) | set(booked_by)):
            sel = groups == g
            g_total = existing[sel].sum(axis=0) + new * shares.get(g, 0.0) + float(booked_by.get(g) or 0.0)
            q = _quantiles(g_total)
            rows.append({by: g, "open_deals": int(sel.sum()), "expected": float(g_total.mean()), "p10": q[0], "p50": q[1], "p90": q[2]})
        by_frame = pl.DataFrame(rows).sort("expected", descending=True) if rows else None

    return PeriodForecast(
        period=period.label, as_of=at, expected=float(total.mean()), p10=p10, p50=p50, p90=p90,
        existing={"expected": float(ex_total.mean()), "p10": e10, "p50": e50, "p90": e90, "deals": int(snap.height)},
        new={"expected": float(new.mean()), "p10": n10, "p50": n50, "p90": n90, "expected_wins": mean_new},
        already_booked=booked, deals=deals, by=by_frame, movers=movers, notes=notes,
    )

