"""benchmarks/run.py end to end on 2,000 deals: the JSON rows' schema and the agreement checks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_runs_end_to_end_and_every_peer_agrees_with_dealflow(tmp_path):
    pytest.importorskip("duckdb")
    pytest.importorskip("pm4py")
    from dealflow.synthetic.generator import simulate

    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--sizes", "2000", "--tasks", "import_sqlite,report,flow",
         "--data", str(tmp_path / "data"), "--json", str(out), "--once"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads(out.read_text())
    for row in rows:
        assert {"size", "task", "tool", "seconds", "peak_mb"} <= row.keys()
        assert row["size"] == 2000
        assert row["task"] in {"import_sqlite", "import_postgres", "report", "flow", "inspect", "funnel", "forecast", "backtest"}
        assert row["tool"] in {"dealflow", "duckdb", "pm4py", "pandas"}
        assert row["seconds"] > 0 and row["peak_mb"] > 10  # a Python process holds more than 10 MB
    got = {(r["task"], r["tool"]) for r in rows}
    assert got == {("import_sqlite", "dealflow"), ("report", "dealflow"), ("flow", "dealflow"), ("report", "duckdb"),
                   ("flow", "duckdb"), ("flow", "pm4py"), ("report", "pandas"), ("flow", "pandas")}
    peers = [r for r in rows if r["tool"] != "dealflow"]
    assert all(r["agreement"] == "ok" for r in peers), [r.get("agreement") for r in peers]
    imported = next(r for r in rows if r["task"] == "import_sqlite")
    syn = simulate(deals=2000, seed=1)  # the run's default seed
    assert imported["events"] == syn.result.stage_changes + syn.result.activities
    # events_per_s comes from the unrounded time; the JSON rounds seconds to 0.001 s
    assert imported["events_per_s"] == pytest.approx(imported["events"] / imported["seconds"], rel=0.005)
    # with --once the first run is the one compared, and it is kept as the cold figure too
    assert all(r["cold_seconds"] == r["seconds"] for r in rows if r["tool"] == "dealflow" and r["task"] != "import_sqlite")
    assert "numbers agree" in proc.stdout
    dealflow = {r["task"]: r["seconds"] for r in rows if r["tool"] == "dealflow"}
    for r in peers:  # the ratio printed and stored is the peer's time over dealflow's
        assert r["peer_over_dealflow"] == pytest.approx(r["seconds"] / dealflow[r["task"]], abs=0.011)
