"""How good a forecast was: deal-level AUC, Brier, log loss, calibration; period-level WAPE and coverage.

Plain functions on NumPy arrays, so they can be checked by hand.
"""
from __future__ import annotations

import numpy as np
import polars as pl

EPS = 1e-6


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None when only one class is present."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(p)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y, dtype=float)
    return float(np.mean((np.asarray(p, dtype=float) - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y, dtype=float)
    q = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Equal-width probability bins: how many deals, the mean forecast and the observed win share."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    idx = np.clip((p * bins).astype(int), 0, bins - 1)
    # Sums in a fixed order (a parallel group-by adds in any order): the same input gives the same
    # figures, to the last digit, on every run.
    deals = np.bincount(idx, minlength=bins)
    used = np.nonzero(deals)[0]
    n = deals[used]
    return pl.DataFrame({
        "from": used / bins, "to": (used + 1) / bins, "deals": pl.Series(n, dtype=pl.UInt32),
        "mean_probability": np.bincount(idx, weights=p, minlength=bins)[used] / n,
        "win_share": np.bincount(idx, weights=y, minlength=bins)[used] / n,
    })


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the deal-weighted mean |forecast − observed| over equal-width bins."""
    table = reliability(y, p, bins)
    if table.height == 0:
        return 0.0
    n = table["deals"].sum()
    gap = (table["mean_probability"] - table["win_share"]).abs() * table["deals"]
    return float(gap.sum() / n)


def scorer_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    return {"auc": auc(y, p), "brier": brier(y, p), "log_loss": log_loss(y, p), "ece": ece(y, p), "deals": int(len(y))}


def wape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """Weighted absolute percentage error over periods: Σ|actual − forecast| ÷ Σ|actual|."""
    actual = np.asarray(actual, dtype=float)
    denom = np.abs(actual).sum()
    if denom == 0:
        return None
    return float(np.abs(actual - np.asarray(forecast, dtype=float)).sum() / denom)


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float | None:
    """Share of periods whose actual fell inside [low, high]."""
    actual = np.asarray(actual, dtype=float)
    if len(actual) == 0:
        return None
    inside = (actual >= np.asarray(low, dtype=float)) & (actual <= np.asarray(high, dtype=float))
    return float(inside.mean())
