"""Peer: a straightforward pandas version of the report and flow metrics.

    python benchmarks/peers/pandas_version.py report|flow PARQUET_DIR OUT.json
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd  # noqa: E402
from common import DAY_SECONDS, pair, run  # noqa: E402


def _none(value: Any) -> Any:
    return None if pd.isna(value) else float(value)


def report(folder: Path) -> dict[str, Any]:
    deals = pd.read_parquet(folder / "deals.parquet")
    stages = pd.read_parquet(folder / "stages.parquet", columns=["id", "probability"]).rename(columns={"id": "stage_id"})
    deals = deals.merge(stages, on="stage_id", how="left")
    counts = deals["status"].value_counts()
    won, lost = int(counts.get("won", 0)), int(counts.get("lost", 0))
    cycle = (deals["closed_at"] - deals["created_at"]).dt.total_seconds() / DAY_SECONDS
    is_open = deals["status"] == "open"
    return {
        "open": int(counts.get("open", 0)), "won": won, "lost": lost,
        "win_rate": won / (won + lost) if won + lost else None,
        "won_amount": float(deals.loc[deals["status"] == "won", "amount"].fillna(0).sum()),
        "median_cycle_won": _none(cycle[deals["status"] == "won"].median()),
        "median_cycle_lost": _none(cycle[deals["status"] == "lost"].median()),
        "weighted_amount": float((deals.loc[is_open, "amount"] * deals.loc[is_open, "probability"]).sum()),
    }


def flow(folder: Path) -> dict[str, Any]:
    changes = pd.read_parquet(folder / "stage_changes.parquet")
    stages = pd.read_parquet(folder / "stages.parquet", columns=["id", "name"]).rename(columns={"id": "to_stage_id", "name": "stage"})
    log = changes.merge(stages, on="to_stage_id").sort_values(["deal_id", "at", "id"])
    before = log.groupby("deal_id")["stage"].shift(1)
    log = log[before.isna() | (before != log["stage"])]  # consecutive repeats of a stage are one visit
    group = log.groupby("deal_id")
    log = log.assign(dst=group["stage"].shift(-1), days=(group["at"].shift(-1) - log["at"]).dt.total_seconds() / DAY_SECONDS)
    moves = log.dropna(subset=["dst"]).groupby(["stage", "dst"])["days"].agg(["count", "median"])
    return {"transitions": {pair(s, d): {"count": int(r["count"]), "median_days": float(r["median"])} for (s, d), r in moves.iterrows()}}


if __name__ == "__main__":
    run({"report": report, "flow": flow})
