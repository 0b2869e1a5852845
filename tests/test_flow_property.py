"""Property: the fast paths of flow and the stage table (integer keys, per-deal folds over runs,
grouping only the deals that may loop) agree with a plain per-deal reading of random histories
that loop, regress, skip, close, reopen and repeat a stage.

Histories are built straight as frames (no database) so hypothesis can try many cases quickly.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal
from hypothesis import given, settings
from hypothesis import strategies as st

from dealflow.analytics.flow import deal_stage_days, stage_flow, stage_visits
from dealflow.analytics.report import stage_table
from tests.test_funnel_property import EMPTY, STAGES, _frame

STAGE = {r["name"]: r for r in EMPTY.stages.to_dicts()}
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def build(deals: list[list[tuple[str, int]]]):  # type: ignore[no-untyped-def]
    """Deal i+1 enters each (stage, gap in hours) of its path in order."""
    deal_rows, change_rows = [], []
    for i, path in enumerate(deals):
        when = START + timedelta(days=i)
        for stage, gap in path:
            when += timedelta(hours=gap)
            s = STAGE[stage]
            change_rows.append({"id": len(change_rows) + 1, "deal_id": i + 1, "to_stage": stage, "to_stage_id": s["id"],
                                "to_kind": s["kind"], "to_rank": s["rank"], "at": when})
        last = STAGE[path[-1][0]]
        deal_rows.append({"id": i + 1, "external_id": f"D{i}", "pipeline_id": last["pipeline_id"], "pipeline": "Sales",
                          "stage_id": last["id"], "stage": last["name"], "stage_kind": last["kind"], "status": last["kind"],
                          "created_at": START + timedelta(days=i), "first_seen_at": START + timedelta(days=i),
                          "closed_at": None if last["kind"] == "open" else when})
    return replace(EMPTY, deals=_frame(deal_rows, EMPTY.deals), stage_changes=_frame(change_rows, EMPTY.stage_changes))


def visits_of(path: list[tuple[str, int]]) -> list[tuple[str, float]]:
    """(stage, hours since the deal's start) per visit, consecutive repeats counted once."""
    out: list[tuple[str, float]] = []
    hours = 0.0
    for stage, gap in path:
        hours += gap
        if not out or out[-1][0] != stage:
            out.append((stage, hours))
    return out


paths = st.lists(st.tuples(st.sampled_from(STAGES), st.integers(0, 200)), min_size=1, max_size=9)


@settings(max_examples=60, deadline=None)
@given(st.lists(paths, min_size=1, max_size=25))
def test_flow_and_stage_table_match_a_plain_reading(deals: list[list[tuple[str, int]]]) -> None:
    history = build(deals)
    result = stage_flow(history)

    counts: Counter[tuple[str, str]] = Counter()
    movers: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    days: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    loops: defaultdict[str, list[int]] = defaultdict(list)
    reached: Counter[str] = Counter()
    advanced: Counter[str] = Counter()
    for deal, path in enumerate(deals):
        visits = visits_of(path)
        for (a, ta), (b, tb) in zip(visits, visits[1:]):
            counts[a, b] += 1
            movers[a, b].add(deal)
            days[a, b].append((tb - ta) / 24)
        for stage, n in Counter(s for s, _ in visits).items():
            if n > 1:
                loops[stage].append(n - 1)
        ranks = [STAGE[s]["rank"] for s, _ in visits if STAGE[s]["rank"] is not None]
        for stage in {s for s, _ in visits}:
            reached[stage] += 1
            rank = STAGE[stage]["rank"]
            advanced[stage] += rank is not None and bool(ranks) and max(ranks) > rank

    got = {(r["from"], r["to"]): r for r in result.transitions.to_dicts()}
    assert set(got) == set(counts)
    for pair, n in counts.items():
        assert got[pair]["count"] == n
        assert got[pair]["deals"] == len(movers[pair])
        assert np.isclose(got[pair]["median_days"], np.median(days[pair]))
    assert {r["stage"]: (r["deals"], r["extra_visits"]) for r in result.loops.to_dicts()} == {
        s: (len(v), sum(v)) for s, v in loops.items()
    }
    assert result.summary["deals_with_loops"] == sum(1 for p in deals if len({s for s, _ in visits_of(p)}) < len(visits_of(p)))

    visits = stage_visits(history)
    plain = visits.filter(pl.col("kind") == "open").group_by(["deal_id", "stage"]).agg(
        pl.len().alias("visits"), pl.when(pl.col("days").count() > 0).then(pl.col("days").sum()).alias("days"))
    fast = deal_stage_days(visits).select("deal_id", "stage", "visits", "days")
    assert_frame_equal(fast.sort(["deal_id", "stage"]), plain.sort(["deal_id", "stage"]).select(fast.columns), check_dtypes=False)

    table = {r["stage"]: r for r in stage_table(history).to_dicts()}
    for stage in STAGES:
        assert (table[stage]["reached"], table[stage]["advanced"]) == (reached[stage], advanced[stage]), stage


def test_a_path_that_leaves_lost_and_comes_back_is_counted_once_per_deal() -> None:
    """Qualify -> Lost -> Qualify -> Lost: a reopen and a loop through two stages."""
    history = build([[("Qualify", 0), ("Lost", 24), ("Qualify", 24), ("Lost", 48)]])
    result = stage_flow(history)
    moves = {(r["from"], r["to"]): (r["count"], r["deals"], r["kind"]) for r in result.transitions.to_dicts()}
    assert moves == {("Qualify", "Lost"): (2, 1, "close"), ("Lost", "Qualify"): (1, 1, "reopen")}
    assert result.loops.sort("stage").rows() == [("Sales", "Lost", 1, 1), ("Sales", "Qualify", 1, 1)]
    assert result.reopened["reopened_to"].to_list() == ["Qualify"]
    assert pl.DataFrame(stage_table(history)).filter(pl.col("stage") == "Qualify")["reached"].item() == 1


def test_a_closed_deal_last_seen_in_an_open_stage_has_no_days_there() -> None:
    """Lost without a closing stage change: how long it stayed in Propose is unknown, not 0 days."""
    history = build([[("Qualify", 0), ("Propose", 48)], [("Qualify", 0), ("Propose", 24), ("Won", 72)]])
    history = replace(history, deals=history.deals.with_columns(
        pl.when(pl.col("id") == 1).then(pl.lit("lost")).otherwise(pl.col("status")).alias("status")))
    days = {(r["deal_id"], r["stage"]): r["days"] for r in deal_stage_days(stage_visits(history)).to_dicts()}
    assert days == {(1, "Qualify"): 2.0, (1, "Propose"): None, (2, "Qualify"): 1.0, (2, "Propose"): 3.0}
    dwell = {(r["stage"], r["status"]): r["deals"] for r in stage_flow(history).dwell.to_dicts()}
    assert dwell == {("Qualify", "lost"): 1, ("Qualify", "won"): 1, ("Propose", "won"): 1}
