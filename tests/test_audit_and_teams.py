"""Imports leave an audit entry; deletes are soft and restorable; teams are managed from the CLI."""
from datetime import datetime, timezone

from sqlalchemy import select
from typer.testing import CliRunner

from dealflow.cli.app import app
from dealflow.ingest import run_import
from dealflow.store import audit, crm
from dealflow.store import models as m
from dealflow.store.frames import load_history

from tests.factories import add_deal

NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)


def test_import_is_audited(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("product,sales_price\nWidget,10\n")
    run_import(store, "products", path, actor="ann@example.com")
    with store.session() as s:
        (entry,) = audit.trail(s, entity="products")
    assert (entry.action, entry.user_email, entry.entity_id) == ("import", "ann@example.com", "p.csv")
    assert entry.changes == {"rows": 1, "inserted": 1, "updated": 0, "rejected": 0}


def test_soft_delete_hides_and_restore_brings_back(store):
    deal_id = add_deal(store, "A", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05")])
    with store.atomic() as s:
        crm.delete_deal(s, s.get(m.Deal, deal_id), now=NOW)
    h = load_history(store)
    assert h.deals.height == 0 and h.stage_changes.height == 0
    with store.atomic() as s:
        crm.restore_deal(s, s.get(m.Deal, deal_id))
    h = load_history(store)
    assert h.deals["stage"].to_list() == ["Propose"] and h.stage_changes.height == 2


def test_teams_cli(file_store):
    add_deal(file_store, "A", [("Qualify", "2024-01-01")], owner="ann")
    runner = CliRunner()
    db = ["--db", file_store.url]
    assert runner.invoke(app, ["teams", "add", "North", "--region", "East", *db]).exit_code == 0
    assert runner.invoke(app, ["teams", "assign", "North", "ann", *db]).exit_code == 0
    assert runner.invoke(app, ["teams", "share", "North", "--on", *db]).exit_code == 0
    missing = runner.invoke(app, ["teams", "assign", "North", "nobody", *db])
    assert missing.exit_code != 0
    with file_store.session() as s:
        team = s.scalar(select(m.Team).where(m.Team.name == "North"))
        owner = s.scalar(select(m.Owner).where(m.Owner.external_id == "ann"))
        assert team.share_with_members and owner.team_id == team.id
