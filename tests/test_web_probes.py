"""Script and SQL probes typed into every text field are stored verbatim and shown escaped.

Fields: deal name, account name, activity subject and outcome, lost reason, lead name, and the values
of an imported file. Every one must come back unchanged from the API and the database, and no page
(deal page, board, dashboards) may contain it unescaped."""
from __future__ import annotations

import csv
import io

from markupsafe import escape

from dealflow.store import models as m
from dealflow.web.testing import add_login, api_client, make_app, page_client
from tests.factories import SALES_STAGES

PROBE = "<script>alert('x')</script><img src=x onerror=alert(1)>\"'; DROP TABLE deals; -- {{ 7*7 }} ${7*7} &amp;"
DANGEROUS = ("<script>alert", "<img src=x", "onerror=alert(1)>")


def _assert_escaped(html: str, where: str) -> None:
    for raw in DANGEROUS:
        assert raw not in html, f"{where} shows {raw!r} unescaped"
    assert str(escape("<script>alert('x')</script>")) in html or "&lt;script&gt;" in html, f"{where} does not show the probe"


def test_probes_are_stored_verbatim_and_shown_escaped(store):  # type: ignore[no-untyped-def]
    add_login(store)
    app = make_app(store)
    api = api_client(app)
    pipeline = api.post("/api/pipelines", json={"name": "Sales", "stages": [{"name": n, "kind": k, "probability": p}
                                                                           for n, k, p in SALES_STAGES]}).json()
    account = api.post("/api/accounts", json={"name": PROBE, "sector": PROBE}).json()
    lead = api.post("/api/leads", json={"name": PROBE, "source": PROBE}).json()
    open_deal = api.post("/api/deals", json={"pipeline_id": pipeline["id"], "stage": "Qualify", "name": PROBE,
                                             "account_id": account["id"], "amount": 100, "source": PROBE}).json()
    lost = api.post("/api/deals", json={"pipeline_id": pipeline["id"], "stage": "Qualify", "name": PROBE, "amount": 50}).json()
    activity = api.post("/api/activities", json={"deal_id": open_deal["id"], "kind": "call", "subject": PROBE, "outcome": PROBE})
    assert activity.status_code == 201
    moved = api.post(f"/api/deals/{lost['id']}/moves", json={"stage": "Lost", "lost_reason": PROBE})
    assert moved.status_code == 201
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "account", "pipeline", "stage", "amount", "owner", "source"])
    writer.writerow(["IMP-1", PROBE, PROBE + " (imported)", "Sales", "Qualify", "10", PROBE, PROBE])
    imported = api.post("/api/imports", data={"kind": "deals"},
                        files={"file": ("probe.csv", io.BytesIO(out.getvalue().encode()), "text/csv")})
    assert imported.status_code == 200, imported.text

    # stored verbatim: the API and the database give back exactly what was typed
    assert api.get(f"/api/accounts/{account['id']}").json()["name"] == PROBE
    assert api.get(f"/api/leads/{lead['id']}").json()["name"] == PROBE
    detail = api.get(f"/api/deals/{open_deal['id']}").json()
    assert detail["deal"]["name"] == PROBE and detail["deal"]["source"] == PROBE
    assert [(a["subject"], a["outcome"]) for a in detail["activities"]] == [(PROBE, PROBE)]
    assert api.get(f"/api/deals/{lost['id']}").json()["deal"]["lost_reason"] == PROBE
    found = api.get("/api/deals", params={"q": "IMP-1"}).json()["items"]
    assert [d["name"] for d in found] == [PROBE]
    with store.session() as s:
        assert s.query(m.Deal).count() == 3  # the DROP TABLE did nothing
        assert s.query(m.Owner).filter_by(name=PROBE).count() == 1
        assert s.query(m.Account).filter_by(name=PROBE + " (imported)").count() == 1
    # SQL in a filter is a string to look for, not SQL
    assert api.get("/api/deals", params={"q": "'; DROP TABLE deals; --"}).json()["total"] == 3
    assert api.get("/api/deals", params={"q": "' OR '1'='1"}).json()["total"] == 0
    assert PROBE in api.get("/api/export/deals").text.replace('""', '"')

    # shown escaped on every page
    browser, _ = page_client(app)
    _assert_escaped(browser.get(f"/deals/{open_deal['id']}").text, "the deal page")
    _assert_escaped(browser.get(f"/deals/{lost['id']}").text, "the lost deal's page")
    _assert_escaped(browser.get("/board").text, "the board")
    _assert_escaped(browser.get(f"/board?owner={PROBE}").text, "the board filtered by the probe owner")
    for key in ("report", "inspect", "products"):
        page = browser.get(f"/dashboards/{key}").text + browser.get(f"/dashboards/{key}/body").text
        for raw in DANGEROUS:
            assert raw not in page, f"dashboard {key} shows {raw!r} unescaped"
    # the error pages echo input escaped too
    err = browser.get(f"/dashboards/{PROBE}")
    for raw in DANGEROUS:
        assert raw not in err.text
