"""A shared server: sign-in rate limiting and CSRF, sign out everywhere, scoped API tokens, soft delete
with admin restore, the audit trail, stale versions (409 with the current state), and the users CLI."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealflow.store import models as m
from dealflow.web.testing import PASSWORD, _test_client_class, add_login, api_client, login_form_csrf, make_app, page_client
from tests.factories import add_deal


@pytest.fixture
def app(store):  # type: ignore[no-untyped-def]
    add_login(store)
    add_deal(store, "D-1", [("Qualify", "2024-01-01")], owner="ann", amount=100)
    add_deal(store, "D-2", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], owner="ann", amount=50)
    return make_app(store)


def test_five_failed_sign_ins_per_email_and_address_give_429(app):  # type: ignore[no-untyped-def]
    client = _test_client_class()(app)
    for _ in range(5):
        assert client.post("/api/token", data={"username": "ana@example.com", "password": "wrong-pass"}).status_code == 401
    blocked = client.post("/api/token", data={"username": "ana@example.com", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # the sign-in form shares the limit
    form = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf": login_form_csrf(client)})
    assert form.status_code == 429
    # another email from the same address is not blocked
    assert client.post("/api/token", data={"username": "bob@example.com", "password": "wrong-pass"}).status_code == 401
    # and the window passes
    limiter = app.state.sign_in_limiter
    limiter._seen = {k: [t - 61 for t in v] for k, v in limiter._seen.items()}
    assert client.post("/api/token", data={"username": "ana@example.com", "password": PASSWORD}).status_code == 200


def test_failed_sign_ins_are_audited(app, store):  # type: ignore[no-untyped-def]
    client = _test_client_class()(app)
    client.post("/api/token", data={"username": "ana@example.com", "password": "wrong-pass"})
    with store.session() as s:
        actions = [e.action for e in s.query(m.AuditEntry)]
    assert actions == ["sign-in failed"]


def test_the_sign_in_form_needs_its_csrf_token(app):  # type: ignore[no-untyped-def]
    client = _test_client_class()(app)
    missing = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD}, follow_redirects=False)
    assert missing.status_code == 403
    login_form_csrf(client)
    forged = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    ok = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf": login_form_csrf(client)},
                     follow_redirects=False)
    assert ok.status_code == 303


def test_sign_out_everywhere_ends_sessions_and_revokes_tokens(app):  # type: ignore[no-untyped-def]
    api = api_client(app)
    other_api = api_client(app)
    browser, csrf = page_client(app)
    assert browser.get("/board", follow_redirects=False).status_code == 200
    assert api.post("/api/me/sign-out-everywhere").status_code == 204
    assert api.get("/api/me").status_code == 401 and other_api.get("/api/me").status_code == 401
    assert browser.get("/board", follow_redirects=False).status_code == 303
    # the page's button does the same
    browser, csrf = page_client(app)
    api = api_client(app)
    out = browser.post("/logout/everywhere", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert api.get("/api/me").status_code == 401


def test_scoped_tokens_are_shown_once_stored_hashed_and_revocable(app, store):  # type: ignore[no-untyped-def]
    api = api_client(app)
    made = api.post("/api/tokens", json={"name": "nightly", "scope": "read", "days": 7})
    assert made.status_code == 201
    secret = made.json()["token"]
    listed = api.get("/api/tokens").json()
    assert all("token" not in t for t in listed) and any(t["name"] == "nightly" and t["scope"] == "read" for t in listed)
    with store.session() as s:
        assert all(secret not in row.token_hash for row in s.query(m.ApiToken))
    script = _test_client_class()(app, headers={"Authorization": f"Bearer {secret}"})
    assert script.get("/api/deals").status_code == 200
    assert script.post("/api/accounts", json={"name": "X"}).status_code == 403
    assert script.post("/api/tokens", json={"scope": "write"}).status_code == 403
    assert api.delete(f"/api/tokens/{made.json()['id']}").status_code == 204
    assert script.get("/api/deals").status_code == 401


def test_delete_is_soft_restore_is_admin_only_and_both_are_audited(app, store):  # type: ignore[no-untyped-def]
    with store.atomic() as s:
        owner_id = s.query(m.Owner).filter_by(external_id="ann").one().id
    add_login(store, "ann@example.com", "rep")
    with store.atomic() as s:
        s.query(m.User).filter_by(email="ann@example.com").update({m.User.owner_id: owner_id})
    admin, rep = api_client(app), api_client(app, "ann@example.com")
    deal_id = admin.get("/api/deals", params={"q": "D-1"}).json()["items"][0]["id"]
    before = admin.get("/api/analyses/report").json()["deals"]["total"]
    assert rep.delete(f"/api/deals/{deal_id}").status_code == 204
    assert rep.get(f"/api/deals/{deal_id}").status_code == 404
    assert admin.get(f"/api/deals/{deal_id}").status_code == 404
    assert deal_id not in [d["id"] for d in admin.get("/api/deals").json()["items"]]
    assert admin.get("/api/analyses/report").json()["deals"]["total"] == before - 1
    assert "D-1" not in admin.get("/api/export/deals").text
    assert [d["id"] for d in admin.get("/api/deals/deleted").json()["items"]] == [deal_id]
    with store.session() as s:
        assert s.get(m.Deal, deal_id).deleted_at is not None  # still stored
    assert rep.post(f"/api/deals/{deal_id}/restore").status_code == 403
    restored = admin.post(f"/api/deals/{deal_id}/restore")
    assert restored.status_code == 200 and restored.json()["id"] == deal_id
    assert admin.get("/api/analyses/report").json()["deals"]["total"] == before
    assert admin.post(f"/api/deals/{deal_id}/restore").status_code == 404  # not deleted any more
    trail = admin.get("/api/audit", params={"entity": "deal", "entity_id": str(deal_id)}).json()["items"]
    assert [(e["action"], e["user_email"]) for e in trail][:2] == [("restore", "ana@example.com"), ("delete", "ann@example.com")]
    assert trail[1]["remote_addr"] and trail[1]["changes"]["external_id"] == "D-1"
    assert rep.get("/api/audit").status_code == 403
    browser, _ = page_client(app)
    page = browser.get("/audit", params={"entity": "deal"})
    assert page.status_code == 200 and "restore" in page.text and "ann@example.com" in page.text


def test_stale_versions_get_409_with_the_current_deal(app, store):  # type: ignore[no-untyped-def]
    api = api_client(app)
    deal = api.get("/api/deals", params={"q": "D-1"}).json()["items"][0]
    deal_id, version = deal["id"], deal["version"]
    moved = api.post(f"/api/deals/{deal_id}/moves", json={"stage": "Propose", "expected_version": version})
    assert moved.status_code == 201 and moved.json()["deal"]["version"] == version + 1
    # the same base version again: a move (as the board sends it), an edit, a delete
    stale_move = api.post(f"/api/deals/{deal_id}/moves", json={"stage": "Negotiate", "expected_version": version})
    assert stale_move.status_code == 409
    current = stale_move.json()["error"]["current"]
    assert current["version"] == version + 1 and current["stage_id"] == moved.json()["deal"]["stage_id"] and current["amount"] == 100
    stale_edit = api.patch(f"/api/deals/{deal_id}", json={"amount": 1, "expected_version": version})
    assert stale_edit.status_code == 409 and stale_edit.json()["error"]["current"]["version"] == version + 1
    assert api.delete(f"/api/deals/{deal_id}", params={"expected_version": version}).status_code == 409
    # nothing was overwritten, and the history has exactly one move
    detail = api.get(f"/api/deals/{deal_id}").json()
    assert detail["deal"]["amount"] == 100 and detail["stage"] == "Propose"
    assert [c["to_stage"] for c in detail["stage_changes"]] == ["Qualify", "Propose"]
    # the deal page's forms carry the version too: a stale one shows the conflict instead of saving
    browser, csrf = page_client(app)
    page = browser.post(f"/deals/{deal_id}/edit", data={"amount": "5", "version": str(version), "csrf": csrf}, follow_redirects=False)
    assert page.status_code == 303 and "changed+by+someone+else" in page.headers["location"]
    fresh = api.patch(f"/api/deals/{deal_id}", json={"amount": 120, "expected_version": version + 1})
    assert fresh.status_code == 200 and fresh.json()["version"] == version + 2


def test_users_cli_links_owners_and_teams_disables_sets_roles_and_manages_tokens(file_store):  # type: ignore[no-untyped-def]
    import dealflow.cli  # noqa: F401 - registers every command
    from dealflow.cli.app import app as cli

    add_deal(file_store, "D-1", [("Qualify", "2024-01-01")], owner="ann", amount=100)
    db = file_store.url
    runner = CliRunner()
    assert runner.invoke(cli, ["teams", "add", "North", "--db", db]).exit_code == 0
    r = runner.invoke(cli, ["users", "add", "ann@example.com", "--owner", "ann", "--team", "North", "--db", db], input="s3cret-pass\n")
    assert r.exit_code == 0, r.output
    missing = runner.invoke(cli, ["users", "add", "x@example.com", "--owner", "nobody", "--db", db], input="s3cret-pass\n")
    assert missing.exit_code != 0
    with file_store.session() as s:
        user = s.query(m.User).filter_by(email="ann@example.com").one()
        assert user.owner_id == s.query(m.Owner).filter_by(external_id="ann").one().id
        assert user.team_id == s.query(m.Team).filter_by(name="North").one().id
    rows = json.loads(runner.invoke(cli, ["users", "list", "--db", db, "--format", "json"]).output)
    assert rows[0]["owner"] == "ann" and rows[0]["team"] == "North"
    assert runner.invoke(cli, ["users", "set-role", "ann@example.com", "manager", "--db", db]).exit_code == 0
    made = runner.invoke(cli, ["users", "tokens", "create", "ann@example.com", "--scope", "read", "--name", "bot", "--db", db])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[0]
    assert secret.startswith("dft_")
    web = make_app(file_store)
    bot = _test_client_class()(web, headers={"Authorization": f"Bearer {secret}"})
    me = bot.get("/api/me").json()
    assert me["role"] == "manager" and me["email"] == "ann@example.com"
    listed = runner.invoke(cli, ["users", "tokens", "list", "ann@example.com", "--db", db, "--format", "json"])
    assert json.loads(listed.output)[0]["name"] == "bot"
    assert runner.invoke(cli, ["users", "tokens", "revoke", "ann@example.com", "--db", db]).exit_code == 0
    assert bot.get("/api/me").status_code == 401
    runner.invoke(cli, ["users", "tokens", "create", "ann@example.com", "--db", db])
    assert runner.invoke(cli, ["users", "disable", "ann@example.com", "--db", db]).exit_code == 0
    with file_store.session() as s:
        assert not s.query(m.User).filter_by(email="ann@example.com").one().active
        assert all(t.revoked_at is not None for t in s.query(m.ApiToken))
    assert _test_client_class()(web).post("/api/token", data={"username": "ann@example.com", "password": "s3cret-pass"}).status_code == 401


def test_imports_from_the_page_are_audited(app, store):  # type: ignore[no-untyped-def]
    import re

    browser, csrf = page_client(app)
    csv_text = "external_id,pipeline,stage,amount\nN-1,Sales,Qualify,100\n"
    preview = browser.post("/import/preview", data={"csrf": csrf, "kind": "deals"}, files={"file": ("new.csv", csv_text, "text/csv")})
    token = re.search(r'name="upload" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
    run = browser.post("/import/run", data={"csrf": csrf, "kind": "deals", "upload": token})
    assert run.status_code == 200
    with store.session() as s:
        entry = s.query(m.AuditEntry).filter_by(action="import").one()
    assert entry.user_email == "ana@example.com" and entry.entity == "deals" and entry.changes["inserted"] == 1


def test_a_drag_from_a_stale_board_gets_409_and_changes_nothing(app):  # type: ignore[no-untyped-def]
    """The board's cards carry the version they were drawn at; its drag posts it (static/app.js moveCard)."""
    import re

    api = api_client(app)
    deal_id = api.get("/api/deals", params={"q": "D-1"}).json()["items"][0]["id"]
    browser, csrf = page_client(app)
    board = browser.get("/board").text
    version = int(re.search(rf'data-id="{deal_id}" data-version="(\d+)"', board).group(1))  # type: ignore[union-attr]
    assert api.post(f"/api/deals/{deal_id}/moves", json={"stage": "Negotiate"}).status_code == 201  # someone else moves it
    drag = browser.post(f"/api/deals/{deal_id}/moves", json={"stage": "Propose", "expected_version": version},
                        headers={"X-CSRF-Token": csrf, "accept": "application/json"})
    assert drag.status_code == 409
    assert drag.json()["error"]["current"]["version"] == version + 1 and "reload" in drag.json()["error"]["message"]
    assert api.get(f"/api/deals/{deal_id}").json()["stage"] == "Negotiate"
    assert f'data-id="{deal_id}" data-version="{version + 1}"' in browser.get("/board").text
