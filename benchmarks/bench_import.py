"""Time loading BPI 2012 (13,087 deals, 262,200 events) and reading it back, with peers;
and import throughput on synthetic files (``--deals N``: N deals, about 10 events each).

    .venv/bin/python benchmarks/bench_import.py [--pg postgresql+psycopg://postgres@127.0.0.1/test]
    .venv/bin/python benchmarks/bench_import.py --deals 100000 [--pg URL]   # ~1M events
    .venv/bin/python benchmarks/bench_import.py --files benchmarks/.data/100000/files --db /tmp/x/store.db

``--files`` times the six ``dealflow import KIND FILE`` commands of ``benchmarks/run.py``'s
import_sqlite task one by one into a fresh store (each a fresh process): wall and CPU seconds
per command, so a before/after comparison on a busy machine can use the CPU figures.

Throughput = events (stage_history + activities rows) / seconds of `run_import` for the two
files, end to end (read, parse, check, write, commit). The files are written by a separate
process, so the peak memory printed is the import's own.

dealflow parses, checks and maps every event to stage changes and activities, then stores them
atomically. The peer, pandas ``read_csv`` + ``to_sql``, only copies the raw rows into a table:
a lower bound for "just store the file", not the same work. Re-importing (idempotency check)
and loading the history back into Polars frames are timed too. Peak memory is the process's.
"""
from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "src/dealflow/samples/bpi2012"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process (all threads): on a busy machine, closer to the work done than wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(label: str, fn, cpu: list[float] | None = None):  # type: ignore[no-untyped-def]
    start, start_cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    took, used = time.perf_counter() - start, cpu_seconds() - start_cpu
    print(f"{label:<58} {took:8.2f} s  (CPU {used:.2f} s)")
    if cpu is not None:
        cpu.append(used)
    return took, out


def make_files(out: Path, deals: int, seed: int = 1) -> None:
    """deals.csv, stage_history.csv (3-7 changes a deal) and activities.csv (3-7 a deal)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    stages = pl.Series(["Qualify", "Develop", "Propose", "Negotiate", "Won", "Lost"])
    ids = pl.Series([f"D{i:07d}" for i in range(deals)])
    created = np.datetime64("2023-01-01T00:00:00", "ms") + (rng.integers(0, 365 * 86400, deals) * 1000).astype("timedelta64[ms]")
    fmt = "%Y-%m-%d %H:%M:%S"
    k = rng.integers(3, 8, deals)
    deal = np.repeat(np.arange(deals), k)
    step = np.arange(deal.size) - np.repeat(np.cumsum(k) - k, k)
    last = step == np.repeat(k - 1, k)
    stage = np.where(last & (step >= 3), 4 + (rng.random(deal.size) < 0.6), np.minimum(step, 3))
    at = np.repeat(created, k) + ((step * 3 * 86400 + rng.integers(0, 86400, deal.size)) * 1000).astype("timedelta64[ms]")
    final = pl.DataFrame({"deal": deal, "stage": stage}).group_by("deal").agg(pl.col("stage").last()).sort("deal")["stage"]
    pl.DataFrame({"id": ids, "name": ids, "stage": stages.gather(final), "created": pl.Series(created).dt.strftime(fmt)}).write_csv(out / "deals.csv")
    pl.DataFrame({"deal": ids.gather(deal), "stage": stages.gather(stage), "at": pl.Series(at).dt.strftime(fmt),
                  "by": pl.Series(["ann", "bob", "cy"]).gather(rng.integers(0, 3, deal.size))}).write_csv(out / "stage_history.csv")
    k2 = rng.integers(3, 8, deals)
    deal2 = np.repeat(np.arange(deals), k2)
    at2 = np.repeat(created, k2) + (rng.integers(0, 30 * 86400, deal2.size) * 1000).astype("timedelta64[ms]")
    pl.DataFrame({"id": pl.Series([f"X{i:08d}" for i in range(deal2.size)]), "deal": ids.gather(deal2),
                  "type": pl.Series(["call", "email", "meeting"]).gather(rng.integers(0, 3, deal2.size)),
                  "subject": pl.Series(["follow up", "demo", "pricing"]).gather(rng.integers(0, 3, deal2.size)),
                  "date": pl.Series(at2).dt.strftime(fmt)}).write_csv(out / "activities.csv")


def throughput(target: str, files: Path, label: str) -> None:
    from dealflow.ingest.runner import run_import
    from dealflow.store import Store

    import subprocess
    import sys

    # The deals go in from another process: the peak memory below is the event imports' own.
    load = f"from dealflow.ingest.runner import run_import; from dealflow.store import Store; run_import(Store({target!r}), 'deals', {str(files / 'deals.csv')!r})"
    timed(f"{label}: import deals (separate process)", lambda: subprocess.run([sys.executable, "-c", load], check=True))
    store = Store(target)
    for attempt in ("first import", "again, unchanged"):
        events, took, cpu = 0, 0.0, []
        for kind in ("stage_history", "activities"):
            t, r = timed(f"{label}: {kind} ({attempt})", lambda kind=kind: run_import(store, kind, files / f"{kind}.csv"), cpu)
            events, took = events + r.rows, took + t
            print(f"  -> {r.rows:,} rows: {r.inserted:,} new, {r.updated:,} updated, {r.unchanged:,} unchanged")
        print(f"{label}: {events:,} events ({attempt}) in {took:.1f} s = {events / took:,.0f} events/s; "
              f"per CPU second {events / sum(cpu):,.0f}/s   (peak memory {peak_mb():,.0f} MB)")
    store.dispose()


def synthetic(args: argparse.Namespace) -> None:
    import os
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        files = Path(tmp)
        subprocess.run([sys.executable, __file__, "--make-files", str(files), "--deals", str(args.deals)], check=True)
        print(f"{args.deals:,} deals; files: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:,.0f} MB" for p in sorted(files.glob("*.csv"))))
        throughput(str(files / "bench.db"), files, "SQLite")
        if args.pg:
            from sqlalchemy import create_engine, text

            name = f"dealflow_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                throughput(args.pg.rsplit("/", 1)[0] + "/" + name, files, "PostgreSQL")
            finally:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def six_commands(files: Path, db: Path) -> None:
    """The import_sqlite task of benchmarks/run.py, per command: wall and CPU seconds (the child's)."""
    import subprocess
    import sys

    for old in db.parent.glob(db.name + "*"):
        old.unlink()
    events = sum(1 for kind in ("stage_history", "activities") for _ in (files / f"{kind}.csv").open("rb")) - 2
    wall = cpu = 0.0
    for kind in ("owners", "accounts", "products", "deals", "stage_history", "activities"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from dealflow.cli import main; main()", "import", kind, str(files / f"{kind}.csv"),
                        "--db", str(db)], check=True, stdout=subprocess.DEVNULL)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        wall, cpu = wall + took, cpu + used
        print(f"dealflow import {kind:<14} {took:8.2f} s  (CPU {used:.2f} s)")
    print(f"{events:,} events in {wall:.1f} s = {events / wall:,.0f} events/s; per CPU second {events / cpu:,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="also time a PostgreSQL server (a fresh database is created there)")
    parser.add_argument("--deals", type=int, help="time synthetic files of this many deals instead of BPI 2012")
    parser.add_argument("--files", type=Path, help="time the six import commands on these files (benchmarks/run.py's import_sqlite)")
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "dealflow_bench_import" / "store.db",
                        help="with --files: the SQLite store to create (replaced)")
    parser.add_argument("--make-files", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.files:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        six_commands(args.files, args.db)
        return
    if args.make_files:
        make_files(Path(args.make_files), args.deals)
        return
    if args.deals:
        synthetic(args)
        return

    from dealflow.samples import load_sample
    from dealflow.store import Store
    from dealflow.store.frames import load_history

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "bench.db"))
        first, _ = timed("dealflow: import BPI 2012 into SQLite (file)", lambda: load_sample(store, "bpi2012"))
        again, _ = timed("dealflow: import it again (no changes)", lambda: load_sample(store, "bpi2012"))
        read, h = timed("dealflow: load the history into Polars frames", lambda: load_history(store))
        print(f"  -> {h.deals.height:,} deals, {h.stage_changes.height:,} stage changes, {h.activities.height:,} activities")

        import pandas as pd

        def peer() -> None:
            with sqlite3.connect(Path(tmp) / "peer.db") as conn:
                for name in ("events", "applications"):
                    pd.read_csv(SAMPLE / f"{name}.csv.gz", dtype=str).to_sql(name, conn, index=False, if_exists="replace")

        base, _ = timed("peer: pandas read_csv + to_sql of the raw rows (SQLite)", peer)
        print(f"ratio dealflow import / pandas raw copy: {first / base:.1f}x   (peak memory {peak_mb():,.0f} MB)")

    if args.pg:
        from sqlalchemy import create_engine, text

        name = f"dealflow_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            pg = Store(args.pg.rsplit("/", 1)[0] + "/" + name)
            timed("dealflow: import BPI 2012 into PostgreSQL (COPY)", lambda: load_sample(pg, "bpi2012"))
            timed("dealflow: load the history from PostgreSQL", lambda: load_history(pg))
            pg.dispose()
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
