"""A persistent cache of ``load_history``: the frames as Arrow IPC files, read memory-mapped.

Reading a million deals out of SQL takes tens of seconds; reading the same frames back from
uncompressed Arrow IPC takes well under one. The cache lives next to a SQLite file
(``shop.db`` -> ``shop.db.cache/``) or, for a server URL, in the user's cache directory
(``$XDG_CACHE_HOME/dealflow/<hash of the URL>/``). ``DEALFLOW_HISTORY_CACHE=off`` turns it
off; ``DEALFLOW_HISTORY_CACHE=/some/dir`` puts every cache there.

A cache is used only when its key matches: the store's revision (``dealflow.store.revision``:
a token every committed write changes, through triggers), the company currency, and the
source of the code that builds the frames. The revision is read *before* the tables, so a
write landing during the load makes the stored key older than the data (the next command
reloads) rather than the reverse. Each cache is written to a temporary folder and renamed
into place whole, so a concurrent reader finds a complete cache or none.

``peek_history`` serves a command from the cache of a SQLite file without creating a
``Store``: the revision is read with the standard library's ``sqlite3``, so neither SQLAlchemy
nor the schema check runs (about a third of a second per command). It answers only a file that
``Store`` would not change on opening (at the newest migration, with a revision), under the
default cache location; anything else is left to ``cached_history``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.ipc  # type: ignore[import-untyped]

from dealflow.history import History
from dealflow.store.db import HEAD_REVISION, Store, company_currency, resolve_url, sqlite_path

log = logging.getLogger(__name__)

ENV = "DEALFLOW_HISTORY_CACHE"
OFF = {"0", "off", "false", "no"}
_PACKAGE = Path(__file__).resolve().parents[1]
# The code whose output is cached: a change to any of these makes old caches unused.
_SOURCES = ("store/frames.py", "history.py", "domain/money.py", "store/models.py", "store/history_cache.py")


def _setting() -> str:
    return os.environ.get(ENV, "").strip()


def _beside(path: Path) -> Path:
    """The default cache folder of a SQLite file."""
    return path.with_name(path.name + ".cache")


def cache_root(store: Store) -> Path | None:
    """Where ``store``'s caches live, or None when caching is off or the store is in memory."""
    setting = _setting()
    if setting.lower() in OFF:
        return None
    if store.path is None and store.url.startswith("sqlite"):
        return None  # in memory: nothing outlives the process
    url = store.engine.url.render_as_string(hide_password=True)
    if setting:
        return Path(setting).expanduser() / hashlib.sha256(url.encode()).hexdigest()[:16]
    if store.path is not None:
        return _beside(store.path)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dealflow"
    return base / hashlib.sha256(url.encode()).hexdigest()[:16]


def _code_version() -> str:
    digest = hashlib.sha256(pl.__version__.encode())
    for name in _SOURCES:
        try:
            digest.update((_PACKAGE / name).read_bytes())
        except OSError:
            digest.update(name.encode())
    return digest.hexdigest()


def cache_key(store: Store) -> str:
    from dealflow.store.revision import revision

    return _key(revision(store), getattr(store, "currency", ""))


def _key(revision: str, currency: str) -> str:
    parts = (revision, currency, _code_version())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def sqlite_revision(path: Path) -> str | None:
    """``revision(store)`` of the SQLite file at ``path``, read with ``sqlite3`` alone; None unless
    the file is at the newest migration and has a revision (``Store`` would upgrade it first).

    Read-only, one statement (one snapshot, the WAL included); the file is never created, and
    a read-only connection never checkpoints or rewrites it.
    """
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        versions, version, token = conn.execute(
            "SELECT (SELECT count(*) FROM alembic_version), (SELECT max(version_num) FROM alembic_version),"
            " (SELECT token FROM store_revision WHERE id = 1)"
        ).fetchone()
    except sqlite3.Error:  # not a database, locked past the timeout, or no such table: the Store decides
        return None
    finally:
        conn.close()
    if versions != 1 or version != HEAD_REVISION or token is None:
        return None
    return f"{version}-{token}"  # as dealflow.store.revision.revision() writes it (tests compare the two)


def read_cache(folder: Path) -> History | None:
    """The history stored in ``folder``, memory-mapped; None when there is none (or it vanished)."""
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        fields: dict[str, Any] = {name: _mapped(folder / f"{name}.arrow") for name in meta["frames"]}
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError, pa.ArrowException):
        return None  # absent, replaced meanwhile, or unreadable: read the store instead
    return History(**fields, **meta["values"])


def _mapped(path: Path) -> pl.DataFrame:
    """The frame in ``path``, its buffers memory-mapped (zero-copy): pages are read when used,
    so a command touching a few columns reads a few columns (pl.read_ipc copies every byte)."""
    # not closed here: the frame's buffers keep the mapping (and the file, even once deleted) alive
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


def write_cache(history: History, root: Path, key: str) -> Path | None:
    """Store ``history`` as ``root/key`` (temp folder + rename) and drop older caches; None if it cannot."""
    frames: dict[str, pl.DataFrame] = {}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(history):
        value = getattr(history, f.name)
        if isinstance(value, pl.DataFrame):
            frames[f.name] = value
        elif value is None or isinstance(value, (str, int, float, bool)):
            values[f.name] = value
        else:
            return None  # a field this cache cannot store faithfully: do not cache at all
    target = root / key
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    except OSError as exc:
        log.info("history cache not written to %s: %s", root, exc)
        return None
    try:
        for name, frame in frames.items():
            frame.write_ipc(tmp / f"{name}.arrow", compression="uncompressed")  # uncompressed: memory-mappable
        (tmp / "meta.json").write_text(json.dumps({"frames": list(frames), "values": values}))
        os.rename(tmp, target)  # atomic; fails if another process just wrote the same key
    except (OSError, pl.exceptions.PolarsError) as exc:  # disk full, read-only folder, lost race
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():
            log.info("history cache not written to %s: %s", target, exc)
            return None
    stale_tmp = time.time() - 3600  # a temporary folder this old was left by a killed writer
    for old in root.iterdir():  # older states (open readers keep their mapped files on POSIX)
        if old.name != key and (not old.name.startswith(".tmp-") or _mtime(old) < stale_tmp):
            shutil.rmtree(old, ignore_errors=True)
    return target


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


def peek_history(target: str, currency: str) -> History | None:
    """The cached history of the SQLite file ``target`` (a path or plain ``sqlite:///`` URL),
    found without opening a ``Store``; None when there is none or it cannot be decided this way."""
    if _setting():  # caching off, or caches in another folder: cached_history decides
        return None
    path = sqlite_path(resolve_url(target))
    revision = None if path is None else sqlite_revision(path)
    if path is None or revision is None:
        return None
    return read_cache(_beside(path) / _key(revision, company_currency(currency)))


def cached_history(store: Store) -> History:
    """``load_history(store)``, from the cache when the store has not changed since it was written."""
    from sqlalchemy.exc import SQLAlchemyError

    from dealflow.store.frames import load_history

    root = cache_root(store)
    if root is None:
        return load_history(store)
    try:
        key = cache_key(store)  # before reading the tables: see the module docstring
    except SQLAlchemyError:  # a store opened without upgrading has no revision yet: no cache
        return load_history(store)
    found = read_cache(root / key)
    if found is not None:
        return found
    history = load_history(store)
    write_cache(history, root, key)
    return history


def clear_cache(store: Store) -> None:
    """Remove every cache of ``store`` (``dealflow`` never needs this for correctness)."""
    root = cache_root(store)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
