"""Period forecasts: the Monte Carlo parts add up, and commands print them."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from dealflow.cli import app
from dealflow.domain.periods import parse_period
from dealflow.forecast.period import forecast_period, simulate
from dealflow.forecast.timing import CloseTiming, NewPipeline
from dealflow.forecast.snapshot import snapshot
from dealflow.store import Store
from dealflow.store.frames import load_history
from dealflow.synthetic import generate


@pytest.fixture(scope="module")
def history():
    store = Store(":memory:")
    generate(store, deals=1200, seed=8, days=500)
    h = load_history(store)
    store.dispose()
    return h


def test_simulation_matches_the_expected_value():
    amounts = np.array([100.0, 200.0, 300.0])
    chances = np.array([0.5, 0.25, 1.0])
    existing, new = simulate(amounts, chances, 2.0, np.array([10.0]), sims=20_000, seed=1)
    assert existing.sum(axis=0).mean() == pytest.approx(50 + 50 + 300, rel=0.02)
    assert new.mean() == pytest.approx(20.0, rel=0.03)  # Poisson(2) wins of 10 each
    assert (existing[2] == 300).all()


def test_close_timing_windows_add_up(history):
    at = datetime(2022, 1, 1, tzinfo=timezone.utc)
    snap = snapshot(history, at)
    timing = CloseTiming().fit(history, at)
    whole = timing.probability_in(snap, -1, 10_000)
    parts = timing.probability_in(snap, -1, 30) + timing.probability_in(snap, 30, 10_000)
    np.testing.assert_allclose(whole, 1.0)
    np.testing.assert_allclose(parts, 1.0)
    assert timing.slip_rate_ is not None and 0.2 < timing.slip_rate_ < 1.0


def test_new_pipeline_rate(history):
    at = datetime(2022, 1, 1, tzinfo=timezone.utc)
    newp = NewPipeline().fit(history, at)
    created = history.deals.filter(pl.col("created_at").is_between(datetime(2021, 10, 3, tzinfo=timezone.utc), at, closed="right"))
    assert newp.rate_per_day_ == pytest.approx(created.height / 90, rel=0.05)
    assert newp.expected_wins(0, 30) < newp.expected_wins(0, 60)


def test_forecast_parts_and_lists(history):
    result = forecast_period(history, parse_period("2022-02"), as_of=datetime(2022, 2, 1, tzinfo=timezone.utc), by="team", sims=2000)
    assert result.p10 <= result.p50 <= result.p90
    assert result.expected == pytest.approx(result.existing["expected"] + result.new["expected"] + result.already_booked)
    assert (result.commit["in_period_probability"] >= 0.7).all()
    assert result.best_case["in_period_probability"].is_between(0.3, 0.7, closed="left").all()
    assert result.by is not None and result.by["expected"].sum() == pytest.approx(result.expected, rel=0.01)
    assert result.movers is not None and result.movers.height <= 10
    actual = history.deals.filter((pl.col("status") == "won") & pl.col("closed_at").dt.strftime("%Y-%m").eq("2022-02"))["amount"].sum()
    assert result.p10 * 0.5 < actual < result.p90 * 1.5


def test_forecast_and_score_commands(tmp_path):
    db = str(tmp_path / "s.db")
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--deals", "800", "--seed", "3", "--days", "400", "--db", db]).exit_code == 0
    res = runner.invoke(app, ["forecast", "--period", "2021-12", "--as-of", "2021-12-01", "--db", db, "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["period"] == "2021-12" and out["p10"] <= out["p50"] <= out["p90"]
    res = runner.invoke(app, ["score", "--as-of", "2021-12-01", "--db", db, "--format", "json"])
    assert res.exit_code == 0, res.output
    deals = json.loads(res.stdout)["deals"]
    assert deals and all(0 <= d["probability"] <= 1 and d["reasons"] for d in deals)
    res = runner.invoke(app, ["forecast", "--period", "2021-12", "--by", "region", "--db", db])
    assert res.exit_code != 0


def test_creation_rate_follows_last_year_scaled_by_growth():
    newp = NewPipeline(rate_window_days=90)
    # one deal a day for 600 days, except two a day over the last 90 days
    newp.created_ago_ = np.sort(np.concatenate([np.arange(0, 90, 0.5), np.arange(90, 600, 1.0)]))
    newp.rate_per_day_ = 5.0  # the flat rate, used without a year of history or with seasonal=False
    # same 30 days a year ago: 30 deals; growth: 180 recent vs 90 a year before → 2 a day
    assert newp.creation_rate(30) == pytest.approx(2.0)
    newp.seasonal = False
    assert newp.creation_rate(30) == 5.0
