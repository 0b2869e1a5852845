"""Stages as an admin sets them: ``/api/pipelines/{id}/stages...`` and the ``/settings/pipelines`` page,
on the rules of ``dealflow.store.pipelines``; every report sees the change at once."""
from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from dealflow.store import models as m
from dealflow.store.frames import load_history
from dealflow.web.testing import add_login, api_client, make_app, page_client
from tests.factories import add_deal


def seed(store) -> None:  # type: ignore[no-untyped-def]
    add_deal(store, "D1", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05")], amount=1000, owner="ana")
    add_deal(store, "D2", [("Qualify", "2024-01-02")], amount=500, owner="bob")
    add_deal(store, "D3", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], amount=700, owner="bob")
    add_login(store)
    add_login(store, "rob@example.com", "rep")


@pytest.fixture
def app(store):  # type: ignore[no-untyped-def]
    seed(store)
    return make_app(store)


@pytest.fixture
def admin(app):  # type: ignore[no-untyped-def]
    return api_client(app)


def ids(store) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return {"pipeline": s.query(m.Pipeline).one().id, **{st.name: st.id for st in s.query(m.Stage)}}


def stage_rows(admin, pipeline_id: int) -> list[tuple[str, int, str, float]]:  # type: ignore[no-untyped-def]
    return [(s["name"], s["position"], s["kind"], s["probability"]) for s in admin.get(f"/api/pipelines/{pipeline_id}/stages").json()]


def weighted(client, stage: str) -> float:  # type: ignore[no-untyped-def]
    report = client.get("/api/analyses/report").json()
    return next(s["weighted_amount"] for s in report["stages"] if s["stage"] == stage)


def test_a_new_probability_shows_in_the_report_and_board_at_once(app, admin, store):  # type: ignore[no-untyped-def]
    i = ids(store)
    assert weighted(admin, "Propose") == 400.0  # D1: 1000 at 0.4
    assert weighted(admin, "Qualify") == 50.0
    changed = admin.patch(f"/api/pipelines/{i['pipeline']}/stages/{i['Propose']}", json={"probability": 0.65})
    assert changed.status_code == 200 and changed.json()["probability"] == 0.65
    assert weighted(admin, "Propose") == 650.0
    propose = admin.get("/api/board").json()["columns"][1]
    assert (propose["name"], propose["probability"], propose["weighted"]) == ("Propose", 0.65, 650.0)
    with store.session() as s:
        entry = s.query(m.AuditEntry).filter_by(entity="stage").one()
        assert (entry.action, entry.user_email, entry.entity_id, entry.changes) == (
            "update", "ana@example.com", str(i["Propose"]), {"probability": {"from": 0.4, "to": 0.65}})


def test_a_change_made_outside_the_app_reaches_its_reports(app, admin, store):  # type: ignore[no-untyped-def]
    """Another process (the CLI, a script) edits a probability: the app's cached history is rebuilt."""
    assert weighted(admin, "Qualify") == 50.0
    with store.atomic() as s:
        s.query(m.Stage).filter_by(name="Qualify").one().probability = 0.3
    assert weighted(admin, "Qualify") == 150.0  # D2: 500 at 0.3
    with store.atomic() as s:
        s.query(m.Stage).filter_by(name="Qualify").one().name = "Qualified"
    assert [s["stage"] for s in admin.get("/api/analyses/report").json()["stages"]][:2] == ["Qualified", "Propose"]


def test_the_cli_report_sees_a_change_made_in_the_app(file_store):  # type: ignore[no-untyped-def]
    import dealflow.cli  # noqa: F401 - registers every command
    from dealflow.cli.app import app as cli

    seed(file_store)
    admin = api_client(make_app(file_store))
    i = ids(file_store)

    def cli_weighted() -> float:
        out = CliRunner().invoke(cli, ["report", "--db", file_store.url, "--format", "json"])
        assert out.exit_code == 0, out.output
        return next(s["weighted_amount"] for s in json.loads(out.stdout)["stages"] if s["stage"] == "Propose")

    assert cli_weighted() == 400.0  # and its history is cached now
    admin.patch(f"/api/pipelines/{i['pipeline']}/stages/{i['Propose']}", json={"probability": 0.9})
    assert cli_weighted() == 900.0


@pytest.mark.parametrize(("body", "message"), [
    ({"probability": 1.5}, "probability: Input should be less than or equal to 1"),
    ({"probability": -0.1}, "probability: Input should be greater than or equal to 0"),
    ({"name": ""}, "name: String should have at least 1 character"),
])
def test_bad_stage_input_names_the_field(admin, store, body, message):  # type: ignore[no-untyped-def]
    i = ids(store)
    response = admin.patch(f"/api/pipelines/{i['pipeline']}/stages/{i['Propose']}", json=body)
    assert response.status_code == 422 and message in response.json()["error"]["message"]


def test_closed_stages_keep_their_probability_and_names_stay_unique(admin, store):  # type: ignore[no-untyped-def]
    i = ids(store)
    won = admin.patch(f"/api/pipelines/{i['pipeline']}/stages/{i['Won']}", json={"probability": 0.8})
    assert won.status_code == 422
    assert won.json()["error"]["message"] == "probability: 'Won' is a won stage; its probability stays 1 (only open stages take another)"
    taken = admin.patch(f"/api/pipelines/{i['pipeline']}/stages/{i['Propose']}", json={"name": "Qualify"})
    assert taken.status_code == 409 and taken.json()["error"]["message"].startswith("name: this pipeline has a stage 'Qualify'")
    renamed = admin.patch(f"/api/pipelines/{i['pipeline']}/stages/{i['Propose']}", json={"name": "Proposal"})
    assert renamed.json()["name"] == "Proposal"
    deal = admin.get("/api/deals", params={"q": "D1"}).json()["items"][0]
    assert deal["stage_id"] == i["Propose"]  # the deal and its history follow the stage, not its name
    assert admin.patch(f"/api/pipelines/{i['pipeline']}/stages/9999", json={"name": "X"}).status_code == 404


def test_reorder_open_stages_keeps_closed_ones_in_place(admin, store):  # type: ignore[no-untyped-def]
    i = ids(store)
    order = admin.put(f"/api/pipelines/{i['pipeline']}/stage-order", json={"stage_ids": [i["Propose"], i["Qualify"], i["Negotiate"]]})
    assert order.status_code == 200
    assert stage_rows(admin, i["pipeline"]) == [("Propose", 0, "open", 0.4), ("Qualify", 1, "open", 0.1),
                                                ("Negotiate", 2, "open", 0.7), ("Won", 3, "won", 1.0), ("Lost", 4, "lost", 0.0)]
    ranks = dict(load_history(store).stages.select("name", "rank").iter_rows())
    assert ranks == {"Propose": 0, "Qualify": 1, "Negotiate": 2, "Won": 3, "Lost": None}
    assert [s["stage"] for s in admin.get("/api/analyses/report").json()["stages"]][:3] == ["Propose", "Qualify", "Negotiate"]
    for bad in ([i["Propose"], i["Qualify"]], [i["Propose"], i["Qualify"], i["Negotiate"], i["Won"]],
                [i["Propose"], i["Propose"], i["Negotiate"]]):
        refused = admin.put(f"/api/pipelines/{i['pipeline']}/stage-order", json={"stage_ids": bad})
        assert refused.status_code == 422
        assert refused.json()["error"]["message"].startswith("stage_ids: list each open stage of 'Sales' once")


def test_add_stages_in_place(admin, store):  # type: ignore[no-untyped-def]
    i = ids(store)
    url = f"/api/pipelines/{i['pipeline']}/stages"
    demo = admin.post(url, json={"name": "Demo", "probability": 0.25, "before_id": i["Propose"]})
    assert demo.status_code == 201 and (demo.json()["position"], demo.json()["kind"]) == (1, "open")
    last = admin.post(url, json={"name": "Contract", "probability": 0.85})
    assert last.json()["position"] == 4
    admin.post(url, json={"name": "Churned", "kind": "lost"})
    assert stage_rows(admin, i["pipeline"]) == [
        ("Qualify", 0, "open", 0.1), ("Demo", 1, "open", 0.25), ("Propose", 2, "open", 0.4), ("Negotiate", 3, "open", 0.7),
        ("Contract", 4, "open", 0.85), ("Won", 5, "won", 1.0), ("Lost", 6, "lost", 0.0), ("Churned", 7, "lost", 0.0)]
    missing = admin.post(url, json={"name": "Pilot"})
    assert missing.status_code == 422 and missing.json()["error"]["message"].startswith("probability: give a win probability between 0 and 1")
    closed_before = admin.post(url, json={"name": "Pilot", "probability": 0.3, "before_id": i["Won"]})
    assert closed_before.json()["error"]["message"] == f"before: {i['Won']} is not an open stage of 'Sales'"


# -- the page --------------------------------------------------------------------------------------
def test_the_pipelines_page_edits_stages(app, store):  # type: ignore[no-untyped-def]
    i = ids(store)
    client, csrf = page_client(app)
    page = client.get("/settings/pipelines").text
    assert re.findall(r'<tr data-stage="([^"]+)"', page) == ["Qualify", "Propose", "Negotiate", "Won", "Lost"]
    base = f"/settings/pipelines/{i['pipeline']}/stages"
    saved = client.post(f"{base}/{i['Propose']}", data={"csrf": csrf, "name": "Propose", "probability": "0.55"}, follow_redirects=False)
    assert saved.status_code == 303
    shown = client.get(saved.headers["location"]).text
    assert "Stage &#39;Propose&#39;: saved." in shown
    assert re.search(r'<tr data-stage="Propose">.*?value="0.55".*?55%', shown, re.S)
    assert weighted(client, "Propose") == 550.0
    moved = client.post(f"{base}/{i['Negotiate']}/move", data={"csrf": csrf, "direction": "up"})
    assert re.findall(r'<tr data-stage="([^"]+)"', moved.text) == ["Qualify", "Negotiate", "Propose", "Won", "Lost"]
    added = client.post(base, data={"csrf": csrf, "name": "Demo", "kind": "open", "probability": "0,2", "before_id": str(i["Qualify"])})
    assert re.findall(r'<tr data-stage="([^"]+)"', added.text) == ["Demo", "Qualify", "Negotiate", "Propose", "Won", "Lost"]
    with store.session() as s:
        assert s.query(m.Stage).filter_by(name="Demo").one().probability == 0.2
        assert [e.action for e in s.query(m.AuditEntry).filter(m.AuditEntry.entity.in_(["stage", "pipeline"])).order_by(m.AuditEntry.id)] == [
            "update", "reorder", "add stage"]


@pytest.mark.parametrize(("probability", "message"), [
    ("1.5", "probability: give a win probability between 0 and 1 (0.25 for 25%), not 1.5"),
    ("lots", "probability: &#39;lots&#39; is not a number; give a value between 0 and 1, such as 0.25"),
])
def test_the_pipelines_page_refuses_bad_probabilities(app, store, probability, message):  # type: ignore[no-untyped-def]
    i = ids(store)
    client, csrf = page_client(app)
    refused = client.post(f"/settings/pipelines/{i['pipeline']}/stages/{i['Propose']}",
                          data={"csrf": csrf, "name": "Propose", "probability": probability})
    assert refused.status_code == 422 and message in refused.text
    with store.session() as s:
        assert s.get(m.Stage, i["Propose"]).probability == 0.4


def test_only_admins_edit_stages(app, store):  # type: ignore[no-untyped-def]
    i = ids(store)
    rep, csrf = page_client(app, "rob@example.com")
    assert rep.get("/settings/pipelines").status_code == 403
    assert rep.post(f"/settings/pipelines/{i['pipeline']}/stages/{i['Propose']}", data={"csrf": csrf, "probability": "0.9"}).status_code == 403
    rep_api = api_client(app, "rob@example.com")
    assert rep_api.patch(f"/api/pipelines/{i['pipeline']}/stages/{i['Propose']}", json={"probability": 0.9}).status_code == 403
    admin, _ = page_client(app)
    assert admin.post(f"/settings/pipelines/{i['pipeline']}/stages/{i['Propose']}", data={"probability": "0.9"}).status_code == 403  # no CSRF
    with store.session() as s:
        assert s.get(m.Stage, i["Propose"]).probability == 0.4
