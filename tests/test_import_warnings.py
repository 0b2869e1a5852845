"""Consistency warnings (valid rows that look wrong: stored, and named with file, row, column and
value) and --dry-run (everything shown, nothing written). One fixture per warning."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from dealflow.errors import ImportFailed
from dealflow.ingest import run_import
from dealflow.store import models as m
from tests.test_import_presets import PRESETS, snapshot

WARNINGS = Path(__file__).parent / "fixtures" / "imports" / "warnings"
BIN = Path(sys.executable).parent / "dealflow"
_REVIEW = "review them and merge by hand if they are one"


def warnings_of(store, kind: str, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(w) for w in run_import(store, kind, WARNINGS / name).warnings]


def test_close_before_creation(store):
    assert warnings_of(store, "deals", "close_before_creation.csv") == [
        "close_before_creation.csv, row 2, column 'Closed': '2024-02-01' is before the created date 2024-03-01; "
        "stored as given, check both dates"]


def test_won_without_close_date(store):
    assert warnings_of(store, "deals", "won_without_close_date.csv") == [
        "won_without_close_date.csv, row 2, column 'Closed': (empty) the deal is won ('Closed Won') but has no close date; "
        "it is stored without one, so it counts in no period"]


def test_won_without_amount(store):
    # The lost deal without an amount is no concern.
    assert warnings_of(store, "deals", "won_without_amount.csv") == [
        "won_without_amount.csv, row 2, column 'Amount': (empty) the deal is won ('Won') but has no amount; "
        "it is stored without one and adds nothing to won revenue"]


def test_unknown_stage_is_named_once_and_added(store):
    run_import(store, "deals", WARNINGS / "pipeline_base.csv")
    # "proposal" is the known stage Proposal in other case: no warning.
    assert warnings_of(store, "deals", "unknown_stage.csv") == [
        "unknown_stage.csv, row 3, column 'Stage': 'Negotation' is not a stage of pipeline 'Sales' (its stages: Prospecting, Proposal); "
        "it will be added to it (2 rows). If it is a misspelling, fix the file or rewrite it in the mapping's [values.stage]"]
    with store.session() as s:
        assert s.scalars(select(m.Stage.name).order_by(m.Stage.position)).all() == ["Prospecting", "Proposal", "Negotation"]


def test_unknown_owner_is_named_once_and_created(store):
    run_import(store, "owners", WARNINGS / "owners.csv")
    # "gia torres" is Gia Torres up to case: matched, no warning.
    assert warnings_of(store, "deals", "unknown_owner.csv") == [
        "unknown_owner.csv, row 4, column 'Owner': 'Hal Ingram' is not a known owner; a new owner will be created (1 row). "
        "Import owners first to give them a team and email, or fix the spelling"]
    with store.session() as s:
        assert s.scalars(select(m.Owner.name).order_by(m.Owner.name)).all() == ["Gia Torres", "Hal Ingram"]


def test_duplicate_ids_in_one_file_stay_an_error_and_store_nothing(store):
    run_import(store, "deals", WARNINGS / "pipeline_base.csv")
    before = snapshot(store)
    with pytest.raises(ImportFailed) as err:
        run_import(store, "deals", WARNINGS / "duplicate_ids.csv")
    assert [str(p) for p in err.value.problems] == [
        "duplicate_ids.csv, row 4, column 'Deal ID': 'D-1' repeats an id already given on an earlier row"]
    assert snapshot(store) == before


def test_leads_with_the_same_email_are_flagged_not_merged(store):
    assert warnings_of(store, "leads", "duplicate_leads.csv") == [
        f"duplicate_leads.csv, row 3, column 'Email': 'IVY@ParkHome.example' looks like a duplicate of row 2 (same email); "
        f"both are stored as separate leads, {_REVIEW}"]
    assert warnings_of(store, "leads", "duplicate_leads_later.csv") == [
        f"duplicate_leads_later.csv, row 2, column 'Email': 'Jon@Reed.example' looks like the stored lead 'L-3' (same email); "
        f"both are kept as separate leads, {_REVIEW}"]
    with store.session() as s:
        assert s.scalars(select(m.Lead.external_id).order_by(m.Lead.external_id)).all() == ["L-1", "L-2", "L-3", "L-9"]


def test_deals_with_the_same_account_name_and_amount_are_flagged_not_merged(store):
    # X-3 differs in amount: not a duplicate.
    assert warnings_of(store, "deals", "duplicate_deals.csv") == [
        f"duplicate_deals.csv, row 3, column 'Deal Name': 'Kiln Upgrade' looks like a duplicate of row 2 (same account, name and amount); "
        f"both are stored as separate deals, {_REVIEW}"]
    assert warnings_of(store, "deals", "duplicate_deals_later.csv") == [
        f"duplicate_deals_later.csv, row 2, column 'Deal Name': 'Kiln upgrade' looks like the stored deal 'X-3' (same account, name and amount); "
        f"both are kept as separate deals, {_REVIEW}"]
    with store.session() as s:
        assert s.scalars(select(m.Deal.external_id).order_by(m.Deal.external_id)).all() == ["X-1", "X-2", "X-3", "X-7"]


@pytest.mark.parametrize("kind, name", [
    ("deals", "close_before_creation.csv"), ("deals", "won_without_close_date.csv"), ("deals", "won_without_amount.csv"),
    ("deals", "unknown_stage.csv"), ("deals", "unknown_owner.csv"), ("leads", "duplicate_leads.csv"), ("deals", "duplicate_deals.csv"),
    ("deals", "pipeline_base.csv"), ("owners", "owners.csv"), ("leads", "duplicate_leads_later.csv"), ("deals", "duplicate_deals_later.csv"),
])
def test_a_warned_file_imported_twice_changes_nothing_and_warns_no_duplicates_of_itself(store, kind, name):
    first = run_import(store, kind, WARNINGS / name)
    before = snapshot(store)
    again = run_import(store, kind, WARNINGS / name)
    assert snapshot(store) == before
    assert (again.inserted, again.updated) == (0, 0)
    assert not [w for w in again.warnings if "looks like the stored" in w.reason]  # a record is not its own duplicate
    assert first.rows == again.rows


def test_dry_run_shows_mapping_sample_and_every_problem_and_writes_nothing(file_store):
    run_import(file_store, "deals", WARNINGS / "pipeline_base.csv")
    before = snapshot(file_store)
    out = subprocess.run([str(BIN), "import", "deals", str(PRESETS / "pipedrive_deals.csv"), "--preset", "pipedrive", "--dry-run",
                          "--db", file_store.url], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""})
    assert out.returncode == 0, out.stderr
    lines = [line.rstrip() for line in out.stdout.splitlines()]
    assert any(line.split() == ["│", "Deal", "-", "Status", "│", "status", "│"] for line in lines)  # the mapping
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]
    assert ["stage", "Won", "Lost", "Qualified"] in cells  # parsed rows, one column per file row
    assert ["amount", "2400.0", "990.5", "5000.0"] in cells
    assert "pipedrive_deals.csv, row 2, column 'Deal - Owner': 'Ines Borg' is not a known owner" in out.stdout
    assert "Pipeline 'Pipeline'" not in out.stdout  # a pipeline the store does not have yet: its stages are no surprise
    assert lines[-2:] == ["Checked 3 row(s) of pipedrive_deals.csv: 3 valid, 0 with errors, 2 warning(s)", "Dry run: nothing was written."]
    assert snapshot(file_store) == before


def test_dry_run_lists_errors_exits_1_and_leaves_no_rejects(file_store, tmp_path):
    path = tmp_path / "duplicate_ids.csv"
    path.write_text((WARNINGS / "duplicate_ids.csv").read_text())
    out = subprocess.run([str(BIN), "import", "deals", str(path), "--dry-run", "--skip-invalid", "--db", file_store.url],
                         capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""})
    assert out.returncode == 1
    assert "duplicate_ids.csv, row 4, column 'Deal ID': 'D-1' repeats an id already given on an earlier row" in out.stdout
    assert out.stdout.rstrip().splitlines()[-2:] == ["Checked 3 row(s) of duplicate_ids.csv: 2 valid, 1 with errors, 0 warning(s)",
                                                     "Dry run: nothing was written."]
    assert not (tmp_path / "duplicate_ids.csv.rejects.csv").exists()
    assert snapshot(file_store) == {t: [] for t in snapshot(file_store)}


def test_warnings_are_listed_after_a_real_import(file_store):
    out = subprocess.run([str(BIN), "import", "deals", str(WARNINGS / "won_without_amount.csv"), "--db", file_store.url],
                         capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert ("1 warning(s): stored anyway, worth a look\n  won_without_amount.csv, row 2, column 'Amount': (empty) the deal is won ('Won') "
            "but has no amount; it is stored without one and adds nothing to won revenue") in out.stdout
    with file_store.session() as s:
        assert s.scalars(select(m.Deal.external_id).order_by(m.Deal.external_id)).all() == ["W-5", "W-6"]


def test_deals_without_a_stage_column_get_no_stage_warnings(store, tmp_path):
    run_import(store, "deals", WARNINGS / "pipeline_base.csv")  # new deals without a stage start in its first stage
    path = tmp_path / "bare.csv"
    path.write_text("id,amount,created,closed\nB-1,100,2024-01-02,2024-01-01\n")
    assert [w.reason for w in run_import(store, "deals", path).warnings] == [
        "is before the created date 2024-01-02; stored as given, check both dates"]


def test_stage_history_naming_an_unknown_stage_is_warned_and_added(store):
    run_import(store, "deals", WARNINGS / "pipeline_base.csv")
    assert warnings_of(store, "stage_history", "unknown_history_stage.csv") == [
        "unknown_history_stage.csv, row 3, column 'Stage': 'Contract' is not a stage of pipeline 'Sales' (its stages: Prospecting, Proposal); "
        "it will be added to it (1 row). If it is a misspelling, fix the file or rewrite it in the mapping's [values.stage]"]
    with store.session() as s:
        assert s.scalars(select(m.Stage.name).order_by(m.Stage.position)).all() == ["Prospecting", "Proposal", "Contract"]
        assert s.scalar(select(m.Stage.name).join(m.Deal, m.Deal.stage_id == m.Stage.id).where(m.Deal.external_id == "P-1")) == "Contract"


def test_a_won_deal_stored_with_a_close_date_is_not_warned_when_a_later_file_omits_it(store, tmp_path):
    run_import(store, "deals", WARNINGS / "won_without_close_date.csv")  # W-4 is stored closed on 2024-03-01
    later = tmp_path / "later.csv"
    later.write_text("Deal ID,Stage,Amount\nW-3,Closed Won,5000\nW-4,Closed Won,700\n")
    assert [(w.row, w.value, w.reason) for w in run_import(store, "deals", later).warnings] == [
        (2, None, "the deal is won ('Closed Won') but has no close date; it is stored without one, so it counts in no period")]
    with store.session() as s:
        assert s.scalar(select(m.Deal.closed_at).where(m.Deal.external_id == "W-4")).date().isoformat() == "2024-03-01"
