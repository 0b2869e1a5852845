"""Inspection and pipeline changes on the real BPI 2012 log (checked against the raw events)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from dealflow.analytics.flow import stage_flow
from dealflow.analytics.inspect import inspect_pipeline, pipeline_changes

pytestmark = pytest.mark.slow
EVENTS = Path(__file__).resolve().parents[1] / "src" / "dealflow" / "samples" / "bpi2012" / "events.csv.gz"
OUTCOMES = ["A_ACTIVATED", "A_DECLINED", "A_CANCELLED"]


def _raw_open_at(instant: datetime) -> int:
    """Applications with an event by ``instant`` and no outcome event by then, from the raw file."""
    ev = pl.read_csv(EVENTS, columns=["application_id", "activity", "timestamp"], schema_overrides={"application_id": pl.String})
    ev = ev.with_columns(pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z").dt.convert_time_zone("UTC"))
    ev = ev.filter(pl.col("timestamp") <= instant)
    seen = ev.group_by("application_id").agg(pl.col("activity").is_in(OUTCOMES).any().alias("closed"))
    return int((~seen["closed"]).sum())


def test_inspect_open_deals_and_flags(bpi_history) -> None:  # type: ignore[no-untyped-def]
    result = inspect_pipeline(bpi_history)
    assert result.summary["open_deals"] == 399  # PROVENANCE.md: 399 cases still open at the end
    deals = result.deals
    assert deals["at_risk"].to_list() == sorted(deals["at_risk"].to_list(), reverse=True)
    stalled = deals.filter(pl.col("stalled"))
    assert stalled.height > 0 and (stalled["days_in_stage"] > stalled["stall_days"]).all()
    assert (deals.filter(~pl.col("stalled") & pl.col("stall_days").is_not_null())["days_in_stage"]
            <= deals.filter(~pl.col("stalled") & pl.col("stall_days").is_not_null())["stall_days"]).all()
    # The stall limit is the p75 of won deals' days in the stage, from the flow's dwell table.
    dwell = stage_flow(bpi_history, outcome="won").dwell
    won_p75 = dict(zip(dwell["stage"], dwell["p75_days"]))
    for row in result.thresholds.iter_rows(named=True):
        assert row["stall_days"] == pytest.approx(won_p75[row["stage"]])


def test_inspect_as_of_matches_raw_events(bpi_history) -> None:  # type: ignore[no-untyped-def]
    instant = datetime(2012, 1, 1, tzinfo=timezone.utc)
    result = inspect_pipeline(bpi_history, as_of=instant)
    assert result.summary["open_deals"] == _raw_open_at(instant)


def test_changes_between_two_weeks(bpi_history) -> None:  # type: ignore[no-untyped-def]
    since, until = datetime(2012, 2, 1, tzinfo=timezone.utc), datetime(2012, 2, 8, tzinfo=timezone.utc)
    ch = pipeline_changes(bpi_history, since, until)
    counts = dict(zip(ch.summary["change"], ch.summary["deals"]))
    before, after = bpi_history.as_of(since).deals, bpi_history.as_of(until).deals
    assert counts["new"] == after.height - before.height
    won_ids = set(after.filter(pl.col("status") == "won")["id"]) - set(before.filter(pl.col("status") == "won")["id"])
    assert counts["won"] == len(won_ids)
    assert counts["lost"] > 0 and counts["advanced"] > 0
