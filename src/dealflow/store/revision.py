"""The store's revision: a token that changes with every committed write, whoever makes it.

Caches of what was read from the store (``dealflow.store.history_cache``) are keyed by it.
Database triggers on every table set ``store_revision.token`` to a fresh random value, so
imports, bulk inserts, COPY, ORM sessions, the generator, restores, and even another tool's
raw SQL all change it; a cache can only match the exact state it was built from. A random
token rather than a counter: a restored backup brings back its own token together with its
own data, so a counter could not tell two different states with the same count apart.

SQLite has row triggers only (about 1 µs per written row); PostgreSQL uses one trigger per
statement. Writers already serialize on SQLite; on PostgreSQL the single row makes
concurrent write transactions take turns at commit, which a CRM's short writes tolerate.

The table and triggers are not in the ORM models: ``ensure_revision`` (run by
``Store.upgrade`` after the migrations) adds them to every table, including tables that
later migrations create or rebuild.
"""
from __future__ import annotations

from sqlalchemy import Connection, text

from dealflow.store.db import Store

TABLE = "store_revision"
SKIP = {TABLE, "alembic_version"}
PREFIX = "dealflow_rev_"


def _tables(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    else:
        rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
    return sorted(r[0] for r in rows if r[0] not in SKIP and not r[0].startswith("_"))


def _triggers(conn: Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    else:
        rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    return {r[0] for r in rows}


def ensure_revision(conn: Connection) -> None:
    """Create the revision row and a trigger on every table that lacks one (idempotent, cheap when done)."""
    sqlite = conn.dialect.name == "sqlite"
    have = _triggers(conn)
    tables = _tables(conn)
    wanted = [f"{PREFIX}{t}_{op}" for t in tables for op in ("ins", "upd", "del")] if sqlite else [f"{PREFIX}{t}" for t in tables]
    if TABLE in {r[0] for r in conn.execute(text(
        "SELECT name FROM sqlite_master WHERE type = 'table'" if sqlite else
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    ))} and have.issuperset(wanted):
        return
    new_token = "lower(hex(randomblob(8)))" if sqlite else "md5(random()::text || clock_timestamp()::text)"
    conn.execute(text(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, token VARCHAR(40) NOT NULL)"))
    conn.execute(text(f"INSERT INTO {TABLE} (id, token) SELECT 1, {new_token} WHERE NOT EXISTS (SELECT 1 FROM {TABLE})"))
    bump = f"UPDATE {TABLE} SET token = {new_token} WHERE id = 1"
    if sqlite:
        for table in tables:
            for op, verb in (("ins", "INSERT"), ("upd", "UPDATE"), ("del", "DELETE")):
                name = f"{PREFIX}{table}_{op}"
                if name not in have:
                    conn.execute(text(f'CREATE TRIGGER IF NOT EXISTS {name} AFTER {verb} ON "{table}" BEGIN {bump}; END'))
        return
    conn.execute(text(
        f"CREATE OR REPLACE FUNCTION dealflow_bump_revision() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {bump}; RETURN NULL; END $$"
    ))
    for table in tables:
        name = f"{PREFIX}{table}"
        if name not in have:
            conn.execute(text(
                f'CREATE OR REPLACE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                f"FOR EACH STATEMENT EXECUTE FUNCTION dealflow_bump_revision()"
            ))


def revision(store: Store) -> str:
    """The current revision: the token and the schema version (a migration changes what is read)."""
    with store.engine.connect() as conn:
        token = conn.execute(text(f"SELECT token FROM {TABLE} WHERE id = 1")).scalar_one()
        schema = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return f"{schema}-{token}"
