"""Importing: atomic by default, rejects with reasons on request, idempotent, clear errors."""
from pathlib import Path

import pytest

from dealflow.errors import ImportFailed
from dealflow.ingest import run_import
from dealflow.store.frames import load_history

DEALS = """Opportunity ID,Opportunity Name,Account Name,Stage,Amount,Close Date,Created Date
D1,Alpha,Acme,Prospecting,1000,,2024-01-02
D2,Beta,Acme,Closed Won,"2,500",2024-02-10,2024-01-05
D3,Gamma,Initech,Closed Lost,700,2024-02-11,2024-01-06
D4,Delta,Initech,Negotiation,12x0,,2024-01-07
"""


def write(tmp_path: Path, text: str, name: str = "deals.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_one_bad_amount_stores_nothing_and_names_the_row(store, tmp_path):
    path = write(tmp_path, DEALS)
    with pytest.raises(ImportFailed) as err:
        run_import(store, "deals", path)
    problem = err.value.problems[0]
    assert (problem.file, problem.row, problem.column, problem.value) == ("deals.csv", 5, "Amount", "12x0")
    assert "not a number" in problem.reason
    assert "deals.csv, row 5, column 'Amount'" in str(err.value)
    assert load_history(store).deals.height == 0


def test_skip_invalid_stores_the_rest_and_writes_rejects(store, tmp_path):
    path = write(tmp_path, DEALS)
    result = run_import(store, "deals", path, skip_invalid=True)
    assert (result.inserted, result.rejected) == (3, 1)
    rejects = Path(result.reject_path).read_text().splitlines()
    assert rejects[0].startswith("row,Opportunity ID")
    assert rejects[1].startswith("5,D4") and "not a number" in rejects[1]
    deals = load_history(store).deals.sort("external_id")
    assert deals["status"].to_list() == ["open", "won", "lost"]
    assert deals["amount"].to_list() == [1000, 2500, 700]


def test_reimport_changes_nothing(store, tmp_path):
    path = write(tmp_path, DEALS.replace("12x0", "1200"))
    first = run_import(store, "deals", path)
    before = load_history(store)
    second = run_import(store, "deals", path)
    after = load_history(store)
    assert (first.inserted, second.inserted, second.updated, second.unchanged) == (4, 0, 0, 4)
    assert after.deals.equals(before.deals)
    assert after.stage_changes.height == before.stage_changes.height


def test_reimport_records_moves_and_amount_edits(store, tmp_path):
    run_import(store, "deals", write(tmp_path, DEALS.replace("12x0", "1200")))
    moved = DEALS.replace("12x0", "1500").replace("D4,Delta,Initech,Negotiation", "D4,Delta,Initech,Closed Won").replace(",1500,,", ",1500,2024-03-01,")
    run_import(store, "deals", write(tmp_path, moved, "later.csv"))
    h = load_history(store)
    d4 = h.deals.filter(external_id="D4").row(0, named=True)
    assert d4["status"] == "won"
    changes = h.stage_changes.filter(deal_id=d4["id"])
    assert changes["to_stage"].to_list() == ["Negotiation", "Closed Won"]
    edits = h.field_changes.filter(deal_id=d4["id"])
    assert edits.select("field", "old_value", "new_value").row(0) == ("amount", "1200.0", "1500.0")


def test_won_and_lost_stage_names_set_status(store, tmp_path):
    run_import(store, "deals", write(tmp_path, DEALS.replace("12x0", "1")))
    kinds = dict(load_history(store).stages.select("name", "kind").iter_rows())
    assert kinds["Closed Won"] == "won" and kinds["Closed Lost"] == "lost" and kinds["Prospecting"] == "open"


def test_duplicate_ids_in_one_file_are_refused(store, tmp_path):
    path = write(tmp_path, "Opportunity ID,Stage\nA,Open\nA,Won\n")
    with pytest.raises(ImportFailed) as err:
        run_import(store, "deals", path)
    assert err.value.problems[0].row == 3 and "repeats an id" in err.value.problems[0].reason


def test_product_differing_in_spaces_is_matched_and_reported(store, tmp_path):
    run_import(store, "products", write(tmp_path, "product,sales_price\nGTX Pro,4821\n", "p.csv"))
    result = run_import(store, "deals", write(tmp_path, "opportunity_id,deal_stage,product\nX1,Won,GTXPro\n"))
    assert any("'GTXPro' matched to the known product 'GTX Pro'" in n for n in result.notes)
    h = load_history(store)
    assert h.deals["product"].to_list() == ["GTX Pro"]
    assert h.products.height == 1


def test_missing_required_column_says_how_to_map_it(store, tmp_path):
    from dealflow.errors import DealflowError

    with pytest.raises(DealflowError, match=r"--map COLUMN=external_id"):
        run_import(store, "deals", write(tmp_path, "Whatever,Stage\n1,Won\n"))


def test_stage_history_for_unknown_deal_names_the_row(store, tmp_path):
    path = write(tmp_path, "Opportunity ID,Stage,Date\nNOPE,Won,2024-01-01\n", "hist.csv")
    with pytest.raises(ImportFailed) as err:
        run_import(store, "stage_history", path)
    assert err.value.problems[0].row == 2 and err.value.problems[0].value == "NOPE"


def test_stage_history_rebuilds_current_stage(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "Opportunity ID,Stage,Created Date\nA,Qualify,2024-01-01\n"))
    hist = "Opportunity ID,Stage,Date\nA,Propose,2024-01-05\nA,Qualify,2024-01-07\nA,Closed Lost,2024-01-09\n"
    run_import(store, "stage_history", write(tmp_path, hist, "hist.csv"))
    run_import(store, "stage_history", write(tmp_path, hist, "hist.csv"))  # again: no duplicates
    h = load_history(store)
    assert h.stage_changes["to_stage"].to_list() == ["Qualify", "Propose", "Qualify", "Closed Lost"]
    assert h.deals["status"].to_list() == ["lost"]


def test_activities_link_to_deals(store, tmp_path):
    run_import(store, "deals", write(tmp_path, "Opportunity ID,Stage\nA,Qualify\n"))
    run_import(store, "activities", write(tmp_path, "Deal ID,Type,Date\nA,call,2024-01-02T10:00:00+02:00\n", "act.csv"))
    acts = load_history(store).activities
    assert acts["kind"].to_list() == ["call"]
    assert acts["at"][0].isoformat() == "2024-01-02T08:00:00+00:00"
