"""Acceptance on real data: BPI 2012, monthly cut-offs (slow: loads the full log)."""
from __future__ import annotations

import pytest

from dealflow.forecast.backtest import backtest


@pytest.mark.slow
def test_dealflow_beats_every_baseline_on_bpi_2012(bpi_history):
    result = backtest(bpi_history, forecasters=False)
    assert len(result.cutoffs) == 4  # 2011-11-01 .. 2012-02-01: months with a full month of data after them
    rows = {r["name"]: r for r in result.scorers.to_dicts()}
    best = rows.pop("dealflow")
    assert best["deals"] == 2865
    for name, row in rows.items():
        assert best["brier"] < row["brier"], name
        assert best["auc"] > row["auc"], name
