"""Fixtures: a fresh store per test (SQLite in memory, or a new PostgreSQL database when
DEALFLOW_TEST_DATABASE_URL points at a server), and the bundled real samples loaded once."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dealflow.store import Store

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PG_URL = os.environ.get("DEALFLOW_TEST_DATABASE_URL")  # e.g. postgresql+psycopg://postgres@127.0.0.1/test


def _new_database_url(tag: str) -> tuple[str, str | None]:
    """A URL for an empty database: in memory for SQLite, a new database on PostgreSQL."""
    if not PG_URL:
        return ":memory:", None
    name = f"dealflow_{tag}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + "/" + name, name


def _drop_database(name: str | None) -> None:
    if not name:
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")  # type: ignore[arg-type]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def store() -> Iterator[Store]:
    url, name = _new_database_url("t")
    s = Store(url)
    yield s
    s.dispose()
    _drop_database(name)


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[Store]:
    """A store other processes (the CLI) can open: a SQLite file, or a PostgreSQL database."""
    url, name = _new_database_url("f")
    s = Store(str(tmp_path / "dealflow.db") if url == ":memory:" else url)
    yield s
    s.dispose()
    _drop_database(name)


@pytest.fixture(scope="session")
def maven_store() -> Iterator[Store]:
    """The bundled Maven CRM sample, loaded once for the whole session. Treat as read-only."""
    from dealflow.samples import load_sample

    url, name = _new_database_url("maven")
    s = Store(url)
    load_sample(s, "maven_crm")
    yield s
    s.dispose()
    _drop_database(name)


@pytest.fixture(scope="session")
def bpi_store() -> Iterator[Store]:
    """The bundled BPI 2012 log, loaded once for the whole session. Treat as read-only."""
    from dealflow.samples import load_sample

    url, name = _new_database_url("bpi")
    s = Store(url)
    load_sample(s, "bpi2012")
    yield s
    s.dispose()
    _drop_database(name)


@pytest.fixture(scope="session")
def synthetic_history():  # type: ignore[no-untyped-def]
    """1,000 generated deals over 540 days (seed 4): the backtest and forecast-range tests share it."""
    from dealflow.store.frames import load_history
    from dealflow.synthetic import generate

    store = Store(":memory:")
    generate(store, deals=1000, seed=4, days=540)
    history = load_history(store)
    store.dispose()
    return history


@pytest.fixture(scope="session")
def maven_history(maven_store: Store):  # type: ignore[no-untyped-def]
    from dealflow.store.frames import load_history

    return load_history(maven_store)


@pytest.fixture(scope="session")
def bpi_history(bpi_store: Store):  # type: ignore[no-untyped-def]
    from dealflow.store.frames import load_history

    return load_history(bpi_store)


@pytest.fixture(scope="session")
def x_education_dir() -> Path:
    """../shared/data/x_education_leads: not bundled (its license is unknown)."""
    path = SHARED_DATA / "x_education_leads"
    if not (path / "Leads.csv").is_file():
        pytest.skip("X Education leads are not bundled (license unknown); needs ../shared/data/x_education_leads/Leads.csv")
    return path
