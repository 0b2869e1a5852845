"""Backups: SQLite's online backup API (safe while the app runs); pg_dump/pg_restore for PostgreSQL."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from dealflow.errors import ConfigError
from dealflow.store.db import Store


def _libpq_url(store: Store) -> str:
    return make_url(store.url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"{name} is not installed; install the PostgreSQL client tools (apt-get install postgresql-client)")
    return path


def backup(store: Store, target: str | Path) -> Path:
    """Write a consistent copy of the whole store to ``target``."""
    target = Path(target)
    if store.is_sqlite:
        raw = store.engine.raw_connection()
        try:
            with sqlite3.connect(target) as dst:
                raw.driver_connection.backup(dst)  # type: ignore[union-attr]
        finally:
            raw.close()
    else:
        subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target), _libpq_url(store)], check=True)
    return target


def restore(store: Store, source: str | Path) -> None:
    """Replace the store's contents with a backup made by ``backup``."""
    source = Path(source)
    if not source.is_file():
        raise ConfigError(f"{source}: no such backup file")
    if store.is_sqlite:
        with sqlite3.connect(source) as src:
            raw = store.engine.raw_connection()
            try:
                src.backup(raw.driver_connection)  # type: ignore[arg-type]
            finally:
                raw.close()
    else:
        store.engine.dispose()
        subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                        "--dbname", _libpq_url(store), str(source)], check=True)
    store.engine.dispose()
