"""Product potential, worked by hand: figures per product and the ranked small changes."""
from __future__ import annotations

import pytest

from dealflow.analytics.products import product_report
from dealflow.store.frames import load_history
from tests.factories import add_deal

Q, P, N = ("Qualify", "2024-01-02"), ("Propose", "2024-01-10"), ("Negotiate", "2024-01-15")


@pytest.fixture
def report(store):  # type: ignore[no-untyped-def]
    """Three products, four deals each.

    A: 1 of 4 gets past Qualify (then won, 1000); 3 lost at Qualify.
    B: 3 of 4 get past Qualify and are won (500 each); 1 lost at Qualify ("price").
    C: 2 of 4 get past Qualify, both then lost at Propose; 2 lost at Qualify.
    """
    add_deal(store, "A1", [Q, P, ("Won", "2024-02-01")], product="A", amount=1000)
    for i in (2, 3, 4):
        add_deal(store, f"A{i}", [Q, ("Lost", "2024-01-20")], product="A", lost_reason="timing")
    for i in (1, 2, 3):
        add_deal(store, f"B{i}", [Q, P, N, ("Won", "2024-04-11")], product="B", amount=500)
    add_deal(store, "B4", [Q, ("Lost", "2024-01-05")], product="B", lost_reason="price")
    for i in (1, 2):
        add_deal(store, f"C{i}", [Q, P, ("Lost", "2024-01-31")], product="C", amount=800, lost_reason="competitor")
    for i in (3, 4):
        add_deal(store, f"C{i}", [Q, ("Lost", "2024-01-09")], product="C", amount=0, lost_reason="price")
    add_deal(store, "C5", [Q, P], product="C", amount=2000)  # open in Propose
    return product_report(load_history(store))


def test_per_product_figures(report) -> None:  # type: ignore[no-untyped-def]
    rows = {r["product"]: r for r in report.products.to_dicts()}
    a, b, c = rows["A"], rows["B"], rows["C"]
    assert (a["won"], a["lost"], a["win_rate"], a["won_amount"]) == (1, 3, 0.25, 1000.0)
    assert (b["won"], b["lost"], b["win_rate"], b["won_amount"], b["median_won_amount"]) == (3, 1, 0.75, 1500.0, 500.0)
    assert (c["won"], c["lost"], c["open"], c["win_rate"]) == (0, 4, 1, 0.0)
    assert a["value_win_rate"] == pytest.approx(1000 / (1000 + 3 * 1000))  # lost A deals carry the default 1000
    assert a["cycle_median_days"] == 18.0  # 01-02 -> 01-20 for the three lost, 30 days for the won
    assert b["cycle_median_days"] == 100.0
    assert c["open_pipeline"] == 2000.0
    assert c["weighted_pipeline"] == pytest.approx(2000 * 0.4)  # Propose's default probability
    # forecast: 4 of the 6 closed deals that reached Propose were won (too few of C's own to use)
    assert c["forecast"] == pytest.approx(2000 * 4 / 6)
    assert (a["drop_out_stage"], a["drop_out_deals"]) == ("Qualify", 3)
    assert c["drop_out_stage"] == "Qualify"  # 2 lost at Qualify, 2 at Propose: the earlier stage on a tie
    assert c["top_lost_reasons"] == "competitor (2); price (2)"
    assert b["top_lost_reasons"] == "price (1)"


def test_trend_by_quarter(report) -> None:  # type: ignore[no-untyped-def]
    b = report.trend.filter(product="B").select("quarter", "won", "lost", "won_amount").rows()
    assert b == [("2024Q1", 0, 1, 0.0), ("2024Q2", 3, 0, 1500.0)]


def test_small_changes_ranked_by_extra_revenue(report) -> None:  # type: ignore[no-untyped-def]
    rows = report.changes.select("product", "stage", "deals", "conversion", "others_median", "extra_won", "extra_revenue").rows()
    assert rows == [
        # C at Propose: 0 of 3 (2 lost + 1 open) vs the median of A (1/1) and B (3/3) = 1.0 -> 3 more past it.
        # C never won after Propose, so all products' rate after it (4 won of 4 past it) and all products'
        # average won deal (2500 / 4 = 625) are used.
        ("C", "Propose", 3, 0.0, 1.0, 3.0, 1875.0),
        # A at Qualify: 1 of 4 vs the median of B (3/4) and C (3/5) = 0.675 -> 4 x 0.425 = 1.7 more past it,
        # all won at A's own rate after Qualify (1/1), at A's average won deal of 1000.
        ("A", "Qualify", 4, 0.25, pytest.approx(0.675), pytest.approx(1.7), pytest.approx(1700.0)),
    ]
    # B converts above the others everywhere; C at Qualify (0.6) is above the median of A and B (0.5)
    assert report.changes.filter(product="B").is_empty()


def test_stage_conversion_per_product(report) -> None:  # type: ignore[no-untyped-def]
    c = report.stages.filter(product="C").select("stage", "entered", "advanced", "lost_here").rows()
    assert c == [("Qualify", 5, 3, 2), ("Propose", 3, 0, 2), ("Negotiate", 0, 0, 0)]
