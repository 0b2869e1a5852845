"""Set-based writes for imports: executemany on SQLite, COPY on PostgreSQL.

PostgreSQL's COPY streams rows in one round trip; updates go through a temporary table
and one ``UPDATE ... FROM``. Both run inside the caller's transaction. The ``*_frame``
functions take and return Polars frames, for imports of millions of rows.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import JSON, text, update
from sqlalchemy.orm import Session

COPY_THRESHOLD = 200  # below this, plain statements are as fast
REVISION_TRIGGER = "dealflow_rev_"  # store/revision.py's trigger names: <prefix><table>_<ins|upd|del>


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


# -- columnar: Polars frames in and out, no per-row dicts ------------------------------------

# How SQLAlchemy's SQLite dialect stores DateTime and Date: rows written here must read back
# exactly like rows written through the ORM.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.6f"
SQLITE_DATE = "%Y-%m-%d"
FRAME_CHUNK = 250_000  # rows per executemany / COPY batch: bounds the Python objects alive at once
Types = Mapping[str, "pl.DataType | type[pl.DataType]"]  # column -> Polars type


SQLITE_CACHE_KIB = 256 * 1024


def _driver(session: Session) -> Any:
    """The DBAPI connection under the session's transaction (begun if it was not)."""
    return session.connection().connection.driver_connection


def _roomy_cache(con: Any) -> None:
    """Let a big SQLite transaction keep its dirty pages in memory: with the default 2 MB
    cache, it spills pages to the WAL and rewrites them again and again."""
    cur = con.cursor()
    try:
        if -int(cur.execute("PRAGMA cache_size").fetchone()[0]) < SQLITE_CACHE_KIB:
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cur.close()


def _sqlite_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and times as the text SQLAlchemy writes; everything else as is."""
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            col = (col.dt.replace_time_zone(None) if dtype.time_zone else col).dt.strftime(SQLITE_DATETIME)
        elif dtype == pl.Date:
            col = col.dt.strftime(SQLITE_DATE)
        elif dtype == pl.Boolean:
            col = col.cast(pl.Int64)
        out.append(col.alias(name))
    return frame.select(out)


def _tuples(frame: pl.DataFrame) -> Iterator[tuple[Any, ...]]:
    """Rows of ``frame`` as tuples of SQLite values, converted a column at a time and a chunk at
    a time (so that no text copy of the whole frame is ever held)."""
    for start in range(0, frame.height, FRAME_CHUNK):
        part = _sqlite_values(frame.slice(start, FRAME_CHUNK))
        yield from zip(*(part[c].to_list() for c in part.columns))


def _copy_csv(session: Session, table: str, frame: pl.DataFrame) -> None:
    """COPY ``frame`` into ``table`` as CSV written by Polars (no Python loop over rows)."""
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    text = frame.select(
        (pl.col(c).dt.replace_time_zone(None) if isinstance(t, pl.Datetime) and t.time_zone else pl.col(c))
        for c, t in frame.schema.items()
    )
    with _driver(session).cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN WITH (FORMAT csv)') as copy:
        for start in range(0, text.height, FRAME_CHUNK):
            # Unquoted empty = NULL in COPY's CSV; Polars quotes empty strings, so '' stays ''.
            copy.write(text.slice(start, FRAME_CHUNK).write_csv(include_header=False, null_value="",
                                                               datetime_format="%Y-%m-%d %H:%M:%S%.6f"))


# A write of COPY_THRESHOLD rows or more into SQLite sets the revision trigger aside (it fires
# per row); an insert of at least REINDEX_SHARE x the rows the table holds sets its plain indexes
# aside too: building an index once from sorted keys beats that many scattered B-tree inserts
# (746,509 activities: 5.9 s with the indexes kept, 3.1 s + 0.8 s to re-create them).
REINDEX_SHARE = 1.0


class _SqliteBulk:
    """Inside the import's transaction on SQLite: set aside the ``ops`` revision triggers of
    ``table`` (and its plain secondary indexes with ``reindex``), then put them back and bump the
    revision once. DDL is transactional in SQLite: if the write fails, the caller's rollback
    restores them as they were, with the rows."""

    def __init__(self, con: Any, table: str, ops: tuple[str, ...], rows: int, reindex: bool = False) -> None:
        self.con, self.table, self.saved = con, table, []
        if rows < COPY_THRESHOLD:
            return
        cur = con.cursor()
        try:
            names = [f"{REVISION_TRIGGER}{table}_{op}" for op in ops]
            self.saved = cur.execute(
                f"SELECT type, name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
                f"AND name IN ({', '.join('?' for _ in names)})", (table, *names)).fetchall()
            if reindex and rows >= REINDEX_SHARE * (cur.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0] or 0):
                # Unique ones too: re-creating one checks every key at once, and a repeat fails
                # the import there (the rollback restores the index). Table constraints stay put.
                self.saved += cur.execute("SELECT type, name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                          "AND sql IS NOT NULL", (table,)).fetchall()
            if self.saved and not con.in_transaction:
                cur.execute("BEGIN")  # sqlite3 would only begin it at the first INSERT: too late for the DROPs
            for kind, name, _ in self.saved:
                cur.execute(f'DROP {kind.upper()} "{name}"')
        finally:
            cur.close()

    def __enter__(self) -> _SqliteBulk:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None or not self.saved:
            return  # the caller rolls back: the triggers and indexes come back with it
        cur = self.con.cursor()
        try:
            for _, _, sql in self.saved:
                cur.execute(sql)
            if any(kind == "trigger" for kind, _, _ in self.saved):
                cur.execute("UPDATE store_revision SET token = lower(hex(randomblob(8))) WHERE id = 1")
        finally:
            cur.close()


def insert_frame(session: Session, table: str, frame: pl.DataFrame) -> int:
    """Insert every row of ``frame`` (columns = table columns) in the session's transaction."""
    if frame.is_empty():
        return 0
    session.flush()
    if _is_postgres(session):
        _copy_csv(session, table, frame)
        return frame.height
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    con = _driver(session)
    _roomy_cache(con)
    with _SqliteBulk(con, table, ("ins",), frame.height, reindex=True):
        cur = con.cursor()
        try:
            cur.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', _tuples(frame))
        finally:
            cur.close()
    return frame.height


def update_frame(session: Session, table: str, frame: pl.DataFrame, key: str = "id") -> int:
    """Set the other columns of ``frame`` on the rows whose ``key`` matches."""
    if frame.is_empty():
        return 0
    session.flush()
    others = [c for c in frame.columns if c != key]
    if _is_postgres(session):
        tmp = f"_bulk_{table}"
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        with _driver(session).cursor() as cur:
            cur.execute(f'DROP TABLE IF EXISTS "{tmp}"')
            cur.execute(f'CREATE TEMP TABLE "{tmp}" ON COMMIT DROP AS SELECT {cols} FROM "{table}" WITH NO DATA')
        _copy_csv(session, tmp, frame)
        sets = ", ".join(f'"{c}" = t."{c}"' for c in others)
        with _driver(session).cursor() as cur:
            cur.execute(f'UPDATE "{table}" SET {sets} FROM "{tmp}" t WHERE "{table}"."{key}" = t."{key}"')
            cur.execute(f'DROP TABLE "{tmp}"')
        return frame.height
    sets = ", ".join(f'"{c}" = ?' for c in others)
    con = _driver(session)
    _roomy_cache(con)
    # In key order, each page is visited once: 3.3M stage changes took 7.3 s so, 24 s in random order.
    ordered = frame.select(*others, key).sort(key)
    with _SqliteBulk(con, table, ("upd",), frame.height):
        cur = con.cursor()
        try:
            cur.executemany(f'UPDATE "{table}" SET {sets} WHERE "{key}" = ?', _tuples(ordered))
        finally:
            cur.close()
    return frame.height


def delete_where_in(session: Session, table: str, column: str, values: pl.Series) -> int:
    """``DELETE FROM table WHERE column IN values`` in one statement; returns the rows deleted."""
    keys = values.drop_nulls().unique()
    if keys.is_empty():
        return 0
    session.flush()
    if _is_postgres(session):
        with _driver(session).cursor() as cur:
            cur.execute(f'DELETE FROM "{table}" WHERE "{column}" = ANY(%s)', (keys.to_list(),))
            return int(cur.rowcount)
    cur = _driver(session).cursor()
    try:
        cur.execute(f'DELETE FROM "{table}" WHERE "{column}" IN (SELECT value FROM json_each(?))', (_json_array(keys),))
        return int(cur.rowcount)
    finally:
        cur.close()


def _parse_text(frame: pl.DataFrame, schema: Types) -> pl.DataFrame:
    out = []
    for name, dtype in schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            col = col.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
        elif dtype == pl.Date:
            col = col.str.to_date("%Y-%m-%d", strict=False)
        else:
            col = col.cast(dtype)
        out.append(col.alias(name))
    return frame.select(out)


def select_frame(session: Session, table: str, columns: Types, *,
                 where_in: tuple[str, pl.Series] | None = None) -> pl.DataFrame:
    """``SELECT columns FROM table [WHERE column IN values]`` as a Polars frame.

    The values travel as one parameter (a JSON array on SQLite, an array on PostgreSQL), so
    a million keys cost one statement, not a thousand IN lists. When the keys are many
    compared with the table, the whole table is read and filtered here: a scan beats that
    many index lookups.
    """
    session.flush()
    if where_in is not None:
        keys = where_in[1].drop_nulls().unique()
        size = session.execute(text(f'SELECT max(id) FROM "{table}"')).scalar() or 0
        if size == 0 or keys.is_empty():
            return pl.DataFrame(schema=columns)
        if keys.len() * 4 >= size:
            whole = select_frame(session, table, columns)
            return whole.join(keys.to_frame(where_in[0]).cast(whole.schema[where_in[0]]), on=where_in[0], how="semi")
        where_in = (where_in[0], keys)
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'SELECT {cols} FROM "{table}"'
    if _is_postgres(session):
        import psycopg

        params: tuple[Any, ...] = ()
        if where_in is not None:
            sql += f' WHERE "{where_in[0]}" = ANY(%s)'
            params = (where_in[1].to_list(),)
        buf = bytearray()
        raw = _driver(session)
        with raw.cursor() as cur:
            # COPY takes no parameters: bind them client-side into the statement.
            statement = psycopg.ClientCursor(raw).mogrify(sql, params) if params else sql
            with cur.copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)") as copy:
                for block in copy:
                    buf += block
        if not buf:
            return pl.DataFrame(schema=columns)
        return _parse_text(pl.read_csv(bytes(buf), has_header=False, new_columns=list(columns), infer_schema=False), columns)
    args: tuple[Any, ...] = ()
    if where_in is not None:
        sql += f' WHERE "{where_in[0]}" IN (SELECT value FROM json_each(?))'
        args = (_json_array(where_in[1]),)
    cur = _driver(session).cursor()
    raw_schema = {c: (pl.String if isinstance(t, pl.Datetime) or t == pl.Date else t) for c, t in columns.items()}
    parts = []
    try:
        cur.execute(sql, args)
        while rows := cur.fetchmany(FRAME_CHUNK):
            parts.append(pl.DataFrame(rows, schema=raw_schema, orient="row"))
    finally:
        cur.close()
    if not parts:
        return pl.DataFrame(schema=columns)
    return _parse_text(pl.concat(parts), columns)


def _json_array(unique: pl.Series) -> str:
    """A JSON array of the values (ints or strings), built without a row loop."""
    if unique.dtype.is_integer():
        return "[" + ",".join(map(str, unique.to_list())) + "]"
    if unique.dtype.is_float():  # JSON numbers, so that they compare as numbers with a REAL column
        return json.dumps([v for v in unique.to_list() if v == v and abs(v) != float("inf")])
    return json.dumps(unique.cast(pl.String).to_list())


# -- staging: a frame as a temporary table, so that joins and dedupes run inside the database --

def _sql_type(dtype: pl.DataType, postgres: bool) -> str:
    if dtype.is_integer():
        return "BIGINT" if postgres else "INTEGER"
    if dtype.is_float():
        return "DOUBLE PRECISION" if postgres else "REAL"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP" if postgres else "TEXT"
    if dtype == pl.Date:
        return "DATE" if postgres else "TEXT"
    if dtype == pl.Boolean:
        return "BOOLEAN" if postgres else "INTEGER"
    return "TEXT"


def stage_frame(session: Session, name: str, frame: pl.DataFrame) -> str:
    """Load ``frame`` into a temporary table ``name`` (seen only by this connection).

    ``drop_staged`` removes it after use; one left by a failed run is replaced. Returns the name."""
    session.flush()
    postgres = _is_postgres(session)
    columns = ", ".join(f'"{c}" {_sql_type(t, postgres)}' for c, t in frame.schema.items())
    con = _driver(session)
    if not postgres:
        _roomy_cache(con)
    cur = con.cursor()
    try:
        cur.execute(f'DROP TABLE IF EXISTS "{name}"' if postgres else f'DROP TABLE IF EXISTS temp."{name}"')
        cur.execute(f'CREATE TEMP TABLE "{name}" ({columns})' + (" ON COMMIT DROP" if postgres else ""))
    finally:
        cur.close()
    if frame.is_empty():
        return name
    if postgres:
        _copy_csv(session, name, frame)
        return name
    marks = ", ".join("?" for _ in frame.columns)
    cur = con.cursor()
    try:
        cur.executemany(f'INSERT INTO temp."{name}" VALUES ({marks})', _tuples(frame))
    finally:
        cur.close()
    return name


def drop_staged(session: Session, *names: str) -> None:
    cur = _driver(session).cursor()
    try:
        for name in names:
            cur.execute(f'DROP TABLE IF EXISTS "{name}"' if _is_postgres(session) else f'DROP TABLE IF EXISTS temp."{name}"')
    finally:
        cur.close()


def run(session: Session, sql: str) -> int:
    """Execute one statement on the driver connection; returns the rows it changed."""
    session.flush()
    cur = _driver(session).cursor()
    try:
        cur.execute(sql)
        if cur.rowcount < 0 and not _is_postgres(session):  # sqlite3 counts no statement that starts with WITH
            return int(cur.execute("SELECT changes()").fetchone()[0])
        return int(cur.rowcount)
    finally:
        cur.close()


def distinct_from(session: Session) -> str:
    """The null-safe "differs" operator of the session's database."""
    return "IS DISTINCT FROM" if _is_postgres(session) else "IS NOT"


def upsert_staged(session: Session, table: str, staged: str, key: str, columns: list[str]) -> tuple[int, int]:
    """Update the ``table`` rows whose ``key`` is in ``staged`` and differ in any of ``columns``,
    then insert the keys not stored yet. The staged keys must be unique. Returns inserted, updated."""
    differs = distinct_from(session)
    sets = ", ".join(f'"{c}" = t."{c}"' for c in columns)
    changed = " OR ".join(f'"{table}"."{c}" {differs} t."{c}"' for c in columns) or "FALSE"
    updated = run(session, f'UPDATE "{table}" SET {sets} FROM "{staged}" t WHERE "{table}"."{key}" = t."{key}" AND ({changed})') if columns else 0
    cols = ", ".join(f'"{c}"' for c in [key, *columns])
    inserted = run(session, f'INSERT INTO "{table}" ({cols}) SELECT {", ".join(f"t.{c}" for c in cols.split(", "))} FROM "{staged}" t '
                            f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" x WHERE x."{key}" = t."{key}")')
    return inserted, updated


def any_stored(session: Session, table: str, column: str, values: pl.Series) -> bool:
    """Whether any ``table`` row has one of ``values`` in ``column``."""
    return not select_frame(session, table, {column: values.dtype}, where_in=(column, values)).is_empty()
