"""dealflow at 10k, 100k and 1M synthetic deals, beside what a user would pick instead.

    .venv/bin/python benchmarks/run.py [--sizes 10000,100000,1000000] [--json FILE]

For each size: `dealflow generate --out` writes import-ready files once (cached under
benchmarks/.data/SIZE, reused while the generator's source is unchanged); then every task runs
in a fresh process, the way a user runs the command, and its wall seconds and peak RSS (that
process's, from wait4) are recorded:

- dealflow: import_sqlite and import_postgres (`dealflow import-folder` of the generated files
  into a fresh store: one process, each file atomically, as a user loads a folder of exports), then `report`, `flow`, `inspect`,
  `funnel`, `forecast` and `backtest` (6 monthly cut-offs) with `--format json` on the SQLite
  store, each twice: a cold first run and a warm second one (caches count as they would for a
  user's second command). Comparisons use the warm run.
- peers, over Parquet copies of the same store (exported once, not timed): hand-written DuckDB
  SQL (report, flow), pm4py's DFG + performance DFG (flow) and plain pandas (report, flow).

DuckDB and pandas compute every figure `report` and `flow` print in JSON (benchmarks/peers/common.py
lists them); pm4py the transitions' counts and median days. Before any time is compared, each
peer's figures must equal dealflow's (counts and names exactly, amounts and days within 1e-6
relative); a peer that disagrees is reported and not compared.
The JSON is a list of rows: size, task, tool, seconds, peak_mb (+ extra keys).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
GENERATOR = ROOT / "src" / "dealflow" / "synthetic" / "generator.py"
KINDS = ("owners", "accounts", "products", "deals", "stage_history", "activities")
START, DAYS = "2021-01-01", 1095  # the synthetic window: 2021-01-01 .. 2024-01-01
ANALYSES: dict[str, list[str]] = {
    "report": ["report"],
    "flow": ["flow"],
    "inspect": ["inspect"],
    "funnel": ["funnel"],
    "forecast": ["forecast", "--period", "2024Q1", "--as-of", "2024-01-01T00:00:00", "--sims", "2000"],
    "backtest": ["backtest", "--cutoffs", "2023-07-01,2023-08-01,2023-09-01,2023-10-01,2023-11-01,2023-12-01"],
}
PEER_TASKS = {"duckdb": ("duckdb_sql.py", ["report", "flow"]), "pm4py": ("pm4py_flow.py", ["flow"]),
              "pandas": ("pandas_version.py", ["report", "flow"])}
ALL_TASKS = ["import_sqlite", "import_postgres", *ANALYSES]
REL = 1e-6


@dataclass
class Run:
    seconds: float | None
    peak_mb: float | None
    ok: bool
    note: str = ""
    cpu_seconds: float | None = None  # user + system: steadier than wall time on a shared machine


@dataclass
class Row:
    size: int
    task: str
    tool: str
    seconds: float | None
    peak_mb: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        extra = {k: round(v, 3) if isinstance(v, float) else v for k, v in self.extra.items()}
        return {"size": self.size, "task": self.task, "tool": self.tool, "seconds": None if self.seconds is None else round(self.seconds, 3),
                "peak_mb": None if self.peak_mb is None else round(self.peak_mb, 1), **extra}


def measure(cmd: list[str], *, stdout: Path | None = None, timeout: float, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` in a fresh process; its wall time and its own peak RSS (wait4's ru_maxrss)."""
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    err_path = (stdout or Path(os.devnull)).with_suffix(".err") if stdout else None
    err = open(err_path, "wb") if err_path else subprocess.DEVNULL  # noqa: SIM115
    clock = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - clock > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                return Run(None, None, False, f"timed out after {timeout:.0f} s")
            time.sleep(0.01)
    finally:
        proc.returncode = proc.returncode if proc.returncode is not None else 0  # reaped by wait4 above
        if stdout:
            out.close()  # type: ignore[union-attr]
            err.close()  # type: ignore[union-attr]
    seconds = time.perf_counter() - clock
    code = os.waitstatus_to_exitcode(status)
    note = ""
    if code != 0:
        tail = err_path.read_text(errors="replace").strip().splitlines()[-3:] if err_path and err_path.exists() else []
        note = f"exit {code}: " + " | ".join(tail)
    return Run(seconds, usage.ru_maxrss / 1024, code == 0, note, usage.ru_utime + usage.ru_stime)


def dealflow_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from dealflow.cli import main; main()", *args]


# -- data --------------------------------------------------------------------------------------

def generator_hash() -> str:
    return hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:12]


def ensure_files(size: int, data: Path, seed: int) -> Path:
    """Generate the import files for ``size`` once; reuse them while the generator is unchanged."""
    folder = data / str(size) / "files"
    stamp = folder / "generated.json"
    want = {"size": size, "seed": seed, "generator": generator_hash()}
    if stamp.exists() and json.loads(stamp.read_text()) == want and all((folder / f"{k}.csv").exists() for k in KINDS):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    clock = time.perf_counter()
    subprocess.run(dealflow_cmd("generate", "--deals", str(size), "--seed", str(seed), "--start", START, "--days", str(DAYS),
                                "--out", str(folder), "--format", "json"), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    stamp.write_text(json.dumps(want))
    print(f"  generated {size:,} deals in {time.perf_counter() - clock:.1f} s -> {folder}", flush=True)
    return folder


def remove_store(base: Path) -> None:
    """The SQLite file, its WAL and dealflow's history cache beside it (``store.db.cache/``)."""
    for p in base.glob("store.db*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def count_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1


def import_all(files: Path, db: str, timeout: float, label: str) -> Run:
    """``dealflow import-folder``: the generated files, in one process, as a user loads a folder of exports."""
    run = measure(dealflow_cmd("import-folder", str(files), "--db", db), stdout=files.parent / "out" / f"{label}.txt", timeout=timeout)
    return run if run.ok else Run(None, None, False, f"import-folder: {run.note}")


def fresh_postgres(url: str, name: str) -> str | None:
    """Create an empty database ``name`` next to ``url``'s; its URL, or None if the server is unreachable."""
    try:
        import psycopg
    except ImportError:
        return None
    from sqlalchemy.engine import make_url

    admin = make_url(url)
    try:
        with psycopg.connect(host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database or "postgres",
                             password=admin.password, autocommit=True, connect_timeout=3) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"  PostgreSQL at {admin.host}:{admin.port or 5432} unreachable ({str(exc).strip().splitlines()[0]}): import_postgres skipped")
        return None
    return admin.set(database=name).render_as_string(hide_password=False)


# The store's tables the peers read, as an analyst would copy them (deleted rows left out).
LIVE_DEALS = "SELECT id FROM deals WHERE deleted_at IS NULL"
EXPORTS = {
    "deals": "SELECT id, external_id, owner_id, pipeline_id, stage_id, status, amount, currency, created_at, closed_at FROM deals WHERE deleted_at IS NULL",
    "pipelines": "SELECT id, name FROM pipelines",
    "stages": "SELECT id, pipeline_id, name, position, kind, probability FROM stages",
    "stage_changes": f"SELECT id, deal_id, to_stage_id, at FROM stage_changes WHERE deal_id IN ({LIVE_DEALS})",
    "activities": "SELECT deal_id, at FROM activities WHERE deleted_at IS NULL",
    "owners": "SELECT id, name, team_id FROM owners",
    "teams": "SELECT id, name FROM teams",
    "products": "SELECT id, name, list_price FROM products",
    "deal_products": f"SELECT id, deal_id, product_id FROM deal_products WHERE deal_id IN ({LIVE_DEALS})",
}


def export_parquet(db: Path, folder: Path) -> None:
    """Copy the store's tables the peers read to Parquet (untimed); instants become timestamps."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    for name, sql in EXPORTS.items():
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        parts = []  # in batches: 7.5M activity rows as Python tuples at once would take gigabytes
        while batch := cur.fetchmany(500_000):
            part = pl.DataFrame(batch, schema=cols, orient="row", infer_schema_length=None)
            parts.append(part.with_columns(
                pl.col(c).cast(pl.String).str.to_datetime(time_unit="us") for c in ("created_at", "closed_at", "at") if c in cols
            ))
        frame = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame(schema=cols)
        # Replaced in one step: a peer reading the previous copy meanwhile never sees half a file.
        frame.write_parquet(folder / f"{name}.parquet.tmp")
        os.replace(folder / f"{name}.parquet.tmp", folder / f"{name}.parquet")
    con.close()


# -- agreement -----------------------------------------------------------------------------------

def _keyed(records: list[dict[str, Any]], key: str, drop: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Rows as {key format filled from the row: the row's other fields}, as the peers write them."""
    names = set(re.findall(r"{(\w+)}", key)) | set(drop)
    return {key.format(**r): {k: v for k, v in r.items() if k not in names} for r in records}


def dealflow_metrics(task: str, output: Path, tool: str = "") -> dict[str, Any]:
    """The figures dealflow printed (its --format json output), shaped as the peers write theirs
    (benchmarks/peers/common.py). pm4py gives transition counts and medians only, per pair of stages."""
    data = json.loads(output.read_text())
    if task == "report":
        return {
            **{k: data[k] for k in ("deals", "win_rate", "value_win_rate", "won_amount", "open_amount", "weighted_amount", "sales_velocity_per_day")},
            "cycle_days": _keyed(data["cycle_days"], "{status}"),
            "stages": _keyed(data["stages"], "{pipeline} / {stage}"),
            "owners": _keyed(data["owners"], "{owner}"),
            "products": _keyed(data["products"], "{product}"),
            "ageing": _keyed(data["ageing"], "{bucket}"),
            "list_price_estimate": {k: v for k, v in data["list_price_estimate"].items() if k != "label"},
        }
    if tool == "pm4py":
        return {"transitions": {f"{t['from']} -> {t['to']}": {"count": t["count"], "median_days": t["median_days"]} for t in data["transitions"]}}
    reopened: dict[str, dict[str, Any]] = {}
    for r in data["reopened"]:  # one row per move: counted per deal and pair of stages
        key = f"{r['deal_id']}: {r['closed_stage']} -> {r['reopened_to']}"
        reopened[key] = {"external_id": r["external_id"], "times": reopened.get(key, {}).get("times", 0) + 1}
    return {
        "summary": {k: v for k, v in data["summary"].items() if k not in ("outcome", "period")},
        "transitions": _keyed(data["transitions"], "{pipeline}: {from} -> {to}"),
        "dwell": _keyed(data["dwell"], "{pipeline}: {stage} ({status})", drop=("rank",)),
        "regressions": _keyed(data["regressions"], "{pipeline}: {from} -> {to}"),
        "skips": _keyed(data["skips"], "{pipeline}: {stage}"),
        "loops": _keyed(data["loops"], "{pipeline}: {stage}"),
        "reopened": reopened,
    }


def figures(tree: Any) -> int:
    """How many figures a metric tree holds (its leaves)."""
    return sum(figures(v) for v in tree.values()) if isinstance(tree, dict) else 1


def differences(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Where two metric trees disagree: ints and names exactly, floats within 1e-6 relative."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = [f"{where}{k}: missing in peer" for k in ours if k not in theirs]
        out += [f"{where}{k}: only in peer" for k in theirs if k not in ours]
        for k in ours.keys() & theirs.keys():
            out += differences(ours[k], theirs[k], f"{where}{k}.")
        return out
    if ours is None or theirs is None:
        return [] if ours is None and theirs is None else [f"{where.rstrip('.')}: dealflow {ours} vs peer {theirs}"]
    numbers = all(isinstance(v, (int, float)) for v in (ours, theirs))
    if not numbers or (isinstance(ours, int) and isinstance(theirs, int)):  # counts and names: exactly
        return [] if ours == theirs else [f"{where.rstrip('.')}: dealflow {ours} vs peer {theirs}"]
    if math.isclose(float(ours), float(theirs), rel_tol=REL, abs_tol=1e-9):
        return []
    return [f"{where.rstrip('.')}: dealflow {ours} vs peer {theirs}"]


# -- the run -------------------------------------------------------------------------------------

def bench_size(size: int, args: argparse.Namespace, rows: list[Row]) -> None:
    base = args.data / str(size)
    files = ensure_files(size, args.data, args.seed)
    out = base / "out"
    out.mkdir(parents=True, exist_ok=True)
    events = count_rows(files / "stage_history.csv") + count_rows(files / "activities.csv")
    db = base / "store.db"
    tasks = args.tasks

    def add(task: str, tool: str, run: Run, **extra: Any) -> Row:
        row = Row(size, task, tool, run.seconds, run.peak_mb, {k: v for k, v in {"cpu_seconds": run.cpu_seconds, **extra}.items() if v is not None})
        if not run.ok:
            row.extra["error"] = run.note
            print(f"  {task} ({tool}): FAILED {run.note}", flush=True)
        rows.append(row)
        done = f"{row.seconds:.2f} s, {row.peak_mb:.0f} MB" if row.seconds is not None and row.peak_mb is not None else "-"
        cold = f" (cold {row.extra['cold_seconds']:.2f} s)" if row.extra.get("cold_seconds") is not None else ""
        print(f"  {task} ({tool}): {done}{cold}", flush=True)
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))  # partial results survive an interrupted run
        return row

    # The analyses need the SQLite store: import it whenever it is missing or stale.
    stale = not db.exists() or not (base / "store.json").exists() or json.loads((base / "store.json").read_text()) != json.loads((files / "generated.json").read_text())
    if stale and "import_sqlite" not in tasks:
        # Without the import task the store is filled by `dealflow generate --db` (bulk inserts, untimed):
        # the same deals and history as importing the files (tests/test_generate.py checks it).
        remove_store(base)
        clock = time.perf_counter()
        subprocess.run(dealflow_cmd("generate", "--deals", str(size), "--seed", str(args.seed), "--start", START, "--days", str(DAYS),
                                    "--db", str(db), "--format", "json"), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        (base / "store.json").write_text((files / "generated.json").read_text())
        print(f"  store filled by dealflow generate in {time.perf_counter() - clock:.0f} s (import not timed)", flush=True)
    elif "import_sqlite" in tasks:
        remove_store(base)
        run = import_all(files, str(db), args.timeout, "import_sqlite")
        add("import_sqlite", "dealflow", run, events=events, events_per_s=round(events / run.seconds) if run.ok and run.seconds else None)
        if not run.ok:
            return
        (base / "store.json").write_text((files / "generated.json").read_text())
    if "import_postgres" in tasks:
        url = fresh_postgres(args.pg, f"dealflow_bench_{size}")
        if url is None:
            rows.append(Row(size, "import_postgres", "dealflow", None, None, {"skipped": "PostgreSQL unreachable"}))
        else:
            run = import_all(files, url, args.timeout, "import_postgres")
            add("import_postgres", "dealflow", run, events=events, events_per_s=round(events / run.seconds) if run.ok and run.seconds else None)
            fresh_postgres(args.pg, f"dealflow_bench_{size}")  # leave no large database behind

    results: dict[str, Path] = {}
    for task, argv in ANALYSES.items():
        if task not in tasks:
            continue
        if "dealflow" not in args.tools:  # peers only: compare with the dealflow output of an earlier run
            if (out / f"{task}.json").exists():
                results[task] = out / f"{task}.json"
            continue
        cold = measure(dealflow_cmd(*argv, "--db", str(db), "--format", "json"), stdout=out / f"{task}.cold.json", timeout=args.timeout)
        if args.once:  # quick checks: the first run is the only one
            shutil.copy(out / f"{task}.cold.json", out / f"{task}.json")
            warm = cold
        else:
            warm = measure(dealflow_cmd(*argv, "--db", str(db), "--format", "json"), stdout=out / f"{task}.json", timeout=args.timeout) if cold.ok else cold
        add(task, "dealflow", warm, cold_seconds=cold.seconds, cold_peak_mb=cold.peak_mb)
        if warm.ok:
            results[task] = out / f"{task}.json"

    parquet = base / "parquet"
    peer_jobs = [(tool, script, task) for tool, (script, ts) in PEER_TASKS.items() for task in ts if task in tasks]
    if peer_jobs:
        # The copies are current while both the store and what is exported from it are unchanged.
        stamp = json.dumps({"store": json.loads((base / "store.json").read_text()), "exports": EXPORTS}, sort_keys=True)
        if not (parquet / "store.json").exists() or (parquet / "store.json").read_text() != stamp:
            # In a child process: a child's ru_maxrss starts from its parent's RSS at fork, so this
            # process must stay small for the peers' peaks to be their own.
            code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import run; run.export_parquet(run.Path({str(db)!r}), run.Path({str(parquet)!r}))"
            subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
            (parquet / "store.json").write_text(stamp)
    for tool, script, task in peer_jobs:
        if tool not in args.tools:
            continue
        target = out / f"{task}.{tool}.json"
        run = measure([sys.executable, str(PEERS / script), task, str(parquet), str(target)], stdout=out / f"{task}.{tool}.log", timeout=args.timeout)
        row = add(task, tool, run)
        if not run.ok:
            continue
        peer = json.loads(target.read_text())
        row.extra["inner_seconds"] = round(peer["inner_seconds"], 3)
        if task not in results:
            row.extra["agreement"] = "not checked: dealflow's run failed"
            continue
        ours = dealflow_metrics(task, results[task], tool)
        diff = differences(ours, peer["metrics"])
        row.extra["figures"] = figures(ours)  # how many numbers (and names) were compared
        row.extra["agreement"] = "ok" if not diff else f"MISMATCH in {len(diff)} of {figures(ours)}: " + "; ".join(sorted(diff)[:5])
        if diff:
            print(f"  {task} ({tool}): numbers differ from dealflow, not compared: {'; '.join(sorted(diff)[:5])}", flush=True)


def ratios(rows: list[Row]) -> None:
    """Peer rows get ``peer_over_dealflow`` = the peer's seconds ÷ dealflow's warm seconds (>1: dealflow is faster),
    only when their numbers agree."""
    ours = {(r.size, r.task): r for r in rows if r.tool == "dealflow"}
    for r in rows:
        mine = ours.get((r.size, r.task))
        if r.tool != "dealflow" and r.extra.get("agreement") == "ok" and mine and mine.seconds and r.seconds:
            r.extra["peer_over_dealflow"] = round(r.seconds / mine.seconds, 2)


def print_table(rows: list[Row]) -> None:
    head = f"{'size':>9}  {'task':<16} {'tool':<9} {'seconds':>9} {'peak MB':>8} {'cold s':>8}  {'peer÷dealflow':>13}  notes"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        secs = f"{r.seconds:9.2f}" if r.seconds is not None else f"{'-':>9}"
        peak = f"{r.peak_mb:8.0f}" if r.peak_mb is not None else f"{'-':>8}"
        cold = f"{r.extra['cold_seconds']:8.2f}" if r.extra.get("cold_seconds") is not None else f"{'':>8}"
        ratio = f"{r.extra['peer_over_dealflow']:12.2f}x" if "peer_over_dealflow" in r.extra else f"{'':>13}"
        notes = []
        if "events_per_s" in r.extra:
            notes.append(f"{r.extra['events']:,} events, {r.extra['events_per_s']:,}/s")
        for key in ("agreement", "error", "skipped"):
            if key in r.extra:
                notes.append(f"{key}: {r.extra[key]}" if key != "agreement" or r.extra[key] != "ok" else "numbers agree")
        print(f"{r.size:>9,}  {r.task:<16} {r.tool:<9} {secs} {peak} {cold}  {ratio}  {'; '.join(notes)}")
    print("seconds = warm run (dealflow's second run of the command; 'cold s' is the first), whole process incl. start-up;"
          "\npeer÷dealflow = peer seconds ÷ dealflow seconds (above 1: dealflow is faster), shown only when the numbers agree.")


def machine() -> dict[str, Any]:
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), None)
    return {"cores": os.cpu_count(), "ram_mb": mem, "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "load_average": os.getloadavg()[0], "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated deal counts")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results.json", help="where to write the rows")
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / ".data", help="cache of generated files and stores")
    parser.add_argument("--tasks", default=",".join(ALL_TASKS), help=f"subset of {','.join(ALL_TASKS)} (peers follow report/flow)")
    parser.add_argument("--pg", default=os.environ.get("DEALFLOW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL server for import_postgres (a fresh database is created there)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tools", default="dealflow,duckdb,pm4py,pandas", help="subset of tools to run")
    parser.add_argument("--once", action="store_true", help="run each dealflow analysis once, no warm second run (quick checks)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before one command is given up")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: give deal counts such as 10000,100000")
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in args.tasks if t not in ALL_TASKS]
    if unknown:
        parser.error(f"--tasks: unknown {', '.join(unknown)}; choose from {', '.join(ALL_TASKS)}")
    info = machine()
    print(f"== {info['cores']} cores, {info['ram_mb']:,} MB RAM, Python {info['python']}, SQLite {info['sqlite']}, "
          f"load {info['load_average']:.1f}, {info['date']}", flush=True)
    rows: list[Row] = []
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        clock = time.perf_counter()
        print(f"== {size:,} deals", flush=True)
        bench_size(size, args, rows)
        print(f"  {size:,} deals done in {time.perf_counter() - clock:.0f} s", flush=True)
    ratios(rows)
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    print(f"wrote {len(rows)} rows to {args.json}")
    failed = [r for r in rows if "error" in r.extra or str(r.extra.get("agreement", "ok")).startswith("MISMATCH")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
