"""The store: one object owning the engine, created from a path or URL, upgraded on first use."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from dealflow.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_url(target: str) -> str:
    """Turn a file path, ``:memory:`` or URL into a SQLAlchemy URL."""
    if target == ":memory:":
        return "sqlite://"
    if "://" not in target:
        return f"sqlite:///{Path(target).expanduser().resolve()}"
    if target.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    if target.startswith(("sqlite:", "postgresql+psycopg:")):
        return target
    raise ConfigError(
        f"unsupported database URL {target!r}: give a file path, sqlite:///path.db or postgresql+psycopg://user@host/db"
    )


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Store:
    """The database behind dealflow.

    >>> store = Store(":memory:")
    >>> with store.session() as s: ...
    """

    def __init__(self, target: str, *, upgrade: bool = True, echo: bool = False) -> None:
        self.url = resolve_url(target)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.url == "sqlite://":
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        elif self.is_sqlite:
            kwargs.update(connect_args={"check_same_thread": False, "timeout": 30})
        else:
            kwargs.update(pool_pre_ping=True)
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as exc:  # bad driver or URL syntax
            raise ConfigError(f"cannot use database {target!r}: {exc}") from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            self.upgrade()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (a new database creates itself)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except Exception as exc:
            if "could not connect" in str(exc) or "Connection refused" in str(exc):
                raise ConfigError(f"cannot reach the database at {self.url}: {exc}") from exc
            raise

    def tables(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def atomic(self) -> Iterator[Session]:
        """A session whose work is committed together, or not at all."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"
