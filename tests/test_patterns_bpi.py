"""Variants and the follow-up-call pattern on the real BPI 2012 log."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from dealflow.analytics.patterns import activity_patterns, variants, wilson_interval

pytestmark = pytest.mark.slow
EVENTS = Path(__file__).resolve().parents[1] / "src" / "dealflow" / "samples" / "bpi2012" / "events.csv.gz"


def test_won_variants(bpi_history) -> None:  # type: ignore[no-untyped-def]
    every = variants(bpi_history, top=None)
    totals = dict(every.group_by("status").agg(pl.col("deals").sum()).iter_rows())
    assert totals == {"won": 2246, "lost": 10442, "open": 399}  # PROVENANCE.md outcomes
    v = variants(bpi_history)
    won = v.filter(pl.col("status") == "won")
    assert won.row(0, named=True)["path"] == "Submitted → Pre-accepted → Accepted → Offer sent → Offer returned → Won"
    lost = v.filter(pl.col("status") == "lost").row(0, named=True)
    assert lost["path"] == "Submitted → Lost"
    # Straight declines at submission: 5,720 of the 10,442 lost applications.
    assert (lost["deals"], lost["share"]) == (5720, pytest.approx(5720 / 10442))


def test_follow_up_calls_after_an_offer(bpi_history) -> None:  # type: ignore[no-untyped-def]
    pats = activity_patterns(bpi_history, min_deals=20)
    calls = pats.filter((pl.col("stage") == "Offer sent") & (pl.col("kind") == "W_Nabellen offertes"))
    assert calls["at_least"].to_list() == [1, 2, 3, 5]
    any_call = calls.row(0, named=True)
    # Reached "Offer sent" and closed: the raw log's O_SENT / A_FINALIZED cases with an outcome.
    ev = pl.read_csv(EVENTS, columns=["application_id", "activity"], schema_overrides={"application_id": pl.String})
    per_case = ev.group_by("application_id").agg(
        pl.col("activity").is_in(["A_FINALIZED", "O_SENT"]).any().alias("offer"),
        pl.col("activity").is_in(["A_ACTIVATED", "A_DECLINED", "A_CANCELLED"]).any().alias("closed"),
        (pl.col("activity") == "A_ACTIVATED").any().alias("won"),
    )
    reached = per_case.filter(pl.col("offer") & pl.col("closed"))
    assert any_call["deals"] == reached.height
    assert any_call["stage_win_rate"] == pytest.approx(reached["won"].mean())
    for row in calls.iter_rows(named=True):
        lo, hi = wilson_interval(round(row["win_rate_with"] * row["deals_with"]), row["deals_with"])
        assert (row["with_low"], row["with_high"]) == (pytest.approx(lo), pytest.approx(hi))
        assert row["lift_low"] <= row["lift"] <= row["lift_high"]
    # Nearly every offer gets a follow-up call; many calls go with *lower* win rates (lingering offers).
    assert any_call["support"] > 0.99
    five = calls.filter(pl.col("at_least") == 5).row(0, named=True)
    assert five["lift_high"] < 1


def test_follow_up_calls_at_a_landmark(bpi_history) -> None:  # type: ignore[no-untyped-def]
    calls = activity_patterns(bpi_history, min_deals=20).filter(
        (pl.col("stage") == "Offer sent") & (pl.col("kind") == "W_Nabellen offertes")
    )
    two = calls.filter(pl.col("at_least") == 2).row(0, named=True)
    # Naively, offers with 2+ follow-up calls win less often (lingering offers collect calls) ...
    assert two["lift"] < 1 and two["win_rate_with"] < two["win_rate_without"]
    # ... but among offers still open at the typical time of the second call, having had it goes with winning.
    assert 0 < two["landmark_days"] < 30 and two["landmark_deals"] < two["deals"]
    assert two["landmark_diff_low"] < two["landmark_diff"] < two["landmark_diff_high"]
    assert two["landmark_diff"] > 0
