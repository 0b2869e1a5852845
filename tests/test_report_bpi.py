"""BPI 2012 through its mapping: outcomes, stages reached, and the pipeline as of a past instant."""
from datetime import datetime

import polars as pl
import pytest

from dealflow.analytics.report import pipeline_report

pytestmark = pytest.mark.slow


def test_outcomes(bpi_history):
    r = pipeline_report(bpi_history).to_dict()
    assert r["deals"] == {"open": 399, "won": 2246, "lost": 10442, "total": 13087}
    assert r["won_amount"] == 35_290_338
    assert round(r["win_rate"], 4) == 0.1770


def test_lost_reasons(bpi_history):
    lost = bpi_history.deals.filter(pl.col("status") == "lost")
    assert dict(lost.group_by("lost_reason").len().iter_rows()) == {"declined": 7635, "cancelled": 2807}


def test_stages_reached(bpi_history):
    reached = {s["stage"]: s["reached"] for s in pipeline_report(bpi_history).to_dict()["stages"]}
    assert reached["Submitted"] == 13087
    assert reached["Pre-accepted"] == 7367
    assert reached["Accepted"] == 5113
    assert reached["Offer sent"] == 5015
    assert reached["Offer returned"] == 3254


def test_as_of_new_year_2012(bpi_history):
    r = pipeline_report(bpi_history, datetime.fromisoformat("2012-01-01T00:00:00+01:00")).to_dict()
    assert (r["deals"]["open"], r["deals"]["won"], r["deals"]["lost"]) == (645, 1130, 5680)


def test_median_won_cycle(bpi_history):
    r = pipeline_report(bpi_history).to_dict()
    assert round(r["median_cycle_days"]["won"], 3) == 14.437


def test_work_items_are_activities(bpi_history):
    calls = bpi_history.activities.filter(pl.col("kind") == "W_Nabellen offertes")
    assert calls.height > 0
    assert calls["ended_at"].is_not_null().mean() > 0.9
