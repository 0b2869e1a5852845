"""Shared by the import fixture tests: read back what an import stored, and dump every table
to prove that a second import changes nothing and a failed one leaves the store as it was."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from dealflow.errors import DealflowError
from dealflow.ingest import run_import
from dealflow.ingest.options import ParseOptions
from dealflow.store import Store
from dealflow.store import models as m

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
# Every import is logged (and so bumps the cache revision), even one that changes nothing.
LOG_TABLES = {"import_runs", "audit_log", "store_revision"}


def deals(store: Store, *columns: str) -> list[tuple[Any, ...]]:
    """(external_id, *columns) of every stored deal, by external id."""
    fields = [getattr(m.Deal, c) for c in ("external_id", *columns)]
    with store.session() as s:
        return [tuple(r) for r in s.execute(select(*fields).order_by(m.Deal.external_id))]


def dump(store: Store, skip: set[str] = frozenset()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), for before/after comparisons."""
    out = {}
    with store.engine.connect() as conn:
        for table in sorted(set(store.tables()) - skip):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def import_twice(store: Store, path: Path, kind: str = "deals", options: ParseOptions | None = None) -> None:
    """The second import of the same file inserts, updates and changes nothing."""
    run_import(store, kind, path, options=options)
    before = dump(store, LOG_TABLES)
    again = run_import(store, kind, path, options=options)
    assert (again.inserted, again.updated) == (0, 0)
    assert dump(store, LOG_TABLES) == before


def assert_refused_untouched(store: Store, path: Path, message: str, kind: str = "deals", options: ParseOptions | None = None) -> DealflowError:
    """A refused import raises ``message`` and leaves a store that already holds data exactly as it was."""
    run_import(store, "deals", FIXTURES / "files" / "utf8_bom.csv")
    run_import(store, "accounts", FIXTURES / "numbers" / "accounts_revenue.csv")
    before = dump(store)
    with pytest.raises(DealflowError) as err:
        run_import(store, kind, path, options=options)
    assert message in str(err.value)
    assert dump(store) == before
    return err.value


def at(*parts: int) -> datetime:
    return datetime(*parts)  # naive UTC, as the store keeps instants


def day(*parts: int) -> date:
    return date(*parts)
