"""Backups: SQLite's online backup API (safe while the app runs); pg_dump/pg_restore for PostgreSQL.

``restore`` checks first that the file is a dealflow backup (a SQLite database, or a pg_dump
archive, holding ``alembic_version`` and dealflow's tables) and refuses anything else, so a
mistyped path cannot wipe the store.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from dealflow.errors import ConfigError
from dealflow.store.db import SQLITE_HEADER, Store

PGDUMP_HEADER = b"PGDMP"
# Tables every dealflow database has since the first migration; a backup must hold all of them.
REQUIRED_TABLES = frozenset({"alembic_version", "deals", "stages", "pipelines", "stage_changes", "owners", "accounts"})


def _libpq_url(store: Store) -> str:
    return make_url(store.url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"{name} is not installed; install the PostgreSQL client tools (apt-get install postgresql-client)")
    return path


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        reason = " ".join((done.stderr or done.stdout or f"exit code {done.returncode}").split())
        raise ConfigError(f"{what} failed: {reason}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def backup(store: Store, target: str | Path, *, force: bool = False) -> Path:
    """Write a consistent copy of the whole store to ``target``.

    Refuses a target in a folder that does not exist, the store's own file, and an existing
    file unless ``force``. The copy is written next to the target and moved into place, so a
    failed backup never leaves half a file under the target's name.
    """
    target = Path(target)
    if target.is_dir():
        raise ConfigError(f"cannot back up to {target}: it is a directory; give a file name such as {target / 'dealflow-backup.db'}")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot back up to {target}: the folder {target.parent} does not exist; create it first")
    if store.path is not None and _same_file(target, store.path):
        raise ConfigError(f"cannot back up {store.path} onto itself; choose another target file")
    if target.exists() and not force:
        raise ConfigError(f"{target} exists already; choose another name, or pass --force to overwrite it")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if store.is_sqlite:
            raw = store.engine.raw_connection()
            try:
                dst = sqlite3.connect(tmp)
                try:
                    raw.driver_connection.backup(dst)  # type: ignore[union-attr]
                    dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal/-shm beside it
                finally:
                    dst.close()
            finally:
                raw.close()
        else:
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(tmp), _libpq_url(store)], "pg_dump")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it the permissions of any new file
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _header(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(len(SQLITE_HEADER))


def _sqlite_backup_tables(source: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{source} is not a dealflow backup: SQLite cannot read it ({exc})") from exc


def _pg_backup_tables(source: Path) -> set[str]:
    done = subprocess.run([_tool("pg_restore"), "--list", str(source)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"{source} is not a dealflow backup: pg_restore cannot read it ({' '.join(done.stderr.split())})")
    tables = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        if " TABLE " in line and "TABLE DATA" not in line and len(parts) >= 6:
            tables.add(parts[5])
    return tables


def check_backup(store: Store, source: str | Path) -> Path:
    """Return ``source`` if it is a dealflow backup that can be restored into ``store``; else say why not."""
    source = Path(source)
    if not source.exists():
        raise ConfigError(f"{source}: no such backup file")
    if not source.is_file():
        raise ConfigError(f"{source} is not a file; give a backup file written by dealflow backup")
    if store.path is not None and _same_file(source, store.path):
        raise ConfigError(f"{source} is the database itself; give a backup file written by dealflow backup")
    head = _header(source)
    if head == SQLITE_HEADER:
        if not store.is_sqlite:
            raise ConfigError(f"{source} is a SQLite backup; it cannot be restored into PostgreSQL ({store!r})")
        tables = _sqlite_backup_tables(source)
    elif head.startswith(PGDUMP_HEADER):
        if store.is_sqlite:
            raise ConfigError(f"{source} is a PostgreSQL (pg_dump) backup; it cannot be restored into a SQLite database")
        tables = _pg_backup_tables(source)
    else:
        kind = "empty" if not head else "neither a SQLite database nor a pg_dump archive"
        raise ConfigError(f"{source} is not a dealflow backup: the file is {kind}; nothing was changed")
    missing = sorted(REQUIRED_TABLES - tables)
    if missing:
        what = "no tables at all" if not tables else f"no {', '.join(missing)} table(s)"
        raise ConfigError(f"{source} is not a dealflow backup: it has {what}; nothing was changed")
    return source


def restore(store: Store, source: str | Path) -> None:
    """Replace the store's contents with a backup made by ``backup`` (checked first with ``check_backup``)."""
    source = check_backup(store, source)
    if store.is_sqlite:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            raw = store.engine.raw_connection()
            try:
                src.backup(raw.driver_connection)  # type: ignore[arg-type]
            finally:
                raw.close()
        finally:
            src.close()
    else:
        store.engine.dispose()
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--dbname", _libpq_url(store), str(source)], "pg_restore")
    store.engine.dispose()
    store.upgrade()  # a backup from an older dealflow gets the newer migrations
