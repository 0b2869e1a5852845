"""Variants and within-stage activity patterns on a hand-worked history."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.analytics.patterns import activity_patterns, variants, wilson_interval
from dealflow.store.frames import load_history
from tests.factories import add_deal

Q, P = ("Qualify", "2024-01-01"), ("Propose", "2024-01-02")
DEALS = {
    "W1": ([Q, P, ("Won", "2024-01-10")], [("call", "2024-01-03")]),
    "W2": ([Q, P, ("Won", "2024-01-12")], [("call", "2024-01-04")]),
    "W3": ([Q, P, ("Won", "2024-01-05")], [("call", "2024-01-01T12:00")]),  # call in Qualify, not Propose
    "L1": ([Q, P, ("Lost", "2024-01-06")], [("call", "2024-01-03")]),
    "L2": ([Q, P, ("Lost", "2024-01-03")], []),
    "L3": ([Q, P, ("Lost", "2024-01-04")], [("call", "2024-01-05")]),  # after losing: not counted
    "L4": ([Q, ("Lost", "2024-01-02")], [("call", "2024-01-01T06:00")]),
    "O": ([Q, ("Propose", "2024-01-20")], []),  # still open
}


def build_patterns(store):  # type: ignore[no-untyped-def]
    for ext, (path, acts) in DEALS.items():
        add_deal(store, ext, path, activities=acts)
    return load_history(store)


@pytest.fixture
def history(store):  # type: ignore[no-untyped-def]
    return build_patterns(store)


def test_variants_with_share_and_duration(history) -> None:  # type: ignore[no-untyped-def]
    v = variants(history)
    rows = {(r["status"], r["path"]): (r["deals"], r["share"], r["median_days"]) for r in v.iter_rows(named=True)}
    assert rows == {
        ("won", "Qualify → Propose → Won"): (3, 1.0, 9.0),       # 9, 11, 4 days
        ("lost", "Qualify → Propose → Lost"): (3, 0.75, 3.0),    # 5, 2, 3
        ("lost", "Qualify → Lost"): (1, 0.25, 1.0),
        ("open", "Qualify → Propose"): (1, 1.0, 19.0),
    }


def test_activity_lift_is_measured_within_the_stage(history) -> None:  # type: ignore[no-untyped-def]
    pats = activity_patterns(history, min_deals=1)
    assert pats.filter(pl.col("at_least") > 1).height == 0  # nobody had two calls in a stage
    propose = pats.filter(pl.col("stage") == "Propose").row(0, named=True)
    # Reached Propose and closed: W1 W2 W3 L1 L2 L3 (3 won). A call while in Propose: W1 W2 L1.
    assert (propose["kind"], propose["deals"], propose["deals_with"]) == ("call", 6, 3)
    assert propose["support"] == 0.5 and propose["stage_win_rate"] == 0.5
    assert propose["win_rate_with"] == pytest.approx(2 / 3)
    assert propose["win_rate_without"] == pytest.approx(1 / 3)
    assert propose["lift"] == pytest.approx(4 / 3)
    lo, hi = wilson_interval(2, 3)
    assert (propose["with_low"], propose["with_high"]) == (pytest.approx(lo), pytest.approx(hi))
    assert (propose["lift_low"], propose["lift_high"]) == (pytest.approx(lo / 0.5), pytest.approx(hi / 0.5))
    # Newcombe's hybrid score interval for the difference 2/3 - 1/3.
    l2, u2 = wilson_interval(1, 3)
    p1, p2 = 2 / 3, 1 / 3
    assert propose["diff"] == pytest.approx(1 / 3)
    assert propose["diff_low"] == pytest.approx(p1 - p2 - ((p1 - lo) ** 2 + (u2 - p2) ** 2) ** 0.5)
    assert propose["diff_high"] == pytest.approx(p1 - p2 + ((hi - p1) ** 2 + (p2 - l2) ** 2) ** 0.5)
    qualify = pats.filter(pl.col("stage") == "Qualify").row(0, named=True)
    # Reached Qualify: all 7 closed deals (3 won); a call in Qualify: W3 and L4.
    assert (qualify["deals"], qualify["deals_with"], qualify["lift"]) == (7, 2, pytest.approx(0.5 / (3 / 7)))


def test_wilson_interval_known_value() -> None:
    # 8 of 10: the textbook Wilson 95% interval is (0.490, 0.943).
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)


def test_min_deals_filters_rare_activities(history) -> None:  # type: ignore[no-untyped-def]
    assert activity_patterns(history, min_deals=3)["stage"].to_list() == ["Propose"]


def test_landmark_takes_time_in_stage_out(history) -> None:  # type: ignore[no-untyped-def]
    propose = activity_patterns(history, min_deals=1).filter(pl.col("stage") == "Propose").row(0, named=True)
    # First call in Propose after 1 (W1), 2 (W2) and 1 (L1) days: landmark = 1 day.
    # Still in Propose after 1 day: W1 W2 W3 L1 L3 (L2 left after exactly 1 day).
    # Called by day 1: W1 (won) and L1 (lost) -> 1/2; not: W2 W3 (won) and L3 (lost) -> 2/3.
    assert propose["landmark_days"] == 1.0
    assert (propose["landmark_deals"], propose["landmark_with"]) == (5, 2)
    assert propose["landmark_rate_with"] == 0.5
    assert propose["landmark_rate_without"] == pytest.approx(2 / 3)
    assert propose["landmark_diff"] == pytest.approx(-1 / 6)  # the naive comparison said +1/3
    assert propose["landmark_diff_low"] < -1 / 6 < propose["landmark_diff_high"]
