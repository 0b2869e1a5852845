"""REST API over the CRM core: every resource endpoint, paging and filters, history on writes,
409 on stale versions, 422 on broken rules, and the one error shape."""
from __future__ import annotations

import pytest

from dealflow.store import models as m
from dealflow.web.testing import add_login, api_client, make_app
from tests.factories import add_deal


@pytest.fixture
def seeded(store):  # type: ignore[no-untyped-def]
    add_deal(store, "D1", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05")], amount=1000, owner="ana", product="Widget")
    add_deal(store, "D2", [("Qualify", "2024-01-02")], amount=500, owner="bob", activities=[("call", "2024-01-03")])
    add_deal(store, "D3", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], amount=700, owner="bob", product="Gadget")
    add_deal(store, "D4", [("Qualify", "2024-01-01"), ("Lost", "2024-02-01")], amount=300, owner="ana")
    add_login(store)
    return store


@pytest.fixture
def api(seeded):  # type: ignore[no-untyped-def]
    return api_client(make_app(seeded))


def deal_id(store, external_id: str) -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return s.query(m.Deal.id).filter(m.Deal.external_id == external_id).scalar()


def test_error_shape_is_one_json_object(api):  # type: ignore[no-untyped-def]
    missing = api.get("/api/deals/9999")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"status": 404, "message": "no deal 9999; list them at /api/deals"}}
    invalid = api.get("/api/deals?limit=0")
    assert invalid.status_code == 422
    body = invalid.json()["error"]
    assert body["status"] == 422 and body["message"].startswith("invalid request: query.limit")
    assert body["problems"][0]["field"] == "query.limit"
    nowhere = api.get("/api/nothing-here")
    assert nowhere.json()["error"]["status"] == 404
    wrong_method = api.delete("/api/deals")
    assert wrong_method.json() == {"error": {"status": 405, "message": "DELETE is not allowed on /api/deals"}}


def test_list_deals_paginates_and_filters(api, seeded):  # type: ignore[no-untyped-def]
    page = api.get("/api/deals", params={"limit": 2, "offset": 0}).json()
    assert page["total"] == 4 and page["limit"] == 2 and [d["external_id"] for d in page["items"]] == ["D1", "D2"]
    page2 = api.get("/api/deals", params={"limit": 2, "offset": 2}).json()
    assert [d["external_id"] for d in page2["items"]] == ["D3", "D4"]
    assert [d["external_id"] for d in api.get("/api/deals?status=open").json()["items"]] == ["D1", "D2"]
    assert [d["external_id"] for d in api.get("/api/deals?stage=Propose").json()["items"]] == ["D1"]
    assert [d["external_id"] for d in api.get("/api/deals?min_amount=600&sort=amount").json()["items"]] == ["D3", "D1"]
    assert [d["external_id"] for d in api.get("/api/deals?q=d4").json()["items"]] == ["D4"]
    products = api.get("/api/products").json()["items"]
    gadget = next(p for p in products if p["name"] == "Gadget")
    assert [d["external_id"] for d in api.get(f"/api/deals?product_id={gadget['id']}").json()["items"]] == ["D3"]
    owner = api.get("/api/deals/" + str(deal_id(seeded, "D2"))).json()["deal"]["owner_id"]
    assert [d["external_id"] for d in api.get(f"/api/deals?owner_id={owner}").json()["items"]] == ["D2", "D3"]


def test_deal_detail_has_its_history(api, seeded):  # type: ignore[no-untyped-def]
    detail = api.get(f"/api/deals/{deal_id(seeded, 'D4')}").json()
    assert detail["stage"] == "Lost" and detail["probability"] == 0.0
    assert [(c["from_stage"], c["to_stage"], c["lost_reason"]) for c in detail["stage_changes"]] == [
        (None, "Qualify", None), ("Qualify", "Lost", "no budget")]
    d2 = api.get(f"/api/deals/{deal_id(seeded, 'D2')}").json()
    assert [a["kind"] for a in d2["activities"]] == ["call"]
    changes = api.get(f"/api/deals/{deal_id(seeded, 'D1')}/stage-changes").json()
    assert [c["to_stage"] for c in changes] == ["Qualify", "Propose"]


def test_move_records_who_and_guards_version_and_reason(api, seeded):  # type: ignore[no-untyped-def]
    d1 = deal_id(seeded, "D1")
    version = api.get(f"/api/deals/{d1}").json()["deal"]["version"]
    moved = api.post(f"/api/deals/{d1}/moves", json={"stage": "Negotiate", "expected_version": version})
    assert moved.status_code == 201
    body = moved.json()
    assert body["deal"]["version"] == version + 1 and body["deal"]["stage_id"] != body["deal"]["id"] * 0 - 1
    assert (body["change"]["from_stage"], body["change"]["to_stage"], body["change"]["by"]) == ("Propose", "Negotiate", "ana@example.com")
    stale = api.post(f"/api/deals/{d1}/moves", json={"stage": "Won", "expected_version": version})
    assert stale.status_code == 409
    assert stale.json()["error"]["current"]["version"] == version + 1
    no_reason = api.post(f"/api/deals/{d1}/moves", json={"stage": "Lost"})
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["message"] == "moving a deal to 'Lost' needs a lost reason"
    lost = api.post(f"/api/deals/{d1}/moves", json={"stage": "Lost", "lost_reason": "went with a competitor"})
    assert lost.status_code == 201 and lost.json()["deal"]["status"] == "lost"
    assert lost.json()["deal"]["lost_reason"] == "went with a competitor"
    unknown = api.post(f"/api/deals/{d1}/moves", json={"stage": "Nowhere"})
    assert unknown.status_code == 404 and "its stages are: Qualify, Propose, Negotiate, Won, Lost" in unknown.json()["error"]["message"]
    with seeded.session() as s:
        audit = [(a.action, a.entity_id) for a in s.query(m.AuditEntry).filter(m.AuditEntry.action == "move")]
    assert audit == [("move", str(d1)), ("move", str(d1))]


def test_patch_keeps_field_history_and_409s_when_stale(api, seeded):  # type: ignore[no-untyped-def]
    d2 = deal_id(seeded, "D2")
    r = api.patch(f"/api/deals/{d2}", json={"amount": 650, "expected_close_date": "2024-03-31", "expected_version": 1})
    assert r.status_code == 200 and r.json()["amount"] == 650 and r.json()["version"] == 2
    fields = api.get(f"/api/deals/{d2}").json()["field_changes"]
    assert sorted((f["field"], f["old_value"], f["new_value"]) for f in fields) == [
        ("amount", "500.0", "650.0"), ("expected_close_date", None, "2024-03-31")]
    assert api.patch(f"/api/deals/{d2}", json={"amount": 1, "expected_version": 1}).status_code == 409
    assert api.patch(f"/api/deals/{d2}", json={"amount": -5}).status_code == 422


def test_create_deal_account_contact_lead_product_pipeline(api):  # type: ignore[no-untyped-def]
    pipe = api.post("/api/pipelines", json={"name": "Renewals", "stages": [
        {"name": "Due"}, {"name": "Quoted", "probability": 0.6}, {"name": "Renewed", "kind": "won"}, {"name": "Churned", "kind": "lost"}]})
    assert pipe.status_code == 201
    stages = pipe.json()["stages"]
    assert [(s["name"], s["kind"], s["probability"]) for s in stages] == [
        ("Due", "open", 0.1), ("Quoted", "open", 0.6), ("Renewed", "won", 1.0), ("Churned", "lost", 0.0)]
    assert api.post("/api/pipelines", json={"name": "Renewals", "stages": [{"name": "X"}]}).status_code == 409
    pid = pipe.json()["id"]
    assert api.get(f"/api/pipelines/{pid}").json()["name"] == "Renewals"
    assert [s["name"] for s in api.get(f"/api/pipelines/{pid}/stages").json()] == ["Due", "Quoted", "Renewed", "Churned"]
    assert len(api.get("/api/pipelines").json()) == 2

    acc = api.post("/api/accounts", json={"name": "Acme", "sector": "retail"}).json()
    assert api.get(f"/api/accounts/{acc['id']}").json()["name"] == "Acme"
    assert api.get("/api/accounts?sector=retail").json()["total"] == 1
    con = api.post("/api/contacts", json={"name": "Jo", "account_id": acc["id"], "email": "jo@acme.test"}).json()
    assert api.get(f"/api/contacts/{con['id']}").json()["email"] == "jo@acme.test"
    assert api.get(f"/api/contacts?account_id={acc['id']}").json()["total"] == 1
    assert api.post("/api/contacts", json={"name": "X", "account_id": 999}).status_code == 404
    lead = api.post("/api/leads", json={"name": "Lee", "source": "web"}).json()
    assert api.get(f"/api/leads/{lead['id']}").json()["status"] == "new"
    assert api.get("/api/leads?source=web").json()["total"] == 1
    prod = api.post("/api/products", json={"name": "Support", "list_price": 99.0}).json()
    assert api.get(f"/api/products/{prod['id']}").json()["list_price"] == 99.0
    assert api.post("/api/products", json={"name": "Support"}).status_code == 409

    deal = api.post("/api/deals", json={"pipeline_id": pid, "stage": "Due", "account_id": acc["id"], "amount": 1200})
    assert deal.status_code == 201 and deal.json()["status"] == "open"
    history = api.get(f"/api/deals/{deal.json()['id']}").json()["stage_changes"]
    assert [(c["to_stage"], c["by"]) for c in history] == [("Due", "ana@example.com")]
    assert api.post("/api/deals", json={"pipeline_id": pid, "stage": "Nope"}).status_code == 404
    dangling = api.post("/api/deals", json={"pipeline_id": pid, "stage": "Due", "owner_id": 999})
    assert dangling.status_code == 409 and dangling.json()["error"]["message"].startswith("this conflicts with what is stored")
    twice = api.post("/api/accounts", json={"name": "Acme 2", "external_id": acc["external_id"]})
    assert twice.status_code == 409


def test_activities_and_stage_changes(api, seeded):  # type: ignore[no-untyped-def]
    d1 = deal_id(seeded, "D1")
    made = api.post("/api/activities", json={"deal_id": d1, "kind": "meeting", "subject": "demo", "at": "2024-01-06T10:00:00Z"})
    assert made.status_code == 201 and made.json()["at"] == "2024-01-06T10:00:00Z"
    assert api.post("/api/activities", json={"kind": "call"}).status_code == 422
    assert api.post("/api/activities", json={"deal_id": 999, "kind": "call"}).status_code == 404
    listed = api.get(f"/api/activities?deal_id={d1}").json()
    assert listed["total"] == 1 and listed["items"][0]["subject"] == "demo"
    assert api.get("/api/activities?kind=call").json()["total"] == 1
    assert api.get("/api/activities?since=2024-01-04").json()["total"] == 1
    changes = api.get("/api/stage-changes", params={"to_stage": "Won"}).json()
    assert changes["total"] == 1 and changes["items"][0]["from_stage"] == "Qualify"
    all_changes = api.get("/api/stage-changes?limit=3").json()
    assert all_changes["total"] == 7 and len(all_changes["items"]) == 3
    assert [c["to_stage"] for c in api.get(f"/api/stage-changes?deal_id={d1}").json()["items"]] == ["Qualify", "Propose"]


def test_openapi_schema_validates(api):  # type: ignore[no-untyped-def]
    from openapi_spec_validator import validate

    schema = api.get("/api/openapi.json").json()
    validate(schema)
    paths = set(schema["paths"])
    for expected in ["/api/token", "/api/me", "/api/accounts", "/api/contacts", "/api/leads", "/api/deals", "/api/deals/{deal_id}",
                     "/api/deals/{deal_id}/moves", "/api/products", "/api/pipelines", "/api/pipelines/{pipeline_id}/stages",
                     "/api/activities", "/api/stage-changes", "/api/imports", "/api/imports/preview", "/api/analyses/{key}"]:
        assert expected in paths
    assert not any(p.startswith(("/board", "/login", "/deals/")) for p in paths)  # pages stay out of the API schema
    error_ref = schema["paths"]["/api/deals/{deal_id}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]
    assert error_ref == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # 422s are documented in the one error shape
    docs = api.get("/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui-bundle.js" in docs.text and "cdn." not in docs.text


def test_every_operation_answers_in_the_documented_shape(api, seeded):  # type: ignore[no-untyped-def]
    """Walk the OpenAPI schema: every operation answers (no 5xx), with a status it documents,
    and every 4xx body is the one error shape."""
    schema = api.get("/api/openapi.json").json()
    values = {"deal_id": str(deal_id(seeded, "D1")), "account_id": "1", "contact_id": "1", "lead_id": "1", "product_id": "1",
              "pipeline_id": "1", "key": "flow"}
    seen = 0
    for path, operations in schema["paths"].items():
        url = path
        for name, value in values.items():
            url = url.replace("{" + name + "}", value)
        for method, op in operations.items():
            if path == "/api/token":
                continue  # signing in has its own tests
            r = api.request(method.upper(), url)
            seen += 1
            assert r.status_code < 500, (method, path, r.text)
            assert str(r.status_code) in op["responses"], (method, path, r.status_code)
            if r.status_code >= 400:
                body = r.json()
                assert set(body) == {"error"} and body["error"]["status"] == r.status_code and body["error"]["message"], (method, path)
    assert seen >= 25
