"""Signing in: argon2 passwords, bearer tokens from POST /api/token, the session cookie, CSRF, read-only tokens."""
from __future__ import annotations

from datetime import timedelta

import pytest

from dealflow.errors import DomainError
from dealflow.store import models as m
from dealflow.web.auth import SESSION_COOKIE, add_user, utcnow
from dealflow.web.testing import PASSWORD, _test_client_class, add_login, api_client, login_form_csrf, make_app


@pytest.fixture
def app(store):  # type: ignore[no-untyped-def]
    add_login(store)
    return make_app(store)


def test_password_is_hashed_with_argon2(store):  # type: ignore[no-untyped-def]
    add_login(store)
    with store.session() as s:
        user = s.query(m.User).one()
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    with store.atomic() as s, pytest.raises(DomainError, match="at least 8"):
        add_user(s, "x@example.com", "short", "rep")
    with store.atomic() as s, pytest.raises(DomainError, match="role must be one of admin, manager, rep"):
        add_user(s, "x@example.com", "long-enough", "boss")


def test_token_flow(app):  # type: ignore[no-untyped-def]
    client = _test_client_class()(app)
    bad = client.post("/api/token", data={"username": "ana@example.com", "password": "wrong-password"})
    assert bad.status_code == 401 and bad.json() == {"error": {"status": 401, "message": "wrong email or password"}}
    assert bad.headers["www-authenticate"] == "Bearer"
    anonymous = client.get("/api/deals")
    assert anonymous.status_code == 401 and "POST email and password to /api/token" in anonymous.json()["error"]["message"]
    forged = client.get("/api/deals", headers={"Authorization": "Bearer dft_forged"})
    assert forged.status_code == 401
    api = api_client(app, email="ANA@example.com ")  # emails are case- and space-insensitive
    assert api.get("/api/me").json() == {"id": 1, "email": "ana@example.com", "role": "admin", "via": "token", "owner_id": None}


def test_expired_and_revoked_tokens_are_refused(app, store):  # type: ignore[no-untyped-def]
    api = api_client(app)
    assert api.get("/api/me").status_code == 200
    with store.atomic() as s:
        s.query(m.ApiToken).update({m.ApiToken.expires_at: utcnow() - timedelta(seconds=1)})
    assert api.get("/api/me").status_code == 401
    with store.atomic() as s:
        s.query(m.ApiToken).update({m.ApiToken.expires_at: None, m.ApiToken.revoked_at: utcnow()})
    assert api.get("/api/me").status_code == 401


def test_read_token_cannot_write(app):  # type: ignore[no-untyped-def]
    api = api_client(app, scope="read")
    assert api.get("/api/deals").status_code == 200
    denied = api.post("/api/accounts", json={"name": "Acme"})
    assert denied.status_code == 403 and "read-only" in denied.json()["error"]["message"]


def test_session_cookie_is_httponly_lax_and_writes_need_csrf(app, store):  # type: ignore[no-untyped-def]
    client = _test_client_class()(app)
    login = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf": login_form_csrf(client)}, follow_redirects=False)
    cookie = login.headers["set-cookie"]
    assert login.status_code == 303 and login.headers["location"] == "/board"
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert client.get("/api/me").json()["via"] == "cookie"
    no_csrf = client.post("/api/accounts", json={"name": "Acme"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]["message"]
    with_csrf = client.post("/api/accounts", json={"name": "Acme"}, headers={"X-CSRF-Token": _csrf_of(client)})
    assert with_csrf.status_code == 201
    # A password reset ends every open session.
    with store.atomic() as s:
        add_user(s, "ana@example.com", "another-password", "admin")
        s.query(m.User).update({m.User.sessions_valid_after: utcnow() + timedelta(seconds=5)})
    assert client.get("/api/me").status_code == 401


def _csrf_of(client) -> str:  # type: ignore[no-untyped-def]
    from dealflow.web.auth import csrf_token

    return csrf_token("test-secret", client.cookies[SESSION_COOKIE])


def test_https_setting_marks_cookie_secure_and_wrong_login_is_401(store):  # type: ignore[no-untyped-def]
    add_login(store)
    client = _test_client_class()(make_app(store, https=True), base_url="https://testserver")  # Secure cookies need https
    ok = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf": login_form_csrf(client)}, follow_redirects=False)
    assert "Secure" in ok.headers["set-cookie"]
    wrong = client.post("/login", data={"email": "ana@example.com", "password": "nope-nope", "csrf": login_form_csrf(client)}, headers={"accept": "text/html"})
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text


def test_pages_redirect_to_login_and_back(app):  # type: ignore[no-untyped-def]
    client = _test_client_class()(app)
    r = client.get("/board?owner=ana", follow_redirects=False, headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/board%3Fowner%3Dana"
    login = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf": login_form_csrf(client), "next": "/board?owner=ana"},
                        follow_redirects=False)
    assert login.headers["location"] == "/board?owner=ana"
    evil = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf": login_form_csrf(client), "next": "//evil.example"},
                       follow_redirects=False)
    assert evil.headers["location"] == "/board"
    out = client.post("/logout", data={"csrf": _csrf_of(client)}, follow_redirects=False)
    assert out.status_code == 303 and client.get("/board", follow_redirects=False).status_code == 303
