"""The example recipes run only dealflow commands, and running them twice changes nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args: str, db: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(list(args), env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def report(db: str, *extra: str) -> dict:
    return json.loads(run("dealflow", "report", "--db", db, "--format", "json", *extra, db=db))


def test_maven_recipe_twice(file_store):
    db = file_store.url
    data = ROOT / "src/dealflow/samples/maven_crm"
    run("bash", "examples/maven_crm/load.sh", db, str(data), db=db)
    first = report(db)
    run("bash", "examples/maven_crm/load.sh", db, str(data), db=db)
    assert report(db) == first
    assert first["deals"] == {"open": 2089, "won": 4238, "lost": 2473, "total": 8800}


@pytest.mark.slow
def test_bpi_recipe_twice(file_store):
    data = SHARED_DATA / "bpi2012_loan_funnel"
    if not (data / "events.csv").is_file():
        pytest.skip("needs ../shared/data/bpi2012_loan_funnel (the bundled copy is covered by test_report_bpi)")
    db = file_store.url
    run("bash", "examples/bpi2012/load.sh", db, str(data), db=db)
    first = report(db)
    run("bash", "examples/bpi2012/load.sh", db, str(data), db=db)
    assert report(db) == first
    assert first["deals"]["won"] == 2246 and first["won_amount"] == 35_290_338


def test_x_education_recipe(file_store, x_education_dir):
    import dealflow

    run("bash", "examples/x_education/load.sh", file_store.url, str(x_education_dir), db=file_store.url)
    leads = dealflow.open(file_store).leads()
    assert leads.height == 9240
    assert leads["converted"].sum() == 3561
