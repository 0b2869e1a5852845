"""Analyses over HTTP: one registry gives /api/analyses/{key} and /dashboards/{key}; pickers pass through."""
from __future__ import annotations

import pytest

from dealflow.web import analyses
from dealflow.web.testing import add_login, api_client, make_app
from tests.factories import add_deal


@pytest.fixture
def api(store):  # type: ignore[no-untyped-def]
    add_deal(store, "D1", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05")], amount=1000, owner="ana", product="Widget")
    add_deal(store, "D2", [("Qualify", "2024-01-02")], amount=500, owner="bob", activities=[("call", "2024-01-03")])
    add_deal(store, "D3", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], amount=700, owner="bob", product="Gadget")
    add_deal(store, "D4", [("Qualify", "2024-01-01"), ("Lost", "2024-02-01")], amount=300, owner="ana")
    add_login(store)
    return api_client(make_app(store))


def test_registry_lists_every_analysis(api):  # type: ignore[no-untyped-def]
    listed = {a["key"]: a for a in api.get("/api/analyses").json()}
    assert list(listed) == ["report", "funnel", "products", "plan", "forecast", "backtest", "flow", "inspect",
                            "bottlenecks", "patterns", "cross_sell", "changes"]
    assert listed["flow"]["available"] is True and listed["flow"]["page"] == "/dashboards/flow"
    for key, info in listed.items():
        r = api.get(info["api"])
        assert r.status_code == (200 if info["available"] else 404), (key, r.text)
        if not info["available"]:
            assert "not available in this version" in r.json()["error"]["message"]


def test_report_has_the_hand_worked_figures(api):  # type: ignore[no-untyped-def]
    if not analyses.get("report").available:
        pytest.skip("dealflow.analytics.report is not there yet")
    report = api.get("/api/analyses/report").json()
    assert report["deals"] == {"open": 2, "won": 1, "lost": 1, "total": 4}
    assert report["win_rate"] == 0.5
    assert report["weighted_amount"] == pytest.approx(1000 * 0.4 + 500 * 0.1)
    # As of 2024-01-03 only D1..D4 exist, all open, D1 still in Qualify: weighted 4 deals at 10%.
    early = api.get("/api/analyses/report?as_of=2024-01-03").json()
    assert early["deals"]["open"] == 4 and early["weighted_amount"] == pytest.approx(0.1 * (1000 + 500 + 700 + 300))


def test_flow_counts_transitions(api):  # type: ignore[no-untyped-def]
    flow = api.get("/api/analyses/flow").json()
    moves = {(t["from"], t["to"]): t["count"] for t in flow["transitions"]}
    assert moves[("Qualify", "Propose")] == 1 and moves[("Qualify", "Won")] == 1 and moves[("Qualify", "Lost")] == 1


def test_bottlenecks_rank_stages_by_revenue_lost(api):  # type: ignore[no-untyped-def]
    out = api.get("/api/analyses/bottlenecks").json()
    stages = {r["stage"]: r for r in out["stages"]}
    # Only D4 (300) was lost, from Qualify, which all four deals reached; nothing was lost from Propose.
    assert stages["Qualify"]["revenue_lost"] == 300 and stages["Qualify"]["lost_deals"] == 1
    assert stages["Qualify"]["deals_reached"] == 4 and stages["Qualify"]["loss_rate"] == 0.25
    assert stages["Qualify"]["revenue_rank"] == 1 and stages["Propose"]["revenue_lost"] == 0
    assert out["period"] == "month" and {r["period"] for r in out["by_period"]} <= {"2024-01", "2024-02"}
    # A period picker is not a period kind: still monthly, not an error.
    assert api.get("/api/analyses/bottlenecks?period=2024Q1").json()["period"] == "month"
    chart = analyses.get("bottlenecks").chart_options(out)[0]
    assert chart["yAxis"]["data"][0] == "Qualify" and chart["series"][0]["data"][0] == 300


def test_changes_default_to_the_last_week_and_follow_the_period(api):  # type: ignore[no-untyped-def]
    # The data ends 2024-02-01, when D3 was won and D4 lost: the week before holds just those two.
    week = api.get("/api/analyses/changes").json()
    assert week["since"].startswith("2024-01-25") and week["until"].startswith("2024-02-01")
    assert sorted((c["change"], c["external_id"]) for c in week["changes"]) == [("lost", "D4"), ("won", "D3")]
    summary = {r["change"]: r for r in week["summary"]}
    assert summary["won"]["amount"] == 700 and summary["lost"]["amount"] == 300 and summary["new"]["deals"] == 0
    # January: D2 is new (2024-01-02), D1 advanced to Propose, and D3/D4 closed at the month's end.
    jan = api.get("/api/analyses/changes?period=2024-01").json()
    assert jan["since"].startswith("2024-01-01")
    assert sorted((c["change"], c["external_id"]) for c in jan["changes"]) == [
        ("advanced", "D1"), ("lost", "D4"), ("new", "D2"), ("won", "D3")]
    # As of 2024-01-09 the week is 01-02..01-09: every deal existed at its start, D1 advanced (01-05).
    early = api.get("/api/analyses/changes?as_of=2024-01-09").json()
    assert [(c["change"], c["external_id"], c["before"], c["after"]) for c in early["changes"]] == [
        ("advanced", "D1", "Qualify", "Propose")]


def test_patterns_and_cross_sell_answer(api):  # type: ignore[no-untyped-def]
    pats = api.get("/api/analyses/patterns").json()
    won = [v for v in pats["variants"] if v["status"] == "won"]
    assert [(v["path"], v["deals"]) for v in won] == [("Qualify → Won", 1)]
    assert won[0]["median_days"] == 31
    assert pats["activity_patterns"] == []  # fewer than 10 closed deals: no activity pattern is kept
    cross = api.get("/api/analyses/cross_sell").json()
    assert cross == {"also_bought": [], "whitespace": []}  # no deal has an account


def test_bad_pickers_and_unknown_analysis(api):  # type: ignore[no-untyped-def]
    r = api.get("/api/analyses/flow?as_of=yesterday")
    assert r.status_code == 422 and "is not a date or instant" in r.json()["error"]["message"]
    assert api.get("/api/analyses/flow?period=nonsense").status_code == 422
    missing = api.get("/api/analyses/horoscope")
    assert missing.status_code == 404 and "choose one of: report, funnel" in missing.json()["error"]["message"]


def test_forecast_takes_period_and_target(api):  # type: ignore[no-untyped-def]
    if not analyses.get("forecast").available:
        pytest.skip("dealflow.forecast.period is not there yet")
    out = api.get("/api/analyses/forecast?period=2024Q1&target=2000").json()
    assert out["period"] == "2024Q1" and out["target"] == 2000
    assert out["already_booked"] == 700.0 and out["p10"] <= out["p50"] <= out["p90"]
    chart = analyses.get("forecast").chart_options(out)[0]
    assert chart["series"][1]["markLine"]["data"][0]["xAxis"] == 2000


def test_history_is_cached_until_a_write(api):  # type: ignore[no-untyped-def]
    cache = api.app.state.history
    api.get("/api/analyses/flow")
    api.get("/api/analyses/flow")
    assert cache.loads == 1
    api.post("/api/activities", json={"deal_id": 1, "kind": "call"})
    api.get("/api/analyses/flow")
    assert cache.loads == 2
    # A write from elsewhere (another process, the CLI) is caught by the fingerprint.
    from dealflow.store import crm
    from dealflow.store import models as m

    store = api.app.state.store
    with store.atomic() as s:
        crm.update_deal(s, s.get(m.Deal, 2), {"amount": 501.0}, now=__import__("datetime").datetime(2024, 3, 1))
    api.get("/api/analyses/flow")
    assert cache.loads == 3


def test_warm_start_loads_history_and_flags_in_the_background(store):  # type: ignore[no-untyped-def]
    import time

    from dealflow.settings import Settings
    from dealflow.web import create_app

    add_deal(store, "W", [("Qualify", "2024-01-01")], amount=10)
    app = create_app(Settings(database_url=store.url, secret_key="k"), store, warm=True)
    deadline = time.time() + 20
    while "flags" not in app.state.board_cache and time.time() < deadline:
        time.sleep(0.05)
    assert app.state.history.loads == 1 and app.state.board_cache["history"].deals.height == 1
