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
    _every_printed_figure_was_compared(tmp_path / "data" / "2000" / "out", peers)
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


def _every_printed_figure_was_compared(out: Path, peers: list[dict]) -> None:
    """DuckDB and pandas compute every section dealflow prints; pm4py the transitions' counts and medians."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run

    sections = {"report": {"deals", "win_rate", "value_win_rate", "won_amount", "open_amount", "weighted_amount", "sales_velocity_per_day",
                           "cycle_days", "stages", "owners", "products", "ageing", "list_price_estimate"},
                "flow": {"summary", "transitions", "dwell", "regressions", "skips", "loops", "reopened"}}
    for r in peers:
        ours = run.dealflow_metrics(r["task"], out / f"{r['task']}.json", r["tool"])
        theirs = json.loads((out / f"{r['task']}.{r['tool']}.json").read_text())["metrics"]
        assert r["figures"] == run.figures(ours)
        if r["tool"] == "pm4py":
            assert set(theirs) == {"transitions"} and r["figures"] == 2 * len(json.loads((out / "flow.json").read_text())["transitions"])
        else:
            assert set(theirs) == sections[r["task"]]
    report = json.loads((out / "report.duckdb.json").read_text())["metrics"]
    stage = report["stages"]["Synthetic sales / Develop"]
    assert set(stage) == {"kind", "probability", "open_deals", "open_amount", "weighted_amount", "reached", "advanced", "conversion"}
    assert stage["conversion"] == pytest.approx(stage["advanced"] / stage["reached"])
    flow = json.loads((out / "flow.pandas.json").read_text())["metrics"]
    assert flow["summary"]["moves"] == sum(t["count"] for t in flow["transitions"].values())


def test_one_changed_figure_is_a_named_mismatch():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run

    ours = {"stages": {"P / Develop": {"reached": 10, "advanced": 7, "conversion": 0.7, "kind": "open"}}, "win_rate": 0.25}
    theirs = json.loads(json.dumps(ours))
    assert run.differences(ours, theirs) == []
    theirs["stages"]["P / Develop"]["advanced"] = 8
    theirs["stages"]["P / Develop"]["kind"] = "won"
    theirs["win_rate"] = 0.25 * (1 + 1e-7)  # within 1e-6 relative: the same figure
    assert sorted(run.differences(ours, theirs)) == ["stages.P / Develop.advanced: dealflow 7 vs peer 8",
                                                     "stages.P / Develop.kind: dealflow open vs peer won"]
    assert run.figures(ours) == 5


EDGE_FILES = {  # deals that move back, skip stages, loop and reopen: moves the synthetic data never makes
    "owners": "external_id,name,team,region\nO1,Ana,North,North\nO2,Ben,South,South\n",
    "products": "external_id,name,family,list_price\nP1,Atlas Core,Atlas,12000.0\n",
    "deals": (
        "external_id,name,account,owner,product,pipeline,stage,amount,currency,source,created_at,expected_close_date,closed_at,lost_reason\n"
        "E1,Reopened,,Ana,Atlas Core,Sales,Won,1000,USD,web,2023-01-01 10:00:00,2023-03-01,2023-03-01 10:00:00,\n"
        "E2,Skipper,,Ana,Atlas Core,Sales,Negotiate,,USD,web,2023-01-05 10:00:00,2023-04-01,,\n"
        "E3,No owner,,,Atlas Core,Sales,Develop,500,USD,web,2023-02-01 10:00:00,2023-04-01,,\n"
        "E4,Looper,,Ben,Atlas Core,Sales,Lost,700,USD,web,2023-01-10 10:00:00,2023-03-01,2023-02-20 10:00:00,price\n"
    ),
    "stage_history": (
        "deal,stage,at,by,lost_reason\n"
        "E1,Qualify,2023-01-01 10:00:00,Ana,\nE1,Develop,2023-01-10 10:00:00,Ana,\nE1,Won,2023-01-20 10:00:00,Ana,\n"
        "E1,Propose,2023-02-01 10:00:00,Ana,\nE1,Won,2023-03-01 10:00:00,Ana,\n"
        "E2,Qualify,2023-01-05 10:00:00,Ana,\nE2,Negotiate,2023-01-15 10:00:00,Ana,\n"
        "E3,Qualify,2023-02-01 10:00:00,Ana,\nE3,Develop,2023-02-05 10:00:00,Ana,\n"
        "E4,Qualify,2023-01-10 10:00:00,Ben,\nE4,Develop,2023-01-12 10:00:00,Ben,\nE4,Qualify,2023-01-14 10:00:00,Ben,\n"
        "E4,Develop,2023-01-16 10:00:00,Ben,\nE4,Lost,2023-02-20 10:00:00,Ben,price\n"
    ),
}


def test_peers_agree_on_reopened_skipped_and_looping_deals(tmp_path):
    pytest.importorskip("duckdb")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run

    db = tmp_path / "store.db"
    for kind, text in EDGE_FILES.items():
        (tmp_path / f"{kind}.csv").write_text(text)
        subprocess.run(run.dealflow_cmd("import", kind, str(tmp_path / f"{kind}.csv"), "--db", str(db)), check=True, cwd=ROOT, capture_output=True)
    run.export_parquet(db, tmp_path / "parquet")
    for task in ("report", "flow"):
        with open(tmp_path / f"{task}.json", "wb") as out:
            subprocess.run(run.dealflow_cmd(task, "--db", str(db), "--format", "json"), check=True, cwd=ROOT, stdout=out)
        ours = run.dealflow_metrics(task, tmp_path / f"{task}.json")
        for script in ("duckdb_sql.py", "pandas_version.py"):
            target = tmp_path / f"{task}.{script}.json"
            subprocess.run([sys.executable, str(run.PEERS / script), task, str(tmp_path / "parquet"), str(target)], check=True, cwd=ROOT)
            assert run.differences(ours, json.loads(target.read_text())["metrics"]) == [], (task, script)
    flow = run.dealflow_metrics("flow", tmp_path / "flow.json")
    assert flow["reopened"] == {"1: Won -> Propose": {"external_id": "E1", "times": 1}}
    assert flow["loops"]["Sales: Qualify"] == {"deals": 1, "extra_visits": 1}  # E4 went back to Qualify once
    assert flow["skips"] and flow["regressions"]
    report = run.dealflow_metrics("report", tmp_path / "report.json")
    assert report["owners"]["(no owner)"]["deals"] == 1
    # E2 has no amount: valued at its product's list price
    assert report["list_price_estimate"] == {"deals_without_amount": 1, "estimated_deals": 1, "estimated_open_amount": 12000.0,
                                             "estimated_weighted_amount": pytest.approx(12000.0 * report["stages"]["Sales / Negotiate"]["probability"])}
