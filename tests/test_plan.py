"""The reverse funnel, worked by hand: rates, lags, the open pipeline, the split by source."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dealflow.analytics.plan import allocate, plan
from dealflow.errors import DomainError
from dealflow.store import models as m
from dealflow.store.frames import load_history
from tests.factories import add_deal, t


@pytest.fixture
def history(store):  # type: ignore[no-untyped-def]
    """15 leads created 2024-01-01 (10 web, 5 ads); 5 became deals, 3 won; one open deal without a lead.

    won deals: W1 lead→won 30 days (1000), W2 50 days (3000), A1 40 days (2000).
    """
    created = t("2024-01-01").replace(tzinfo=None)
    with store.atomic() as s:
        ids = {}
        for i in range(1, 11):
            lead = m.Lead(external_id=f"L{i}", source="web", created_at=created, status="disqualified" if i > 4 else "converted",
                          converted=i <= 4)
            s.add(lead)
            s.flush()
            ids[f"L{i}"] = lead.id
        for i in range(1, 6):
            lead = m.Lead(external_id=f"A{i}", source="ads", created_at=created, status="disqualified" if i > 1 else "converted",
                          converted=i == 1)
            s.add(lead)
            s.flush()
            ids[f"A{i}"] = lead.id
    q, p = ("Qualify", "2024-01-05"), ("Propose", "2024-01-10")
    deals = {
        "L1": add_deal(store, "W1", [q, p, ("Won", "2024-01-31")], amount=1000),
        "L2": add_deal(store, "W2", [q, p, ("Won", "2024-02-20")], amount=3000),
        "L3": add_deal(store, "W3", [q, ("Lost", "2024-01-20")]),
        "L4": add_deal(store, "W4", [q, p, ("Lost", "2024-01-25")]),
        "A1": add_deal(store, "A1", [q, p, ("Won", "2024-02-10")], amount=2000),
    }
    add_deal(store, "O", [("Qualify", "2024-03-01"), ("Propose", "2024-03-05")], amount=1000)
    with store.atomic() as s:
        for lead, deal in deals.items():
            s.get(m.Lead, ids[lead]).converted_deal_id = deal
    return load_history(store)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_leads_needed_by_source_and_date(history) -> None:  # type: ignore[no-untyped-def]
    p = plan(history, target_deals=6, period="2024Q3")
    assert p.lead_rate == pytest.approx(3 / 15)
    assert p.expected_deals == pytest.approx(0.75)  # the open deal sits in Propose, won 3 of 4 times
    assert p.gap_deals == pytest.approx(5.25)
    assert p.deals_needed == 6
    assert p.leads_needed == 27  # ceil(5.25 / 0.2) = ceil(26.25)
    assert p.lead_lag_days == 40.0  # median of 30, 50, 40
    assert p.enter_by == utc("2024-08-22")  # 2024-10-01 minus 40 days
    assert p.by_source.select("group", "mix", "leads_needed", "enter_by").rows() == [
        ("web", pytest.approx(2 / 3), 18, utc("2024-08-22")),
        ("ads", pytest.approx(1 / 3), 9, utc("2024-08-22")),
    ]
    low, high = p.leads_needed_range
    assert low < 27 < high


def test_deals_needed_per_stage(history) -> None:  # type: ignore[no-untyped-def]
    p = plan(history, target_deals=6, period="2024Q3")
    rows = p.stages.select("stage", "closed_deals", "won", "win_rate", "lag_days", "deals_needed", "enter_by").rows()
    assert rows == [
        # 5 closed deals reached Qualify, 3 won; Qualify (01-05) to won: 26, 46, 36 days
        ("Qualify", 5, 3, 0.6, 36.0, 9, utc("2024-08-26")),
        # 4 reached Propose, 3 won; Propose (01-10) to won: 21, 41, 31 days
        ("Propose", 4, 3, 0.75, 31.0, 7, utc("2024-08-31")),
        # the three won deals skipped Negotiate on the way to Won: they got past it; nobody entered it, so no lag
        ("Negotiate", 3, 3, 1.0, None, 6, None),
    ]


def test_revenue_target(history) -> None:  # type: ignore[no-untyped-def]
    p = plan(history, target_revenue=10_000)
    assert p.average_won_amount == 2000.0
    assert p.expected_revenue == pytest.approx(750.0)  # 0.75 x 1000
    assert p.gap_deals == pytest.approx(4.625)  # (10000 - 750) / 2000
    assert (p.deals_needed, p.leads_needed) == (5, 24)  # ceil(4.625 / 0.2) = ceil(23.125)
    assert p.enter_by is None  # no period, no deadline


def test_target_met_by_pipeline_needs_nothing(history) -> None:  # type: ignore[no-untyped-def]
    p = plan(history, target_deals=0.5)
    assert (p.gap_deals, p.leads_needed, p.deals_needed) == (0.0, 0, 0)


def test_needs_exactly_one_target(history) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError, match="exactly one target"):
        plan(history)


@pytest.mark.parametrize(("total", "shares", "parts"), [
    (260, [4886, 3580, 718, 55, 1], [137, 101, 20, 2, 0]),
    (10, [1, 1, 1], [4, 3, 3]),
    (0, [1, 2], [0, 0]),
])
def test_allocate_adds_up(total, shares, parts) -> None:  # type: ignore[no-untyped-def]
    assert allocate(total, shares) == parts
    assert sum(allocate(total, shares)) == total


def test_without_leads_only_deals_per_stage(store) -> None:  # type: ignore[no-untyped-def]
    add_deal(store, "W", [("Qualify", "2024-01-01"), ("Won", "2024-01-11")], amount=100)
    add_deal(store, "L", [("Qualify", "2024-01-01"), ("Lost", "2024-01-05")])
    p = plan(load_history(store), target_deals=3)
    assert (p.leads_needed, p.leads_needed_range, p.lead_rate) == (None, (None, None), None)
    assert p.stages.filter(stage="Qualify")["deals_needed"].to_list() == [6]  # won 1 of 2 that reached it
    assert any("no settled leads" in n for n in p.notes)


def test_a_short_period_counts_only_what_can_close_in_time(history) -> None:  # type: ignore[no-untyped-def]
    # Now = 2024-03-05 (the open deal entered Propose); March ends in 27 days. Of the won deals'
    # Propose-to-won times (21, 31, 41 days) one fits: the open deal counts 0.75 x 1/3.
    p = plan(history, target_deals=6, period="2024-03")
    assert p.pipeline.filter(stage="Propose").select("in_time", "expected_won").row(0) == (
        pytest.approx(1 / 3), pytest.approx(0.25))
    assert p.expected_deals == pytest.approx(0.25)
    assert p.leads_needed == 29  # ceil(5.75 / 0.2)
    assert p.enter_by == utc("2024-02-21")  # 2024-04-01 minus 40 days: already past
    assert any("has passed" in n for n in p.notes)
