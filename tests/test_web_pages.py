"""Server-rendered pages: board totals and filters, the deal page and its forms, dashboards, the import page,
autoescaping and the same-origin-only content policy."""
from __future__ import annotations

import re

import pytest

from dealflow.store import models as m
from dealflow.web.testing import add_login, make_app, page_client
from tests.factories import add_deal


@pytest.fixture
def seeded(store):  # type: ignore[no-untyped-def]
    add_deal(store, "D1", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05")], amount=1000, owner="ana", product="Widget")
    add_deal(store, "D2", [("Qualify", "2024-01-02")], amount=500, owner="bob", activities=[("call", "2024-01-03")])
    add_deal(store, "D3", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], amount=700, owner="bob", product="Gadget")
    add_deal(store, "D5", [("Qualify", "2024-01-03"), ("Propose", "2024-01-09")], amount=2000, owner="bob", product="Gadget")
    add_login(store)
    return store


@pytest.fixture
def web(seeded):  # type: ignore[no-untyped-def]
    return page_client(make_app(seeded))


def deal_id(store, external_id: str) -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return s.query(m.Deal.id).filter(m.Deal.external_id == external_id).scalar()


def totals(html: str, stage_id: int) -> tuple[str, str, str]:
    block = re.search(rf'data-totals="{stage_id}">(.*?)</dl>', html, re.S).group(1)  # type: ignore[union-attr]
    return tuple(re.findall(r'data-total="\w+">([^<]*)<', block))  # type: ignore[return-value]


def test_board_columns_totals_and_filters(web, seeded):  # type: ignore[no-untyped-def]
    client, _ = web
    html = client.get("/board").text
    assert [n for n in re.findall(r'<section class="column kind-\w+" data-stage="([^"]+)"', html)] == [
        "Qualify", "Propose", "Negotiate", "Won", "Lost"]
    # Propose holds D1 (1000) and D5 (2000) at 40%: 2 deals, 3,000, weighted 1,200.
    assert totals(html, 2) == ("2", "3,000", "1,200")
    assert totals(html, 1) == ("1", "500", "50")
    assert totals(html, 4) == ("1", "700", "700")
    filtered = client.get("/board?owner=bob").text
    assert totals(filtered, 2) == ("1", "2,000", "800")
    by_product = client.get("/board?product=Widget").text
    assert totals(by_product, 2) == ("1", "1,000", "400") and totals(by_product, 1) == ("0", "0", "0")
    assert client.get("/board/totals?owner=ana").json()["2"] == {"count": 1, "amount": 1000.0, "weighted": 400.0}


def test_board_move_updates_totals_and_history(web, seeded):  # type: ignore[no-untyped-def]
    client, csrf = web
    d5 = deal_id(seeded, "D5")
    before = client.get("/board/totals").json()
    r = client.post(f"/api/deals/{d5}/moves", json={"stage": "Negotiate", "expected_version": 2}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    after = client.get("/board/totals").json()
    assert (before["2"]["count"], after["2"]["count"]) == (2, 1)
    assert after["3"] == {"count": 1, "amount": 2000.0, "weighted": 1400.0}
    page = client.get(f"/deals/{d5}").text
    assert "Propose → Negotiate" in page and "by ana@example.com" in page


def test_deal_page_forms(web, seeded):  # type: ignore[no-untyped-def]
    client, csrf = web
    d2 = deal_id(seeded, "D2")
    page = client.get(f"/deals/{d2}").text
    assert "created in Qualify" in page and "10%" in page and "default probability of stage <em>Qualify</em>" in page
    no_csrf = client.post(f"/deals/{d2}/activities", data={"kind": "call", "subject": "x"})
    assert no_csrf.status_code == 403
    logged = client.post(f"/deals/{d2}/activities", data={"csrf": csrf, "kind": "meeting", "subject": "Kick-off",
                                                          "at": "2024-01-04T09:30", "outcome": "agreed next step"},
                         follow_redirects=False)
    assert logged.status_code == 303 and logged.headers["location"] == f"/deals/{d2}"
    page = client.get(f"/deals/{d2}").text
    assert "meeting: Kick-off" in page and "agreed next step" in page
    lost_without = client.post(f"/deals/{d2}/move", data={"csrf": csrf, "stage": "Lost", "version": "1"}, follow_redirects=True)
    assert "needs a lost reason" in lost_without.text
    lost = client.post(f"/deals/{d2}/move", data={"csrf": csrf, "stage": "Lost", "version": "1", "lost_reason": "no budget left"})
    assert lost.status_code == 200 and "Qualify → Lost" in lost.text and "no budget left" in lost.text
    edited = client.post(f"/deals/{d2}/edit", data={"csrf": csrf, "amount": "750", "expected_close_date": "2024-06-30", "version": "2"})
    assert "amount: 500.0 → 750.0" in edited.text and "expected close date: – → 2024-06-30" in edited.text
    stale = client.post(f"/deals/{d2}/edit", data={"csrf": csrf, "amount": "1", "version": "1"})
    assert "was changed by someone else" in stale.text
    assert client.get("/deals/9999").status_code == 404


def test_suggested_products_for_the_account(store):  # type: ignore[no-untyped-def]
    with store.atomic() as s:
        a1 = m.Account(external_id="A1", name="Acme", sector="retail")
        a2 = m.Account(external_id="A2", name="Shop", sector="retail")
        s.add_all([a1, a2])
        s.flush()
        ids = a1.id, a2.id
    add_deal(store, "X1", [("Qualify", "2024-01-01"), ("Won", "2024-01-10")], product="Widget", account_id=ids[1])
    add_deal(store, "X2", [("Qualify", "2024-01-01"), ("Won", "2024-01-10")], product="Gadget", account_id=ids[1])
    add_deal(store, "X3", [("Qualify", "2024-01-01")], product="Widget", account_id=ids[0])
    add_login(store)
    client, _ = page_client(make_app(store))
    page = client.get(f"/deals/{deal_id(store, 'X3')}").text
    section = page.split("Products the account may buy")[1].split("</ul>")[0]
    assert "Gadget" in section and "Widget" not in section and "won at 1 account in retail" in section


def test_script_probes_are_escaped(store):  # type: ignore[no-untyped-def]
    probe = "<script>alert(1)</script>"
    add_deal(store, "XSS", [("Qualify", "2024-01-01")], owner=probe, name=probe)
    add_login(store)
    client, csrf = page_client(make_app(store))
    did = deal_id(store, "XSS")
    client.post(f"/deals/{did}/activities", data={"csrf": csrf, "kind": "note", "subject": probe})
    for url in ["/board", f"/deals/{did}", f"/board?owner={probe}", "/dashboards/inspect", "/dashboards/flow"]:
        html = client.get(url).text
        assert probe not in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"/deals/{did}").text


def test_dashboards_render_every_registered_analysis(web):  # type: ignore[no-untyped-def]
    from dealflow.web.analyses import REGISTRY

    client, _ = web
    index = client.get("/dashboards").text
    for key, analysis in REGISTRY.items():
        assert f'href="/dashboards/{key}"' in index
        r = client.get(f"/dashboards/{key}")
        assert r.status_code == 200, key
        if analysis.available:
            assert "not available" not in r.text, key
    flow = client.get("/dashboards/flow").text
    assert 'class="chart-option"' in flow and '"type": "sankey"' in flow
    bad = client.get("/dashboards/flow?period=someday")
    assert bad.status_code == 422 and "a quarter (2017Q2)" in bad.text
    assert client.get("/dashboards/nope").status_code == 404


def test_slow_dashboards_load_their_results_after_the_page(web):  # type: ignore[no-untyped-def]
    from dealflow.web.analyses import REGISTRY

    client, _ = web
    if not REGISTRY["forecast"].available:
        pytest.skip("dealflow.forecast.period is not there yet")
    shell = client.get("/dashboards/forecast?period=2024Q1&target=5000").text
    assert 'hx-get="/dashboards/forecast/body?period=2024Q1&amp;target=5000"' in shell and "chart-option" not in shell
    body = client.get("/dashboards/forecast/body?period=2024Q1&target=5000").text
    assert body.startswith('<div id="analysis-body">') and "chart-option" in body and '"xAxis": 5000.0' in body
    refused = client.get("/dashboards/forecast/body?period=soon").text
    assert 'role="alert"' in refused and "a quarter (2017Q2)" in refused


def test_security_headers_and_vendored_assets(web):  # type: ignore[no-untyped-def]
    client, _ = web
    r = client.get("/board")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "connect-src 'self'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    srcs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert all(s.startswith(("/", "#", "?")) for s in srcs), [s for s in srcs if not s.startswith("/")]
    for asset in ["/static/vendor/sortable.min.js", "/static/vendor/htmx.min.js", "/static/vendor/echarts.min.js", "/static/app.js"]:
        assert client.get(asset).status_code == 200


def test_import_page_names_the_bad_row(web):  # type: ignore[no-untyped-def]
    client, csrf = web
    csv_text = "Opportunity ID,Deal Stage,Close Value\nN-1,Qualify,100\nN-2,Qualify,lots\n"
    preview = client.post("/import/preview", data={"csrf": csrf, "kind": "deals"}, files={"file": ("new.csv", csv_text, "text/csv")})
    assert preview.status_code == 200
    token = re.search(r'name="upload" value="([^"]+)"', preview.text).group(1)  # type: ignore[union-attr]
    assert re.search(r'<option selected>amount</option>', preview.text)
    run = client.post("/import/run", data={"csrf": csrf, "kind": "deals", "upload": token, "map:Opportunity ID": "external_id",
                                           "map:Deal Stage": "stage", "map:Close Value": "amount"})
    assert "Nothing stored: 1 invalid value" in run.text and "row 3" in run.text and "lots" in run.text
    kept = client.post("/import/run", data={"csrf": csrf, "kind": "deals", "upload": token, "skip_invalid": "on"})
    assert "2 rows read, 1 inserted, 0 updated, 1 rejected." in kept.text and "row 3" in kept.text


def test_deal_page_fetches_the_model_probability(web, seeded):  # type: ignore[no-untyped-def]
    client, _ = web
    d1 = deal_id(seeded, "D1")
    assert f'hx-get="/deals/{d1}/probability"' in client.get(f"/deals/{d1}").text
    open_deal = client.get(f"/deals/{d1}/probability").text
    assert re.search(r'<strong class="big">\d+%</strong> — the dealflow model', open_deal)
    closed = client.get(f"/deals/{deal_id(seeded, 'D3')}/probability").text
    assert "the deal is not open" in closed


def test_team_filter_and_empty_board(store):  # type: ignore[no-untyped-def]
    add_login(store)
    client, _ = page_client(make_app(store))
    assert "No pipeline yet." in client.get("/board").text
    add_deal(store, "T1", [("Qualify", "2024-01-01")], amount=100, owner="ana")
    add_deal(store, "T2", [("Qualify", "2024-01-01")], amount=300, owner="bob")
    with store.atomic() as s:
        team = m.Team(name="East")
        s.add(team)
        s.flush()
        s.query(m.Owner).filter(m.Owner.name == "bob").update({m.Owner.team_id: team.id})
    html = client.get("/board?team=East").text
    assert totals(html, 1) == ("1", "300", "30")
    assert client.get("/board/totals?team=East").json()["1"] == {"count": 1, "amount": 300.0, "weighted": 30.0}
    assert client.get("/board/totals").json()["1"]["count"] == 2


def test_card_without_amount_shows_its_list_price(store):  # type: ignore[no-untyped-def]
    add_deal(store, "NA", [("Qualify", "2024-01-01")], amount=None, product="Widget", name="No amount yet")
    with store.atomic() as s:
        s.query(m.Product).update({m.Product.list_price: 550.0})
    add_login(store)
    client, _ = page_client(make_app(store))
    html = client.get("/board").text
    assert '<strong>No amount yet</strong><span class="amt"><span title="no amount: the list price of its product">≈550</span>' in html
    assert totals(html, 1) == ("1", "0", "0")  # totals stay on recorded amounts


def test_stage_flow_picture(web):  # type: ignore[no-untyped-def]
    client, _ = web
    page = client.get("/dashboards/flow").text
    assert '<img src="/dashboards/flow/image.svg"' in page
    svg = client.get("/dashboards/flow/image.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    assert client.get("/dashboards/report/image.svg").status_code == 404


def test_cross_sell_suggestions_when_the_account_bought_before(store):  # type: ignore[no-untyped-def]
    pytest.importorskip("dealflow.analytics.cross_sell")
    with store.atomic() as s:
        accs = [m.Account(external_id=f"C{i}", name=f"Co {i}") for i in range(3)]
        s.add_all(accs)
        s.flush()
        a = [x.id for x in accs]
    won = [("Qualify", "2024-01-01"), ("Won", "2024-01-10")]
    add_deal(store, "W1", won, product="Widget", account_id=a[0])
    add_deal(store, "W2", won, product="Gadget", account_id=a[0])
    add_deal(store, "W3", won, product="Widget", account_id=a[1])
    add_deal(store, "W4", won, product="Widget", account_id=a[2])
    add_deal(store, "W5", won, product="Gadget", account_id=a[2])
    add_deal(store, "OPEN", [("Qualify", "2024-02-01")], product="Widget", account_id=a[1])
    add_login(store)
    client, _ = page_client(make_app(store))
    section = client.get(f"/deals/{deal_id(store, 'OPEN')}").text.split("Products the account may buy")[1].split("</ul>")[0]
    # Of the 3 Widget buyers, 2 also bought Gadget: 67%; its peers Co 0 and Co 2 both bought Gadget.
    assert "Gadget <span class=\"muted\">— 67% of the accounts that bought Widget also bought it (2 peer accounts)" in section


def test_board_totals_after_a_drag_are_in_the_company_currency(store):  # type: ignore[no-untyped-def]
    from datetime import date

    add_deal(store, "E1", [("Qualify", "2024-01-01")], amount=1000, currency="EUR")
    add_deal(store, "E2", [("Qualify", "2024-01-01"), ("Won", "2024-02-10")], amount=1000, currency="EUR")
    add_deal(store, "C1", [("Qualify", "2024-01-01")], amount=5000, currency="CHF")  # no rate: adds nothing
    add_deal(store, "U1", [("Qualify", "2024-01-01")], amount=100)  # no currency: the company's
    with store.atomic() as s:
        s.add_all([m.ExchangeRate(currency="EUR", valid_from=date(2024, 1, 1), rate=1.1),
                   m.ExchangeRate(currency="EUR", valid_from=date(2024, 3, 1), rate=1.2)])
    add_login(store)
    client, _ = page_client(make_app(store))
    sums = client.get("/board/totals").json()
    # Qualify: E1 at the latest rate 1,000 x 1.2 + U1 100; C1 counted, not added. Won: E2 at its close date's rate 1.1.
    assert (sums["1"]["count"], sums["1"]["amount"]) == (3, pytest.approx(1300.0))
    assert sums["4"]["amount"] == pytest.approx(1100.0)
