"""Peer: hand-written DuckDB SQL over the Parquet copies (report and flow metrics).

    python benchmarks/peers/duckdb_sql.py report|flow PARQUET_DIR OUT.json
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import duckdb  # noqa: E402
from common import pair, run  # noqa: E402

REPORT = """
SELECT
  count(*) FILTER (WHERE d.status = 'open') AS open,
  count(*) FILTER (WHERE d.status = 'won') AS won,
  count(*) FILTER (WHERE d.status = 'lost') AS lost,
  coalesce(sum(coalesce(d.amount, 0)) FILTER (WHERE d.status = 'won'), 0) AS won_amount,
  median((epoch_us(d.closed_at) - epoch_us(d.created_at)) / 86400e6) FILTER (WHERE d.status = 'won') AS median_cycle_won,
  median((epoch_us(d.closed_at) - epoch_us(d.created_at)) / 86400e6) FILTER (WHERE d.status = 'lost') AS median_cycle_lost,
  sum(d.amount * s.probability) FILTER (WHERE d.status = 'open') AS weighted_amount
FROM read_parquet('{dir}/deals.parquet') d
LEFT JOIN read_parquet('{dir}/stages.parquet') s ON s.id = d.stage_id
"""

FLOW = """
WITH changes AS (
  SELECT c.deal_id, c.id, c."at" AS entered, s.name AS stage,
         lag(s.name) OVER (PARTITION BY c.deal_id ORDER BY c."at", c.id) AS before
  FROM read_parquet('{dir}/stage_changes.parquet') c
  JOIN read_parquet('{dir}/stages.parquet') s ON s.id = c.to_stage_id
), visits AS (  -- consecutive repeats of a stage are one visit
  SELECT * FROM changes WHERE before IS NULL OR before <> stage
), moves AS (
  SELECT stage AS src,
         lead(stage) OVER w AS dst,
         (epoch_us(lead(entered) OVER w) - epoch_us(entered)) / 86400e6 AS days
  FROM visits WINDOW w AS (PARTITION BY deal_id ORDER BY entered, id)
)
SELECT src, dst, count(*) AS count, median(days) AS median_days
FROM moves WHERE dst IS NOT NULL GROUP BY src, dst
"""


def report(folder: Path) -> dict[str, Any]:
    con = duckdb.connect()
    row = con.execute(REPORT.format(dir=folder)).fetchone()
    assert row is not None
    names = ["open", "won", "lost", "won_amount", "median_cycle_won", "median_cycle_lost", "weighted_amount"]
    out = dict(zip(names, row))
    closed = out["won"] + out["lost"]
    out["win_rate"] = out["won"] / closed if closed else None
    return out


def flow(folder: Path) -> dict[str, Any]:
    rows = duckdb.connect().execute(FLOW.format(dir=folder)).fetchall()
    return {"transitions": {pair(s, d): {"count": n, "median_days": m} for s, d, n, m in rows}}


if __name__ == "__main__":
    run({"report": report, "flow": flow})
