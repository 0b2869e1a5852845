"""Honest P10–P90 ranges: the simulated range widened by the error of earlier period forecasts.

The Monte Carlo of ``forecast_period`` draws every deal's outcome independently, so its range holds
deal-level chance only; with thousands of open deals that range is a few percent wide, while the
model's bias, its timing error and outcomes that move together (a slow month for everyone) miss by
more. The relative error of earlier forecasts, once their periods ended, measures all of that at
once. ``widen_range`` keeps P50 and makes the range at least as wide as those errors say: a forecast
made at day D may only be given the errors of periods that ended by D (the caller's duty; the
backtest passes exactly those).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.9  # P90 (and, by symmetry, P10)


@dataclass(frozen=True)
class WidenedRange:
    p10: float
    p90: float
    scale: float | None  # root mean square of the relative errors used; None without any
    periods: int  # how many earlier forecasts it was learned from
    note: str | None


def relative_error(actual: float, p50: float, booked: float) -> float | None:
    """How far the actual landed from the median, as a share of what was still to come when the
    forecast was made (the median less the amount already booked); None when nothing was to come."""
    rest = p50 - booked
    if rest <= 0:
        return None
    return (actual - p50) / rest


def error_scale(errors: np.ndarray) -> float:
    """Root mean square of the relative errors: bias and spread together (a forecast that is
    always 5% low has a scale of 5%, though its errors do not vary)."""
    return float(np.sqrt(np.mean(np.square(errors))))


def t_quantile(periods: int, level: float = LEVEL) -> float:
    """Student's t quantile with ``periods`` degrees of freedom: the scale is estimated from few
    periods, and with the normal quantile a range learned from two or three of them covers too little."""
    from scipy.stats import t  # type: ignore[import-untyped]

    return float(t.ppf(level, periods))


def widen_range(p10: float, p50: float, p90: float, booked: float, errors: Sequence[float | None] | None) -> WidenedRange:
    """P10 and P90 at least ``t × scale × (P50 − booked)`` away from P50, where ``scale`` is the root
    mean square of the earlier relative errors (``relative_error``); P10 never below what is booked.

    ``errors=None``: no track record was asked for, the simulated range is returned as it is.
    """
    if errors is None:
        return WidenedRange(p10, p90, None, 0, None)
    known = np.asarray([e for e in errors if e is not None and np.isfinite(e)], dtype=float)
    if known.size == 0:
        note = "no earlier forecast has ended yet to learn the period error from: P10–P90 counts deal-level chance only"
        return WidenedRange(p10, p90, None, 0, note)
    scale = error_scale(known)
    half = t_quantile(known.size) * scale * max(p50 - booked, 0.0)
    low = max(min(p10, p50 - half), booked)
    high = max(p90, p50 + half)
    note = (f"P10–P90 widened by the error of {known.size} earlier forecast{'s' if known.size > 1 else ''} "
            f"({scale:.1%} of the bookings still to come, root mean square)")
    return WidenedRange(low, high, scale, int(known.size), note)
