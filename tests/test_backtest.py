"""Backtests: the JSON contract and sane numbers on a small synthetic history."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import polars as pl
import pytest
from typer.testing import CliRunner

from dealflow.cli import app
from dealflow.forecast.backtest import backtest, monthly_cutoffs


def test_backtest_reports_every_scorer_and_forecaster(synthetic_history):
    cutoffs = [datetime(2022, m, 1, tzinfo=timezone.utc) for m in (3, 4)]
    result = backtest(synthetic_history, cutoffs, sims=500, dealflow_params={"max_iter": 40, "every_days": 28})
    out = json.loads(json.dumps(result.to_dict(), default=str))
    names = [s["name"] for s in out["scorers"]]
    assert names == ["stage_default", "stage_rate", "naive_bayes", "dealflow", "oracle"]
    for row in out["scorers"]:
        assert set(row) >= {"name", "auc", "brier", "log_loss", "ece"}
        assert 0.5 < row["auc"] <= 1 and 0 < row["brier"] < 0.3
    assert [f["name"] for f in out["forecasters"]] == ["dealflow", "weighted_pipeline", "time_series"]
    for row in out["forecasters"]:
        assert set(row) >= {"name", "wape", "coverage_p10_p90"} and row["periods"] == 2
        assert 0 <= row["coverage_p10_p90"] <= 1
    by = {s["name"]: s for s in out["scorers"]}
    assert by["dealflow"]["brier"] < by["stage_default"]["brier"]
    assert sum(r["deals"] for r in out["reliability"]["dealflow"]) == by["dealflow"]["deals"]
    # the actual bookings are the same whichever forecaster is compared
    assert result.periods.group_by("period").agg(pl.col("actual").n_unique().alias("n"))["n"].max() == 1


def test_monthly_cutoffs_leave_a_full_month_after_each(synthetic_history):
    cutoffs = monthly_cutoffs(synthetic_history)
    assert cutoffs[0] == datetime(2021, 2, 1, tzinfo=timezone.utc)
    assert cutoffs[-1] == datetime(2022, 5, 1, tzinfo=timezone.utc)  # data ends 2022-06-25


def test_backtest_command_prints_json(tmp_path):
    db = str(tmp_path / "s.db")
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--deals", "600", "--seed", "2", "--days", "400", "--db", db]).exit_code == 0
    res = runner.invoke(app, ["backtest", "--db", db, "--cutoffs", "2021-11-01,2021-12-01", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["cutoffs"]) == 2
    assert {s["name"] for s in out["scorers"]} == {"stage_default", "stage_rate", "naive_bayes", "dealflow", "oracle"}
