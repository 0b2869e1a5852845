"""Time the process analyses on BPI 2012 (262,200 events), with pm4py's DFG as the peer.

    .venv/bin/python benchmarks/bench_process.py [--db bpi.db]

Without --db the bundled sample is loaded into a temporary SQLite file first (about 15 s).
pm4py (AGPL) is a test/benchmark dependency only; it is imported here, never by dealflow.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a store that already holds the bpi2012 sample")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from dealflow.analytics.bottlenecks import bottlenecks
    from dealflow.analytics.flow import stage_flow
    from dealflow.analytics.inspect import inspect_pipeline, pipeline_changes
    from dealflow.analytics.patterns import next_steps, patterns
    from dealflow.store import Store
    from dealflow.store.frames import load_history

    rows: list[tuple[str, float, str]] = []
    if args.db:
        store = Store(args.db)
    else:
        from dealflow.samples import load_sample

        path = Path(tempfile.mkdtemp()) / "bpi.db"
        store = Store(str(path))
        start = time.perf_counter()
        load_sample(store, "bpi2012")
        rows.append(("load sample into SQLite (once)", time.perf_counter() - start, ""))
    t, history = timed(lambda: load_history(store), 1)
    rows.append(("load_history", t, f"{history.deals.height:,} deals, {history.stage_changes.height:,} stage changes, {history.activities.height:,} activities"))
    t, flow = timed(lambda: stage_flow(history), args.repeat)
    rows.append(("flow (stage_flow)", t, f"{flow.transitions.height} transitions, {flow.summary['moves']:,} moves"))
    t, insp = timed(lambda: inspect_pipeline(history), args.repeat)
    rows.append(("inspect (inspect_pipeline)", t, f"{insp.summary['flagged']} of {insp.summary['open_deals']} open deals flagged"))
    from datetime import datetime, timezone

    t, _ = timed(lambda: pipeline_changes(history, datetime(2012, 2, 1, tzinfo=timezone.utc), datetime(2012, 2, 8, tzinfo=timezone.utc)), args.repeat)
    rows.append(("inspect --since (pipeline_changes)", t, "two as_of rebuilds"))
    t, _ = timed(lambda: patterns(history), args.repeat)
    rows.append(("patterns", t, ""))
    deal = history.open_deals().filter(pl.col("stage") == "Offer sent").sort("id")["external_id"][0]
    t, _ = timed(lambda: next_steps(history, deal), args.repeat)
    rows.append((f"next {deal}", t, ""))
    t, _ = timed(lambda: bottlenecks(history), args.repeat)
    rows.append(("bottlenecks", t, ""))

    try:
        import pm4py
    except ImportError:
        rows.append(("pm4py DFG + performance DFG", float("nan"), "pm4py not installed (pip install pm4py)"))
    else:
        def peer() -> Any:
            df = history.stage_log().select(
                pl.col("deal_id").cast(pl.String).alias("case:concept:name"),
                pl.col("stage").alias("concept:name"),
                pl.col("entered_at").alias("time:timestamp"),
            ).to_pandas()
            return pm4py.discover_dfg(df), pm4py.discover_performance_dfg(df)

        t, ((dfg, _, _), _) = timed(peer, args.repeat)
        rows.append(("pm4py DFG + performance DFG (peer)", t, f"{len(dfg)} transitions; same stage log"))
        t, _ = timed(lambda: stage_flow(history).transitions, args.repeat)
        rows.append(("dealflow transitions (same output)", t, ""))

    exe = Path(sys.executable).parent / "dealflow"
    if exe.exists():
        for cmd in (["flow"], ["inspect"]):
            t, _ = timed(lambda: subprocess.run([str(exe), *cmd, "--db", store.url, "--format", "json"], check=True,
                                                stdout=subprocess.DEVNULL), 1)
            rows.append((f"CLI end to end: dealflow {cmd[0]} --format json", t, "process start, imports, load, compute, print"))

    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  seconds  notes")
    for name, secs, note in rows:
        print(f"{name:<{width}}  {secs:7.3f}  {note}")
    store.dispose()


if __name__ == "__main__":
    main()
