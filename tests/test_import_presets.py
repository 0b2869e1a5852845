"""Vendor presets: each fixture is laid out like the vendor's real export (headers, quoting, date
formats, stage names), with made-up data; every stored value is asserted."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

from dealflow.errors import DealflowError, ImportFailed
from dealflow.ingest import run_import
from dealflow.ingest.presets import preset_mapping
from dealflow.store import Store
from dealflow.store import models as m

PRESETS = Path(__file__).parent / "fixtures" / "imports" / "presets"

# Tables an import writes; its own log (import_runs, audit_log) grows with every run by design.
_LOGS = {"import_runs", "audit_log"}


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of every table but the logs, in a stable order."""
    out = {}
    with store.session() as s:
        for table in m.Base.metadata.sorted_tables:
            if table.name not in _LOGS:
                out[table.name] = sorted((tuple(r) for r in s.execute(select(table))), key=repr)
    return out


def stored_deals(store: Store) -> list[tuple[Any, ...]]:
    """(id, name, pipeline, stage, status, amount, currency, created, closed, expected close, owner, account, lost reason)."""
    with store.session() as s:
        rows = s.execute(
            select(m.Deal.external_id, m.Deal.name, m.Pipeline.name, m.Stage.name, m.Deal.status, m.Deal.amount, m.Deal.currency,
                   m.Deal.created_at, m.Deal.closed_at, m.Deal.expected_close_date, m.Owner.name, m.Account.name, m.Deal.lost_reason)
            .join(m.Stage, m.Deal.stage_id == m.Stage.id).join(m.Pipeline, m.Deal.pipeline_id == m.Pipeline.id)
            .outerjoin(m.Owner, m.Deal.owner_id == m.Owner.id).outerjoin(m.Account, m.Deal.account_id == m.Account.id)
            .order_by(m.Deal.external_id)
        ).all()
    iso = lambda v: None if v is None else v.isoformat()  # noqa: E731
    return [(e, n, p, st, status, amount, cur, iso(c), iso(cl), iso(x), o, a, lr) for e, n, p, st, status, amount, cur, c, cl, x, o, a, lr in rows]


def attributes(store: Store, external_id: str) -> dict[str, Any] | None:
    with store.session() as s:
        return s.scalar(select(m.Deal.attributes).where(m.Deal.external_id == external_id))


def stage_path(store: Store) -> list[tuple[str, str, str]]:
    """(deal, stage entered, when) in time order per deal."""
    to = aliased(m.Stage)
    with store.session() as s:
        rows = s.execute(select(m.Deal.external_id, to.name, m.StageChange.at).join(m.Deal, m.StageChange.deal_id == m.Deal.id)
                         .join(to, m.StageChange.to_stage_id == to.id).order_by(m.Deal.external_id, m.StageChange.at)).all()
    return [(d, st, at.isoformat()) for d, st, at in rows]


CASES = {
    "salesforce": ("salesforce_opportunities.csv", "salesforce_opportunity_history.csv", [
        ("0065g00000AbCdEAA1", "Brightwater - Renewal 2024", "Sales", "Closed Won", "won", 12000.0, "USD",
         "2024-01-30T00:00:00", "2024-03-15T00:00:00", "2024-03-15", "Nora Quill", "Brightwater Labs", None),
        ("0065g00000AbCdFAA1", "Kestrel - Fleet Pilot", "Sales", "Proposal/Price Quote", "open", 48500.0, "USD",
         "2024-02-14T00:00:00", None, "2024-05-31", "Nora Quill", "Kestrel Freight", None),
        ("0065g00000AbCdGAA1", "Tidepool - Expansion", "Sales", "Closed Lost", "lost", 7300.0, "EUR",
         "2024-01-28T00:00:00", "2024-03-28T00:00:00", "2024-03-28", "Omar Vance", "Tidepool Analytics", None),
    ], [
        # The history report adds the path; its amount-only row (Negotiation -> Negotiation) is no move.
        ("0065g00000AbCdEAA1", "Prospecting", "2024-01-30T00:00:00"),
        ("0065g00000AbCdEAA1", "Negotiation/Review", "2024-02-20T00:00:00"),
        ("0065g00000AbCdEAA1", "Closed Won", "2024-03-15T00:00:00"),
        ("0065g00000AbCdFAA1", "Proposal/Price Quote", "2024-02-14T00:00:00"),
        ("0065g00000AbCdGAA1", "Closed Lost", "2024-03-28T00:00:00"),
    ], ("0065g00000AbCdFAA1", {"Fiscal Period": "Q2-2024", "probability": 0.75, "Age": "20",
                               "Next Step": "Send revised quote", "Type": "New Business"})),
    "hubspot": ("hubspot_deals.csv", None, [
        ("9876543210", "Harbor Lights - Annual", "Sales Pipeline", "Closed Won", "won", 15000.0, None,
         "2024-02-01T09:30:00", "2024-03-20T16:45:00", "2024-03-20", "Priya Holm", "Harbor Lights Co", None),
        # Internal ids (contractsent, default) are rewritten to the labels.
        ("9876543211", "Juniper Bikes - Pilot", "Sales Pipeline", "Contract Sent", "open", 8200.0, None,
         "2024-03-02T14:10:00", None, "2024-06-30", "Priya Holm", "Juniper Bikes", None),
    ], [
        ("9876543210", "Appointment Scheduled", "2024-02-01T09:30:00"),
        ("9876543210", "Contract Sent", "2024-03-05T11:00:00"),
        ("9876543210", "Closed Won", "2024-03-20T16:45:00"),
        ("9876543211", "Appointment Scheduled", "2024-03-02T14:10:00"),
        ("9876543211", "Contract Sent", "2024-04-11T10:15:00"),
    ], ("9876543210", {"Deal Type": "newbusiness", 'Date exited "Appointment Scheduled (Sales Pipeline)"': "2024-03-05 11:00"})),
    "pipedrive": ("pipedrive_deals.csv", "pipedrive_deal_updates.csv", [
        # Won and lost deals keep their last open stage in Pipedrive; their status closes them.
        ("101", "Olmstead Dairy deal", "Pipeline", "Won", "won", 2400.0, "EUR",
         "2024-01-08T10:00:00", "2024-02-12T15:20:00", "2024-02-15", "Ines Borg", "Olmstead Dairy", None),
        ("102", "Quarry Hill deal", "Pipeline", "Lost", "lost", 990.5, "EUR",
         "2024-01-10T09:15:00", "2024-01-29T17:00:00", None, "Ines Borg", "Quarry Hill Tiles", "Price too high"),
        ("103", "Vellum Press deal", "Pipeline", "Qualified", "open", 5000.0, "USD",
         "2024-02-01T08:00:00", None, "2024-04-30", "Tomas Reyes", "Vellum Press", None),
    ], [
        # Only Stage and Status rows count: not the Value or Expected close date rows, nor the
        # "open" status a deal starts with; deal 103's Qualified row repeats the stage it is in.
        ("101", "Negotiations Started", "2024-01-20T11:00:00"),
        ("101", "Won", "2024-02-12T15:20:00"),
        ("102", "Proposal Made", "2024-01-15T12:00:00"),
        ("102", "Lost", "2024-01-29T17:00:00"),
        ("103", "Qualified", "2024-02-01T08:00:00"),
    ], ("102", {"Deal - Lost time": "2024-01-29 17:00:00", "Deal - Label": "Hot"})),
    "odoo": ("odoo_crm_lead.csv", "odoo_tracking_values.csv", [
        ("42", "Solar panels for Ferngully School", "Sales", "Won", "won", 18000.0, None,
         "2024-02-05T09:12:44", "2024-04-22T14:03:10", "2024-04-30", "Lea Marchetti", "Ferngully School", None),
        # Archived (Active = False) is how Odoo marks a lost opportunity, in any stage.
        ("43", "Roof survey Birchwood", "Sales", "Lost", "lost", 3500.0, None,
         "2024-02-19T11:40:02", "2024-03-30T10:00:00", "2024-05-15", "Lea Marchetti", "Birchwood Estates", "Too expensive"),
        ("44", "Heat pump retrofit", "Sales", "Qualified", "open", 9200.0, None,
         "2024-03-01T16:20:00", None, None, "Marc Duval", "Oakhaven Clinic", None),
    ], [
        # Tracking rows of other fields (Salesperson) and other models (a helpdesk ticket 42) are dropped.
        ("42", "Qualified", "2024-02-12T10:00:00"),
        ("42", "Proposition", "2024-03-18T15:30:00"),
        ("42", "Won", "2024-04-22T14:03:10"),
        ("43", "Lost", "2024-03-30T10:00:00"),
        ("44", "Qualified", "2024-03-01T16:20:00"),
    ], ("42", {"Sales Team": "Europe", "probability": 1.0, "Tags": "solar"})),
    "zoho": ("zoho_deals.csv", "zoho_stage_history.csv", [
        ("zcrm_5512000000123001", "Greenleaf - CRM rollout", "Sales", "Closed Won", "won", 25000.0, "USD",
         "2024-03-01T10:05:11", "2024-05-10T00:00:00", "2024-05-10", "Arjun Mehta", "Greenleaf Foods", None),
        ("zcrm_5512000000123002", "Pinecrest - Support plan", "Sales", "Closed-Lost to Competition", "lost", 4000.0, "USD",
         "2024-02-11T13:00:00", "2024-04-02T00:00:00", "2024-04-02", "Arjun Mehta", "Pinecrest Dental", None),
        ("zcrm_5512000000123003", "Marlow - Upgrade", "Sales", "Negotiation/Review", "open", 12000.0, "USD",
         "2024-04-03T09:30:00", None, "2024-07-31", "Sofia Lind", "Marlow Printing", None),
    ], [
        ("zcrm_5512000000123001", "Qualification", "2024-03-01T10:05:11"),
        ("zcrm_5512000000123001", "Negotiation/Review", "2024-03-13T16:00:00"),
        ("zcrm_5512000000123001", "Closed Won", "2024-05-10T00:00:00"),
        ("zcrm_5512000000123002", "Closed-Lost to Competition", "2024-04-02T00:00:00"),
        ("zcrm_5512000000123003", "Negotiation/Review", "2024-04-03T09:30:00"),
    ], ("zcrm_5512000000123003", {"Type": "Existing Business", "probability": 0.9, "Expected Revenue": "10800",
                                  "Modified Time": "2024-04-20 12:00:00"})),
}


def _import_all(store: Store, vendor: str) -> list[Any]:
    deals, history, *_ = CASES[vendor]
    results = [run_import(store, "deals", PRESETS / deals, preset=vendor)]
    if history:
        results.append(run_import(store, "stage_history", PRESETS / history, preset=vendor))
    return results


@pytest.mark.parametrize("vendor", list(CASES))
def test_preset_stores_the_exact_values(store, vendor):
    _, _, deals, path, (deal, attrs) = CASES[vendor]
    _import_all(store, vendor)
    assert stored_deals(store) == deals
    assert stage_path(store) == path
    assert attributes(store, deal) == attrs  # columns the preset does not name are custom fields; a probability too (0..1)


@pytest.mark.parametrize("vendor", list(CASES))
def test_importing_a_preset_twice_changes_nothing(store, vendor):
    _import_all(store, vendor)
    before = snapshot(store)
    again = _import_all(store, vendor)
    assert snapshot(store) == before
    assert [(r.inserted, r.updated) for r in again] == [(0, 0)] * len(again)


def test_tracking_files_say_how_many_rows_they_kept(store):
    deals, history = run_import(store, "deals", PRESETS / "odoo_crm_lead.csv", preset="odoo"), None
    history = run_import(store, "stage_history", PRESETS / "odoo_tracking_values.csv", preset="odoo")
    assert deals.rows == 3 and history.rows == 4
    assert history.notes[0] == "kept 4 of 6 rows: the others record changes of other fields (column 'Field, Mail Message/Document Model')"


def test_a_failed_preset_import_leaves_the_store_exactly_as_it_was(store, tmp_path):
    run_import(store, "deals", PRESETS / "pipedrive_deals.csv", preset="pipedrive")
    before = snapshot(store)
    bad = tmp_path / "pipedrive_deals_next.csv"
    # A newer export that moves deal 103 and adds deal 104, with one bad value: nothing is stored.
    bad.write_text(
        '"Deal - ID","Deal - Title","Deal - Value","Deal - Currency","Deal - Stage","Deal - Status","Deal - Owner"\n'
        '"103","Vellum Press deal","5000","USD","Proposal Made","Open","Tomas Reyes"\n'
        '"104","Wrenfield deal","1.2OO","USD","Qualified","Open","New Person"\n'
    )
    with pytest.raises(ImportFailed) as err:
        run_import(store, "deals", bad, preset="pipedrive")
    assert [str(p) for p in err.value.problems] == [
        "pipedrive_deals_next.csv, row 3, column 'Deal - Value': '1.2OO' is not a number (write 1200, 1,200.50 or 1.200,50)"]
    assert snapshot(store) == before


def test_map_overrides_a_preset(store):
    run_import(store, "deals", PRESETS / "salesforce_opportunities.csv", preset="salesforce",
               overrides={"Next Step": "ignore", "Fiscal Period": "ignore"})
    assert attributes(store, "0065g00000AbCdFAA1") == {"probability": 0.75, "Age": "20", "Type": "New Business"}


def test_preset_and_map_resolve_against_the_file_headers():
    used = preset_mapping("salesforce", "stage_history", ["Opportunity ID", "From Stage", "To Stage", "Last Modified", "Last Modified By"])
    assert used.columns == {"Opportunity ID": "deal", "To Stage": "stage", "Last Modified": "at", "Last Modified By": "by",
                            "From Stage": "ignore"}
    # Data Loader exports use API names; the same preset reads them.
    api = preset_mapping("salesforce", "deals", ["Id", "Name", "StageName", "Amount", "CloseDate", "CreatedDate"])
    assert api.columns == {"Id": "external_id", "Name": "name", "StageName": "stage", "Amount": "amount",
                           "CloseDate": "closed_at", "CreatedDate": "created_at"}


@pytest.mark.parametrize("vendor, kind, message", [
    ("hubspot", "stage_history", "--preset hubspot has no stage_history layout: HubSpot keeps stage history in the deals export's "
                                 "'Date entered \"<stage>\"' columns: import that file with `dealflow import deals FILE --preset hubspot`"),
    ("zoho", "leads", "--preset zoho covers deals and stage_history files, not leads; import leads without --preset"),
    ("sugarcrm", "deals", "unknown preset 'sugarcrm'; choose one of: salesforce, hubspot, pipedrive, odoo, zoho"),
])
def test_preset_errors_say_what_to_do(vendor, kind, message):
    with pytest.raises(DealflowError) as err:
        preset_mapping(vendor, kind, ["Record ID"])
    assert str(err.value) == message


def test_a_history_report_without_the_id_column_names_it(store):
    # The Opportunity History report lacks the Opportunity ID column unless it is added.
    path = PRESETS / "salesforce_opportunity_history.csv"
    with pytest.raises(DealflowError, match=r"no column holds the required field\(s\) deal; name one with --map COLUMN=deal"):
        run_import(store, "stage_history", path, preset="salesforce", overrides={"Opportunity ID": "ignore"})


def test_preset_and_mapping_file_are_exclusive(store, tmp_path):
    from dealflow.ingest import load_mapping

    path = tmp_path / "m.toml"
    path.write_text('kind = "deals"\n[columns]\n"Deal - ID" = "external_id"\n')
    with pytest.raises(DealflowError, match="give either a preset or a mapping file, not both"):
        run_import(store, "deals", PRESETS / "pipedrive_deals.csv", preset="pipedrive", mapping=load_mapping(path))


def test_a_preset_saved_as_a_mapping_file_round_trips(tmp_path):
    from dealflow.ingest import load_mapping

    used = preset_mapping("pipedrive", "stage_history", ["Deal ID", "Field", "Old value", "New value", "Update time", "User"])
    path = tmp_path / "pipedrive.toml"
    path.write_text(used.to_toml())
    again = load_mapping(path)
    assert (again.columns, again.keep_rows, again.drop_rows, again.values) == (used.columns, used.keep_rows, used.drop_rows, used.values)
    assert again.keep_rows == {"Field": ["Stage", "stage_id", "Status", "status"]}


def test_preset_imports_warn_about_new_owners_and_stages(store):
    deals = run_import(store, "deals", PRESETS / "odoo_crm_lead.csv", preset="odoo")
    assert [str(w) for w in deals.warnings] == [
        f"odoo_crm_lead.csv, row {row}, column 'Salesperson': '{name}' is not a known owner; a new owner will be created ({n}). "
        "Import owners first to give them a team and email, or fix the spelling"
        for row, name, n in ((2, "Lea Marchetti", "2 rows"), (4, "Marc Duval", "1 row"))]
    history = run_import(store, "stage_history", PRESETS / "odoo_tracking_values.csv", preset="odoo")
    assert [str(w) for w in history.warnings] == [
        "odoo_tracking_values.csv, row 5, column 'New Value Char': 'Proposition' is not a stage of pipeline 'Sales' "
        "(its stages: Qualified, Won, Lost); it will be added to it (1 row). "
        "If it is a misspelling, fix the file or rewrite it in the mapping's [values.stage]"]


def test_python_api_takes_a_preset(store):
    from dealflow.api import Dealflow

    result = Dealflow(store).import_file("deals", PRESETS / "zoho_deals.csv", preset="zoho")
    assert (result.inserted, result.mapping.preset if result.mapping else None) == (3, "zoho")
    assert [d[3] for d in stored_deals(store)] == ["Closed Won", "Closed-Lost to Competition", "Negotiation/Review"]
