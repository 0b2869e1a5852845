"""The bookings-only time-series peer: forecast a period's bookings from past bookings alone.

Uses statsforecast's ``AutoETS`` when it is installed, else a small Holt (damped trend)
exponential smoothing of our own. Works on weekly won amounts up to the cut-off and sums the
forecast over the weeks of the window; the P10–P90 band comes from the one-step residuals,
widened with the square root of the number of weeks.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from dealflow.forecast.snapshot import known_at
from dealflow.history import History, to_utc

Z90 = 1.2815515655446004


def weekly_bookings(history: History, cutoff: datetime, *, weeks: int = 104) -> np.ndarray:
    """Won amount per 7-day bin ending at ``cutoff`` (oldest first), from the first deal on."""
    at = to_utc(cutoff)
    h = known_at(history, at)
    first = h.deals["first_seen_at"].min()
    if first is None:
        return np.zeros(0)
    n = min(weeks, max(int((at - first).days // 7), 0))  # type: ignore[operator]
    if n == 0:
        return np.zeros(0)
    won = h.deals.filter((pl.col("status") == "won") & (pl.col("closed_at") > at - timedelta(days=7 * n)))
    age = ((pl.lit(at) - pl.col("closed_at")).dt.total_seconds() / (7 * 86400)).floor().cast(pl.Int64)
    bins = won.select(age.alias("w"), pl.col("amount").fill_null(0.0)).group_by("w").agg(pl.col("amount").sum())
    out = np.zeros(n)
    for w, v in bins.iter_rows():
        if 0 <= w < n:
            out[n - 1 - w] = v
    return out


def _holt(y: np.ndarray, alpha: float = 0.3, beta: float = 0.1, phi: float = 0.9) -> tuple[float, float, np.ndarray]:
    level, trend = y[0], 0.0
    resid = []
    for v in y[1:]:
        pred = level + phi * trend
        resid.append(v - pred)
        new_level = alpha * v + (1 - alpha) * pred
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        level = new_level
    return level, trend, np.asarray(resid)


def holt_forecast(y: np.ndarray, h: int, phi: float = 0.9) -> tuple[float, float]:
    """Sum of the next ``h`` values and the residual scale, by damped Holt smoothing."""
    if y.size == 0:
        return 0.0, 0.0
    if y.size < 4:
        return float(y.mean() * h), float(y.std() * np.sqrt(h))
    level, trend, resid = _holt(y)
    steps = sum(level + trend * sum(phi**j for j in range(1, k + 1)) for k in range(1, h + 1))
    return max(float(steps), 0.0), float(np.std(resid) * np.sqrt(h))


def _autoets(y: np.ndarray, h: int) -> tuple[float, float] | None:
    try:
        from statsforecast.models import AutoETS
    except Exception:  # optional dependency
        return None
    try:
        model = AutoETS(season_length=1).fit(y.astype(float))
        mean = model.predict(h=h)["mean"]
        fitted = model.predict_in_sample()["fitted"]
        resid = y - np.asarray(fitted)
        return max(float(np.sum(mean)), 0.0), float(np.nanstd(resid) * np.sqrt(h))
    except Exception:
        return None


class BookingsTrend:
    """Time-series-only forecaster of bookings (no pipeline), the peer every forecast beats or not.

    ``engine``: "auto" (AutoETS if importable, else Holt), "autoets" or "holt".
    Attributes: ``series_`` (weekly bookings), ``engine_`` (what was used).
    """

    name = "time_series"

    def __init__(self, engine: str = "auto", weeks: int = 104) -> None:
        self.engine = engine
        self.weeks = weeks

    def fit(self, history: History, cutoff: datetime) -> "BookingsTrend":
        self.series_ = weekly_bookings(history, cutoff, weeks=self.weeks)
        self.cutoff_ = to_utc(cutoff)
        return self

    def predict(self, days: float) -> tuple[float, float, float]:
        """(expected, P10, P90) of bookings over the next ``days`` days."""
        if not hasattr(self, "cutoff_"):
            from dealflow.forecast.scorers import NotFitted

            raise NotFitted("BookingsTrend is not fitted yet; call fit(history, cutoff) first")
        y = self.series_
        weeks = max(days / 7.0, 0.0)
        h = max(int(np.ceil(weeks)), 1)
        result = None
        if self.engine in ("auto", "autoets") and y.size >= 8:
            result = _autoets(y, h)
            self.engine_ = "autoets" if result else "holt"
        if result is None:
            result = holt_forecast(y, h)
            self.engine_ = "holt"
        total, scale = result
        total *= weeks / h
        scale *= np.sqrt(weeks / h)
        return total, max(total - Z90 * scale, 0.0), total + Z90 * scale
