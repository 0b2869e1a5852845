"""A backup taken from a live store restores every row, on SQLite and on PostgreSQL."""
import shutil

import pytest

from dealflow.store.backup import backup, restore
from dealflow.store.frames import load_history

from tests.factories import add_deal


def test_backup_then_restore_brings_back_what_was_lost(file_store, tmp_path):
    if not file_store.is_sqlite and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    add_deal(file_store, "A", [("Qualify", "2024-01-01"), ("Won", "2024-01-09")], amount=700)
    saved = backup(file_store, tmp_path / "backup.bin")
    add_deal(file_store, "B", [("Qualify", "2024-02-01")])
    assert load_history(file_store).deals.height == 2
    restore(file_store, saved)
    h = load_history(file_store)
    assert h.deals["external_id"].to_list() == ["A"]
    assert h.stage_changes["to_stage"].to_list() == ["Qualify", "Won"]


import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from dealflow.errors import ConfigError  # noqa: E402
from dealflow.store import Store  # noqa: E402

BIN = Path(sys.executable).parent / "dealflow"


def _dealflow(*args: str, input: str | None = None) -> subprocess.CompletedProcess:  # noqa: A002
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, input=input, timeout=120)


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store(str(tmp_path / "live.db"))
    add_deal(s, "A", [("Qualify", "2024-01-01"), ("Won", "2024-01-09")], amount=700)
    yield s
    s.dispose()


@pytest.mark.parametrize("content", [b"x", b"", b"PK\x03\x04 a zip file, not a database"])
def test_restore_refuses_a_file_that_is_not_a_backup_and_changes_nothing(file_store, tmp_path, content):
    add_deal(file_store, "A", [("Qualify", "2024-01-01")])
    junk = tmp_path / "junk.db"
    junk.write_bytes(content)
    with pytest.raises(ConfigError, match="junk.db is not a dealflow backup"):
        restore(file_store, junk)
    assert load_history(file_store).deals["external_id"].to_list() == ["A"]


def test_restore_refuses_an_unrelated_sqlite_database(sqlite_store, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    with pytest.raises(ConfigError, match="other.db is not a dealflow backup: it has no .*alembic_version"):
        restore(sqlite_store, other)
    assert load_history(sqlite_store).deals.height == 1


def test_restore_refuses_the_database_itself(sqlite_store):
    with pytest.raises(ConfigError, match="is the database itself"):
        restore(sqlite_store, sqlite_store.path)


def test_backup_refuses_to_overwrite_without_force_and_onto_the_source(sqlite_store, tmp_path):
    target = tmp_path / "b.db"
    backup(sqlite_store, target)
    with pytest.raises(ConfigError, match="exists already.*--force"):
        backup(sqlite_store, target)
    add_deal(sqlite_store, "B", [("Qualify", "2024-02-01")])
    backup(sqlite_store, target, force=True)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM deals").fetchone()[0] == 2
    with pytest.raises(ConfigError, match="onto itself"):
        backup(sqlite_store, sqlite_store.path, force=True)
    with pytest.raises(ConfigError, match="does not exist"):
        backup(sqlite_store, tmp_path / "missing" / "b.db")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert not (tmp_path / "missing").exists()


def test_cli_restore_of_junk_is_refused_and_the_store_kept(sqlite_store, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("x")
    out = _dealflow("restore", str(junk), "--db", str(sqlite_store.path), "--yes")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "junk.db is not a dealflow backup" in out.stderr
    assert load_history(sqlite_store).deals.height == 1


def test_cli_backup_of_a_missing_database_is_refused_and_creates_nothing(tmp_path):
    out = _dealflow("backup", str(tmp_path / "b.db"), "--db", str(tmp_path / "typo.db"))
    assert out.returncode == 1
    assert "no database at" in out.stderr and "typo.db" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_backup_into_a_missing_folder_is_a_clear_error(sqlite_store, tmp_path):
    out = _dealflow("backup", str(tmp_path / "no" / "b.db"), "--db", str(sqlite_store.path))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "does not exist" in out.stderr


def test_cli_declining_the_restore_prompt_says_cancelled(sqlite_store, tmp_path):
    saved = backup(sqlite_store, tmp_path / "b.db")
    add_deal(sqlite_store, "B", [("Qualify", "2024-02-01")])
    out = _dealflow("restore", str(saved), "--db", str(sqlite_store.path), input="n\n")
    assert out.returncode == 1
    assert "Cancelled" in out.stderr
    assert load_history(sqlite_store).deals.height == 2
    out = _dealflow("restore", str(saved), "--db", str(sqlite_store.path), "--yes")
    assert out.returncode == 0, out.stderr
    assert load_history(sqlite_store).deals.height == 1


def test_restore_names_a_backup_of_the_other_database_kind(sqlite_store, tmp_path):
    dump = tmp_path / "pg.dump"
    dump.write_bytes(b"PGDMP\x01\x0e\x00 rest of a pg_dump archive")
    with pytest.raises(ConfigError, match="is a PostgreSQL \\(pg_dump\\) backup; it cannot be restored into a SQLite database"):
        restore(sqlite_store, dump)
    assert load_history(sqlite_store).deals.height == 1
