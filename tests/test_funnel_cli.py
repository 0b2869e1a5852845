"""The JSON contracts of `dealflow funnel`, `plan` and `leads`, on X Education through the CLI."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dealflow.cli.app import app
from dealflow.store import Store
from tests.conftest import _drop_database, _new_database_url
from tests.test_lead_scores_x_education import import_x_education

runner = CliRunner()


@pytest.fixture(scope="module")
def x_db(x_education_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A store other Store objects can open (SQLite file or PostgreSQL), holding X Education."""
    url, name = _new_database_url("xcli")
    target = str(tmp_path_factory.mktemp("x") / "x.db") if url == ":memory:" else url
    store = Store(target)
    import_x_education(store, x_education_dir)
    yield store.url
    store.dispose()
    _drop_database(name)


def run_json(*args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_funnel_by_source_json(x_db) -> None:  # type: ignore[no-untyped-def]
    out = run_json("funnel", "--by", "source", "--db", x_db)
    assert out["overall"]["leads"] == 9240
    assert out["overall"]["converted"] == 3561
    assert round(out["overall"]["conversion"], 4) == 0.3854
    groups = {g["group"]: g for g in out["groups"]}
    assert {k: groups["Lead Add Form"][k] for k in ("leads", "converted")} == {"leads": 718, "converted": 664}
    assert round(groups["Lead Add Form"]["conversion"], 3) == 0.925
    assert round(groups["Landing Page Submission"]["conversion"], 3) == 0.362
    assert round(groups["API"]["conversion"], 3) == 0.311


def test_plan_json(x_db) -> None:  # type: ignore[no-untyped-def]
    out = run_json("plan", "--target-deals", "100", "--db", x_db)
    assert out["leads_needed"] == 260
    assert {g["group"]: g["leads_needed"] for g in out["groups"]}["Landing Page Submission"] == 137


def test_leads_json_flags_leaky_fields(x_db) -> None:  # type: ignore[no-untyped-def]
    out = run_json("leads", "--top", "5", "--no-evaluate", "--db", x_db)
    assert out["excluded"] == ["Lead Quality", "Tags"]
    assert [r["field"] for r in out["leaky"] if r["leaky"]] == ["Tags", "Lead Quality"]
    assert out["evaluation"] is None
    assert len(out["leads"]) == 5 and all(not r["converted"] for r in out["leads"])
    assert all(r["reasons"] for r in out["leads"])


def test_leads_table_prints_auc_beside_baseline(x_db) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["leads", "--top", "3", "--db", x_db], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "naive Bayes baseline" in result.output and "lead score (logistic)" in result.output
    assert "0.907" in result.output  # the lead score's cross-validated AUC (baseline 0.883)
    assert "'Tags' alone predicts conversion" in result.output


def test_plan_needs_a_target(x_db) -> None:  # type: ignore[no-untyped-def]
    from dealflow.errors import DomainError

    result = runner.invoke(app, ["plan", "--db", x_db])
    assert isinstance(result.exception, DomainError)
    assert "--target-deals" in str(result.exception)
