"""Messy exports: the newcomer's list of things that were stored wrong or crashed."""
from pathlib import Path

import polars as pl
import pytest

from dealflow.errors import DealflowError, ImportFailed
from dealflow.ingest import load_mapping, run_import
from dealflow.ingest.convert import to_instants, to_numbers
from dealflow.store.frames import load_history


def write(tmp_path: Path, text: str, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, value", [
    ("1.234,56", 1234.56), ("12,5", 12.5), ("1,200", 1200), ("$1,200.50", 1200.5), ("(300)", -300),
    ("1 200 EUR", 1200), ("1,234,567", 1234567), ("inf", None), ("1e400", None), ("12x0", None),
])
def test_amounts_as_people_type_them(text, value):
    assert to_numbers(pl.Series([text])).to_list() == [value]


@pytest.mark.parametrize("text, iso", [
    ("12/31/99", "1999-12-31"), ("2/13/24", "2024-02-13"), ("31.12.2024", "2024-12-31"), ("2024-13-01", None), ("0024-01-02", None),
])
def test_dates_are_plausible(text, iso):
    (value,) = to_instants(pl.Series([text])).to_list()
    assert (value.date().isoformat() if value else None) == iso


def test_placeholders_are_blank_and_semicolons_are_separators(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "id;stage;amount;source\nA;Open;N/A;-\nB;Open;12,5;Web\n"))
    deals = load_history(store).deals.sort("external_id")
    assert deals["amount"].to_list() == [None, 12.5]
    assert deals["source"].to_list() == [None, "Web"]


def test_ragged_row_is_named(store, tmp_path):
    with pytest.raises(DealflowError, match="row 3 has 3 fields, but the header has 2"):
        run_import(store, "deals", write(tmp_path, "id,stage\nA,Open\nB,Open,extra\n"))


def test_names_repeated_without_ids_are_refused_not_crashed(store, tmp_path):
    with pytest.raises(ImportFailed) as err:
        run_import(store, "accounts", write(tmp_path, "Account Name\nAcme\nAcme\n"))
    assert (err.value.problems[0].row, err.value.problems[0].column) == (3, "Account Name")


def test_contacts_with_the_same_name_at_two_companies_stay_two(store, tmp_path):
    run_import(store, "contacts", write(tmp_path, "name,account,phone\nAnn Lee,Acme,1\n", "a.csv"))
    run_import(store, "contacts", write(tmp_path, "name,account,phone\nAnn Lee,Beta,2\n", "b.csv"))
    from dealflow.store import models as m

    with store.session() as s:
        assert s.query(m.Contact).count() == 2


def test_stage_spellings_are_one_stage_and_won_sorts_last(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "id,stage\nA,Closed Won\nB,closed won\nC,CLOSED WON\nD,Negotiation\nE,negotiation \n"))
    stages = load_history(store).stages.sort("position")
    assert stages["name"].to_list() == ["Negotiation", "Closed Won"]
    assert load_history(store).deals["status"].to_list() == ["won", "won", "won", "open", "open"]


def test_accounts_differing_in_case_are_one(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "id,stage,account\nA,Open,Acme\nB,Open,ACME\nC,Open,acme\n"))
    assert load_history(store).deals["account_id"].n_unique() == 1


def test_deals_join_the_only_pipeline_there_is(maven_store, tmp_path):
    h_before = load_history(maven_store)
    result = run_import(maven_store, "deals", write(tmp_path, "id,stage\nZ-1,prospecting\n"), dry_run=True)
    assert result.rejected == 0
    assert h_before.stages["pipeline"].unique().to_list() == ["MavenTech"]


def test_move_between_exports_is_dated_at_the_import_not_the_creation(store, tmp_path):
    from datetime import datetime, timezone

    run_import(store, "deals", write(tmp_path, "id,stage,created\nM1,Prospecting,2024-01-01\n", "v1.csv"),
               now=datetime(2024, 2, 1, tzinfo=timezone.utc))
    run_import(store, "deals", write(tmp_path, "id,stage,created\nM1,Engaging,2024-01-01\n", "v2.csv"),
               now=datetime(2024, 3, 1, tzinfo=timezone.utc))
    changes = load_history(store).stage_changes
    assert changes.select("from_stage", "to_stage").rows() == [(None, "Prospecting"), ("Prospecting", "Engaging")]
    assert changes["at"][1].isoformat() == "2024-03-01T00:00:00+00:00"


def test_a_deal_first_seen_undated_keeps_its_first_stage_as_from(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "id,stage\nU,Prospecting\n", "v1.csv"))
    run_import(store, "deals", write(tmp_path, "id,stage\nU,Engaging\n", "v2.csv"))
    assert load_history(store).stage_changes.select("from_stage", "to_stage").rows() == [("Prospecting", "Engaging")]


def test_close_date_comes_from_the_entered_column_not_the_clock(store, tmp_path):
    text = 'Record ID,Deal Stage,Date entered "Closed Won (Sales Pipeline)"\nH1,Closed Won,2024-02-01\n'
    run_import(store, "deals", write(tmp_path, text))
    deal = load_history(store).deals.row(0, named=True)
    assert deal["closed_at"].date().isoformat() == "2024-02-01"


def test_a_closed_deal_without_any_date_gets_no_invented_close(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "id,stage\nW,Won\n"))
    assert load_history(store).deals["closed_at"].to_list() == [None]


def test_close_before_creation_is_a_warning_and_stored_as_given(store, tmp_path):
    # A warning, not an error (issue #8): the dates may both be right in the CRM's own terms.
    result = run_import(store, "deals", write(tmp_path, "id,stage,amount,created,closed\nA,Won,100,2024-03-01,2024-02-01\n"))
    assert [str(w) for w in result.warnings] == [
        "f.csv, row 2, column 'closed': '2024-02-01' is before the created date 2024-03-01; "
        "stored as given, check both dates"]
    assert load_history(store).deals["closed_at"][0].date().isoformat() == "2024-02-01"


def test_status_must_agree_with_the_stage(store, tmp_path):
    with pytest.raises(ImportFailed) as err:
        run_import(store, "deals", write(tmp_path, "id,stage,outcome\nA,Won,lost\nB,Won,maybe\n"))
    reasons = [p.reason for p in err.value.problems]
    assert "contradicts the stage 'Won'" in reasons[0] and "is not a status" in reasons[1]


def test_skip_invalid_sets_aside_rows_naming_unknown_deals(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "id,stage\nA,Open\n"))
    path = write(tmp_path, "deal id,type,date\nA,call,2024-01-02\nNOPE,call,2024-01-03\n", "act.csv")
    with pytest.raises(ImportFailed) as err:
        run_import(store, "activities", path)
    assert (err.value.problems[0].row, err.value.problems[0].column) == (3, "deal id")
    result = run_import(store, "activities", path, skip_invalid=True)
    assert (result.inserted, result.rejected) == (1, 1)
    assert "NOPE" in Path(result.reject_path).read_text()


def test_broken_mapping_files_are_explained(tmp_path):
    path = write(tmp_path, 'kind = "deals"\nstages = "Won"\n', "m.toml")
    with pytest.raises(DealflowError, match="stages must be a list"):
        load_mapping(path)
    path = write(tmp_path, 'kind = "deals"\ncolumns = "oops"\n', "m.toml")
    with pytest.raises(DealflowError, match=r"\[columns\]"):
        load_mapping(path)


def test_xlsx_blank_rows_are_skipped(store, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in (["id", "stage", "amount"], ["A", "Open", 10], [None, None, None], ["B", "Won", 20]):
        ws.append(row)
    wb.save(tmp_path / "deals.xlsx")
    result = run_import(store, "deals", tmp_path / "deals.xlsx")
    assert result.inserted == 2


def test_not_an_xlsx_is_a_clear_error(store, tmp_path):
    with pytest.raises(DealflowError, match="not an Excel .xlsx workbook"):
        run_import(store, "deals", write(tmp_path, "id,stage\n", "fake.xlsx"))
