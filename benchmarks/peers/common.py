"""What every peer shares: the Parquet copies it reads and the metrics file it writes.

Each peer is run as ``python benchmarks/peers/NAME.py TASK PARQUET_DIR OUT.json`` in a fresh
process by benchmarks/run.py. The Parquet copies (written once from dealflow's SQLite store,
untimed) are ``deals`` (id, status, amount, created_at, closed_at, stage_id), ``stages``
(id, name, position, kind, probability) and ``stage_changes`` (id, deal_id, to_stage_id, at).
The metrics follow docs PRODUCT.md conventions as dealflow implements them:

- report: open/won/lost counts; win rate = won ÷ (won + lost); won amount; median cycle days
  (closed_at − created_at) of won and of lost deals; weighted pipeline = Σ amount × stage
  probability over open deals.
- flow: per directly-follows pair of stages (consecutive repeats of a stage counted once):
  the number of moves and the median days from entering one to entering the next.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DAY_SECONDS = 86_400.0


def run(tasks: dict[str, Callable[[Path], dict[str, Any]]]) -> None:
    task, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if task not in tasks:
        raise SystemExit(f"{Path(sys.argv[0]).name}: no task {task!r}; tasks: {', '.join(tasks)}")
    clock = time.perf_counter()
    metrics = tasks[task](folder)
    out.write_text(json.dumps({"task": task, "metrics": metrics, "inner_seconds": time.perf_counter() - clock}, default=float))


def pair(src: str, dst: str) -> str:
    return f"{src} -> {dst}"
