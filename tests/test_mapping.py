"""Column mapping: detected from CRM export headers, overridable, savable."""
import pytest

from dealflow.domain import StageKind, stage_kind_from_name
from dealflow.ingest import detect_mapping, load_mapping
from dealflow.ingest.mapping import resolve_mapping


@pytest.mark.parametrize("headers, expected", [
    (["Opportunity ID", "Opportunity Name", "Account Name", "Stage", "Amount", "Close Date", "Created Date", "Opportunity Owner"],
     {"Opportunity ID": "external_id", "Opportunity Name": "name", "Account Name": "account", "Stage": "stage",
      "Amount": "amount", "Close Date": "closed_at", "Created Date": "created_at", "Opportunity Owner": "owner"}),  # Salesforce
    (["Record ID", "Deal Name", "Deal Stage", "Amount", "Create Date", "Deal owner", "Date entered \"Appointment Scheduled (Sales Pipeline)\""],
     {"Record ID": "external_id", "Deal Name": "name", "Deal Stage": "stage", "Amount": "amount", "Create Date": "created_at",
      "Deal owner": "owner", "Date entered \"Appointment Scheduled (Sales Pipeline)\"": "entered:Appointment Scheduled"}),  # HubSpot
    (["Deal - ID", "Deal - Title", "Deal - Value", "Deal - Stage", "Deal - Organization", "Deal - Lost reason"],
     {"Deal - ID": "external_id", "Deal - Title": "name", "Deal - Value": "amount", "Deal - Stage": "stage",
      "Deal - Organization": "account", "Deal - Lost reason": "lost_reason"}),  # Pipedrive
])
def test_detects_crm_exports(headers, expected):
    assert detect_mapping("deals", headers) == expected


def test_override_replaces_the_detected_column_for_a_field():
    used = resolve_mapping("leads", ["Prospect ID", "Lead Origin", "Lead Source"], mapping=None, overrides={"Lead Origin": "source"})
    assert used.columns["Lead Origin"] == "source"
    assert "Lead Source" not in used.columns


def test_saved_mapping_round_trips(tmp_path):
    used = resolve_mapping("deals", ["id", "value", "engaged"], mapping=None, overrides={"engaged": "entered:Engaging"})
    used.defaults["stages"] = ["Prospecting", "Engaging", "Won"]
    path = tmp_path / "m.toml"
    path.write_text(used.to_toml())
    again = load_mapping(path)
    assert again.columns == {"id": "external_id", "value": "amount", "engaged": "entered:Engaging"}
    assert again.defaults["stages"] == ["Prospecting", "Engaging", "Won"]


@pytest.mark.parametrize("name, kind", [
    ("Won", StageKind.WON), ("Closed Won", StageKind.WON), ("closedwon", StageKind.WON),
    ("Lost", StageKind.LOST), ("Closed Lost", StageKind.LOST), ("Closed - Lost", StageKind.LOST),
    ("Negotiation", StageKind.OPEN), ("Won't buy soon", StageKind.OPEN),
])
def test_stage_kind_from_name(name, kind):
    assert stage_kind_from_name(name) is kind
