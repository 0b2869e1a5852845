"""The process commands through the CLI, on the hand-worked history of test_flow."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealflow.cli import app
from tests.test_flow import build

runner = CliRunner()


@pytest.fixture
def db(file_store) -> str:  # type: ignore[no-untyped-def]
    build(file_store)
    return file_store.url


def _json(*args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_flow_json_contract(db) -> None:  # type: ignore[no-untyped-def]
    out = _json("flow", "--db", db)
    by_pair = {(t["from"], t["to"]): t for t in out["transitions"]}
    assert by_pair[("Qualify", "Propose")]["count"] == 6 and by_pair[("Qualify", "Propose")]["median_days"] == 3.0
    assert out["summary"]["regressions"] == 2
    won = _json("flow", "--db", db, "--outcome", "won")
    assert won["summary"]["deals"] == 3


def test_flow_image_and_table(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    image = tmp_path / "flow.svg"
    result = runner.invoke(app, ["flow", "--db", db, "--image", str(image)])
    assert result.exit_code == 0, result.output
    assert image.read_bytes().lstrip().startswith(b"<?xml") and "Transitions" in result.stdout
    bad = runner.invoke(app, ["flow", "--db", db, "--image", str(tmp_path / "flow.gif")])
    assert bad.exit_code != 0


def test_inspect_and_changes(db) -> None:  # type: ignore[no-untyped-def]
    out = _json("inspect", "--db", db, "--as-of", "2024-02-01")
    assert [d["external_id"] for d in out["deals"]] == ["D", "F"]
    assert out["summary"]["stalled"] == 1
    ch = _json("inspect", "--db", db, "--since", "2024-01-12", "--as-of", "2024-02-01")
    assert {c["change"] for c in ch["changes"]} == {"advanced", "moved back", "won", "lost"}
    table = runner.invoke(app, ["inspect", "--db", db, "--as-of", "2024-02-01"])
    assert table.exit_code == 0 and "stalled" in table.stdout


def test_patterns_next_bottlenecks(db) -> None:  # type: ignore[no-untyped-def]
    pats = _json("patterns", "--db", db, "--min-deals", "1")
    assert pats["variants"][0]["path"] == "Qualify → Propose → Negotiate → Won"
    nxt = _json("next", "F", "--db", db, "--as-of", "2024-02-01")
    assert nxt["summary"]["stage"] == "Propose" and nxt["next_stages"][0]["stage"] == "Negotiate"
    bn = _json("bottlenecks", "--db", db)
    assert bn["stages"][0]["revenue_rank"] == 1
    for cmd in (["patterns"], ["next", "F"], ["bottlenecks"]):
        assert runner.invoke(app, [*cmd, "--db", db]).exit_code == 0
    missing = runner.invoke(app, ["next", "nope", "--db", db])
    assert missing.exit_code != 0


def test_commands_on_an_empty_store(file_store) -> None:  # type: ignore[no-untyped-def]
    for cmd in (["flow"], ["inspect"], ["patterns"], ["bottlenecks"], ["flow", "--format", "json"]):
        result = runner.invoke(app, [*cmd, "--db", file_store.url])
        assert result.exit_code == 0, (cmd, result.output)


def test_empty_flow_image(file_store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["flow", "--db", file_store.url, "--image", str(tmp_path / "empty.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty.png").read_bytes().startswith(b"\x89PNG")
