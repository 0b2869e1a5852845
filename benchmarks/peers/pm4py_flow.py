"""Peer: pm4py's directly-follows graph and performance DFG on the stage log (flow).

    python benchmarks/peers/pm4py_flow.py flow PARQUET_DIR OUT.json

pm4py (AGPL) is a benchmark and test dependency only; dealflow never imports it.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd  # noqa: E402
import pm4py  # noqa: E402
from common import DAY_SECONDS, pair, run  # noqa: E402


def flow(folder: Path) -> dict[str, Any]:
    changes = pd.read_parquet(folder / "stage_changes.parquet")
    stages = pd.read_parquet(folder / "stages.parquet", columns=["id", "name"]).rename(columns={"id": "to_stage_id"})
    log = changes.merge(stages, on="to_stage_id").sort_values(["deal_id", "at", "id"])
    log = pd.DataFrame({"case:concept:name": log["deal_id"].astype(str), "concept:name": log["name"], "time:timestamp": log["at"]})
    counts, _, _ = pm4py.discover_dfg(log)
    perf, _, _ = pm4py.discover_performance_dfg(log)
    return {"transitions": {pair(s, d): {"count": int(n), "median_days": float(perf[(s, d)]["median"]) / DAY_SECONDS}
                            for (s, d), n in counts.items()}}


if __name__ == "__main__":
    run({"flow": flow})
