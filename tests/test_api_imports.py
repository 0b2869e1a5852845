"""Imports over HTTP: preview the detected mapping, run atomically, or keep the valid rows and name the rejects."""
from __future__ import annotations

import json

import pytest

from dealflow.web.testing import add_login, api_client, make_app

CSV = (
    "Opportunity ID,Account,Sales Agent,Deal Stage,Close Value,Created\n"
    "OPP-1,Acme,Ana,Prospecting,1200,2024-01-02\n"
    "OPP-2,Globex,Bob,Engaging,not-a-number,2024-01-03\n"
    "OPP-3,Initech,Ana,Engaging,800,2024-01-04\n"
)


@pytest.fixture
def api(store):  # type: ignore[no-untyped-def]
    add_login(store)
    return api_client(make_app(store))


def test_kinds_and_preview(api):  # type: ignore[no-untyped-def]
    kinds = api.get("/api/imports/kinds").json()
    assert "deals" in kinds and "external_id" in kinds["deals"]
    r = api.post("/api/imports/preview", data={"kind": "deals"}, files={"file": ("deals.csv", CSV, "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total_rows"] == 3 and body["columns"][0] == "Opportunity ID"
    assert body["mapping"]["Opportunity ID"] == "external_id" and body["mapping"]["Close Value"] == "amount"
    assert body["mapping"]["Sales Agent"] == "owner" and body["mapping"]["Deal Stage"] == "stage"
    assert body["rows"][1]["Close Value"] == "not-a-number"
    assert api.post("/api/imports/preview", data={"kind": "deals"}, files={"file": ("x.exe", b"MZ", "application/octet-stream")}).status_code == 422


def test_import_is_atomic_and_names_the_bad_row(api):  # type: ignore[no-untyped-def]
    failed = api.post("/api/imports", data={"kind": "deals"}, files={"file": ("deals.csv", CSV, "text/csv")})
    assert failed.status_code == 422
    err = failed.json()["error"]
    assert err["message"] == "1 invalid value(s); nothing was stored"
    assert [(p["row"], p["column"], p["value"]) for p in err["problems"]] == [(3, "Close Value", "not-a-number")]
    assert api.get("/api/deals").json()["total"] == 0

    preview = api.post("/api/imports/preview", data={"kind": "deals"}, files={"file": ("deals.csv", CSV, "text/csv")}).json()
    done = api.post("/api/imports", data={"kind": "deals", "upload": preview["upload"], "skip_invalid": "true"})
    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["rows"], result["inserted"], result["rejected"]) == (3, 2, 1)
    assert result["problems"][0]["row"] == 3 and result["problems"][0]["file"] == "deals.csv"
    assert sorted(d["external_id"] for d in api.get("/api/deals").json()["items"]) == ["OPP-1", "OPP-3"]
    runs = api.get("/api/imports").json()
    assert runs["total"] == 1 and runs["items"][0]["rejected"] == 1
    audited = [e for e in api.get("/api/audit").json()["items"] if e["action"] == "import"]
    assert [(e["entity_id"], e["remote_addr"]) for e in audited] == [("deals.csv", "testclient")]


def test_mapping_override_and_bad_input(api):  # type: ignore[no-untyped-def]
    csv_text = "Ref,Value,Phase\nA-1,10,Open\nA-2,20,Open\n"
    mapping = json.dumps({"Ref": "external_id", "Value": "amount", "Phase": "stage"})
    r = api.post("/api/imports", data={"kind": "deals", "mapping": mapping}, files={"file": ("x.csv", csv_text, "text/csv")})
    assert r.status_code == 200, r.text
    assert sorted(d["amount"] for d in api.get("/api/deals").json()["items"]) == [10.0, 20.0]
    assert api.post("/api/imports", data={"kind": "deals", "mapping": "{nope"}, files={"file": ("x.csv", csv_text, "text/csv")}).status_code == 422
    assert api.post("/api/imports", data={"kind": "deals"}).status_code == 422
    gone = api.post("/api/imports", data={"kind": "deals", "upload": "A" * 24})
    assert gone.status_code == 404 and "upload the file again" in gone.json()["error"]["message"]


def test_xlsx_upload_is_previewed(api, tmp_path):  # type: ignore[no-untyped-def]
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Deal ID", "Stage", "Amount"])
    ws.append(["X-1", "Qualify", 120])
    ws.append(["X-2", "Qualify", 80])
    path = tmp_path / "deals.xlsx"
    wb.save(path)
    r = api.post("/api/imports/preview", data={"kind": "deals"},
                 files={"file": ("deals.xlsx", path.read_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total_rows"] == 2 and body["mapping"] == {"Deal ID": "external_id", "Stage": "stage", "Amount": "amount"}
    done = api.post("/api/imports", data={"kind": "deals", "upload": body["upload"]})
    assert done.status_code == 200 and done.json()["inserted"] == 2


def test_import_result_lists_warnings(api):  # type: ignore[no-untyped-def]
    csv_text = "Opportunity ID,Deal Stage,Close Value,Created,Close Date\nW-1,Won,,2024-01-02,2024-02-01\nW-2,Won,500,2024-01-02,2024-02-01\n"
    done = api.post("/api/imports", data={"kind": "deals"}, files={"file": ("won.csv", csv_text, "text/csv")})
    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["inserted"], result["problems"]) == (2, [])
    assert [(w["row"], w["column"], w["reason"]) for w in result["warnings"]] == [
        (2, "Close Value", "the deal is won ('Won') but has no amount; it is stored without one and adds nothing to won revenue")]
