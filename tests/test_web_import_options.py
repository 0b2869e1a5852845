"""The import page and ``/api/imports/preview`` read a file with the options ``dealflow import`` takes
(encoding, sheet, decimal separator, day/month order, date format, time zone, negative amounts),
and the page's run reads it the same way as its preview."""
from __future__ import annotations

import re

import pytest

from dealflow.store import models as m
from dealflow.web.testing import add_login, api_client, make_app, page_client

# A Cyrillic name in cp1251: detection falls back to Latin-1 and garbles it
CSV = "external_id,pipeline,stage,amount,created_at,name\nX-1,Sales,Qualify,\"1.234,5\",03/04/2024,Сделка\n".encode("cp1251")


@pytest.fixture
def app(store):  # type: ignore[no-untyped-def]
    add_login(store)
    return make_app(store)


def preview(client, csrf: str, **options: str):  # type: ignore[no-untyped-def]
    return client.post("/import/preview", data={"csrf": csrf, "kind": "deals", **options}, files={"file": ("deals.csv", CSV, "text/csv")})


def hidden(html: str) -> dict[str, str]:
    form = re.search(r'<form method="post" action="/import/run" id="run-form">(.*?)</form>', html, re.S).group(1)  # type: ignore[union-attr]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))


def test_the_preview_reads_with_the_encoding_given(app):  # type: ignore[no-untyped-def]
    client, csrf = page_client(app)
    detected = preview(client, csrf)
    assert "Сделка" not in detected.text
    assert "deals.csv: not UTF-8; read as Latin-1 (ISO-8859-1)" in re.search(r'id="read-notes">(.*?)</ul>', detected.text, re.S).group(1)  # type: ignore[union-attr]
    given = preview(client, csrf, encoding="cp1251", dayfirst="day", decimal=",")
    assert given.status_code == 200 and "<td>Сделка</td>" in given.text and 'id="read-notes"' not in given.text
    carried = hidden(given.text)
    assert {k: carried.get(k) for k in ("encoding", "dayfirst", "decimal", "date_format")} == {
        "encoding": "cp1251", "dayfirst": "day", "decimal": ",", "date_format": None}


@pytest.mark.parametrize(("order", "created"), [("day", "2024-04-03"), ("month", "2024-03-04")])
def test_the_run_reads_the_file_as_the_preview_did(app, store, order, created):  # type: ignore[no-untyped-def]
    client, csrf = page_client(app)
    shown = preview(client, csrf, encoding="cp1251", dayfirst=order, decimal=",")
    run = client.post("/import/run", data={"csrf": csrf, **hidden(shown.text)})
    assert "1 rows read, 1 inserted, 0 updated, 0 rejected." in run.text
    with store.session() as s:
        deal = s.query(m.Deal).one()
        assert (deal.name, deal.amount, deal.created_at.date().isoformat()) == ("Сделка", 1234.5, created)


@pytest.mark.parametrize(("options", "message"), [
    ({"decimal": ";"}, "decimal: the decimal separator is &#39;,&#39; or &#39;.&#39;, not &#39;;&#39;"),
    ({"encoding": "klingon"}, "encoding: unknown encoding &#39;klingon&#39;; try utf-8, cp1252 or latin-1"),
    ({"date_format": "%d/%m/%Y", "dayfirst": "day"}, "date_format: give either a date format or the day/month order, not both"),
    ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone &#39;Mars/Olympus&#39;"),
])
def test_bad_options_are_named_on_the_page(app, options, message):  # type: ignore[no-untyped-def]
    client, csrf = page_client(app)
    refused = preview(client, csrf, **options)
    assert refused.status_code == 422 and message in refused.text
    assert re.search(r'<details id="read-options" open>', refused.text)  # the options stay shown, as sent


def test_the_api_preview_takes_the_options_too(app):  # type: ignore[no-untyped-def]
    api = api_client(app)
    files = {"file": ("deals.csv", CSV, "text/csv")}
    given = api.post("/api/imports/preview", data={"kind": "deals", "encoding": "cp1251"}, files=files).json()
    assert (given["rows"][0]["name"], given["notes"]) == ("Сделка", [])
    bad = api.post("/api/imports/preview", data={"kind": "deals", "encoding": "klingon"}, files={"file": ("deals.csv", CSV, "text/csv")})
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("encoding: unknown encoding 'klingon'")
