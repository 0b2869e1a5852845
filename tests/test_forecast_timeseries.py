"""The bookings-only time-series peer and its fallback when statsforecast is missing."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from dealflow.forecast.timeseries import BookingsTrend, _autoets, holt_forecast


def test_holt_on_a_flat_series_forecasts_the_level():
    total, scale = holt_forecast(np.full(20, 100.0), 4)
    assert total == pytest.approx(400.0)
    assert scale == pytest.approx(0.0)


def test_falls_back_to_holt_without_statsforecast(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast.models", None)  # import now fails
    y = np.linspace(50, 100, 20)
    assert _autoets(y, 4) is None
    trend = BookingsTrend()
    trend.series_ = y
    trend.cutoff_ = "set"
    mean, low, high = trend.predict(28)
    assert trend.engine_ == "holt"
    assert low <= mean <= high and mean > 4 * 95  # a rising series keeps rising (damped)
