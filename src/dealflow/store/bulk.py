"""Set-based writes for imports: executemany on SQLite, COPY on PostgreSQL.

PostgreSQL's COPY streams rows in one round trip; updates go through a temporary table
and one ``UPDATE ... FROM``. Both run inside the caller's transaction.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, update
from sqlalchemy.orm import Session

COPY_THRESHOLD = 200  # below this, plain statements are as fast


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _copy_value(value: Any, is_json: bool) -> Any:
    if is_json and value is not None:
        return json.dumps(value)
    return value


def _copy_rows(session: Session, table: str, columns: list[str], rows: Sequence[dict[str, Any]], json_cols: set[str]) -> None:
    raw = session.connection().connection.driver_connection  # psycopg.Connection
    cols = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([_copy_value(row.get(c), c in json_cols) for c in columns])


def _uniform(table: Any, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Give every row the same keys: a missing key takes its column's default, else null.

    Both executemany and COPY need one column list; COPY also skips Python-side defaults.
    """
    given = {k for r in rows for k in r}
    defaults = {c.name: c.default.arg for c in table.columns
                if c.name not in given and c.default is not None and c.default.is_scalar}
    columns = sorted(given | set(defaults))
    base = {c: None for c in given} | defaults
    return columns, [{**base, **r} for r in rows]


def bulk_insert(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    columns, rows = _uniform(table, rows)
    if not _is_postgres(session) or len(rows) < COPY_THRESHOLD:
        # Core, not ORM, executemany: the ORM splits rows into batches by which keys are None.
        session.execute(table.insert(), rows)
        return
    session.flush()
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    _copy_rows(session, table.name, columns, rows, json_cols)


def bulk_update(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by primary key ``id``; every row carries the same keys."""
    if not rows:
        return
    if not _is_postgres(session) or len(rows) < COPY_THRESHOLD:
        session.execute(update(model), list(rows))
        return
    session.flush()
    table = model.__table__  # type: ignore[attr-defined]
    columns = list(rows[0])
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    tmp = f"_bulk_{table.name}"
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f'DROP TABLE IF EXISTS "{tmp}"')
        col_list = ", ".join(f'"{c}"' for c in columns)
        cur.execute(f'CREATE TEMP TABLE "{tmp}" ON COMMIT DROP AS SELECT {col_list} FROM "{table.name}" WITH NO DATA')
    _copy_rows(session, tmp, columns, rows, json_cols)
    sets = ", ".join(f'"{c}" = t."{c}"' for c in columns if c != "id")
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f'UPDATE "{table.name}" SET {sets} FROM "{tmp}" t WHERE "{table.name}".id = t.id')
        cur.execute(f'DROP TABLE "{tmp}"')
