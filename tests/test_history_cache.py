"""The on-disk history cache: reused while the store is unchanged, never stale after any write."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import select, text

from dealflow.history import History
from dealflow.store import Store, crm
from dealflow.store import models as m
from dealflow.store.frames import load_history
from dealflow.store.history_cache import ENV, cache_key, cache_root, cached_history
from tests.factories import add_deal, t


@pytest.fixture
def cached_store(file_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A file store with two deals; caches of server databases go to ``tmp_path``."""
    if not file_store.is_sqlite:
        monkeypatch.setenv(ENV, str(tmp_path / "caches"))
    else:
        monkeypatch.delenv(ENV, raising=False)
    add_deal(file_store, "D-1", [("Qualify", "2024-01-02"), ("Propose", "2024-01-10")], amount=500.0, owner="ana",
             activities=[("call", "2024-01-03")])
    add_deal(file_store, "D-2", [("Qualify", "2024-01-05"), ("Won", "2024-02-01")], amount=900.0, product="Widget")
    yield file_store


def assert_same(a: History, b: History) -> None:
    for name in ("deals", "deal_products", "stage_changes", "field_changes", "activities", "stages", "products",
                 "accounts", "owners", "leads", "rates"):
        assert_frame_equal(getattr(a, name), getattr(b, name), check_row_order=True)
    assert a.currency == b.currency


def test_second_read_comes_from_the_cache(cached_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    first = cached_history(cached_store)
    root = cache_root(cached_store)
    assert root is not None
    if cached_store.path is not None:
        assert root == cached_store.path.with_name("dealflow.db.cache")
    assert [p.name for p in root.iterdir()] == [cache_key(cached_store)]

    def no_store_reads(store: Store) -> History:
        raise AssertionError("read the store although the cache is current")

    monkeypatch.setattr("dealflow.store.frames.load_history", no_store_reads)
    second = cached_history(cached_store)
    assert_same(first, second)
    assert second.deals["external_id"].to_list() == ["D-1", "D-2"]
    assert second.deals["amount"].to_list() == [500.0, 900.0]
    assert second.stage_changes.height == 4


def _move(store: Store) -> None:
    with store.atomic() as s:
        deal = s.scalar(select(m.Deal).where(m.Deal.external_id == "D-1"))
        crm.move_deal(s, deal, "Negotiate", now=t("2024-01-20"))


def _update(store: Store) -> None:
    with store.atomic() as s:
        deal = s.scalar(select(m.Deal).where(m.Deal.external_id == "D-1"))
        crm.update_deal(s, deal, {"amount": 750.0, "expected_close_date": date(2024, 3, 1)}, now=t("2024-01-21"))


def _delete(store: Store) -> None:
    with store.atomic() as s:
        deal = s.scalar(select(m.Deal).where(m.Deal.external_id == "D-2"))
        crm.delete_deal(s, deal, now=t("2024-02-02"))


def _activity(store: Store) -> None:
    with store.atomic() as s:
        deal = s.scalar(select(m.Deal).where(m.Deal.external_id == "D-1"))
        crm.log_activity(s, kind="email", at=t("2024-01-11"), deal=deal)


def _new_deal(store: Store) -> None:
    add_deal(store, "D-3", [("Qualify", "2024-01-07")], amount=300.0)


def _raw_sql(store: Store) -> None:
    # another program writing with plain SQL, outside dealflow's code paths
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE owners SET name = 'Ana Lima' WHERE external_id = 'ana'"))


def _raw_delete(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM activities"))


def _rate(store: Store) -> None:
    with store.atomic() as s:
        s.add(m.ExchangeRate(currency="EUR", valid_from=date(2024, 1, 1), rate=1.1))
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE deals SET currency = 'EUR' WHERE external_id = 'D-2'"))


def _import(store: Store, tmp: Path) -> None:
    from dealflow.ingest import run_import

    path = tmp / "deals.csv"
    path.write_text("Deal ID,Stage,Amount,Created\nD-9,Qualify,1234,2024-01-08\n")
    run_import(store, "deals", path)


def _generate(store: Store) -> None:
    from dealflow.synthetic import generate

    generate(store, deals=20, seed=3)


WRITES: dict[str, Callable[..., None]] = {
    "move": _move, "update": _update, "delete": _delete, "activity": _activity, "new deal": _new_deal,
    "raw sql update": _raw_sql, "raw sql delete": _raw_delete, "exchange rate": _rate, "import": _import,
    "generate": _generate,
}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_kind_of_write_makes_the_cache_unused(cached_store: Store, tmp_path: Path, write: str) -> None:
    before = cached_history(cached_store)
    key = cache_key(cached_store)
    fn = WRITES[write]
    fn(cached_store, tmp_path) if write == "import" else fn(cached_store)
    assert cache_key(cached_store) != key
    after = cached_history(cached_store)
    assert_same(after, load_history(cached_store))  # what the store holds now, not the old cache
    changed = any(not getattr(before, n).equals(getattr(after, n)) for n in ("deals", "stage_changes", "field_changes",
                                                                            "activities", "owners", "rates"))
    assert changed, f"{write} changed nothing visible: the test would not notice a stale cache"


def test_restore_and_delete_restore_round_trip(cached_store: Store) -> None:
    """Deleting then restoring a deal returns to the old data, but under a new revision: re-read, same frames."""
    first = cached_history(cached_store)
    key = cache_key(cached_store)
    _delete(cached_store)
    assert cached_history(cached_store).deals["external_id"].to_list() == ["D-1"]
    with cached_store.atomic() as s:
        crm.restore_deal(s, s.scalar(select(m.Deal).where(m.Deal.external_id == "D-2")))
    assert cache_key(cached_store) != key
    assert_same(cached_history(cached_store), first)


def test_backup_restore_brings_back_its_own_revision(cached_store: Store, tmp_path: Path) -> None:
    if not cached_store.is_sqlite:
        pytest.skip("pg_dump/pg_restore round trip is covered by test_backup; the revision logic is the same")
    from dealflow.store.backup import backup, restore

    saved = backup(cached_store, tmp_path / "b.db")
    at_backup = cached_history(cached_store)
    _new_deal(cached_store)
    assert cached_history(cached_store).deals.height == 3
    restore(cached_store, saved)
    restored = cached_history(cached_store)
    assert restored.deals["external_id"].to_list() == ["D-1", "D-2"]
    assert_same(restored, at_backup)


def test_a_write_from_another_process_is_seen(cached_store: Store) -> None:
    if not cached_store.is_sqlite:
        pytest.skip("SQLite file written by the sqlite3 module of another process")
    cached_history(cached_store)
    assert cached_store.path is not None
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute(\"UPDATE deals SET amount = 42 WHERE external_id = 'D-1'\"); c.commit()")
    subprocess.run([sys.executable, "-c", code, str(cached_store.path)], check=True)
    assert cached_history(cached_store).deals["amount"].to_list() == [42.0, 900.0]


def test_currency_is_part_of_the_key(cached_store: Store) -> None:
    usd = cache_key(cached_store)
    cached_store.currency = "EUR"
    assert cache_key(cached_store) != usd


def test_half_written_cache_is_never_read(cached_store: Store) -> None:
    """A writer's temporary folder (what a reader could see mid-write) is not a cache."""
    cached_history(cached_store)
    root = cache_root(cached_store)
    assert root is not None
    (folder,) = list(root.iterdir())
    (folder / "meta.json").unlink()  # as if the files were still being written
    history = cached_history(cached_store)  # reads the store again
    assert history.deals.height == 2


def test_off_switch_and_memory_store(cached_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "off")
    assert cache_root(cached_store) is None
    assert cached_history(cached_store).deals.height == 2
    assert cache_root(Store(":memory:")) is None


def test_revision_triggers_cover_every_table(cached_store: Store) -> None:
    from dealflow.store.revision import SKIP, _tables, _triggers

    with cached_store.engine.connect() as conn:
        tables = _tables(conn)
        triggers = _triggers(conn)
    assert "deals" in tables and "stage_changes" in tables and "exchange_rates" in tables
    for table in tables:
        assert any(name.startswith(f"dealflow_rev_{table}") for name in triggers), table
    assert not SKIP & set(tables)


def test_cli_uses_the_cache(cached_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    if not cached_store.is_sqlite:
        pytest.skip("the CLI opens the SQLite file by path")
    from typer.testing import CliRunner

    from dealflow.cli import app

    db = str(cached_store.path)
    runner = CliRunner()
    first = runner.invoke(app, ["report", "--db", db, "--format", "json"])
    assert first.exit_code == 0, first.output
    root = cache_root(cached_store)
    assert root is not None and any(root.iterdir())
    monkeypatch.setattr("dealflow.store.frames.load_history", lambda store: (_ for _ in ()).throw(AssertionError("store read")))
    second = runner.invoke(app, ["report", "--db", db, "--format", "json"])
    assert second.exit_code == 0, second.output
    assert second.output == first.output


def test_store_without_revision_reads_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database opened without upgrading (no revision table yet) is read directly, never cached."""
    monkeypatch.delenv(ENV, raising=False)
    path = tmp_path / "plain.db"
    Store(str(path)).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE store_revision")
    store = Store(str(path), upgrade=False)
    assert cached_history(store).deals.height == 0
    assert not (tmp_path / "plain.db.cache").exists()


def test_loading_in_small_batches_gives_the_same_frames(cached_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = load_history(cached_store)
    monkeypatch.setattr("dealflow.store.frames.BATCH", 1)  # every row its own batch
    batched = load_history(cached_store)
    assert_same(batched, whole)
    assert batched.stage_changes["to_stage"].to_list() == ["Qualify", "Propose", "Qualify", "Won"]


def test_frames_read_from_the_cache_outlive_its_removal(cached_store: Store) -> None:
    """Another process dropping an old cache must not pull the data from under a reader."""
    import shutil

    cached_history(cached_store)
    reader = cached_history(cached_store)  # memory-mapped from the files
    root = cache_root(cached_store)
    assert root is not None
    shutil.rmtree(root)
    assert reader.deals["amount"].to_list() == [500.0, 900.0]
    assert reader.activities["kind"].to_list() == ["call"]


def test_lead_attributes_stay_json_text(cached_store: Store) -> None:
    """JSON columns come back as their JSON text on both backends, from the store and the cache."""
    import json

    with cached_store.atomic() as s:
        s.add(m.Lead(external_id="L-1", name="Lead one", attributes={"Tags": "hot", "score": 3}))
    for history in (load_history(cached_store), cached_history(cached_store), cached_history(cached_store)):
        assert [json.loads(v) for v in history.leads["attributes"].to_list()] == [{"Tags": "hot", "score": 3}]


# -- the CLI's way in: the revision read with sqlite3, no Store --------------------------------------------------

def test_sqlite_revision_is_the_store_revision(cached_store: Store) -> None:
    if not cached_store.is_sqlite:
        pytest.skip("read with the sqlite3 module")
    from dealflow.store.history_cache import sqlite_revision
    from dealflow.store.revision import revision

    assert cached_store.path is not None
    before = sqlite_revision(cached_store.path)
    assert before is not None and before == revision(cached_store)
    _move(cached_store)
    assert sqlite_revision(cached_store.path) == revision(cached_store) != before


def test_sqlite_revision_sees_a_write_still_in_the_wal(cached_store: Store) -> None:
    """A commit another connection has not checkpointed (it sits in the -wal file) is seen."""
    if not cached_store.is_sqlite:
        pytest.skip("SQLite's write-ahead log")
    from dealflow.store.history_cache import sqlite_revision

    assert cached_store.path is not None
    before = sqlite_revision(cached_store.path)
    writer = sqlite3.connect(cached_store.path)
    try:
        assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        writer.execute("UPDATE deals SET amount = 1 WHERE external_id = 'D-1'")
        writer.commit()
        assert Path(f"{cached_store.path}-wal").stat().st_size > 0
        assert sqlite_revision(cached_store.path) not in (None, before)
    finally:
        writer.close()


def test_sqlite_revision_leaves_undecidable_files_to_the_store(tmp_path: Path) -> None:
    """None (so the Store opens, upgrades or refuses it) for a file that is missing, not a database,
    behind the newest migration, or without a revision; a missing file is not created."""
    from dealflow.store.history_cache import sqlite_revision

    missing = tmp_path / "missing.db"
    assert sqlite_revision(missing) is None and not missing.exists()
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database at all, but long enough to be read as a header............")
    assert sqlite_revision(text_file) is None
    assert sqlite_revision(tmp_path) is None
    old = tmp_path / "old.db"
    Store(str(old)).dispose()
    assert sqlite_revision(old) is not None
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001_initial'")
    assert sqlite_revision(old) is None
    norev = tmp_path / "norev.db"
    Store(str(norev)).dispose()
    with sqlite3.connect(norev) as conn:
        conn.execute("DROP TABLE store_revision")
    assert sqlite_revision(norev) is None


def test_peek_finds_the_cache_cached_history_wrote(cached_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from dealflow.store.history_cache import peek_history

    target = str(cached_store.path) if cached_store.path is not None else cached_store.url
    assert peek_history(target, "USD") is None  # no cache yet (or a server database: never peeked)
    stored = cached_history(cached_store)
    if not cached_store.is_sqlite:
        assert peek_history(target, "USD") is None
        return
    found = peek_history(target, " usd ")  # the currency as a setting may spell it
    assert found is not None
    assert_same(found, stored)
    assert peek_history(f"sqlite:///{cached_store.path}", "USD") is not None
    assert peek_history(target, "EUR") is None  # another company currency: another key
    monkeypatch.setenv(ENV, "off")
    assert peek_history(target, "USD") is None
    monkeypatch.delenv(ENV)
    _move(cached_store)
    assert peek_history(target, "USD") is None  # the store changed: the cache is out of date


@pytest.mark.parametrize("url", [
    "sqlite:////tmp/a b/x.db", "sqlite:///rel.db", "sqlite:////tmp/a:b.db", "sqlite+pysqlite:////tmp/x.db",
    "sqlite:////tmp/x%20y.db", "sqlite:///:memory:", "sqlite://", "sqlite:///file:x.db?mode=ro&uri=true",
    "sqlite:////tmp/é.db",
])
def test_sqlite_path_reads_urls_as_sqlalchemy_does(url: str) -> None:
    from sqlalchemy.engine import make_url

    from dealflow.store.db import sqlite_path

    database = make_url(url).database
    expected = None if not database or database == ":memory:" or database.startswith("file:") else Path(database)
    assert sqlite_path(url) == expected
