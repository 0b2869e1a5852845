"""Maven CRM (real): won / lost / win rate per product, as in PROVENANCE.md (GTXPro is GTX Pro)."""
from __future__ import annotations

import pytest

from dealflow.analytics.products import product_report

EXPECTED = {
    "GTK 500": (15, 10, 0.6000),
    "GTX Basic": (915, 521, 0.6372),
    "GTX Plus Basic": (653, 398, 0.6213),
    "GTX Plus Pro": (479, 266, 0.6430),
    "GTX Pro": (729, 418, 0.6356),
    "MG Advanced": (654, 430, 0.6033),
    "MG Special": (793, 430, 0.6484),
}


@pytest.fixture(scope="module")
def report(maven_history):  # type: ignore[no-untyped-def]
    return product_report(maven_history)


def test_won_lost_win_rate_per_product(report) -> None:  # type: ignore[no-untyped-def]
    got = {r["product"]: (r["won"], r["lost"], round(r["win_rate"], 4)) for r in report.products.to_dicts()}
    assert got == EXPECTED


def test_deals_and_won_revenue(report) -> None:  # type: ignore[no-untyped-def]
    deals = dict(report.products.select("product", "deals").rows())
    assert deals == {"GTX Basic": 1866, "MG Special": 1651, "GTX Pro": 1480, "MG Advanced": 1412,
                     "GTX Plus Basic": 1383, "GTX Plus Pro": 968, "GTK 500": 40}
    assert report.products["won_amount"].sum() == 10_005_534
    assert report.products["open"].sum() == 2089


def test_quarterly_trend_adds_up_to_the_ground_truth(report) -> None:  # type: ignore[no-untyped-def]
    by_quarter = report.trend.group_by("quarter").agg("won", "won_amount").sort("quarter")
    sums = {q: (sum(w), sum(a)) for q, w, a in by_quarter.rows()}
    assert sums == {"2017Q1": (531, 1_134_672), "2017Q2": (1254, 3_086_111), "2017Q3": (1257, 2_982_255),
                    "2017Q4": (1196, 2_802_496)}


def test_deals_drop_out_at_engaging(report) -> None:  # type: ignore[no-untyped-def]
    assert set(report.products["drop_out_stage"]) == {"Engaging"}
    lost = dict(report.products.select("product", "drop_out_deals").rows())
    assert lost["GTX Basic"] == 521  # every lost deal was lost from Engaging


def test_small_changes_show_thin_data(report) -> None:  # type: ignore[no-untyped-def]
    top = report.changes.row(0, named=True)
    # GTK 500: 15 won of 40 that entered Engaging vs the others' median 0.5170; only 40 deals behind it
    assert (top["product"], top["stage"], top["deals"]) == ("GTK 500", "Engaging", 40)
    assert top["conversion"] == pytest.approx(15 / 40)
    assert top["extra_revenue"] == pytest.approx(151_718, rel=1e-4)
