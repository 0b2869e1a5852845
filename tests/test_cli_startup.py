"""What a command loads before it works: only what it needs, with the public names still there."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dealflow.store import Store
from tests.factories import add_deal

# Heavy modules no command needs just to start (each costs tenths of a second).
NOT_AT_START = ("sqlalchemy", "pyarrow", "numpy", "alembic", "sklearn", "fastapi", "uvicorn", "openpyxl",
                "dealflow.web", "dealflow.forecast", "dealflow.analytics", "dealflow.ingest.runner", "dealflow.store.models")


def _loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` are in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps([n for n in {list(names)!r} if n in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return list(json.loads(out.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _loaded_after("import dealflow.cli", NOT_AT_START + ("dealflow.ingest",)) == ["dealflow.ingest"]  # its light fields only


def test_importing_dealflow_loads_neither_polars_nor_sqlalchemy() -> None:
    assert _loaded_after("import dealflow", ("polars", "sqlalchemy", "dealflow.api", "dealflow.history")) == []


def test_the_probe_sees_what_is_loaded() -> None:
    """The checks above would notice: using a lazy name loads its module and what it imports."""
    assert _loaded_after("import dealflow; dealflow.open", ("sqlalchemy", "dealflow.api")) == ["dealflow.api"]
    assert _loaded_after("from dealflow.ingest import run_import", ("sqlalchemy", "dealflow.ingest.runner")) == [
        "sqlalchemy", "dealflow.ingest.runner"]


def test_public_names_resolve_to_their_objects() -> None:
    import dealflow
    import dealflow.api
    import dealflow.history
    import dealflow.ingest
    import dealflow.ingest.runner
    import dealflow.store.db
    from dealflow import Conflict, Dealflow, DealflowError, History, Store, open
    from dealflow.errors import DealflowError as Base

    assert open is dealflow.api.open and Dealflow is dealflow.api.Dealflow
    assert History is dealflow.history.History
    assert Store is dealflow.store.db.Store
    assert DealflowError is Base and issubclass(Conflict, Base)
    assert dealflow.api.ImportResult is dealflow.ingest.runner.ImportResult
    assert dealflow.ingest.run_import is dealflow.ingest.runner.run_import
    assert {"open", "Dealflow", "History", "Store"} <= set(dir(dealflow))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dealflow.nope  # noqa: B018


def test_warm_report_on_sqlite_reads_the_cache_without_sqlalchemy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the cache is written, `dealflow report` answers from it without SQLAlchemy, and says the same."""
    monkeypatch.delenv("DEALFLOW_HISTORY_CACHE", raising=False)
    path = tmp_path / "crm.db"
    store = Store(str(path))
    add_deal(store, "D-1", [("Qualify", "2024-01-02"), ("Won", "2024-01-20")], amount=500.0)
    add_deal(store, "D-2", [("Qualify", "2024-01-05")], amount=900.0)
    store.dispose()
    run = ("import sys, json\nfrom dealflow.cli import main\n"
           f"try:\n    main(['report', '--db', {str(path)!r}, '--format', 'json'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
           "print(json.dumps('sqlalchemy' in sys.modules))")

    def report() -> tuple[dict[str, object], bool]:
        out = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, check=True).stdout
        body, _, loaded = out.rstrip("\n").rpartition("\n")
        return json.loads(body), json.loads(loaded)

    first, first_loaded = report()  # no cache yet: opens the store and writes the cache
    second, second_loaded = report()
    assert (first_loaded, second_loaded) == (True, False)
    assert second == first
    assert second["deals"] == {"open": 1, "won": 1, "lost": 0, "total": 2}
