"""The history read through the ADBC SQLite driver equals the one read as Python tuples."""
from __future__ import annotations

import polars as pl
import pytest

import dealflow.store.frames as frames
from dealflow.store import models as m
from dealflow.store.frames import load_history
from dealflow.synthetic import generate

HISTORY_TABLES = ("deals", "deal_products", "stage_changes", "field_changes", "activities", "stages", "products", "accounts",
                  "owners", "leads", "rates")


@pytest.fixture
def sqlite_file(file_store):  # type: ignore[no-untyped-def]
    if not file_store.is_sqlite:
        pytest.skip("the ADBC path reads SQLite files only")
    return file_store


def _both(store, monkeypatch):  # type: ignore[no-untyped-def]
    read = frames._sqlite_arrow
    native_reads = []
    monkeypatch.setattr(frames, "_sqlite_arrow", lambda *a: native_reads.append(read(*a)) or native_reads[-1])
    native = load_history(store)
    assert len(native_reads) >= 10 and all(r is not None for r in native_reads)  # every table came the native way
    monkeypatch.setattr(frames, "_sqlite_arrow", lambda *a, **k: None)
    return native, load_history(store)


def test_native_and_tuple_reads_agree_on_a_generated_store(sqlite_file, monkeypatch):
    generate(sqlite_file, deals=400, seed=3, days=300)
    assert frames._sqlite_arrow(str(sqlite_file.path), "SELECT id FROM deals", {"id": pl.Int64}) is not None
    native, tuples = _both(sqlite_file, monkeypatch)
    for name in HISTORY_TABLES:
        a, b = getattr(native, name), getattr(tuples, name)
        assert a.schema == b.schema and a.equals(b), name
    assert native.deals.height == 400


def test_a_column_that_starts_with_thousands_of_nulls_keeps_its_text(sqlite_file, monkeypatch):
    """The driver infers types from the first rows: a placeholder row leads, so 1,500 nulls then text still read as text."""
    generate(sqlite_file, deals=1600, seed=5, days=300)
    with sqlite_file.atomic() as s:
        s.query(m.Deal).update({m.Deal.lost_reason: None, m.Deal.source: None})
        s.query(m.Deal).filter(m.Deal.id > 1500).update({m.Deal.source: "Partner's list"})
    native, tuples = _both(sqlite_file, monkeypatch)
    assert native.deals.filter(pl.col("id") > 1500)["source"].unique().to_list() == ["Partner's list"]
    assert native.deals["source"].null_count() == 1500
    assert native.deals.equals(tuples.deals)


def test_odd_file_names_are_read_and_a_missing_file_is_not_created(tmp_path):
    import sqlite3

    odd = tmp_path / "pipe?line #2 50%.db"
    with sqlite3.connect(odd) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        con.execute("INSERT INTO t VALUES (7)")
    assert frames._sqlite_arrow(str(odd), "SELECT x FROM t", {"x": pl.Int64})["x"].to_list() == [7]  # type: ignore[index]
    assert frames._sqlite_arrow(str(tmp_path / "missing.db"), "SELECT 1", {"x": pl.Int64}) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [odd.name]
