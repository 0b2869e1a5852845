"""Web latency work (issue #9): the board API with per-column cursors, cached answers with ETags,
and the history refreshed from the changed deals only -- always showing a write at once."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import select

from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.frames import load_history
from dealflow.web.cache import ResponseCache
from dealflow.web.testing import add_login, api_client, make_app
from tests.factories import add_deal, t

FRAMES = ("deals", "deal_products", "stage_changes", "field_changes", "activities", "leads", "accounts", "owners", "stages")


@pytest.fixture
def api(store):  # type: ignore[no-untyped-def]
    # Qualify holds D1 (1000), D2 (500), D5 (no amount); Propose D6 (2000); D3 won, D4 lost.
    add_deal(store, "D1", [("Qualify", "2024-01-01")], amount=1000, owner="ana", product="Widget")
    add_deal(store, "D2", [("Qualify", "2024-01-02")], amount=500, owner="bob", activities=[("call", "2024-01-03")])
    add_deal(store, "D3", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], amount=700, owner="bob")
    add_deal(store, "D4", [("Qualify", "2024-01-01"), ("Lost", "2024-02-03")], amount=300, owner="ana")
    add_deal(store, "D5", [("Qualify", "2024-01-04")], amount=None, owner="ana")
    add_deal(store, "D6", [("Qualify", "2024-01-01"), ("Propose", "2024-01-09")], amount=2000, owner="bob")
    add_login(store)
    return api_client(make_app(store))


def _columns(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in board["columns"]}


def _ids(column: dict[str, Any]) -> list[str]:
    return [c["external_id"] for c in column["cards"]]


def test_board_api_has_totals_and_cards_in_board_order(api):  # type: ignore[no-untyped-def]
    board = api.get("/api/board").json()
    cols = _columns(board)
    assert list(cols) == ["Qualify", "Propose", "Negotiate", "Won", "Lost"]
    assert (cols["Qualify"]["count"], cols["Qualify"]["amount"]) == (3, 1500.0)
    assert cols["Qualify"]["weighted"] == pytest.approx(150.0)  # 10% of 1500
    assert _ids(cols["Qualify"]) == ["D1", "D2", "D5"]  # largest first, no amount last
    assert _ids(cols["Propose"]) == ["D6"] and cols["Negotiate"]["cards"] == []
    assert _ids(cols["Won"]) == ["D3"] and _ids(cols["Lost"]) == ["D4"]
    card = cols["Qualify"]["cards"][0]
    assert card["amount"] == 1000.0 and card["owner"] == "ana" and card["version"] == 1 and card["status"] == "open"
    assert board["owners"] == ["ana", "bob"] and board["products"] == ["Widget"]
    assert all(c["next_cursor"] is None for c in board["columns"])
    mine = _columns(api.get("/api/board?owner=bob").json())
    assert (mine["Qualify"]["count"], mine["Qualify"]["amount"], _ids(mine["Qualify"])) == (1, 500.0, ["D2"])


def test_board_cursor_pages_through_a_column_once_each(api):  # type: ignore[no-untyped-def]
    first = _columns(api.get("/api/board?limit=1").json())["Qualify"]
    assert _ids(first) == ["D1"] and first["count"] == 3
    seen = _ids(first)
    cursor = first["next_cursor"]
    while cursor:
        page = api.get("/api/board", params={"cursor": cursor, "limit": 1}).json()
        assert [c["name"] for c in page["columns"]] == ["Qualify"]  # a cursor answers its own column only
        seen += _ids(page["columns"][0])
        cursor = page["columns"][0]["next_cursor"]
    assert seen == ["D1", "D2", "D5"]
    # A card moved away between pages does not push another out of the next page.
    d2 = api.get("/api/deals?q=D2").json()["items"][0]
    api.post(f"/api/deals/{d2['id']}/moves", json={"stage": "Negotiate"})
    rest = api.get("/api/board", params={"cursor": first["next_cursor"], "limit": 5}).json()["columns"][0]
    assert _ids(rest) == ["D5"] and rest["count"] == 2


def test_board_api_rejects_a_bad_cursor_or_stage(api):  # type: ignore[no-untyped-def]
    r = api.get("/api/board?cursor=not-a-cursor")
    assert r.status_code == 422 and "is not one this API gave" in r.json()["error"]["message"]
    r = api.get("/api/board?stage_id=999")
    assert r.status_code == 422 and "stage 999 is not on the board" in r.json()["error"]["message"]


def test_answers_carry_an_etag_and_a_repeat_gets_304_until_a_move(api):  # type: ignore[no-untyped-def]
    for url in ("/api/board", "/api/analyses/report"):
        first = api.get(url)
        etag = first.headers["etag"]
        again = api.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert first.headers["cache-control"] == "private, no-cache"
    etags = {url: api.get(url).headers["etag"] for url in ("/api/board", "/api/analyses/report")}
    d1 = api.get("/api/deals?q=D1").json()["items"][0]
    assert api.post(f"/api/deals/{d1['id']}/moves", json={"stage": "Propose"}).status_code == 201
    for url, etag in etags.items():
        after = api.get(url, headers={"If-None-Match": etag})
        assert after.status_code == 200 and after.headers["etag"] != etag


def test_a_move_shows_at_once_on_board_deal_and_report_from_the_changed_deal_only(api):  # type: ignore[no-untyped-def]
    cache = api.app.state.history
    before = _columns(api.get("/api/board").json())
    report = {s["stage"]: s for s in api.get("/api/analyses/report").json()["stages"]}
    assert report["Propose"]["open_amount"] == 2000.0 and cache.loads == 1
    d1 = api.get("/api/deals?q=D1").json()["items"][0]
    assert api.post(f"/api/deals/{d1['id']}/moves", json={"stage": "Propose"}).status_code == 201
    after = _columns(api.get("/api/board").json())
    assert _ids(after["Propose"]) == ["D6", "D1"] and after["Propose"]["amount"] == before["Propose"]["amount"] + 1000
    assert after["Qualify"]["count"] == before["Qualify"]["count"] - 1
    assert _columns(api.get("/api/board").json())["Propose"]["cards"][1]["version"] == 2
    assert api.get(f"/api/deals/{d1['id']}").json()["stage"] == "Propose"
    report = {s["stage"]: s for s in api.get("/api/analyses/report").json()["stages"]}
    assert report["Propose"]["open_amount"] == 3000.0 and report["Qualify"]["open_amount"] == 500.0
    assert (cache.loads, cache.merges) == (2, 1)  # merged from D1's rows, not reloaded


def test_merged_history_equals_a_full_load_after_every_kind_of_deal_write(api, store):  # type: ignore[no-untyped-def]
    cache = api.app.state.history
    cache.get()
    ids = {d["external_id"]: d["id"] for d in api.get("/api/deals?limit=100").json()["items"]}
    pipeline = api.get("/api/pipelines").json()
    pipeline_id = (pipeline["items"] if isinstance(pipeline, dict) else pipeline)[0]["id"]
    assert api.post(f"/api/deals/{ids['D2']}/moves", json={"stage": "Lost", "lost_reason": "price"}).status_code == 201
    assert api.patch(f"/api/deals/{ids['D6']}", json={"amount": 2500, "expected_close_date": "2024-06-30"}).status_code == 200
    assert api.post("/api/activities", json={"deal_id": ids["D5"], "kind": "meeting"}).status_code == 201
    created = api.post("/api/deals", json={"name": "New", "pipeline_id": pipeline_id, "stage": "Propose", "amount": 42})
    assert created.status_code == 201, created.text
    assert api.delete(f"/api/deals/{ids['D4']}").status_code == 204
    merged = cache.get()
    assert cache.merges == 1 and cache.loads == 2
    fresh = load_history(store)
    for name in FRAMES:
        assert_frame_equal(getattr(merged, name), getattr(fresh, name), check_row_order=True)
    assert merged.deals.filter(merged.deals["id"] == ids["D6"])["amount"].to_list() == [2500.0]
    assert ids["D4"] not in merged.deals["id"].to_list() and created.json()["id"] in merged.deals["id"].to_list()


def test_a_write_from_another_process_is_picked_up_and_merged(api, store):  # type: ignore[no-untyped-def]
    cache = api.app.state.history
    assert _columns(api.get("/api/board").json())["Qualify"]["amount"] == 1500.0
    with store.atomic() as s:  # what `dealflow import` or another server does: straight to the database
        deal = s.scalar(select(m.Deal).where(m.Deal.external_id == "D2"))
        crm.update_deal(s, deal, {"amount": 800.0}, now=t("2024-03-01"))
    board = _columns(api.get("/api/board").json())
    assert board["Qualify"]["amount"] == 1800.0 and cache.merges == 1
    report = {s["stage"]: s for s in api.get("/api/analyses/report").json()["stages"]}
    assert report["Qualify"]["open_amount"] == 1800.0
    assert_frame_equal(cache.get().deals, load_history(store).deals)
    # A new stage is not a deal row: everything is read again.
    with store.atomic() as s:
        pipeline_id = s.scalar(select(m.Pipeline.id))
        s.add(m.Stage(pipeline_id=pipeline_id, name="Verbal", position=9, kind="open", probability=0.9))
    assert "Verbal" in _columns(api.get("/api/board").json()) and cache.merges == 1 and cache.loads == 3


def test_concurrent_readers_share_one_fingerprint_query(api):  # type: ignore[no-untyped-def]
    cache = api.app.state.history
    calls = []
    real = cache._query_fingerprint

    def slow() -> tuple[Any, ...]:
        calls.append(1)
        time.sleep(0.2)
        return real()

    cache._query_fingerprint = slow
    threads = [threading.Thread(target=cache.fingerprint) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert 1 <= len(calls) <= 2  # one already running when some arrived, and one started after them


def test_slow_answers_serve_the_last_result_while_the_new_one_is_computed() -> None:
    cache = ResponseCache()
    started, release = threading.Event(), threading.Event()

    def slow_v2() -> dict[str, int]:
        started.set()
        release.wait(10)
        return {"v": 2}

    first, stale = cache.get("forecast", 1, lambda: {"v": 1}, stale_ok=True)
    assert (first.body, stale) == (b'{"v":1}', False)
    old, stale = cache.get("forecast", 2, slow_v2, stale_ok=True)  # data changed: answer now, compute behind
    assert (old.body, stale) == (b'{"v":1}', True)
    assert started.wait(10)
    again, stale = cache.get("forecast", 2, slow_v2, stale_ok=True)  # still computing: still the old one
    assert (again.body, stale) == (b'{"v":1}', True)
    release.set()
    deadline = time.time() + 10
    while cache.computed < 2 and time.time() < deadline:
        time.sleep(0.01)
    new, stale = cache.get("forecast", 2, lambda: {"v": 3}, stale_ok=True)
    assert (new.body, stale) == (b'{"v":2}', False) and new.etag != first.etag
    # Without stale_ok the caller waits for the new data.
    fresh, stale = cache.get("report", 1, lambda: {"r": 1})
    assert (fresh.body, stale) == (b'{"r":1}', False)


def test_a_rep_sees_only_their_own_cards_and_totals(api, store):  # type: ignore[no-untyped-def]
    from dealflow.web.auth import add_user
    from dealflow.web.testing import PASSWORD

    with store.atomic() as s:
        ana = s.scalar(select(m.Owner.id).where(m.Owner.name == "ana"))
        add_user(s, "rep@example.com", PASSWORD, "rep", owner_id=ana)
    rep = api_client(api.app, "rep@example.com")
    everyone = _columns(api.get("/api/board").json())
    mine = _columns(rep.get("/api/board").json())
    assert _ids(mine["Qualify"]) == ["D1", "D5"] and mine["Qualify"]["amount"] == 1000.0 and mine["Propose"]["count"] == 0
    assert everyone["Qualify"]["count"] == 3  # the admin's cached answer is not the rep's
    assert rep.get("/api/board").headers["etag"] != api.get("/api/board").headers["etag"]


def test_a_stale_answer_is_recomputed_once_at_a_time_under_a_stream_of_writes() -> None:
    cache = ResponseCache()
    runs: list[int] = []
    release = threading.Event()

    def compute(n: int) -> Any:
        def run() -> dict[str, int]:
            runs.append(n)
            release.wait(10)
            return {"v": n}
        return run

    cache.get("forecast", 1, lambda: {"v": 1}, stale_ok=True)
    for generation in (2, 3, 4):  # three writes while the first refresh is still running
        entry, stale = cache.get("forecast", generation, compute(generation), stale_ok=True)
        assert stale and entry.body == b'{"v":1}'
    time.sleep(0.1)
    assert runs == [2]
    release.set()
    deadline = time.time() + 10
    while cache.computed < 2 and time.time() < deadline:
        time.sleep(0.01)
    entry, stale = cache.get("forecast", 4, compute(4), stale_ok=True)  # 2 is done but old: serve it, compute 4
    assert stale and entry.body == b'{"v":2}'
    deadline = time.time() + 10
    while cache.computed < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert runs == [2, 4] and cache.get("forecast", 4, compute(5), stale_ok=True)[0].body == b'{"v":4}'


def test_flags_after_a_write_come_from_the_background_while_the_old_ones_show(monkeypatch):  # type: ignore[no-untyped-def]
    import polars as pl

    from dealflow.web import board

    release = threading.Event()

    def fake_flags(history: Any, settings: Any = None) -> pl.DataFrame:
        if history == "new":
            release.wait(10)
        return pl.DataFrame({"deal_id": [1], "flags": [f"flags of {history}"]})

    monkeypatch.setattr(board, "deal_flags", fake_flags)
    mirror: dict[str, Any] = {}
    cache = board.FlagCache(None, mirror)
    flags, version = cache.get("old")  # type: ignore[arg-type]
    assert flags["flags"].to_list() == ["flags of old"] and version == 1 and mirror["history"] == "old"
    flags, version = cache.get("new")  # type: ignore[arg-type]
    assert flags["flags"].to_list() == ["flags of old"] and version == 1  # not waiting for the new ones
    release.set()
    deadline = time.time() + 10
    while cache.version < 2 and time.time() < deadline:
        time.sleep(0.01)
    flags, version = cache.get("new")  # type: ignore[arg-type]
    assert flags["flags"].to_list() == ["flags of new"] and version == 2 and mirror["flags"] is flags


def test_serve_takes_workers_and_each_worker_builds_its_app_from_the_environment(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from dealflow.cli.app import app as cli
    from dealflow.web.app import create_app_from_env

    out = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--workers" in out and "own copy of the data" in out
    monkeypatch.setenv("DEALFLOW_DATABASE_URL", str(tmp_path / "w.db"))
    monkeypatch.setenv("DEALFLOW_SECRET_KEY", "shared-by-workers")
    web = create_app_from_env()
    assert web.state.store.url.endswith("w.db") and web.state.secret_key == "shared-by-workers"
