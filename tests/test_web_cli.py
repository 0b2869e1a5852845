"""``dealflow users add/list`` and ``dealflow serve --help``."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from dealflow.cli.app import app
from dealflow.store import models as m
from dealflow.web.auth import verify_password


def test_users_add_reads_password_from_stdin_and_lists(file_store, tmp_path):  # type: ignore[no-untyped-def]
    import dealflow.cli  # noqa: F401 - registers every command

    db = file_store.url
    runner = CliRunner()
    r = runner.invoke(app, ["users", "add", "Rep@Example.com", "--role", "rep", "--db", db], input="s3cret-pass\n")
    assert r.exit_code == 0, r.output
    assert "rep@example.com can sign in as rep." in r.output
    with file_store.session() as s:
        user = s.query(m.User).one()
    assert user.role == "rep" and verify_password(user.password_hash, "s3cret-pass")
    listed = runner.invoke(app, ["users", "list", "--db", db, "--format", "json"])
    rows = json.loads(listed.output)
    assert [(u["email"], u["role"], u["active"]) for u in rows] == [("rep@example.com", "rep", True)]
    bad = runner.invoke(app, ["users", "add", "x@example.com", "--role", "boss", "--db", db], input="s3cret-pass\n")
    assert bad.exit_code != 0 and "choose one of admin, manager, rep" in bad.output
    short = runner.invoke(app, ["users", "add", "x@example.com", "--db", db], input="short\n")
    assert short.exit_code != 0


def test_serve_help_names_its_options():  # type: ignore[no-untyped-def]
    import dealflow.cli  # noqa: F401

    out = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert "--host" in out and "--port" in out and "--db" in out and "Example:" in out
