"""Cohort funnels from lead to won, and cohort-based stage conversion (hand-worked cases)."""
from __future__ import annotations

import pytest

from dealflow.analytics.funnel import lead_funnel, stage_conversion
from dealflow.store import models as m
from dealflow.store.frames import load_history
from tests.factories import add_deal, t


def rounded(rows):  # type: ignore[no-untyped-def]
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


def add_lead(store, external_id: str, created: str | None, **fields) -> int:  # type: ignore[no-untyped-def]
    for key in ("contacted_at", "qualified_at", "converted_at"):
        if isinstance(fields.get(key), str):
            fields[key] = t(fields[key]).replace(tzinfo=None)
    with store.atomic() as s:
        lead = m.Lead(external_id=external_id, created_at=t(created).replace(tzinfo=None) if created else None, **fields)
        s.add(lead)
        s.flush()
        return lead.id


def link(store, lead_id: int, deal_id: int) -> None:  # type: ignore[no-untyped-def]
    with store.atomic() as s:
        s.get(m.Lead, lead_id).converted_deal_id = deal_id
        s.get(m.Lead, lead_id).converted = True
        s.get(m.Deal, deal_id).lead_id = lead_id


@pytest.fixture
def small(store):  # type: ignore[no-untyped-def]
    """Five leads, three deals (won, lost, open after a regression)."""
    l1 = add_lead(store, "L1", "2024-01-03", source="web", contacted_at="2024-01-05", status="converted")
    l2 = add_lead(store, "L2", "2024-01-10", source="web", contacted_at="2024-01-12", status="converted")
    add_lead(store, "L3", "2024-02-01", source="web", contacted_at="2024-02-03", status="disqualified", lost_reason="student", converted=False)
    add_lead(store, "L4", "2024-02-05", source="ads", status="new", converted=False)
    l5 = add_lead(store, "L5", "2024-02-10", source="ads", contacted_at="2024-02-11", status="converted")
    d1 = add_deal(store, "D1", [("Qualify", "2024-01-10"), ("Propose", "2024-01-20"), ("Won", "2024-02-01")])
    d2 = add_deal(store, "D2", [("Qualify", "2024-01-15"), ("Lost", "2024-01-25")], lost_reason="no budget")
    d3 = add_deal(store, "D3", [("Qualify", "2024-02-12"), ("Propose", "2024-02-15"), ("Qualify", "2024-02-20"),
                                ("Propose", "2024-02-25"), ("Negotiate", "2024-03-01")])
    for lead, deal in ((l1, d1), (l2, d2), (l5, d3)):
        link(store, lead, deal)
    return load_history(store)


def test_steps_count_each_lead_once(small) -> None:  # type: ignore[no-untyped-def]
    f = lead_funnel(small)
    steps = f.steps.select("step", "reached", "step_conversion", "cumulative_conversion").rows()
    assert rounded(steps) == rounded([
        ("lead", 5, 1.0, 1.0),
        ("contacted", 4, 0.8, 0.8),
        ("qualified", 3, 0.75, 0.6),
        ("converted", 3, 1.0, 0.6),
        ("Propose", 2, 2 / 3, 0.4),
        ("Negotiate", 2, 1.0, 0.4),  # D1 skipped Negotiate on its way to Won: it still got past it
        ("won", 1, 0.5, 0.2),
    ])
    assert f.overall == pytest.approx({"leads": 5, "converted": 3, "conversion": 0.6, "won": 1, "win_conversion": 0.2})


def test_time_between_steps(small) -> None:  # type: ignore[no-untyped-def]
    f = lead_funnel(small)
    by_step = {r["step"]: r for r in f.steps.to_dicts()}
    assert by_step["contacted"]["median_days"] == 2.0  # 2, 2, 2, 1 days
    # contacted -> converted (no qualified_at): L1 5 days, L2 3 days, L5 1 day
    assert by_step["converted"]["median_days"] == 3.0
    assert by_step["won"]["median_days"] == 12.0  # D1: Propose 01-20 -> Won 02-01


def test_groups_and_leaks(small) -> None:  # type: ignore[no-untyped-def]
    f = lead_funnel(small, by="source")
    assert rounded(f.groups.select("group", "leads", "converted", "conversion").rows()) == rounded([
        ("web", 3, 2, 2 / 3), ("ads", 2, 1, 0.5),
    ])
    leaks = {(r["stopped_at"], r["reason"]): r["leads"] for r in f.leaks.to_dicts()}
    assert leaks == {
        ("lead", "(no reason recorded)"): 1,  # L4, never contacted
        ("contacted", "student"): 1,  # L3, disqualified
        ("converted", "no budget"): 1,  # L2's deal was lost at Qualify
        ("Negotiate", "(deal still open)"): 1,  # L5's deal
    }


def test_cohorts_marked_immature(small) -> None:  # type: ignore[no-untyped-def]
    f = lead_funnel(small, cohort="month", maturity_days=20)
    rows = f.cohorts.select("cohort", "leads", "converted", "immature").rows()
    # now = 2024-03-01 (last event); January ended 02-01 + 20 days < now; February has not matured.
    assert rows == [("2024-01", 2, 2, False), ("2024-02", 3, 1, True)]


def test_stage_conversion_counts_reentries_once(small) -> None:  # type: ignore[no-untyped-def]
    sc = stage_conversion(small)
    assert sc.select("stage", "entered", "advanced", "lost_here").rows() == [
        ("Qualify", 3, 2, 1), ("Propose", 2, 2, 0), ("Negotiate", 1, 0, 0),
    ]


def test_unknown_group_column_says_what_to_use(small) -> None:  # type: ignore[no-untyped-def]
    from dealflow.errors import DomainError

    with pytest.raises(DomainError, match="source, segment, owner, campaign"):
        lead_funnel(small, by="colour")


def test_as_of_sees_only_what_was_known(small) -> None:  # type: ignore[no-untyped-def]
    # On 2024-01-11: L1 (contacted 01-05, deal D1 since 01-10) and L2 (created 01-10; its contact
    # on 01-12 and its deal D2 on 01-15 lie in the future). Statuses are current values: ignored.
    f = lead_funnel(small.as_of(t("2024-01-11")))
    assert f.steps.select("step", "reached").rows() == [
        ("lead", 2), ("contacted", 1), ("converted", 1), ("Propose", 0), ("Negotiate", 0), ("won", 0),
    ]


def test_default_maturity_is_p75_of_time_to_convert(small) -> None:  # type: ignore[no-untyped-def]
    # lead -> deal: L1 7 days, L2 5 days, L5 2 days
    f = lead_funnel(small, cohort="quarter")
    assert f.maturity_days == 7.0
    # 2024Q1 ends 04-01, after "now" (03-01): too early to judge
    assert f.cohorts.select("cohort", "leads", "immature").rows() == [("2024Q1", 5, True)]


def test_without_leads_the_funnel_starts_at_the_deals(store):
    from tests.factories import add_deal

    add_deal(store, "A", [("Qualify", "2024-01-01"), ("Propose", "2024-01-03"), ("Won", "2024-01-09")])
    add_deal(store, "B", [("Qualify", "2024-01-02"), ("Lost", "2024-01-04")])
    result = lead_funnel(load_history(store))
    reached = dict(result.steps.select("step", "reached").iter_rows())
    assert result.overall["leads"] == 2 and result.overall["won"] == 1
    assert reached["Propose"] == 1 and reached["won"] == 1
    assert "no leads recorded" in result.notes[0]
