"""Helpers for testing and benchmarking the web app: an app over a given store, signed-in clients."""
from __future__ import annotations

from typing import Any

from dealflow.settings import Settings
from dealflow.store.db import Store

PASSWORD = "correct-horse-battery"


def _test_client_class() -> Any:
    import warnings

    with warnings.catch_warnings():  # Starlette nudges towards httpx2; httpx is what we install
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    return TestClient


def make_app(store: Store, **settings: Any) -> Any:
    from dealflow.web import create_app

    return create_app(Settings(database_url=store.url, secret_key="test-secret", **settings), store)


def add_login(store: Store, email: str = "ana@example.com", role: str = "admin", password: str = PASSWORD) -> int:
    from dealflow.web.auth import add_user

    with store.atomic() as session:
        return add_user(session, email, password, role).id


def api_client(app: Any, email: str = "ana@example.com", password: str = PASSWORD, scope: str | None = None) -> Any:
    """A TestClient sending a bearer token of ``email``."""
    client = _test_client_class()(app)
    data = {"username": email, "password": password}
    if scope:
        data["scope"] = scope
    response = client.post("/api/token", data=data)
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return client


def login_form_csrf(client: Any) -> str:
    """Open the sign-in page (setting its CSRF cookie) and return the form's CSRF field."""
    import re

    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def page_client(app: Any, email: str = "ana@example.com", password: str = PASSWORD) -> tuple[Any, str]:
    """A TestClient signed in through the login form, and its CSRF token."""
    from dealflow.web.auth import SESSION_COOKIE, csrf_token

    client = _test_client_class()(app, headers={"accept": "text/html"})
    response = client.post("/login", data={"email": email, "password": password, "csrf": login_form_csrf(client)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client, csrf_token("test-secret", client.cookies[SESSION_COOKIE])
