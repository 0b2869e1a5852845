"""Time loading BPI 2012 (13,087 deals, 262,200 events) and reading it back, with peers.

    .venv/bin/python benchmarks/bench_import.py [--pg postgresql+psycopg://postgres@127.0.0.1/test]

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


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    took = time.perf_counter() - start
    print(f"{label:<58} {took:8.2f} s")
    return took, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="also time a PostgreSQL server (a fresh database is created there)")
    args = parser.parse_args()

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
