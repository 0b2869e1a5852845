"""Honest P10–P90 ranges: widening by earlier forecasts' errors, no look-ahead, coverage, and the
block-wise simulation that gives the same totals as the whole matrix."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from dealflow.domain.periods import earlier_periods, parse_period
from dealflow.forecast import period as period_module
from dealflow.forecast.backtest import _TrackRecord, backtest, narrowed
from dealflow.forecast.calibration import relative_error, widen_range
from dealflow.forecast.metrics import coverage
from dealflow.forecast.period import forecast_period, simulate, simulated_totals

T90_1 = 3.077683537175253  # Student's t, 90th percentile, 1 degree of freedom
T90_2 = 1.8856180831641267  # 2 degrees of freedom


def utc(y: int, m: int, d: int = 1) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


# -- the arithmetic ---------------------------------------------------------------------------

def test_relative_error_is_a_share_of_what_was_still_to_come():
    assert relative_error(110.0, 100.0, 0.0) == pytest.approx(0.10)
    assert relative_error(110.0, 100.0, 50.0) == pytest.approx(0.20)  # 10 off on 50 still to come
    assert relative_error(90.0, 100.0, 0.0) == pytest.approx(-0.10)
    assert relative_error(120.0, 100.0, 100.0) is None  # everything was booked already


def test_range_widens_by_t_times_root_mean_square_error():
    # errors +10% and -10%: scale 10%, two periods → t = 1.8856; 100 still to come
    out = widen_range(95.0, 100.0, 105.0, 0.0, [0.1, -0.1])
    assert out.scale == pytest.approx(0.1)
    assert out.periods == 2
    assert out.p10 == pytest.approx(100 - T90_2 * 10)  # 81.14
    assert out.p90 == pytest.approx(100 + T90_2 * 10)  # 118.86
    assert out.note is not None and "2 earlier forecasts" in out.note


def test_a_constant_bias_counts_as_error():
    # always 5% low: no spread, but a range of ±0 around P50 would never hold the actual
    out = widen_range(99.0, 100.0, 101.0, 0.0, [0.05, 0.05, 0.05])
    assert out.scale == pytest.approx(0.05)
    assert out.p90 > 105.0


def test_range_is_never_narrowed_and_p10_never_below_booked():
    wide = widen_range(50.0, 100.0, 150.0, 0.0, [0.01])
    assert (wide.p10, wide.p90) == (50.0, 150.0)  # the simulation already says more
    floor = widen_range(95.0, 100.0, 105.0, 90.0, [1.0])  # 10 to come, 100% error, t = 3.08
    assert floor.p10 == 90.0  # bookings cannot fall below what is booked
    assert floor.p90 == pytest.approx(100 + T90_1 * 10)


def test_without_a_track_record_the_range_is_the_simulated_one():
    assert widen_range(95.0, 100.0, 105.0, 0.0, None) == widen_range(95.0, 100.0, 105.0, 0.0, None)
    none_asked = widen_range(95.0, 100.0, 105.0, 0.0, None)
    assert (none_asked.p10, none_asked.p90, none_asked.note) == (95.0, 105.0, None)
    none_yet = widen_range(95.0, 100.0, 105.0, 0.0, [None])
    assert (none_yet.p10, none_yet.p90, none_yet.periods) == (95.0, 105.0, 0)
    assert none_yet.note is not None and "deal-level chance only" in none_yet.note


def test_coverage_on_a_tiny_example():
    # 10 inside, 20 below its range, 30 on the upper edge (inside), 50 above
    assert coverage(np.array([10.0, 20.0, 30.0, 50.0]), np.array([5.0, 25.0, 20.0, 10.0]),
                    np.array([15.0, 35.0, 30.0, 40.0])) == 0.5


def test_track_record_gives_only_periods_ended_by_the_forecast():
    track = _TrackRecord()
    track.add(utc(2022, 2), 0.1)  # January's forecast, known from Feb 1 on
    track.add(utc(2022, 3), -0.2)
    assert track.ended_by(utc(2022, 1, 15)) == []
    assert track.ended_by(utc(2022, 2)) == [0.1]
    assert track.ended_by(utc(2022, 3)) == [0.1, -0.2]


# -- the simulation -----------------------------------------------------------------------------

def test_block_wise_totals_equal_the_whole_matrix(monkeypatch):
    rng = np.random.default_rng(3)
    amounts = rng.random(50) * 1000.3  # not whole numbers: the order of the additions shows
    chances = rng.random(50)
    groups = rng.integers(0, 4, 50)
    existing, new = simulate(amounts, chances, 1.5, np.array([7.5, 12.25]), sims=300, seed=9)
    monkeypatch.setattr(period_module, "BLOCK_CELLS", 7 * 300)  # 8 blocks of 7 deals (the last one 1)
    gen = np.random.default_rng(9)
    total, by_group = simulated_totals(gen, amounts, chances, 300, groups, 5)
    np.testing.assert_array_equal(total, existing.sum(axis=0))
    for g in range(4):
        np.testing.assert_array_equal(by_group[g], existing[groups == g].sum(axis=0))
    assert not by_group[4].any()  # a group without open deals
    np.testing.assert_array_equal(period_module.new_pipeline_totals(gen, 1.5, np.array([7.5, 12.25]), 300), new)


# -- forecast and backtest ----------------------------------------------------------------------

def test_forecast_widens_around_the_same_p50(synthetic_history):
    kwargs = {"as_of": utc(2022, 3), "sims": 500}
    plain = forecast_period(synthetic_history, parse_period("2022-03"), **kwargs)
    honest = forecast_period(synthetic_history, parse_period("2022-03"), period_errors=[0.2], **kwargs)
    assert honest.p50 == plain.p50 and honest.expected == plain.expected
    assert (honest.simulated_p10, honest.simulated_p90) == (plain.p10, plain.p90)
    half = T90_1 * 0.2 * (plain.p50 - plain.already_booked)
    assert honest.p90 == pytest.approx(max(plain.p90, plain.p50 + half))
    assert honest.p10 == pytest.approx(max(min(plain.p10, plain.p50 - half), plain.already_booked))
    assert honest.p90 - honest.p10 > plain.p90 - plain.p10
    assert honest.period_error == pytest.approx(0.2) and honest.period_errors_used == 1
    assert plain.period_error is None and plain.simulated_p10 == plain.p10


def test_backtest_learns_each_range_from_the_periods_before_it(synthetic_history):
    cutoffs = [utc(2022, 2), utc(2022, 3), utc(2022, 4)]
    result = backtest(synthetic_history, cutoffs, scorers=("stage_rate", "dealflow"), sims=500,
                      dealflow_params={"max_iter": 40, "every_days": 28})
    rows = result.periods.filter(pl.col("forecaster") == "dealflow").sort("cutoff").to_dicts()
    # cut-offs at month starts: nothing booked yet, so each error is actual / P50 - 1
    errors = [r["actual"] / r["p50"] - 1 for r in rows]
    assert rows[0]["period_error"] is None
    assert (rows[0]["p10"], rows[0]["p90"]) == (rows[0]["simulated_p10"], rows[0]["simulated_p90"])
    assert rows[1]["period_error"] == pytest.approx(abs(errors[0]))  # only the February forecast had ended by March 1
    assert rows[2]["period_error"] == pytest.approx(np.sqrt((errors[0] ** 2 + errors[1] ** 2) / 2))
    half = T90_2 * rows[2]["period_error"] * rows[2]["p50"]
    assert rows[2]["p90"] == pytest.approx(max(rows[2]["simulated_p90"], rows[2]["p50"] + half))
    inside = [r["p10"] <= r["actual"] <= r["p90"] for r in rows]
    by_name = {r["name"]: r for r in result.forecasters.to_dicts()}
    assert by_name["dealflow"]["coverage_p10_p90"] == pytest.approx(sum(inside) / 3)


def test_narrowed_history_keeps_rows_and_drops_only_unread_columns(synthetic_history):
    slim = narrowed(synthetic_history)
    assert slim.activities.columns == ["deal_id", "kind", "at"]
    assert slim.activities.height == synthetic_history.activities.height
    assert set(synthetic_history.stage_changes.columns) - set(slim.stage_changes.columns) == {"from_stage", "by"}
    assert set(synthetic_history.deals.columns) - set(slim.deals.columns) == {"name"}
    assert slim.deal_products.height == 0 and slim.deal_products.columns == synthetic_history.deal_products.columns
    assert slim.now == synthetic_history.now


def test_earlier_periods_of_the_same_length():
    months = earlier_periods(parse_period("2022-03"), 2)
    assert [(p.start.isoformat(), p.end.isoformat()) for p in months] == [("2022-01-01", "2022-02-01"), ("2022-02-01", "2022-03-01")]
    quarters = earlier_periods(parse_period("2022Q1"), 1)
    assert (quarters[0].start.isoformat(), quarters[0].end.isoformat()) == ("2021-10-01", "2022-01-01")


def test_track_record_replays_the_earlier_periods_without_look_ahead(synthetic_history):
    at = utc(2022, 3, 15)  # March has not ended: only January and February count
    errors = period_module.track_record(synthetic_history, parse_period("2022-04"), as_of=at, periods=3, sims=300)
    assert len(errors) == 2
    jan = forecast_period(synthetic_history, parse_period("2022-01"), as_of=utc(2022, 1), sims=300)
    booked = synthetic_history.as_of(at).deals.filter(
        (pl.col("status") == "won") & pl.col("closed_at").is_between(utc(2022, 1), utc(2022, 2), closed="left"))
    assert errors[0] == pytest.approx(relative_error(float(booked["amount"].sum()), jan.p50, jan.already_booked))


def test_forecast_command_widens_by_its_track_record(tmp_path):
    import json

    from typer.testing import CliRunner

    from dealflow.cli import app

    db = str(tmp_path / "s.db")
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--deals", "800", "--seed", "3", "--days", "400", "--db", db]).exit_code == 0
    args = ["forecast", "--period", "2021-12", "--as-of", "2021-12-01", "--db", db, "--sims", "300", "--format", "json"]
    plain = json.loads(runner.invoke(app, args).stdout)
    res = runner.invoke(app, [*args, "--track-record", "2"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["period_errors_used"] == 2 and out["period_error"] > 0
    assert out["p50"] == plain["p50"] and (out["simulated_p10"], out["simulated_p90"]) == (plain["p10"], plain["p90"])
    assert out["p10"] <= plain["p10"] and out["p90"] >= plain["p90"]
    assert plain["period_error"] is None and plain["period_errors_used"] == 0
