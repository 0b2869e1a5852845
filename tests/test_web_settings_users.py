"""Managing users as an admin: ``/api/users`` and the ``/settings/users`` page, on the rules of
``dealflow.store.users`` (shared with ``dealflow users``)."""
from __future__ import annotations

import re

import pytest

from dealflow.errors import DomainError
from dealflow.store import models as m
from dealflow.store import users
from dealflow.store.audit import Actor, cli_actor
from dealflow.web.testing import PASSWORD, _test_client_class, add_login, api_client, make_app, page_client
from tests.factories import add_deal

NEW_PASSWORD = "a-new-long-secret"


@pytest.fixture
def app(store):  # type: ignore[no-untyped-def]
    add_deal(store, "D-1", [("Qualify", "2024-01-01")], owner="Bea Rep", amount=100)
    add_login(store)  # ana, admin
    add_login(store, "rob@example.com", "rep")
    with store.atomic() as s:
        s.add(m.Team(name="North", share_with_members=False))
    return make_app(store)


@pytest.fixture
def admin(app):  # type: ignore[no-untyped-def]
    return api_client(app)


def user_id(store, email: str) -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return s.query(m.User).filter_by(email=email).one().id


def team_id(store, name: str = "North") -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return s.query(m.Team).filter_by(name=name).one().id


def audit_actions(store, entity: str = "user") -> list[tuple[str, str, dict | None]]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return [(e.action, e.user_email, e.changes) for e in s.query(m.AuditEntry).filter_by(entity=entity).order_by(m.AuditEntry.id)
                if e.action not in ("login", "token", "sign-in failed")]


def test_create_a_user_linked_to_an_owner_by_name(app, admin, store):  # type: ignore[no-untyped-def]
    made = admin.post("/api/users", json={"email": " Bea@Example.com ", "name": "Bea Rep", "role": "rep",
                                          "team_id": team_id(store), "password": "bea-secret-1"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["email"], body["name"], body["role"], body["team"], body["active"], body["last_sign_in"]) == (
        "bea@example.com", "Bea Rep", "rep", "North", True, None)
    with store.session() as s:
        user = s.get(m.User, body["id"])
        assert user.owner_id == s.query(m.Owner).filter_by(external_id="Bea Rep").one().id  # the existing owner, not a new one
        assert user.password_hash.startswith("$argon2") and users.verify_password(user.password_hash, "bea-secret-1")
    # she signs in and sees her deal
    bea = api_client(app, "bea@example.com", "bea-secret-1")
    assert [d["external_id"] for d in bea.get("/api/deals").json()["items"]] == ["D-1"]
    assert audit_actions(store)[-1] == ("add user", "ana@example.com", {"role": "rep", "owner_id": body["owner_id"],
                                                                       "team_id": team_id(store)})
    # the listing shows her last sign-in now
    listed = {u["email"]: u for u in admin.get("/api/users").json()}
    assert listed["bea@example.com"]["last_sign_in"] is not None and listed["rob@example.com"]["last_sign_in"] is None


def test_a_new_name_creates_an_owner_in_the_users_team(app, admin, store):  # type: ignore[no-untyped-def]
    made = admin.post("/api/users", json={"email": "cy@example.com", "name": "Cy New", "team_id": team_id(store),
                                          "password": "cy-secret-12"}).json()
    with store.session() as s:
        owner = s.get(m.Owner, made["owner_id"])
        assert (owner.name, owner.email, owner.team_id, owner.external_id) == ("Cy New", "cy@example.com", team_id(store),
                                                                              "user:cy@example.com")


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"email": "nope", "password": "long-enough"}, 422, "email: 'nope' is not an email address"),
    ({"email": "x@example.com", "password": "short"}, 422, "password: String should have at least 8 characters"),
    ({"email": "x@example.com", "password": "long-enough", "role": "boss"}, 422, "role: Input should be 'admin', 'manager' or 'rep'"),
    ({"email": "x@example.com", "password": "long-enough", "team_id": 999}, 422, "team: no team 999"),
    ({"email": "x@example.com", "password": "long-enough", "owner_id": 999}, 422, "owner: no owner 999"),
    ({"email": "rob@example.com", "password": "long-enough"}, 409, "email: a user rob@example.com exists already"),
])
def test_bad_input_names_the_field(admin, body, status, message):  # type: ignore[no-untyped-def]
    response = admin.post("/api/users", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_change_role_and_team_applies_to_open_sessions_and_is_audited(app, admin, store):  # type: ignore[no-untyped-def]
    rob = api_client(app, "rob@example.com")
    assert rob.get("/api/users").status_code == 403
    rid = user_id(store, "rob@example.com")
    changed = admin.patch(f"/api/users/{rid}", json={"role": "manager", "team_id": team_id(store)})
    assert changed.status_code == 200 and (changed.json()["role"], changed.json()["team"]) == ("manager", "North")
    assert rob.get("/api/me").json()["role"] == "manager"
    assert audit_actions(store)[-1] == ("set role", "ana@example.com", {"role": {"from": "rep", "to": "manager"},
                                                                       "team_id": {"from": None, "to": team_id(store)}})
    # team_id: null takes the user out of the team; fields not sent stay
    out = admin.patch(f"/api/users/{rid}", json={"team_id": None}).json()
    assert (out["role"], out["team_id"]) == ("manager", None)


def test_deactivated_users_cannot_sign_in_and_their_sessions_and_tokens_stop(app, admin, store):  # type: ignore[no-untyped-def]
    rob_api = api_client(app, "rob@example.com")
    rob_page, _ = page_client(app, "rob@example.com")
    rid = user_id(store, "rob@example.com")
    off = admin.patch(f"/api/users/{rid}", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert rob_api.get("/api/me").status_code == 401
    assert rob_page.get("/board", follow_redirects=False).headers["location"] == "/login?next=/board"
    anon = _test_client_class()(app)
    assert anon.post("/api/token", data={"username": "rob@example.com", "password": PASSWORD}).status_code == 401
    assert audit_actions(store)[-1] == ("disable user", "ana@example.com", {"tokens_revoked": 1})
    on = admin.patch(f"/api/users/{rid}", json={"active": True})
    assert on.json()["active"] is True
    assert rob_api.get("/api/me").status_code == 401  # the revoked token stays revoked
    assert api_client(app, "rob@example.com").get("/api/me").json()["email"] == "rob@example.com"


def test_reset_password_ends_the_users_sessions(app, admin, store):  # type: ignore[no-untyped-def]
    rob_page, _ = page_client(app, "rob@example.com")
    rid = user_id(store, "rob@example.com")
    assert admin.post(f"/api/users/{rid}/password", json={"password": "short"}).status_code == 422
    assert admin.post(f"/api/users/{rid}/password", json={"password": NEW_PASSWORD}).status_code == 204
    assert rob_page.get("/board", follow_redirects=False).status_code == 303
    anon = _test_client_class()(app)
    assert anon.post("/api/token", data={"username": "rob@example.com", "password": PASSWORD}).status_code == 401
    assert anon.post("/api/token", data={"username": "rob@example.com", "password": NEW_PASSWORD}).status_code == 200
    assert audit_actions(store)[-1] == ("reset password", "ana@example.com", None)


def test_an_admin_cannot_demote_or_deactivate_themselves(app, admin, store):  # type: ignore[no-untyped-def]
    me = user_id(store, "ana@example.com")
    demote = admin.patch(f"/api/users/{me}", json={"role": "rep"})
    assert demote.status_code == 422
    assert demote.json()["error"]["message"] == "role: you cannot remove your own admin role; ask another admin to do it"
    off = admin.patch(f"/api/users/{me}", json={"active": False})
    assert off.json()["error"]["message"] == "active: you cannot deactivate yourself; ask another admin to do it"
    assert admin.get("/api/me").json()["role"] == "admin"
    # another admin may do it, while an admin remains
    add_login(store, "zed@example.com", "admin")
    zed = api_client(app, "zed@example.com")
    assert zed.patch(f"/api/users/{me}", json={"role": "manager"}).json()["role"] == "manager"


def test_the_last_active_admin_stays_from_the_cli_too(store):  # type: ignore[no-untyped-def]
    add_login(store)
    with store.atomic() as s, pytest.raises(DomainError, match="active: ana@example.com is the last active admin"):
        users.set_active(s, users.find_user(s, "ana@example.com"), False, by=Actor(cli_actor()))


def test_unknown_user_is_404(admin):  # type: ignore[no-untyped-def]
    response = admin.patch("/api/users/9999", json={"role": "rep"})
    assert response.status_code == 404 and response.json()["error"]["message"] == "no user 9999; list them at /api/users"


# -- the page --------------------------------------------------------------------------------------
def test_the_users_page_lists_and_changes_users(app, store):  # type: ignore[no-untyped-def]
    client, csrf = page_client(app)
    page = client.get("/settings/users").text
    rows = re.findall(r'<tr data-user="([^"]+)"', page)
    assert rows == ["ana@example.com", "rob@example.com"]
    assert '<a href="/settings/users" aria-current="page">Settings</a>' in page
    made = client.post("/settings/users", data={"csrf": csrf, "email": "dee@example.com", "name": "Dee", "role": "manager",
                                                "team_id": str(team_id(store)), "password": "dee-secret-1"}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].startswith("/settings/users?notice=")
    shown = client.get(made.headers["location"]).text
    assert "dee@example.com can now sign in as manager." in shown
    assert re.search(r'<tr data-user="dee@example.com">\s*<td>dee@example.com</td>\s*<td>Dee</td>', shown)
    rid = user_id(store, "rob@example.com")
    off = client.post(f"/settings/users/{rid}/active", data={"csrf": csrf, "active": "0"})
    assert "rob@example.com is deactivated: signed out everywhere, 0 API token(s) revoked." in off.text
    assert re.search(r'<tr data-user="rob@example.com" class="inactive">.*?<td class="user-status">deactivated</td>', off.text, re.S)
    role = client.post(f"/settings/users/{rid}", data={"csrf": csrf, "role": "manager", "team_id": ""})
    assert "rob@example.com: saved." in role.text
    password = client.post(f"/settings/users/{rid}/password", data={"csrf": csrf, "password": NEW_PASSWORD})
    assert "rob@example.com has a new password" in password.text
    with store.session() as s:
        rob = s.get(m.User, rid)
        assert (rob.role, rob.active, users.verify_password(rob.password_hash, NEW_PASSWORD)) == ("manager", False, True)


def test_the_users_page_shows_refusals_with_the_field(app, store):  # type: ignore[no-untyped-def]
    client, csrf = page_client(app)
    me = user_id(store, "ana@example.com")
    refused = client.post(f"/settings/users/{me}", data={"csrf": csrf, "role": "rep", "team_id": ""})
    assert refused.status_code == 422
    assert "role: you cannot remove your own admin role; ask another admin to do it" in refused.text
    short = client.post("/settings/users", data={"csrf": csrf, "email": "e@example.com", "role": "rep", "password": "short"})
    assert short.status_code == 422 and "password: needs at least 8 characters" in short.text
    no_csrf = client.post("/settings/users", data={"email": "f@example.com", "role": "rep", "password": "long-enough"})
    assert no_csrf.status_code == 403
    with store.session() as s:
        assert s.query(m.User).count() == 2


def test_settings_are_for_admins_only(app):  # type: ignore[no-untyped-def]
    rob, csrf = page_client(app, "rob@example.com")
    board = rob.get("/board").text
    assert "/settings/users" not in board and 'href="/board"' in board
    denied = rob.get("/settings/users")
    assert denied.status_code == 403 and "only an admin may do this" in denied.text
    assert rob.post("/settings/users", data={"csrf": csrf, "email": "g@example.com", "password": "long-enough"}).status_code == 403
    assert api_client(app, "rob@example.com").post("/api/users", json={"email": "g@example.com", "password": "long-enough"}).status_code == 403
