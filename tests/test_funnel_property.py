"""Property: no funnel rate ever exceeds 100%, whatever the data (re-entered stages included).

Histories are built straight as frames (no database) so hypothesis can try many cases quickly.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dealflow.analytics.funnel import lead_funnel, stage_conversion
from dealflow.store import Store
from dealflow.store import crm
from dealflow.store.frames import load_history
from tests.factories import SALES_STAGES

STAGES = ["Qualify", "Propose", "Negotiate", "Won", "Lost"]


def _empty_history():  # type: ignore[no-untyped-def]
    store = Store(":memory:")
    with store.atomic() as s:
        crm.ensure_pipeline(s, "Sales", SALES_STAGES)
    history = load_history(store)
    store.dispose()
    return history


EMPTY = _empty_history()


def _frame(rows: list[dict], like: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame([{c: r.get(c) for c in like.columns} for r in rows], schema=like.schema)


def build(leads: list[dict]):  # type: ignore[no-untyped-def]
    stages = {r["name"]: r for r in EMPTY.stages.to_dicts()}
    lead_rows, deal_rows, change_rows = [], [], []
    for i, spec in enumerate(leads):
        created = datetime(2024, spec["month"], 1, tzinfo=timezone.utc)
        deal_id = None
        if spec["deal"]:
            deal_id = i + 1
            at = created + timedelta(days=2)
            prev = None
            for k, stage in enumerate(spec["deal"]):
                when = at + timedelta(days=k)
                change_rows.append({"id": len(change_rows) + 1, "deal_id": deal_id, "from_stage": prev, "to_stage": stage,
                                    "to_kind": stages[stage]["kind"], "to_rank": stages[stage]["rank"], "at": when,
                                    "lost_reason": "price" if stage == "Lost" else None})
                prev = stage
            last = stages[spec["deal"][-1]]
            deal_rows.append({"id": deal_id, "external_id": f"D{i}", "pipeline_id": last["pipeline_id"], "pipeline": "Sales",
                              "stage_id": last["id"], "stage": last["name"], "stage_kind": last["kind"], "status": last["kind"],
                              "created_at": at, "first_seen_at": at, "closed_at": None if last["kind"] == "open" else when,
                              "lead_id": i + 1})
        lead_rows.append({"id": i + 1, "external_id": f"L{i}", "source": spec["source"], "status": spec["status"],
                          "converted": spec["converted"], "created_at": created, "converted_deal_id": deal_id,
                          "contacted_at": created + timedelta(days=1) if spec["contacted"] else None})
    return replace(EMPTY, leads=_frame(lead_rows, EMPTY.leads), deals=_frame(deal_rows, EMPTY.deals),
                   stage_changes=_frame(change_rows, EMPTY.stage_changes))


@st.composite
def paths(draw):  # type: ignore[no-untyped-def]
    """A stage path with no immediate repeats; may close, reopen and re-enter stages."""
    n = draw(st.integers(1, 8))
    path = [draw(st.sampled_from(STAGES[:3]))]
    for _ in range(n - 1):
        path.append(draw(st.sampled_from([s for s in STAGES if s != path[-1]])))
    return path


leads_strategy = st.lists(
    st.fixed_dictionaries({
        "source": st.sampled_from(["web", "ads", None]),
        "status": st.sampled_from(["new", "contacted", "qualified", "disqualified", "converted", None]),
        "contacted": st.booleans(),
        "converted": st.sampled_from([True, False, None]),
        "month": st.integers(1, 4),
        "deal": st.one_of(st.none(), paths()),
    }),
    min_size=1, max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(leads_strategy)
def test_no_rate_exceeds_one(leads) -> None:  # type: ignore[no-untyped-def]
    history = build(leads)
    for by in (None, "source"):
        f = lead_funnel(history, by=by, cohort="month")
        for col in ("step_conversion", "cumulative_conversion"):
            values = f.steps[col].drop_nulls()
            assert not values.is_nan().any()
            assert ((values >= 0) & (values <= 1)).all(), (col, f.steps)
        # reached never grows along the funnel, within each group and cohort
        grown = f.steps.sort("order").group_by("group", "cohort").agg(pl.col("reached").diff().max().alias("up"))
        assert (grown["up"].fill_null(0) <= 0).all()
        for frame in (f.groups, f.cohorts):
            assert (frame["conversion"].drop_nulls() <= 1).all()
            assert (frame["converted"] <= frame["leads"]).all()
        assert f.overall["leads"] == len(leads)
        assert 0 <= f.overall["conversion"] <= 1
    sc = stage_conversion(history)
    assert (sc["conversion"].drop_nulls() <= 1).all()
    assert (sc["advanced"] <= sc["entered"]).all()
    # a deal counts once per stage: never more entries than deals
    assert (sc["entered"] <= history.deals.height).all()


def test_builder_matches_the_store_shape() -> None:
    h = build([{"source": "web", "status": None, "contacted": True, "converted": None, "month": 1,
                "deal": ["Qualify", "Propose", "Qualify", "Propose", "Won"]}])
    f = lead_funnel(h)
    assert f.steps.select("step", "reached").rows() == [
        ("lead", 1), ("contacted", 1), ("converted", 1), ("Propose", 1), ("Negotiate", 1), ("won", 1),
    ]
    assert stage_conversion(h).select("stage", "entered", "advanced").rows() == [
        ("Qualify", 1, 1), ("Propose", 1, 1), ("Negotiate", 0, 0),
    ]
