"""Who may call what: every API route and every page, as admin, manager, rep and an anonymous visitor.

``EXPECTED`` holds one row per (method, path) of ``app.routes``; a route without a row fails
``test_every_route_has_an_expectation``. Each role walks every row against a fresh world:

- ann (rep, team North, no sharing) owns ANN-*; bob is in her team; eve is in team South;
- mia manages North; the admin sees everything.

``own`` targets are ann's deals (readable and writable by ann, mia and the admin); ``other``
targets are eve's (another team: 404 for ann and mia, so ids do not leak).
"""
from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from dealflow.store import crm
from dealflow.store import models as m
from dealflow.web.auth import utcnow
from dealflow.web.testing import _test_client_class, add_login, api_client, make_app, page_client
from tests.factories import add_deal

ROLES = ("admin", "manager", "rep", "anon")
EMAILS = {"admin": "root@example.com", "manager": "mia@example.com", "rep": "ann@example.com"}

OK = "ok"          # let through: a 2xx, or a form's redirect back to a page
LOGIN = "login"    # a page sends the visitor to /login
# otherwise an exact status: 401, 403, 404


def build_world(store: Any) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["ANN-1"] = add_deal(store, "ANN-1", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], owner="ann", amount=100, product="Widget")
    ids["ANN-2"] = add_deal(store, "ANN-2", [("Qualify", "2024-01-01")], owner="ann", amount=200, activities=[("call", "2024-01-03")])
    ids["ANN-3"] = add_deal(store, "ANN-3", [("Qualify", "2024-01-02")], owner="ann", amount=250)
    ids["GONE"] = add_deal(store, "GONE", [("Qualify", "2024-01-02")], owner="ann", amount=50)
    ids["BOB-1"] = add_deal(store, "BOB-1", [("Qualify", "2024-01-01"), ("Lost", "2024-01-20")], owner="bob", amount=300)
    ids["EVE-1"] = add_deal(store, "EVE-1", [("Qualify", "2024-01-01")], owner="eve", amount=400, activities=[("email", "2024-01-04")])
    ids["EVE-2"] = add_deal(store, "EVE-2", [("Qualify", "2024-01-01"), ("Won", "2024-03-01")], owner="eve", amount=7000, product="Widget")
    ids["NOBODY"] = add_deal(store, "NOBODY", [("Qualify", "2024-01-01")], amount=500)
    with store.atomic() as s:
        north, south = m.Team(name="North", share_with_members=False), m.Team(name="South", share_with_members=False)
        s.add_all([north, south])
        s.flush()
        owners = {o.external_id: o for o in s.query(m.Owner)}
        owners["ann"].team_id = owners["bob"].team_id = north.id
        owners["eve"].team_id = south.id
        ids.update({f"owner:{k}": o.id for k, o in owners.items()})
        crm.delete_deal(s, s.get(m.Deal, ids["GONE"]), now=datetime(2024, 3, 1, tzinfo=timezone.utc))
        for key, owner in (("lead:ann", "ann"), ("lead:eve", "eve")):
            lead = m.Lead(external_id=key, name=key, owner_id=owners[owner].id, source="web", status="new", created_at=utcnow())
            s.add(lead)
            s.flush()
            ids[key] = lead.id
        acc = m.Account(external_id="acc-1", name="Acme")
        s.add(acc)
        s.flush()
        ids["account"] = acc.id
        contact = m.Contact(external_id="con-1", name="Cleo", account_id=acc.id)
        s.add(contact)
        s.flush()
        ids["contact"] = contact.id
        ids["product"] = s.query(m.Product).one().id
        ids["pipeline"] = s.query(m.Pipeline).one().id
    add_login(store, EMAILS["admin"], "admin")
    add_login(store, EMAILS["manager"], "manager")
    add_login(store, EMAILS["rep"], "rep")
    with store.atomic() as s:
        users = {u.email: u for u in s.query(m.User)}
        users[EMAILS["manager"]].team_id = s.query(m.Team).filter_by(name="North").one().id
        users[EMAILS["rep"]].owner_id = ids["owner:ann"]
        ids.update({f"user_{role}": users[email].id for role, email in EMAILS.items()})
        ids.update({f"stage_{st.name}": st.id for st in s.query(m.Stage)})
    return ids


@dataclass
class Case:
    """One request: ``build(ids)`` gives path and request arguments; ``expect`` the outcome per role."""

    build: Callable[[dict[str, int]], tuple[str, dict[str, Any]]]
    expect: dict[str, Any]
    label: str = ""


def same(ok: Any = OK, anon: Any = 401) -> dict[str, Any]:
    return {"admin": ok, "manager": ok, "rep": ok, "anon": anon}


def admin_only(anon: Any = 401) -> dict[str, Any]:
    return {"admin": OK, "manager": 403, "rep": 403, "anon": anon}


def own_and_other(build_own: Callable[..., Any], build_other: Callable[..., Any], *, anon: Any = 401,
                  other_ok_for_admin: Any = OK) -> list[Case]:
    """ann's deal: everyone signed in; eve's deal (another team): only the admin, 404 for the others."""
    return [Case(build_own, same(OK, anon), "own"),
            Case(build_other, {"admin": other_ok_for_admin, "manager": 404, "rep": 404, "anon": anon}, "other")]


def csv_file(text: str = "external_id,pipeline,stage,amount,owner\nIMP-1,Sales,Qualify,10,ann\n") -> dict[str, Any]:
    return {"files": {"file": ("deals.csv", io.BytesIO(text.encode()), "text/csv")}, "data": {"kind": "deals"}}


def get(path: str, **kw: Any) -> Callable[[dict[str, int]], tuple[str, dict[str, Any]]]:
    return lambda ids: (path.format(**ids) if "{" in path else path, kw)


def deal(path: str, key: str, **kw: Any) -> Callable[[dict[str, int]], tuple[str, dict[str, Any]]]:
    return lambda ids: (path.replace("{deal_id}", str(ids[key])), dict(kw))


PAGE_ANON = LOGIN

EXPECTED: dict[tuple[str, str], list[Case]] = {
    ("GET", "/api/openapi.json"): [Case(get("/api/openapi.json"), same(OK, OK))],
    ("GET", "/docs"): [Case(get("/docs"), same(OK, OK))],
    ("GET", "/static"): [Case(get("/static/app.css"), same(OK, OK))],
    ("POST", "/api/token"): [Case(lambda ids: ("/api/token", {"data": {"username": "nobody@example.com", "password": "wrong-password"}}),
                                  same(401, 401), "wrong password")],
    ("GET", "/api/me"): [Case(get("/api/me"), same())],
    ("GET", "/api/tokens"): [Case(get("/api/tokens"), same())],
    ("POST", "/api/tokens"): [Case(get("/api/tokens", json={"name": "script", "scope": "read"}), same())],
    ("DELETE", "/api/tokens/{token_id}"): [Case(lambda ids: (f"/api/tokens/{ids['token:admin']}", {}),
                                                {"admin": OK, "manager": 404, "rep": 404, "anon": 401}, "the admin's token")],
    ("GET", "/api/audit"): [Case(get("/api/audit"), admin_only())],
    ("GET", "/api/accounts"): [Case(get("/api/accounts"), same())],
    ("GET", "/api/accounts/{account_id}"): [Case(get("/api/accounts/{account}"), same())],
    ("POST", "/api/accounts"): [Case(get("/api/accounts", json={"name": "Beta"}), same())],
    ("GET", "/api/contacts"): [Case(get("/api/contacts"), same())],
    ("GET", "/api/contacts/{contact_id}"): [Case(get("/api/contacts/{contact}"), same())],
    ("POST", "/api/contacts"): [Case(get("/api/contacts", json={"name": "Dora"}), same())],
    ("GET", "/api/leads"): [Case(get("/api/leads"), same())],
    ("GET", "/api/leads/{lead_id}"): [
        Case(lambda ids: (f"/api/leads/{ids['lead:ann']}", {}), same(), "own"),
        Case(lambda ids: (f"/api/leads/{ids['lead:eve']}", {}), {"admin": OK, "manager": 404, "rep": 404, "anon": 401}, "other"),
    ],
    ("POST", "/api/leads"): [
        Case(get("/api/leads", json={"name": "New lead"}), same(), "for oneself"),
        Case(lambda ids: ("/api/leads", {"json": {"name": "Eve's", "owner_id": ids["owner:eve"]}}),
             {"admin": OK, "manager": 403, "rep": 403, "anon": 401}, "for another team"),
    ],
    ("GET", "/api/deals"): [Case(get("/api/deals"), same())],
    ("GET", "/api/deals/deleted"): [Case(get("/api/deals/deleted"), admin_only())],
    ("GET", "/api/deals/{deal_id}"): own_and_other(deal("/api/deals/{deal_id}", "ANN-2"), deal("/api/deals/{deal_id}", "EVE-1")),
    ("GET", "/api/deals/{deal_id}/stage-changes"): own_and_other(deal("/api/deals/{deal_id}/stage-changes", "ANN-2"),
                                                               deal("/api/deals/{deal_id}/stage-changes", "EVE-1")),
    ("POST", "/api/deals"): [
        Case(lambda ids: ("/api/deals", {"json": {"pipeline_id": ids["pipeline"], "stage": "Qualify", "name": "Mine"}}), same(), "own"),
        Case(lambda ids: ("/api/deals", {"json": {"pipeline_id": ids["pipeline"], "stage": "Qualify", "owner_id": ids["owner:eve"]}}),
             {"admin": OK, "manager": 403, "rep": 403, "anon": 401}, "for another team"),
    ],
    ("PATCH", "/api/deals/{deal_id}"): own_and_other(deal("/api/deals/{deal_id}", "ANN-2", json={"amount": 210}),
                                                     deal("/api/deals/{deal_id}", "EVE-1", json={"amount": 410})),
    ("POST", "/api/deals/{deal_id}/moves"): own_and_other(deal("/api/deals/{deal_id}/moves", "ANN-2", json={"stage": "Propose"}),
                                                         deal("/api/deals/{deal_id}/moves", "EVE-1", json={"stage": "Propose"})),
    ("DELETE", "/api/deals/{deal_id}"): own_and_other(deal("/api/deals/{deal_id}", "ANN-3"), deal("/api/deals/{deal_id}", "EVE-1")),
    ("POST", "/api/deals/{deal_id}/restore"): [Case(deal("/api/deals/{deal_id}/restore", "GONE"), admin_only())],
    ("GET", "/api/products"): [Case(get("/api/products"), same())],
    ("GET", "/api/products/{product_id}"): [Case(get("/api/products/{product}"), same())],
    ("POST", "/api/products"): [Case(get("/api/products", json={"name": "Gadget"}), admin_only())],
    ("GET", "/api/pipelines"): [Case(get("/api/pipelines"), same())],
    ("GET", "/api/pipelines/{pipeline_id}"): [Case(get("/api/pipelines/{pipeline}"), same())],
    ("GET", "/api/pipelines/{pipeline_id}/stages"): [Case(get("/api/pipelines/{pipeline}/stages"), same())],
    ("POST", "/api/pipelines"): [Case(get("/api/pipelines", json={"name": "Renewals", "stages": [{"name": "Open"}]}), admin_only())],
    ("PATCH", "/api/pipelines/{pipeline_id}/stages/{stage_id}"): [
        Case(get("/api/pipelines/{pipeline}/stages/{stage_Qualify}", json={"probability": 0.15}), admin_only())],
    ("POST", "/api/pipelines/{pipeline_id}/stages"): [
        Case(get("/api/pipelines/{pipeline}/stages", json={"name": "Demo", "probability": 0.2}), admin_only())],
    ("PUT", "/api/pipelines/{pipeline_id}/stage-order"): [Case(lambda ids: (f"/api/pipelines/{ids['pipeline']}/stage-order", {
        "json": {"stage_ids": [ids["stage_Propose"], ids["stage_Qualify"], ids["stage_Negotiate"]]}}), admin_only())],
    ("GET", "/api/users"): [Case(get("/api/users"), admin_only())],
    ("GET", "/api/users/{user_id}"): [Case(get("/api/users/{user_rep}"), admin_only())],
    ("POST", "/api/users"): [Case(get("/api/users", json={"email": "new@example.com", "password": "long-enough"}), admin_only())],
    ("PATCH", "/api/users/{user_id}"): [Case(get("/api/users/{user_rep}", json={"role": "rep"}), admin_only())],
    ("POST", "/api/users/{user_id}/password"): [Case(get("/api/users/{user_rep}/password", json={"password": "long-enough"}),
                                                     admin_only())],
    ("GET", "/api/activities"): [Case(get("/api/activities"), same())],
    ("POST", "/api/activities"): own_and_other(
        lambda ids: ("/api/activities", {"json": {"deal_id": ids["ANN-2"], "kind": "call"}}),
        lambda ids: ("/api/activities", {"json": {"deal_id": ids["EVE-1"], "kind": "call"}})),
    ("GET", "/api/stage-changes"): [Case(get("/api/stage-changes"), same())],
    ("GET", "/api/imports"): [Case(get("/api/imports"), admin_only())],
    ("GET", "/api/imports/kinds"): [Case(get("/api/imports/kinds"), admin_only())],
    ("POST", "/api/imports/preview"): [Case(lambda ids: ("/api/imports/preview", csv_file()), admin_only())],
    ("POST", "/api/imports"): [Case(lambda ids: ("/api/imports", csv_file()), admin_only())],
    ("GET", "/api/analyses"): [Case(get("/api/analyses"), same())],
    ("GET", "/api/analyses/{key}"): [Case(get("/api/analyses/report"), same()), Case(get("/api/analyses/inspect"), same())],
    ("GET", "/api/board"): [Case(get("/api/board"), same())],
    ("GET", "/api/export/{table}"): [Case(get("/api/export/deals"), same()), Case(get("/api/export/activities"), same())],
    ("POST", "/api/me/sign-out-everywhere"): [Case(get("/api/me/sign-out-everywhere"), same())],  # walked last: it ends the session
    # -- pages ----------------------------------------------------------------------------
    ("GET", "/"): [Case(get("/"), same(303, 303))],
    ("GET", "/login"): [Case(get("/login"), same(OK, OK))],
    ("POST", "/login"): [Case(lambda ids: ("/login", {"data": {"email": "x@example.com", "password": "wrong-password"}}),
                              same(403, 403), "without the form's CSRF token")],
    ("GET", "/board"): [Case(get("/board"), same(OK, PAGE_ANON))],
    ("GET", "/board/totals"): [Case(get("/board/totals"), same(OK, PAGE_ANON))],
    ("GET", "/deals/{deal_id}"): own_and_other(deal("/deals/{deal_id}", "ANN-2"), deal("/deals/{deal_id}", "EVE-1"), anon=PAGE_ANON),
    ("GET", "/deals/{deal_id}/probability"): own_and_other(deal("/deals/{deal_id}/probability", "ANN-2"),
                                                          deal("/deals/{deal_id}/probability", "EVE-1"), anon=PAGE_ANON),
    ("POST", "/deals/{deal_id}/move"): own_and_other(deal("/deals/{deal_id}/move", "ANN-1", data={"stage": "Negotiate"}),
                                                    deal("/deals/{deal_id}/move", "EVE-2", data={"stage": "Negotiate"}), anon=PAGE_ANON),
    ("POST", "/deals/{deal_id}/activities"): own_and_other(deal("/deals/{deal_id}/activities", "ANN-1", data={"kind": "call"}),
                                                          deal("/deals/{deal_id}/activities", "EVE-2", data={"kind": "call"}),
                                                          anon=PAGE_ANON),
    ("POST", "/deals/{deal_id}/edit"): own_and_other(deal("/deals/{deal_id}/edit", "ANN-1", data={"amount": "120"}),
                                                    deal("/deals/{deal_id}/edit", "EVE-2", data={"amount": "7100"}), anon=PAGE_ANON),
    ("GET", "/dashboards"): [Case(get("/dashboards"), same(OK, PAGE_ANON))],
    ("GET", "/dashboards/{key}"): [Case(get("/dashboards/report"), same(OK, PAGE_ANON))],
    ("GET", "/dashboards/{key}/image.svg"): [Case(get("/dashboards/flow/image.svg"), same(OK, PAGE_ANON))],
    ("GET", "/dashboards/{key}/body"): [Case(get("/dashboards/inspect/body"), same(OK, PAGE_ANON))],
    ("GET", "/import"): [Case(get("/import"), admin_only(PAGE_ANON))],
    ("POST", "/import/preview"): [Case(lambda ids: ("/import/preview", csv_file()), admin_only(PAGE_ANON))],
    ("POST", "/import/run"): [Case(lambda ids: ("/import/run", {"data": {"kind": "deals", "upload": "nope"}}),
                                   {**admin_only(PAGE_ANON), "admin": 422}, "an unknown upload")],
    ("GET", "/audit"): [Case(get("/audit"), admin_only(PAGE_ANON)), Case(get("/audit?entity=deal"), admin_only(PAGE_ANON))],
    ("GET", "/settings"): [Case(get("/settings"), {**admin_only(PAGE_ANON), "admin": 303})],
    ("GET", "/settings/users"): [Case(get("/settings/users"), admin_only(PAGE_ANON))],
    ("POST", "/settings/users"): [Case(get("/settings/users", data={"email": "page@example.com", "password": "long-enough"}),
                                       admin_only(PAGE_ANON))],
    ("POST", "/settings/users/{user_id}"): [Case(get("/settings/users/{user_rep}", data={"role": "rep"}), admin_only(PAGE_ANON))],
    ("POST", "/settings/users/{user_id}/active"): [Case(get("/settings/users/{user_rep}/active", data={"active": "1"}),
                                                        admin_only(PAGE_ANON))],
    ("POST", "/settings/users/{user_id}/password"): [Case(get("/settings/users/{user_rep}/password", data={"password": "long-enough"}),
                                                          admin_only(PAGE_ANON))],
    ("GET", "/settings/pipelines"): [Case(get("/settings/pipelines"), admin_only(PAGE_ANON))],
    ("POST", "/settings/pipelines/{pipeline_id}/stages/{stage_id}"): [
        Case(get("/settings/pipelines/{pipeline}/stages/{stage_Qualify}", data={"probability": "0.15"}), admin_only(PAGE_ANON))],
    ("POST", "/settings/pipelines/{pipeline_id}/stages/{stage_id}/move"): [
        Case(get("/settings/pipelines/{pipeline}/stages/{stage_Qualify}/move", data={"direction": "down"}), admin_only(PAGE_ANON))],
    ("POST", "/settings/pipelines/{pipeline_id}/stages"): [
        Case(get("/settings/pipelines/{pipeline}/stages", data={"name": "Pilot", "probability": "0.3"}), admin_only(PAGE_ANON))],
    ("POST", "/logout/everywhere"): [Case(get("/logout/everywhere"), same(303, PAGE_ANON))],  # walked last
    ("POST", "/logout"): [Case(get("/logout"), same(303, PAGE_ANON))],
}
LAST = [("POST", "/logout"), ("POST", "/logout/everywhere"), ("POST", "/api/me/sign-out-everywhere")]


def app_routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for ctx in iter_route_contexts(app.routes):
        methods = getattr(ctx.original_route, "methods", None) or {"GET"}  # the /static mount serves GETs
        found |= {(method, ctx.path) for method in methods if method != "HEAD"}
    return found


def test_every_route_has_an_expectation(store):  # type: ignore[no-untyped-def]
    routes = app_routes(make_app(store))
    assert routes - set(EXPECTED) == set(), "add these routes to EXPECTED in tests/test_authz.py"
    assert set(EXPECTED) - routes == set(), "these routes are gone; drop them from EXPECTED"


def _clients(app: Any, store: Any, ids: dict[str, int]) -> dict[str, tuple[Any, Any]]:
    """Per role: an API client (bearer token) and a page client (session cookie + CSRF)."""
    out: dict[str, tuple[Any, Any]] = {}
    for role in ("admin", "manager", "rep"):
        api = api_client(app, EMAILS[role])
        page, csrf = page_client(app, EMAILS[role])
        page.headers["X-CSRF-Token"] = csrf
        out[role] = (api, page)
    anon = _test_client_class()(app)
    out["anon"] = (anon, _test_client_class()(app, headers={"accept": "text/html"}))
    with store.session() as s:
        admin_id = s.query(m.User).filter_by(email=EMAILS["admin"]).one().id
    with store.atomic() as s:
        from dealflow.web.auth import issue_token

        ids["token:admin"] = issue_token(s, s.get(m.User, admin_id), scope="read", name="spare")[1].id
    return out


def _check(role: str, method: str, path: str, case: Case, response: Any) -> str | None:
    expect = case.expect[role]
    status = response.status_code
    where = f"{role} {method} {path} ({case.label or 'default'}): got {status}, expected {expect}"
    if status >= 500:
        return where + f" -- server error {response.text[:200]}"
    if expect == OK:
        good = 200 <= status < 300 or (status == 303 and not response.headers.get("location", "").startswith("/login"))
        if status == 303 and "error=" in response.headers.get("location", ""):
            good = False
    elif expect == LOGIN:
        good = status == 303 and response.headers["location"].startswith("/login")
    else:
        good = status == expect
    return None if good else where + f" -- {response.text[:300]}"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_it_may(store, role):  # type: ignore[no-untyped-def]
    ids = build_world(store)
    app = make_app(store)
    clients = _clients(app, store, ids)
    api, page = clients[role]
    order = sorted(EXPECTED, key=lambda k: (k in LAST and LAST.index(k) + 1, k[0] == "DELETE", k[1], k[0]))
    problems = []
    for method, route in order:
        for case in EXPECTED[(method, route)]:
            path, kwargs = case.build(ids)
            client = api if path.startswith("/api") else page
            kwargs = {k: v for k, v in kwargs.items()}
            if "files" in kwargs:  # uploads are read once: rewind for every role
                for _, (_, fh, _) in kwargs["files"].items():
                    fh.seek(0)
            response = client.request(method, path, follow_redirects=False, **kwargs)
            problem = _check(role, method, route, case, response)
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)


# -- a rep never reads another rep's deal ----------------------------------------------------------
@pytest.fixture
def world(store):  # type: ignore[no-untyped-def]
    ids = build_world(store)
    app = make_app(store)
    return ids, app, {role: api_client(app, EMAILS[role]) for role in ("admin", "manager", "rep")}


def test_a_rep_sees_only_their_deals_by_id_filter_export_and_analysis(world):  # type: ignore[no-untyped-def]
    ids, app, api = world
    rep = api["rep"]
    mine = {"ANN-1", "ANN-2", "ANN-3"}
    listed = {d["external_id"] for d in rep.get("/api/deals", params={"limit": 1000}).json()["items"]}
    assert listed == mine
    for key in ("BOB-1", "EVE-1", "NOBODY", "GONE"):
        assert rep.get(f"/api/deals/{ids[key]}").status_code == 404
        assert rep.get(f"/api/deals/{ids[key]}/stage-changes").status_code == 404
        assert rep.get("/api/activities", params={"deal_id": ids[key]}).json()["items"] == []
        assert rep.get("/api/stage-changes", params={"deal_id": ids[key]}).status_code == 404
    # filters cannot widen the view
    assert rep.get("/api/deals", params={"owner_id": ids["owner:eve"]}).json()["total"] == 0
    assert rep.get("/api/deals", params={"q": "EVE"}).json()["total"] == 0
    assert {c["deal_id"] for c in rep.get("/api/stage-changes", params={"limit": 1000}).json()["items"]} <= {ids[k] for k in mine}
    assert {a["deal_id"] for a in rep.get("/api/activities", params={"limit": 1000}).json()["items"]} <= {ids[k] for k in mine}
    assert [x["name"] for x in rep.get("/api/leads").json()["items"]] == ["lead:ann"]
    # exports
    export = rep.get("/api/export/deals").text
    assert "ANN-1" in export and "EVE" not in export and "BOB" not in export and "NOBODY" not in export
    assert "EVE" not in rep.get("/api/export/stage_changes").text
    # analyses: the rep's report counts exactly the rep's deals
    report = rep.get("/api/analyses/report").json()
    assert report["deals"] == {"open": 2, "won": 1, "lost": 0, "total": 3}
    assert report["won_amount"] == 100
    full = api["admin"].get("/api/analyses/report").json()
    assert full["deals"]["total"] == 7 and full["won_amount"] == 7100
    team = api["manager"].get("/api/analyses/report").json()
    assert team["deals"]["total"] == 5  # ann's three, bob's, and the unassigned deal
    # pages: board and dashboards
    page, _ = page_client(app, EMAILS["rep"])
    board = page.get("/board").text
    assert "ANN-2" in board and "EVE-1" not in board and "NOBODY" not in board
    totals = page.get("/board/totals").json()
    assert sum(t["count"] for t in totals.values()) == 3
    assert "EVE" not in page.get("/dashboards/inspect/body").text


def test_a_rep_of_a_sharing_team_reads_but_cannot_change_team_deals(world, store):  # type: ignore[no-untyped-def]
    ids, app, api = world
    with store.atomic() as s:
        s.query(m.Team).filter_by(name="North").update({m.Team.share_with_members: True})
    rep = api["rep"]
    assert rep.get(f"/api/deals/{ids['BOB-1']}").status_code == 200
    assert {d["external_id"] for d in rep.get("/api/deals").json()["items"]} == {"ANN-1", "ANN-2", "ANN-3", "BOB-1"}
    assert rep.patch(f"/api/deals/{ids['BOB-1']}", json={"amount": 1}).status_code == 403
    assert rep.post(f"/api/deals/{ids['BOB-1']}/moves", json={"stage": "Qualify"}).status_code == 403
    assert rep.delete(f"/api/deals/{ids['BOB-1']}").status_code == 403
    assert rep.post("/api/activities", json={"deal_id": ids["BOB-1"], "kind": "call"}).status_code == 403
    assert rep.get(f"/api/deals/{ids['EVE-1']}").status_code == 404
    # a rep may not hand a deal to someone else
    assert rep.patch(f"/api/deals/{ids['ANN-2']}", json={"owner_id": ids["owner:bob"]}).status_code == 403


def test_role_changes_apply_to_open_sessions(world, store):  # type: ignore[no-untyped-def]
    ids, app, api = world
    assert api["rep"].get(f"/api/deals/{ids['EVE-1']}").status_code == 404
    with store.atomic() as s:
        s.query(m.User).filter_by(email=EMAILS["rep"]).update({m.User.role: "admin"})
    assert api["rep"].get(f"/api/deals/{ids['EVE-1']}").status_code == 200
    with store.atomic() as s:
        s.query(m.User).filter_by(email=EMAILS["rep"]).update({m.User.active: False})
    assert api["rep"].get("/api/me").status_code == 401



def test_a_hidden_deal_looks_exactly_like_a_missing_one(world, store):  # type: ignore[no-untyped-def]
    ids, app, api = world
    hidden = api["rep"].get(f"/api/deals/{ids['EVE-1']}")
    missing = api["rep"].get("/api/deals/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace(str(ids["EVE-1"]), "N") == missing.json()["error"]["message"].replace("999999", "N")
    # a rep linked to no owner sees no deal at all, and a manager of no team only their own and unassigned ones
    add_login(store, "new@example.com", "rep")
    add_login(store, "boss@example.com", "manager")
    assert api_client(app, "new@example.com").get("/api/deals").json()["total"] == 0
    assert [d["external_id"] for d in api_client(app, "boss@example.com").get("/api/deals").json()["items"]] == ["NOBODY"]
