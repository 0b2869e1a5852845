"""Amounts in the company currency through dated exchange rates (tests/fixtures/imports/money).

The fixture, with EUR as the company currency and these rates (EUR per unit):

    GBP 1.125 from 2024-01-01, 1.25 from 2024-02-12, 1.1875 from 2024-04-01
    USD 0.875 from 2024-01-01, 0.8125 from 2024-03-01          (no CHF rate at all)

    deal status amount          closed      rate used               EUR
    D1   won    1000 GBP        2024-02-15  1.25 (close date)       1250
    D2   won    2000 USD        2024-01-20  0.875 (close date)      1750
    D3   won     500 EUR        2024-03-10  company currency         500
    D4   won    3000 CHF        2024-02-20  none                    left out
    D5   lost   1500 GBP        2024-03-05  1.25                    1875
    D6   lost    400 (none)     2024-02-01  taken as company         400
    D7   open   1000 gbp        -           1.1875 (latest)         1187.5
    D8   open   2500 USD        -           0.8125 (latest)         2031.25
    D9   open    800 CHF        -           none                    left out
    D10  open    700 EUR        -           company currency         700
    D11  won     100 USD        2023-12-15  none yet (first 01-01)  left out

    won amount 1250 + 1750 + 500 = 3500; lost 1875 + 400 = 2275; open 1187.5 + 2031.25 + 700 = 3918.75
    value win rate 3500 / (3500 + 2275); by count 5 won / 7 closed (unconverted deals still count)
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import dealflow
from dealflow.analytics.report import pipeline_report
from dealflow.cli import app
from dealflow.domain.money import to_company_currency, unconverted_note
from dealflow.errors import ImportFailed
from dealflow.ingest import run_import
from dealflow.store import Store
from dealflow.store import models as m
from dealflow.store.frames import load_history

MONEY = Path(__file__).parent / "fixtures" / "imports" / "money"
UTC = timezone.utc
# Rates are binary fractions, so every converted figure below is exact in floating point.


def snapshot(store: Store, skip: tuple[str, ...] = ("import_runs", "audit_log")) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table, in id order: equal snapshots mean nothing changed."""
    out = {}
    with store.session() as s:
        for table in m.Base.metadata.sorted_tables:
            if table.name not in skip:
                out[table.name] = [tuple(r) for r in s.execute(select(table).order_by(*table.primary_key.columns))]
    return out


@pytest.fixture
def money_store(store: Store) -> Store:
    store.currency = "EUR"
    run_import(store, "deals", MONEY / "deals.csv")
    run_import(store, "rates", MONEY / "rates.csv")
    return store


def test_conversion_rules_on_a_frame():
    deals = pl.DataFrame({
        "amount": [100.0, 200.0, 300.0, 50.0, None],
        "currency": ["GBP", " gbp ", "GBP", None, "GBP"],
        "status": ["won", "open", "lost", "open", "open"],
        "closed_at": [datetime(2024, 2, 11, 23, 59, tzinfo=UTC), None, datetime(2023, 12, 31, tzinfo=UTC), None, None],
    })
    rates = pl.DataFrame({"currency": ["GBP", "GBP"], "valid_from": [date(2024, 1, 1), date(2024, 2, 12)], "rate": [1.125, 1.25]})
    now = to_company_currency(deals, rates, "eur")
    # closed the day before the new rate: the old one; open: the latest; closed before any rate: none
    assert now["amount"].to_list() == [112.5, 250.0, None, 50.0, None]
    assert now["amount_original"].to_list() == [100.0, 200.0, 300.0, 50.0, None]
    assert now["exchange_rate"].to_list() == [1.125, 1.25, None, 1.0, 1.25]
    # as of 2024-02-01 the open deal takes the rate known then, not the later one
    then = to_company_currency(deals, rates, "EUR", as_of=datetime(2024, 2, 1, tzinfo=UTC))
    assert then["amount"].to_list()[1] == 225.0
    assert unconverted_note(now) == "1 deal in GBP has no exchange rate; its amount is left out (import rates with `dealflow rates import FILE`)"


def test_report_in_company_currency(money_store):
    history = load_history(money_store)
    report = pipeline_report(history)
    t = report.totals
    assert (t["open"], t["won"], t["lost"]) == (4, 5, 2)
    assert t["won_amount"] == 3500.0
    assert t["open_amount"] == 3918.75
    assert t["value_win_rate"] == 3500 / 5775
    assert t["win_rate"] == 5 / 7
    assert sorted(history.unconverted_deals()["external_id"]) == ["D11", "D4", "D9"]
    out = report.to_dict()
    assert out["currency"] == "EUR" and out["unconverted_deals"] == 3
    assert out["unconverted"] == [{"currency": "CHF", "deals": 2, "amount_original": 3800.0},
                                  {"currency": "USD", "deals": 1, "amount_original": 100.0}]
    # the deal keeps its own amount and currency for display
    d7 = history.deals.filter(pl.col("external_id") == "D7").row(0, named=True)
    assert (d7["amount"], d7["amount_original"], d7["currency"], d7["exchange_rate"]) == (1187.5, 1000.0, "gbp", 1.1875)
    # an unconverted open deal has an amount: it is not valued at a list price instead
    assert report.estimates["deals_without_amount"] == 0
    crm = dealflow.open(money_store)  # the Python API
    assert sorted(crm.unconverted_deals()["external_id"]) == ["D11", "D4", "D9"]
    assert crm.rates().filter(pl.col("currency") == "GBP")["rate"].to_list() == [1.125, 1.25, 1.1875]


def test_report_as_of_uses_the_rates_known_then(money_store):
    # On 2024-02-10 D1, D3, D4, D5 were still open: GBP at 1.125 (1.25 came on 02-12), USD at 0.875.
    # open: D1 1125 + D3 500 + D5 1687.5 + D7 1125 + D8 2187.5 + D10 700 = 7325; won: D2 1750 (D11 left out)
    report = pipeline_report(load_history(money_store), datetime(2024, 2, 10, tzinfo=UTC))
    assert (report.totals["open"], report.totals["won"], report.totals["lost"]) == (8, 2, 1)
    assert report.totals["open_amount"] == 7325.0
    assert report.totals["won_amount"] == 1750.0
    assert report.money["unconverted_deals"] == 3


def test_new_rates_update_and_fill_in(money_store):
    # GBP from 2024-04-01 becomes 1.2 (D7: 1200); CHF 1.0625 from 2024-02-01 converts D4 (closed 02-20: 3187.5) and D9 (850)
    result = run_import(money_store, "rates", MONEY / "rates_update.csv")
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)
    report = pipeline_report(load_history(money_store))
    assert report.totals["won_amount"] == 3500.0 + 3187.5
    assert report.totals["open_amount"] == 1200.0 + 2031.25 + 850.0 + 700.0
    assert report.money["unconverted_deals"] == 1  # D11 closed before the first USD rate


@pytest.mark.parametrize("name, kind", [("deals.csv", "deals"), ("rates.csv", "rates"), ("rates_update.csv", "rates")])
def test_importing_a_fixture_twice_changes_nothing(money_store, name, kind):
    run_import(money_store, kind, MONEY / name)
    before = snapshot(money_store)
    again = run_import(money_store, kind, MONEY / name)
    assert (again.inserted, again.updated) == (0, 0)
    assert snapshot(money_store) == before


def test_a_failed_rates_import_leaves_the_store_as_it_was(money_store):
    before = snapshot(money_store, skip=())
    with pytest.raises(ImportFailed) as caught:
        run_import(money_store, "rates", MONEY / "rates_bad.csv")
    problems = caught.value.problems
    assert [(p.file, p.row, p.column, p.value) for p in problems] == [
        ("rates_bad.csv", 3, "Exchange Rate", "0.0"), ("rates_bad.csv", 4, "Currency Code", "Swiss francs"),
        ("rates_bad.csv", 5, "Valid From", "2024-05-40"),
    ]
    assert str(problems[0]) == ("rates_bad.csv, row 3, column 'Exchange Rate': '0.0' is not a positive rate "
                                "(company-currency units per 1 unit of the currency)")
    assert problems[1].reason == "is not a three-letter currency code such as EUR"
    assert snapshot(money_store, skip=()) == before


def test_rates_from_xlsx(store, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Rate date", "ISO code", "Conversion rate"])
    book.active.append([datetime(2024, 1, 1), "JPY", 0.006712])
    book.save(tmp_path / "rates.xlsx")
    run_import(store, "rates", tmp_path / "rates.xlsx")
    with store.session() as s:
        assert [(r.currency, r.valid_from, r.rate) for r in s.scalars(select(m.ExchangeRate))] == [("JPY", date(2024, 1, 1), 0.006712)]


def test_cli_rates_and_report(file_store, monkeypatch):
    monkeypatch.setenv("DEALFLOW_CURRENCY", "EUR")
    runner = CliRunner()
    db = ["--db", file_store.url]
    assert runner.invoke(app, ["import", "deals", str(MONEY / "deals.csv"), *db]).exit_code == 0
    result = runner.invoke(app, ["rates", "import", str(MONEY / "rates.csv"), *db])
    assert result.exit_code == 0, result.output
    assert "Read 5 row(s) of rates.csv: 5 new, 0 updated, 0 unchanged, 0 rejected" in result.output
    listed = runner.invoke(app, ["rates", "list", "--currency", "gbp", "--format", "csv", *db])
    assert listed.stdout.splitlines() == [
        "currency,valid_from,valid_until,rate",
        "GBP,2024-01-01,2024-02-11,1.125", "GBP,2024-02-12,2024-03-31,1.25", "GBP,2024-04-01,,1.1875",
    ]
    shown = runner.invoke(app, ["report", *db], env={"COLUMNS": "200"})
    assert "amounts in EUR" in shown.output
    assert "2 deals in CHF, 1 deal in USD have no exchange rate; their amounts are left out" in shown.output
    data = json.loads(runner.invoke(app, ["report", "--format", "json", *db]).stdout)
    assert (data["won_amount"], data["open_amount"], data["unconverted_deals"]) == (3500.0, 3918.75, 3)
    with file_store.session() as s:
        entry = s.scalars(select(m.AuditEntry).where(m.AuditEntry.entity == "rates")).one()
    assert entry.action == "import" and entry.entity_id == "rates.csv" and entry.changes["inserted"] == 5
