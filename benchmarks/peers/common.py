"""What every peer shares: the Parquet copies it reads, the metrics it writes, and their names.

Each peer is run as ``python benchmarks/peers/NAME.py TASK PARQUET_DIR OUT.json`` in a fresh
process by benchmarks/run.py. The Parquet copies (written once from dealflow's SQLite store,
untimed; deleted rows left out) are plain copies of the store's tables:

- ``deals`` (id, external_id, owner_id, pipeline_id, stage_id, status, amount, currency, created_at, closed_at)
- ``pipelines`` (id, name), ``stages`` (id, pipeline_id, name, position, kind, probability)
- ``stage_changes`` (id, deal_id, to_stage_id, at), ``activities`` (deal_id, at)
- ``owners`` (id, name, team_id), ``teams`` (id, name)
- ``products`` (id, name, list_price), ``deal_products`` (id, deal_id, product_id)

The peers compute every figure `dealflow report` and `dealflow flow` print in JSON (PRODUCT.md's
conventions as dealflow implements them), as one tree of dicts keyed by name, so run.py can
compare them figure by figure:

- report: ``deals`` (open/won/lost/total), win_rate, value_win_rate, won_amount, open_amount,
  weighted_amount, sales_velocity_per_day; ``cycle_days`` per status (deals, median/p75/p90/mean
  of closed_at − first seen); ``stages`` per "pipeline / stage" (kind, probability, open_deals,
  open_amount, weighted_amount, reached, advanced, conversion); ``owners`` and ``products``
  (outcome summaries; a deal's product is its first line's); ``ageing`` buckets of open deals
  (age from first seen to the data's last event); ``list_price_estimate``.
- flow: ``summary`` counts; per "pipeline: from -> to" ``transitions`` (count, deals, median/p75/
  p90/mean days, kind) and ``regressions``; ``dwell`` per "pipeline: stage (status)"; ``skips`` and
  ``loops`` per "pipeline: stage"; ``reopened`` per "deal_id: closed stage -> reopened to".

Stage visits: each deal's stage changes ordered by (at, id), consecutive repeats of a stage
counted once. Ranks: a pipeline's open stages by position, then its won stages; lost stages
have none. The synthetic data is in one currency, so no exchange rates are involved.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DAY_SECONDS = 86_400.0
NO_OWNER, NO_PRODUCT = "(no owner)", "(no product)"
# (lowest age in days, label); the last bucket is open ended
AGE_BUCKETS = [(0, "0-30 days"), (30, "31-60 days"), (60, "61-90 days"), (90, "91-180 days"), (180, "over 180 days")]
UNKNOWN_AGE = "unknown (no date)"
SUMMARY_COUNTS = ("deals", "deals_with_history", "moves", "regressions", "deals_regressed", "skip_moves", "deals_reopened", "deals_with_loops")


def run(tasks: dict[str, Callable[[Path], dict[str, Any]]]) -> None:
    task, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if task not in tasks:
        raise SystemExit(f"{Path(sys.argv[0]).name}: no task {task!r}; tasks: {', '.join(tasks)}")
    clock = time.perf_counter()
    metrics = tasks[task](folder)
    out.write_text(json.dumps({"task": task, "metrics": metrics, "inner_seconds": time.perf_counter() - clock}, default=_plain))


def _plain(value: Any) -> Any:
    """numpy and Decimal scalars as Python numbers."""
    return value.item() if hasattr(value, "item") else float(value)


def pair(src: str, dst: str, pipeline: str | None = None) -> str:
    return f"{pipeline}: {src} -> {dst}" if pipeline is not None else f"{src} -> {dst}"


def ratio(part: float | None, whole: float | None) -> float | None:
    """part ÷ whole, None when the whole is zero or unknown (a win rate with nothing closed)."""
    return part / whole if part is not None and whole else None


def headline(t: dict[str, Any]) -> dict[str, Any]:
    """The report's top-level figures from the per-status totals ``t`` (open, won, lost, won_amount,
    lost_amount, open_amount, weighted_amount, avg_won_amount, avg_cycle_won)."""
    rate = ratio(t["won"], t["won"] + t["lost"])
    won_amount, lost_amount = float(t["won_amount"] or 0), float(t["lost_amount"] or 0)
    # Undefined, not 100 %, when the lost deals carry no amounts.
    value_rate = ratio(won_amount, won_amount + lost_amount) if lost_amount or not t["lost"] else None
    avg_won, avg_cycle = t["avg_won_amount"], t["avg_cycle_won"]
    return {
        "deals": {"open": t["open"], "won": t["won"], "lost": t["lost"], "total": t["open"] + t["won"] + t["lost"]},
        "win_rate": rate, "value_win_rate": value_rate, "won_amount": won_amount,
        "open_amount": t["open_amount"], "weighted_amount": t["weighted_amount"],
        "sales_velocity_per_day": t["open"] * avg_won * rate / avg_cycle if rate and avg_won and avg_cycle else None,
    }


def with_rates(row: dict[str, Any]) -> dict[str, Any]:
    """An outcome-summary row with its win rates by count and by value."""
    return {**row, "win_rate": ratio(row["won"], row["won"] + row["lost"]),
            "value_win_rate": ratio(row["won_amount"], row["won_amount"] + row["lost_amount"])}
