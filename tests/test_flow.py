"""Stage flow on a small hand-worked history: regressions, skipped stages, loops, a reopened deal."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.analytics.flow import deal_stage_days, stage_flow, stage_visits
from dealflow.store.frames import load_history
from tests.factories import add_deal, t

NOW = "2024-02-01"

# (external id, path) — days per stage are worked out by hand in the tests below.
PATHS = {
    "A": [("Qualify", "2024-01-01"), ("Propose", "2024-01-05"), ("Negotiate", "2024-01-10"), ("Won", "2024-01-20")],
    "B": [("Qualify", "2024-01-01"), ("Negotiate", "2024-01-03"), ("Won", "2024-01-09")],  # skips Propose
    "C": [("Qualify", "2024-01-01"), ("Propose", "2024-01-02"), ("Qualify", "2024-01-04"),  # moves back
          ("Propose", "2024-01-10"), ("Negotiate", "2024-01-12"), ("Lost", "2024-01-20")],
    "D": [("Qualify", "2024-01-01"), ("Propose", "2024-01-03"), ("Negotiate", "2024-01-05"),  # open, back in Propose
          ("Propose", "2024-01-20")],
    "E": [("Qualify", "2024-01-01"), ("Propose", "2024-01-02"), ("Negotiate", "2024-01-17"), ("Won", "2024-01-25")],
    "F": [("Qualify", "2024-01-01"), ("Propose", "2024-01-15")],  # open, long in Propose
    "G": [("Qualify", "2024-01-01"), ("Lost", "2024-01-05"), ("Qualify", "2024-01-10"), ("Lost", "2024-01-15")],  # reopened
}


def build(store):  # type: ignore[no-untyped-def]
    for ext, path in PATHS.items():
        add_deal(store, ext, path, amount={"D": 5000.0, "F": 2000.0}.get(ext, 1000.0),
                 activities=[("call", "2024-01-25")] if ext == "D" else [])
    return load_history(store).as_of(t(NOW))


@pytest.fixture
def hand_history(store):  # type: ignore[no-untyped-def]
    return build(store)


def _days(history) -> dict[tuple[str, str], float]:  # type: ignore[no-untyped-def]
    ext = history.deals.select(pl.col("id").alias("deal_id"), "external_id")
    per = deal_stage_days(stage_visits(history)).join(ext, on="deal_id")
    return {(r["external_id"], r["stage"]): r["days"] for r in per.iter_rows(named=True)}


def test_days_in_each_stage_sum_visits(hand_history) -> None:  # type: ignore[no-untyped-def]
    assert _days(hand_history) == {
        ("A", "Qualify"): 4, ("A", "Propose"): 5, ("A", "Negotiate"): 10,
        ("B", "Qualify"): 2, ("B", "Negotiate"): 6,
        ("C", "Qualify"): 1 + 6, ("C", "Propose"): 2 + 2, ("C", "Negotiate"): 8,
        ("D", "Qualify"): 2, ("D", "Propose"): 2 + 12, ("D", "Negotiate"): 15,
        ("E", "Qualify"): 1, ("E", "Propose"): 15, ("E", "Negotiate"): 8,
        ("F", "Qualify"): 14, ("F", "Propose"): 17,
        ("G", "Qualify"): 4 + 5,
    }


def test_transition_counts_and_medians(hand_history) -> None:  # type: ignore[no-untyped-def]
    tr = stage_flow(hand_history).transitions
    got = {(r["from"], r["to"]): (r["count"], r["deals"], r["median_days"], r["kind"]) for r in tr.iter_rows(named=True)}
    assert got == {
        ("Qualify", "Propose"): (6, 5, 3.0, "forward"),     # 4, 1, 6, 2, 1, 14
        ("Propose", "Negotiate"): (4, 4, 3.5, "forward"),   # 5, 2, 2, 15
        ("Negotiate", "Won"): (3, 3, 8.0, "close"),         # 10, 6, 8
        ("Qualify", "Negotiate"): (1, 1, 2.0, "skip"),
        ("Propose", "Qualify"): (1, 1, 2.0, "regression"),
        ("Negotiate", "Propose"): (1, 1, 15.0, "regression"),
        ("Negotiate", "Lost"): (1, 1, 8.0, "close"),
        ("Qualify", "Lost"): (2, 1, 4.5, "close"),          # 4, 5
        ("Lost", "Qualify"): (1, 1, 5.0, "reopen"),
    }
    q = tr.filter((pl.col("from") == "Qualify") & (pl.col("to") == "Propose")).row(0, named=True)
    assert q["p75_days"] == pytest.approx(4 + 0.75 * 2)  # sorted 1,1,2,4,6,14: index 3.75
    assert q["p90_days"] == pytest.approx(6 + 0.5 * 8)   # index 4.5


def test_irregular_moves(hand_history) -> None:  # type: ignore[no-untyped-def]
    flow = stage_flow(hand_history)
    assert {(r["from"], r["to"]): r["count"] for r in flow.regressions.iter_rows(named=True)} == {
        ("Propose", "Qualify"): 1, ("Negotiate", "Propose"): 1}
    assert flow.skips.select("stage", "times_skipped").rows() == [("Propose", 1)]
    assert flow.reopened.select("external_id", "closed_stage", "reopened_to").rows() == [("G", "Lost", "Qualify")]
    assert {(r["stage"], r["deals"], r["extra_visits"]) for r in flow.loops.iter_rows(named=True)} == {
        ("Qualify", 2, 2), ("Propose", 2, 2), ("Lost", 1, 1)}
    assert flow.summary["deals_regressed"] == 2 and flow.summary["deals_reopened"] == 1


def test_dwell_by_outcome(hand_history) -> None:  # type: ignore[no-untyped-def]
    dwell = stage_flow(hand_history).dwell
    won = {r["stage"]: (r["deals"], r["median_days"]) for r in dwell.filter(pl.col("status") == "won").iter_rows(named=True)}
    assert won == {"Qualify": (3, 2.0), "Propose": (2, 10.0), "Negotiate": (3, 8.0)}
    lost = {r["stage"]: (r["deals"], r["median_days"]) for r in dwell.filter(pl.col("status") == "lost").iter_rows(named=True)}
    assert lost == {"Qualify": (2, 8.0), "Propose": (1, 4.0), "Negotiate": (1, 8.0)}


def test_outcome_filter(hand_history) -> None:  # type: ignore[no-untyped-def]
    won = stage_flow(hand_history, outcome="won")
    assert won.summary["deals"] == 3
    assert {(r["from"], r["to"]): r["count"] for r in won.transitions.iter_rows(named=True)} == {
        ("Qualify", "Propose"): 2, ("Propose", "Negotiate"): 2, ("Negotiate", "Won"): 3, ("Qualify", "Negotiate"): 1}


@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_flow_image_renders(hand_history, tmp_path, suffix) -> None:  # type: ignore[no-untyped-def]
    from dealflow.analytics.flow_image import draw_flow, flow_graph

    flow = stage_flow(hand_history)
    g = flow_graph(flow, hand_history.stages)
    assert g.number_of_edges() == 9 and g.edges["Qualify", "Propose"]["count"] == 6
    out = draw_flow(flow, hand_history.stages, tmp_path / f"flow.{suffix}")
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data[:2000]
    if suffix == "svg":
        assert b"Negotiate" in data


def test_period_keeps_deals_first_seen_in_it(hand_history) -> None:  # type: ignore[no-untyped-def]
    from dealflow.domain.periods import parse_period

    assert stage_flow(hand_history, period=parse_period("2024-01")).summary["deals"] == 7
    empty = stage_flow(hand_history, period=parse_period("2024-02"))
    assert empty.summary["deals"] == 0 and empty.transitions.height == 0 and empty.dwell.height == 0
