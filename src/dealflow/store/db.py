"""The store: one object owning the engine, created from a path or URL, upgraded on first use.

SQLAlchemy is imported when a ``Store`` is created, not with this module: a command answered
from the history cache (``dealflow.store.history_cache``) never loads it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dealflow.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0003_unique_keys_as_indexes"  # the newest migration; tests/test_store_schema.py checks it against Alembic


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


SQLITE_HEADER = b"SQLite format 3\x00"


def company_currency(code: str) -> str:
    """The currency code reports convert amounts to, as the store and its cache keys hold it."""
    return code.strip().upper()


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory and server databases."""
    if not url.startswith("sqlite"):
        return None
    database: str | None
    rest = url.partition("://")[2]
    if rest.startswith("/") and not any(c in rest for c in "?#%@"):  # the plain sqlite:///<path>: no parser needed
        database = rest[1:]
    else:
        from sqlalchemy.engine import make_url

        database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def is_sqlite_file(path: Path) -> bool:
    """True when ``path`` starts with SQLite's header (an empty file counts: SQLite fills it in)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return head == b"" or head == SQLITE_HEADER


def check_sqlite_file(path: Path) -> None:
    """Refuse, with the path and what to do, a SQLite file that cannot be opened or created."""
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a database file; give a file path such as {path / 'dealflow.db'}")
    if not path.exists():
        if not path.parent.is_dir():
            raise ConfigError(f"cannot create database {path}: the folder {path.parent} does not exist; create it first or choose another path")
        return
    if not is_sqlite_file(path):
        raise ConfigError(f"{path} is not a SQLite database (it exists but holds something else); choose another database path")


def _describe_connect_error(url: str, exc: BaseException) -> str:
    """One line saying which database could not be opened, why, and what to do."""
    from sqlalchemy.engine import make_url

    orig = getattr(exc, "orig", None) or exc
    reason = " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__
    shown = make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite"):
        return f"cannot open database {sqlite_path(url) or shown}: {reason}"
    return f"cannot reach the database at {shown}: {reason}; check the URL and that the server is running and accepts connections"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA temp_store=MEMORY")  # imports stage rows in temp tables: keep them off disk
    cur.close()


def _sqlite_foreign_keys_on(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.execute("PRAGMA foreign_keys=ON")  # at every checkout: Store.atomic(references_checked=True) turns them off


class Store:
    """The database behind dealflow.

    >>> store = Store(":memory:")
    >>> with store.session() as s: ...
    """

    def __init__(self, target: str, *, upgrade: bool = True, echo: bool = False, currency: str = "USD") -> None:
        from sqlalchemy import create_engine, event
        from sqlalchemy.orm import sessionmaker
        from sqlalchemy.pool import StaticPool

        self.url = resolve_url(target)
        self.currency = company_currency(currency)  # the company currency reports convert amounts to
        self.is_sqlite = self.url.startswith("sqlite")
        self.path = sqlite_path(self.url)
        if self.path is not None:
            check_sqlite_file(self.path)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.url == "sqlite://":
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        elif self.is_sqlite:
            kwargs.update(connect_args={"check_same_thread": False, "timeout": 30})
        else:
            # The web server runs up to 40 request threads: let each find a connection.
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=30)
            if "connect_timeout" not in self.url:  # an unreachable server fails in seconds, not minutes
                kwargs.update(connect_args={"connect_timeout": 10})
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as exc:  # bad driver or URL syntax
            raise ConfigError(f"cannot use database {target!r}: {exc}") from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "checkout", _sqlite_foreign_keys_on)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            self.upgrade()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (a new database creates itself)."""
        from sqlalchemy.exc import DatabaseError, OperationalError

        from dealflow.store.revision import ensure_revision

        try:
            with self.engine.begin() as conn:
                if not self._at_head(conn):  # importing Alembic costs a CLI command ~0.2 s: only when needed
                    from alembic import command
                    from alembic.config import Config

                    cfg = Config()
                    cfg.set_main_option("script_location", str(MIGRATIONS))
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                ensure_revision(conn)  # every write, by any path, changes the revision caches key on
        except DatabaseError as exc:
            # unreachable server, unreadable or locked file, not a database; schema bugs (integrity, programming) propagate
            if isinstance(exc, OperationalError) or type(exc) is DatabaseError:
                raise ConfigError(_describe_connect_error(self.url, exc)) from exc
            raise

    @staticmethod
    def _at_head(conn: Connection) -> bool:
        from sqlalchemy import inspect, text

        if not inspect(conn).has_table("alembic_version"):
            return False
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD_REVISION]

    def tables(self) -> list[str]:
        from sqlalchemy import inspect

        return inspect(self.engine).get_table_names()

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def atomic(self, *, references_checked: bool = False) -> Iterator[Session]:
        """A session whose work is committed together, or not at all.

        ``references_checked``: the caller has checked every id it writes against the stored
        rows (set-wise, as imports do), so SQLite need not check each row's foreign keys
        again; that saves about 15% of a bulk insert. (PostgreSQL checks them regardless.)"""
        with self._sessions() as session, session.begin():
            if references_checked and self.is_sqlite:
                # Settable only outside a transaction: here, before the first statement begins one.
                session.connection().connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"
