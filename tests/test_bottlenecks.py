"""Bottlenecks on the hand-worked history of test_flow, and period-to-period change."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.analytics.bottlenecks import bottlenecks
from dealflow.store.frames import load_history
from tests.factories import add_deal
from tests.test_flow import build


def test_stages_ranked_by_revenue_lost_and_delay(store) -> None:  # type: ignore[no-untyped-def]
    result = bottlenecks(build(store))
    rows = {r["stage"]: r for r in result.stages.iter_rows(named=True)}
    # C was lost from Negotiate; G lost twice from Qualify (counted once, at its last loss).
    assert {s: (r["lost_deals"], r["revenue_lost"], r["revenue_rank"]) for s, r in rows.items()} == {
        "Qualify": (1, 1000.0, 1), "Negotiate": (1, 1000.0, 1), "Propose": (0, 0.0, None)}  # nothing lost there: unranked
    assert {s: (r["deals_reached"], r["deal_days"], r["delay_rank"]) for s, r in rows.items()} == {
        "Qualify": (7, 39.0, 3), "Propose": (5, 55.0, 1), "Negotiate": (5, 47.0, 2)}
    assert rows["Qualify"]["loss_rate"] == pytest.approx(1 / 7)
    assert rows["Propose"]["won_median_days"] == 10.0  # A 5, E 15


def test_change_from_period_to_period(store) -> None:  # type: ignore[no-untyped-def]
    add_deal(store, "X", [("Qualify", "2024-01-01"), ("Lost", "2024-01-10")], amount=100.0)
    add_deal(store, "Y", [("Qualify", "2024-02-01"), ("Lost", "2024-02-05")], amount=300.0)
    bp = bottlenecks(load_history(store), period="month").by_period.filter(pl.col("stage") == "Qualify")
    assert bp.select("period", "revenue_lost", "revenue_lost_change", "median_days", "median_days_change").rows() == [
        ("2024-01", 100.0, None, 9.0, None),
        ("2024-02", 300.0, 200.0, 4.0, -5.0),
    ]
    q = bottlenecks(load_history(store), period="quarter").by_period.filter(pl.col("stage") == "Qualify")
    assert q.select("period", "revenue_lost", "lost_deals").rows() == [("2024Q1", 400.0, 2)]


def test_fiscal_quarter_labels(store) -> None:  # type: ignore[no-untyped-def]
    add_deal(store, "X", [("Qualify", "2017-04-01"), ("Lost", "2017-05-10")], amount=100.0)
    bp = bottlenecks(load_history(store), period="quarter", fiscal_start_month=4).by_period
    assert bp.filter(pl.col("revenue_lost") > 0)["period"].to_list() == ["2018Q1"]  # like parse_period("2018Q1", fiscal_start_month=4)
