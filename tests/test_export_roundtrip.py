"""Export, then import into an empty store, gives the same records (a property test).

Store A is filled from random small files (owners, accounts, contacts, products, rates,
deals with currencies and amounts, their stage history incl. won and lost, leads and
activities). Each importable kind is exported from A as CSV, Parquet and XLSX and imported
into an empty store B in dependency order; B's records, compared by external ids without
surrogate ids, must equal A's.
"""
from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import aliased
from typer.testing import CliRunner

from dealflow.cli import app
from dealflow.cli.export_cmd import ExportFormat, write_frame
from dealflow.ingest import run_import
from dealflow.ingest.exports import IMPORTABLE, export_frame
from dealflow.ingest.readers import PLACEHOLDERS
from dealflow.store import Store
from dealflow.store import models as m
from dealflow.store.frames import load_history

UTC = timezone.utc
T0 = datetime(2023, 1, 1)

# Text as people type it, incl. a leading = or - (exported with a ' for spreadsheets, read back without).
_words = st.text(alphabet="abcXYZ09 -=&é.'", min_size=1, max_size=8).map(str.strip).filter(
    lambda s: s != "" and s.lower() not in PLACEHOLDERS)
_opt = lambda strategy: st.none() | strategy  # noqa: E731
_instant = st.integers(0, 3 * 365 * 24 * 3600).map(lambda s: T0 + timedelta(seconds=s))  # whole seconds: XLSX keeps no more
_money = st.floats(min_value=0.01, max_value=1e9, allow_nan=False, allow_infinity=False)
STAGES = ["Qualify", "Propose", "Demo (\"live\"), EU"]  # any stage name survives the trip


@st.composite
def datasets(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    owners = [{"external_id": f"O{i}", "name": draw(_words), "email": draw(_opt(st.just(f"o{i}@example.com"))),
               "team": draw(_opt(st.sampled_from(["North", "South"])))} for i in range(draw(st.integers(0, 3)))]
    accounts = []
    for i in range(draw(st.integers(0, 3))):
        accounts.append({"external_id": f"A{i}", "name": draw(_words), "sector": draw(_opt(_words)), "country": draw(_opt(_words)),
                         "employees": draw(_opt(st.integers(1, 10**6))), "revenue": draw(_opt(_money)),
                         "year_established": draw(_opt(st.integers(1900, 2024))),
                         "parent": draw(_opt(st.sampled_from([a["external_id"] for a in accounts]))) if accounts else None})
    ref = lambda rows: _opt(st.sampled_from([r["external_id"] for r in rows])) if rows else st.none()  # noqa: E731
    contacts = [{"external_id": f"C{i}", "name": draw(_words), "account": draw(ref(accounts)), "email": draw(_opt(st.just(f"c{i}@example.com"))),
                 "phone": draw(_opt(st.just(f"+41 44 000 00 0{i}"))), "title": draw(_opt(_words))} for i in range(draw(st.integers(0, 2)))]
    names = draw(st.lists(_words, max_size=3, unique_by=str.casefold))
    products = [{"external_id": f"P{i}", "name": n, "family": draw(_opt(_words)), "list_price": draw(_opt(_money))} for i, n in enumerate(names)]
    rate_keys = draw(st.lists(st.tuples(st.sampled_from(["EUR", "GBP", "CHF"]), st.dates(date(2023, 1, 1), date(2025, 12, 31))),
                              max_size=4, unique=True))
    rates = [{"valid_from": d, "currency": c, "rate": draw(st.floats(1e-4, 1e4, allow_nan=False))} for c, d in rate_keys]
    deals, history = [], []
    for i in range(draw(st.integers(1, 5))):
        start = draw(_instant)
        steps = draw(st.lists(st.sampled_from(STAGES), min_size=1, max_size=3))
        steps = [s for j, s in enumerate(steps) if j == 0 or s != steps[j - 1]]
        end = draw(st.sampled_from([None, "Won", "Lost"]))
        path = steps + ([end] if end else [])
        times = [start + timedelta(hours=draw(st.integers(1, 2000)) * (j + 1)) for j in range(len(path))]
        times[0] = start
        deals.append({"external_id": f"D{i}", "name": draw(_opt(_words)), "account": draw(ref(accounts)), "owner": draw(ref(owners)),
                      "product": draw(ref(products)), "stage": path[0], "amount": draw(_opt(_money)),
                      "currency": draw(st.sampled_from([None, "EUR", "GBP", "usd"])), "source": draw(_opt(_words)),
                      "created_at": start, "expected_close_date": draw(_opt(st.dates(date(2023, 1, 1), date(2026, 12, 31))))})
        history += [{"deal": f"D{i}", "stage": s, "at": t, "by": draw(_opt(_words)),
                     "lost_reason": draw(_opt(_words)) if s == "Lost" else None} for s, t in zip(path, times)]
    leads = [{"external_id": f"L{i}", "name": draw(_opt(_words)), "email": draw(_opt(st.just(f"l{i}@example.com"))),
              "source": draw(_opt(_words)), "campaign": draw(_opt(_words)), "segment": draw(_opt(_words)),
              "status": draw(_opt(st.sampled_from(["new", "contacted", "qualified"]))), "owner": draw(ref(owners)),
              "account": draw(ref(accounts)), "created_at": draw(_opt(_instant)), "contacted_at": draw(_opt(_instant)),
              "converted": draw(_opt(st.booleans()))} for i in range(draw(st.integers(0, 2)))]
    activities = []
    for i in range(draw(st.integers(0, 3))):
        on_lead = bool(leads) and draw(st.booleans())
        at = draw(_instant)
        activities.append({"external_id": f"X{i}", "deal": None if on_lead else draw(st.sampled_from(deals))["external_id"],
                           "lead": draw(st.sampled_from(leads))["external_id"] if on_lead else None,
                           "kind": draw(st.sampled_from(["call", "email", "meeting"])), "subject": draw(_opt(_words)),
                           "owner": draw(ref(owners)), "resource": draw(_opt(_words)), "at": at,
                           "ended_at": draw(_opt(st.just(at + timedelta(minutes=30)))), "outcome": draw(_opt(_words))})
    return {"owners": owners, "accounts": accounts, "contacts": contacts, "products": products, "rates": rates, "deals": deals,
            "leads": leads, "stage_history": history, "activities": activities}


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    # A leading ' before = + - @ means "text, not a formula" to the reader, so write text escaped as exports do.
    return "'" + v if isinstance(v, str) and re.match(r"^'*[=+\-@]", v) else v


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})


def wipe(store: Store) -> None:
    with store.atomic() as s:
        for table in reversed(m.Base.metadata.sorted_tables):
            s.execute(delete(table))


def canonical(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every imported record with references as external ids, sorted; no surrogate ids."""
    parent, acc, own, deal, lead, prod = (aliased(x) for x in (m.Account, m.Account, m.Owner, m.Deal, m.Lead, m.Product))
    src, dst, pipe = aliased(m.Stage), aliased(m.Stage), aliased(m.Pipeline)
    line = select(m.DealProduct.deal_id, prod.external_id.label("product")).join(prod, prod.id == m.DealProduct.product_id).subquery()
    queries = {
        "owners": select(m.Owner.external_id, m.Owner.name, m.Owner.email, m.Team.name, m.Team.region, m.Team.manager)
        .outerjoin(m.Team, m.Team.id == m.Owner.team_id),
        "accounts": select(m.Account.external_id, m.Account.name, m.Account.sector, m.Account.country, m.Account.employees,
                           m.Account.revenue, m.Account.year_established, parent.external_id).outerjoin(parent, parent.id == m.Account.parent_id),
        "contacts": select(m.Contact.external_id, m.Contact.name, acc.external_id, m.Contact.email, m.Contact.phone, m.Contact.title)
        .outerjoin(acc, acc.id == m.Contact.account_id),
        "products": select(m.Product.external_id, m.Product.name, m.Product.family, m.Product.list_price),
        "rates": select(m.ExchangeRate.currency, m.ExchangeRate.valid_from, m.ExchangeRate.rate),
        "deals": select(m.Deal.external_id, m.Deal.name, acc.external_id, own.external_id, line.c.product, pipe.name, dst.name, dst.kind,
                        m.Deal.status, m.Deal.amount, m.Deal.currency, m.Deal.source, m.Deal.created_at, m.Deal.expected_close_date,
                        m.Deal.closed_at, m.Deal.lost_reason, m.Deal.true_probability)
        .outerjoin(acc, acc.id == m.Deal.account_id).outerjoin(own, own.id == m.Deal.owner_id).outerjoin(line, line.c.deal_id == m.Deal.id)
        .join(dst, dst.id == m.Deal.stage_id).join(pipe, pipe.id == m.Deal.pipeline_id),
        "stage_changes": select(deal.external_id, src.name, dst.name, m.StageChange.at, m.StageChange.by, m.StageChange.lost_reason)
        .join(deal, deal.id == m.StageChange.deal_id).outerjoin(src, src.id == m.StageChange.from_stage_id).join(dst, dst.id == m.StageChange.to_stage_id),
        "leads": select(m.Lead.external_id, m.Lead.name, m.Lead.email, m.Lead.source, m.Lead.campaign, m.Lead.segment, m.Lead.status,
                        own.external_id, acc.external_id, m.Lead.created_at, m.Lead.contacted_at, m.Lead.qualified_at, m.Lead.converted,
                        m.Lead.converted_at, m.Lead.lost_reason)
        .outerjoin(own, own.id == m.Lead.owner_id).outerjoin(acc, acc.id == m.Lead.account_id),
        "activities": select(m.Activity.external_id, deal.external_id, lead.external_id, m.Activity.kind, m.Activity.subject, own.external_id,
                             m.Activity.resource, m.Activity.at, m.Activity.ended_at, m.Activity.outcome)
        .outerjoin(deal, deal.id == m.Activity.deal_id).outerjoin(lead, lead.id == m.Activity.lead_id).outerjoin(own, own.id == m.Activity.owner_id),
    }
    with store.session() as s:
        return {name: sorted((tuple(r) for r in s.execute(q)), key=repr) for name, q in queries.items()}


def fill(store: Store, data: dict[str, list[dict[str, Any]]], folder: Path) -> None:
    for kind in IMPORTABLE:
        if data[kind]:
            _write_csv(data[kind], folder / f"{kind}.csv")
            run_import(store, kind, folder / f"{kind}.csv")


@pytest.fixture
def store_b() -> Store:  # a second store on the same backend as ``store``
    from tests.conftest import PG_URL, _drop_database, _new_database_url

    url, name = _new_database_url("b")
    s = Store(url)
    yield s
    s.dispose()
    if PG_URL:
        _drop_database(name)


@pytest.mark.parametrize("fmt", list(ExportFormat))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=datasets())
def test_export_then_import_into_an_empty_store_gives_the_same_records(store, store_b, tmp_path_factory, fmt, data):
    folder = tmp_path_factory.mktemp("roundtrip")
    wipe(store)
    fill(store, data, folder)
    expected = canonical(store)
    # A holds the data (so a field both sides dropped cannot pass unnoticed)
    assert len(expected["deals"]) == len(data["deals"]) and len(expected["stage_changes"]) >= len(data["deals"])
    assert sorted((a[0], a[6]) for a in expected["activities"]) == sorted((a["external_id"], a["resource"]) for a in data["activities"])
    assert sorted((r[0], r[1]) for r in expected["rates"]) == sorted((r["currency"], r["valid_from"]) for r in data["rates"])
    history = load_history(store)
    wipe(store_b)
    for kind in IMPORTABLE:
        frame = export_frame(store, kind, history)
        if frame.is_empty():
            continue  # nothing to import (a file needs at least one row)
        path = folder / f"{kind}.{fmt.value}"
        write_frame(frame, path, fmt, kind)
        run_import(store_b, kind, path)
    assert canonical(store_b) == expected


def test_export_cli_writes_the_format_asked_for(file_store, tmp_path):
    data = {"deals": [{"external_id": "D1", "name": "=Pumps", "stage": "Won", "amount": "1.2340", "currency": "EUR",
                       "created_at": datetime(2024, 1, 2, 9, 30), "closed_at": datetime(2024, 2, 1, 12, 0)}]}
    _write_csv(data["deals"], tmp_path / "in.csv")
    run_import(file_store, "deals", tmp_path / "in.csv")
    runner = CliRunner()
    out = runner.invoke(app, ["export", "deals", "--format", "csv", "--db", file_store.url])
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines() == [
        "external_id,name,account,owner,product,pipeline,stage,status,amount,currency,source,created_at,expected_close_date,"
        "closed_at,lost_reason,entered:Won",
        "D1,'=Pumps,,,,Sales,Won,won,1.2340,EUR,,2024-01-02T09:30:00.000000+0000,,2024-02-01T12:00:00.000000+0000,,"
        "2024-02-01T12:00:00.000000+0000",
    ]
    target = tmp_path / "deals.bin"
    out = runner.invoke(app, ["export", "deals", str(target), "-f", "parquet", "--db", file_store.url])
    assert out.exit_code == 0, out.output
    back = pl.read_parquet(target)
    assert back.select("external_id", "name", "amount", "closed_at").rows() == [("D1", "=Pumps", 1.234, datetime(2024, 2, 1, 12, 0, tzinfo=UTC))]
