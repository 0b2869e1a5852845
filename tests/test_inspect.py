"""The inspection list and pipeline changes on the hand-worked history of test_flow."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlalchemy import select

from dealflow.analytics.inspect import inspect_pipeline, pipeline_changes
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.frames import load_history
from tests.factories import t
from tests.test_flow import NOW, build


def _edit(store, ext: str, changes: dict, when: str) -> None:  # type: ignore[no-untyped-def]
    with store.atomic() as s:
        deal = s.scalar(select(m.Deal).where(m.Deal.external_id == ext))
        crm.update_deal(s, deal, changes, now=t(when))


@pytest.fixture
def history(store):  # type: ignore[no-untyped-def]
    build(store)
    _edit(store, "F", {"expected_close_date": date(2024, 3, 20)}, "2024-01-02")
    _edit(store, "F", {"expected_close_date": date(2024, 4, 10)}, "2024-01-16")   # Q1 -> Q2: a slip
    _edit(store, "F", {"expected_close_date": date(2024, 4, 20)}, "2024-01-20")   # same quarter: not a slip
    _edit(store, "D", {"expected_close_date": date(2024, 2, 15)}, "2024-01-02")
    _edit(store, "D", {"expected_close_date": date(2024, 2, 10)}, "2024-01-21")   # pulled in
    _edit(store, "D", {"amount": 6000.0}, "2024-01-22")
    return load_history(store)


def test_stalled_counts_from_the_current_visit(history) -> None:  # type: ignore[no-untyped-def]
    result = inspect_pipeline(history, as_of=t(NOW))
    rows = {r["external_id"]: r for r in result.deals.iter_rows(named=True)}
    assert set(rows) == {"D", "F"}
    # Won deals' days in Propose: A 5, E 15 -> p75 = 12.5 (B skipped Propose).
    thr = {r["stage"]: r["stall_days"] for r in result.thresholds.iter_rows(named=True)}
    assert thr == {"Qualify": pytest.approx(3.0), "Propose": pytest.approx(12.5), "Negotiate": pytest.approx(9.0)}
    d, f = rows["D"], rows["F"]
    assert (d["days_in_stage"], d["days_in_stage_total"], d["stalled"]) == (12.0, 14.0, False)
    assert (f["days_in_stage"], f["stalled"]) == (17.0, True)
    assert (d["idle_days"], d["idle"]) == (7.0, False)
    assert (f["idle_days"], f["idle"]) == (31.0, True)
    assert (f["slips"], f["slipped"], d["slips"], d["slipped"]) == (1, True, 0, False)
    assert (d["regressed"], d["regressions"], f["regressed"]) == (True, 1, False)
    assert d["flags"] == "regressed" and f["flags"] == "stalled,idle,slipped"
    # Propose's default probability is 0.4; D's amount was 6000 at the time.
    assert (d["probability"], d["at_risk"], f["at_risk"]) == (0.4, 2400.0, 800.0)
    assert result.deals["external_id"].to_list() == ["D", "F"]  # by money at risk


def test_stall_quantile_is_configurable(history) -> None:  # type: ignore[no-untyped-def]
    result = inspect_pipeline(history, as_of=t(NOW), stall_quantile=0.5, idle_days=5)
    rows = {r["external_id"]: r for r in result.deals.iter_rows(named=True)}
    assert rows["D"]["stall_days"] == 10.0 and rows["D"]["stalled"] is True
    assert rows["D"]["idle"] is True


def test_a_scorer_replaces_stage_probabilities(history) -> None:  # type: ignore[no-untyped-def]
    scorer = lambda h: h.open_deals().select(pl.col("id").alias("deal_id"), pl.lit(0.9).alias("probability"))  # noqa: E731
    result = inspect_pipeline(history, as_of=t(NOW), scorer=scorer)
    assert result.deals["at_risk"].to_list() == [5400.0, 1800.0]


def test_as_of_does_not_look_ahead(history) -> None:  # type: ignore[no-untyped-def]
    result = inspect_pipeline(history, as_of=t("2024-01-12"))
    rows = {r["external_id"]: r for r in result.deals.iter_rows(named=True)}
    # On Jan 12 D was in Negotiate (since Jan 5) and only B had been won (6 days in Negotiate).
    assert rows["D"]["stage"] == "Negotiate" and rows["D"]["days_in_stage"] == 7.0
    assert rows["D"]["stall_days"] == 6.0 and rows["D"]["stalled"] is True
    assert "C" in rows and "E" in rows


def test_changes_between_two_dates(history) -> None:  # type: ignore[no-untyped-def]
    ch = pipeline_changes(history, t("2024-01-12"), t(NOW))
    got = {(r["external_id"], r["change"]): (r["before"], r["after"]) for r in ch.changes.iter_rows(named=True)}
    assert got == {
        ("C", "lost"): ("Negotiate", "Lost"),
        ("D", "moved back"): ("Negotiate", "Propose"),
        ("D", "pulled in"): ("2024-02-15", "2024-02-10"),
        ("D", "amount up"): ("5000.0", "6000.0"),
        ("A", "won"): ("Negotiate", "Won"),
        ("E", "won"): ("Propose", "Won"),
        ("F", "advanced"): ("Qualify", "Propose"),
        ("F", "pushed out"): ("2024-03-20", "2024-04-20"),
        ("G", "lost"): ("Qualify", "Lost"),
    }
    summary = {r["change"]: r["deals"] for r in ch.summary.iter_rows(named=True)}
    assert summary["new"] == 0 and summary["lost"] == 2 and summary["won"] == 2 and summary["advanced"] == 1


def test_owner_filter(store) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import add_deal

    add_deal(store, "W", [("Qualify", "2024-01-01"), ("Won", "2024-01-03")], owner="ann")
    add_deal(store, "X", [("Qualify", "2024-01-01")], owner="ann", activities=[("call", "2024-01-10")])
    add_deal(store, "Y", [("Qualify", "2024-01-01")], owner="bob")
    result = inspect_pipeline(load_history(store), as_of=t("2024-01-12"), owner="ann")
    row = result.deals.row(0, named=True)
    assert result.deals.height == 1 and row["external_id"] == "X"
    assert (row["days_in_stage"], row["stall_days"], row["stalled"], row["idle_days"], row["idle"]) == (11.0, 2.0, True, 2.0, False)


def test_without_any_activity_idle_is_unknown(store) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import add_deal

    add_deal(store, "Y", [("Qualify", "2024-01-01")])
    result = inspect_pipeline(load_history(store), as_of=t("2024-03-01"))
    assert result.deals["idle_days"].to_list() == [None] and result.summary["idle"] == 0


def test_slips_follow_the_fiscal_calendar(store) -> None:  # type: ignore[no-untyped-def]
    from dealflow.analytics.inspect import slips
    from tests.factories import add_deal

    add_deal(store, "S", [("Qualify", "2024-01-01")], expected_close_date=date(2024, 1, 20))
    _edit(store, "S", {"expected_close_date": date(2024, 2, 10)}, "2024-01-05")
    h = load_history(store)
    assert slips(h)["slips"].to_list() == [0]                           # Jan -> Feb: same calendar quarter
    assert slips(h, fiscal_start_month=2)["slips"].to_list() == [1]     # FY from February: Q4 -> Q1
    assert slips(h, "month")["slips"].to_list() == [1]
