"""Peer: hand-written DuckDB SQL over the Parquet copies (report and flow metrics).

    python benchmarks/peers/duckdb_sql.py report|flow PARQUET_DIR OUT.json
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import duckdb  # noqa: E402
from common import AGE_BUCKETS, NO_OWNER, NO_PRODUCT, UNKNOWN_AGE, headline, pair, run, with_rates  # noqa: E402

TABLES = ("deals", "pipelines", "stages", "stage_changes", "activities", "owners", "teams", "products", "deal_products")

# Ranks: open stages by position, then won stages; lost stages are off the progression.
RANKED_STAGES = """
CREATE VIEW ranked_stages AS
SELECT s.*, p.name AS pipeline,
       CASE WHEN s.kind <> 'lost' THEN row_number() OVER (
         PARTITION BY s.pipeline_id ORDER BY CASE s.kind WHEN 'open' THEN 0 WHEN 'won' THEN 1 ELSE 2 END, s.position) - 1
       END AS rank
FROM stages s JOIN pipelines p ON p.id = s.pipeline_id
"""

# The instant the data describes: its latest event (a deal without created_at is first seen at
# its first stage change, so the latest creation or stage change covers "first seen" too).
DATA_AS_OF = """
CREATE VIEW data_as_of AS
SELECT greatest(
  (SELECT max("at") FROM stage_changes), (SELECT max("at") FROM activities),
  (SELECT max(closed_at) FROM deals), (SELECT max(created_at) FROM deals)) AS now
"""

# One row per deal with what the report groups and sums by.
DEAL_FACTS = f"""
CREATE TEMP TABLE deal_facts AS
WITH first_change AS (
  SELECT deal_id, min("at") AS first_change FROM stage_changes GROUP BY deal_id
), first_line AS (  -- a deal's product is its first line's
  SELECT DISTINCT ON (deal_id) deal_id, product_id FROM deal_products ORDER BY deal_id, id
)
SELECT d.id, d.status, d.amount, d.pipeline_id, s.name AS stage, s.probability,
       coalesce(o.name, '{NO_OWNER}') AS owner, t.name AS team,
       coalesce(p.name, '{NO_PRODUCT}') AS product, p.list_price,
       coalesce(d.created_at, fc.first_change) AS first_seen_at,
       (epoch_us(d.closed_at) - epoch_us(coalesce(d.created_at, fc.first_change))) / 86400e6 AS cycle_days
FROM deals d
LEFT JOIN stages s ON s.id = d.stage_id
LEFT JOIN owners o ON o.id = d.owner_id
LEFT JOIN teams t ON t.id = o.team_id
LEFT JOIN first_change fc ON fc.deal_id = d.id
LEFT JOIN first_line fl ON fl.deal_id = d.id
LEFT JOIN products p ON p.id = fl.product_id
"""

TOTALS = """
SELECT
  count(*) FILTER (WHERE status = 'open') AS open,
  count(*) FILTER (WHERE status = 'won') AS won,
  count(*) FILTER (WHERE status = 'lost') AS lost,
  coalesce(sum(amount) FILTER (WHERE status = 'won'), 0) AS won_amount,
  coalesce(sum(amount) FILTER (WHERE status = 'lost'), 0) AS lost_amount,
  sum(amount) FILTER (WHERE status = 'open') AS open_amount,
  sum(amount * probability) FILTER (WHERE status = 'open') AS weighted_amount,
  avg(amount) FILTER (WHERE status = 'won') AS avg_won_amount,
  avg(cycle_days) FILTER (WHERE status = 'won') AS avg_cycle_won
FROM deal_facts
"""

CYCLE = """
SELECT status, count(*) AS deals, median(cycle_days) AS median_days, quantile_cont(cycle_days, 0.75) AS p75_days,
       quantile_cont(cycle_days, 0.90) AS p90_days, avg(cycle_days) AS mean_days
FROM deal_facts
WHERE status <> 'open' AND cycle_days IS NOT NULL
GROUP BY status
"""

# Per owner or product: counts, amounts and the median won cycle.
OUTCOMES = """
SELECT {key} AS name, {extra}
  count(*) AS deals,
  count(*) FILTER (WHERE status = 'open') AS open,
  count(*) FILTER (WHERE status = 'won') AS won,
  count(*) FILTER (WHERE status = 'lost') AS lost,
  coalesce(sum(amount) FILTER (WHERE status = 'won'), 0) AS won_amount,
  coalesce(sum(amount) FILTER (WHERE status = 'lost'), 0) AS lost_amount,
  coalesce(sum(amount) FILTER (WHERE status = 'open'), 0) AS open_amount,
  avg(amount) FILTER (WHERE status = 'won') AS avg_won_amount,
  median(cycle_days) FILTER (WHERE status = 'won') AS median_cycle_won
FROM deal_facts
GROUP BY {key}
"""

AGEING = f"""
WITH aged AS (
  SELECT f.amount, (epoch_us(n.now) - epoch_us(f.first_seen_at)) / 86400e6 AS age
  FROM deal_facts f, data_as_of n
  WHERE f.status = 'open'
)
SELECT CASE {" ".join(f"WHEN age >= {lo} AND age < {hi} THEN '{label}'" for (lo, label), (hi, _) in zip(AGE_BUCKETS, AGE_BUCKETS[1:]))}
            WHEN age >= {AGE_BUCKETS[-1][0]} THEN '{AGE_BUCKETS[-1][1]}'
            ELSE '{UNKNOWN_AGE}' END AS bucket,
       count(*) AS open_deals, coalesce(sum(amount), 0) AS open_amount
FROM aged
GROUP BY bucket
"""

ESTIMATES = """
SELECT count(*) AS deals_without_amount,
       count(list_price) AS estimated_deals,
       coalesce(sum(list_price), 0) AS estimated_open_amount,
       coalesce(sum(list_price * probability), 0) AS estimated_weighted_amount
FROM deal_facts
WHERE status = 'open' AND amount IS NULL
"""

# Cohort conversion: of the deals that ever entered a stage, those that later got further on.
STAGES = """
WITH entered AS (  -- every stage a deal entered (once each), and the stage it is in now
  SELECT d.id AS deal_id, d.pipeline_id, s.name AS stage
  FROM stage_changes c JOIN deals d ON d.id = c.deal_id JOIN stages s ON s.id = c.to_stage_id
  UNION
  SELECT d.id, d.pipeline_id, s.name FROM deals d JOIN stages s ON s.id = d.stage_id
), entered_ranked AS (
  SELECT e.*, r.rank, max(r.rank) OVER (PARTITION BY e.deal_id) AS furthest
  FROM entered e LEFT JOIN ranked_stages r ON r.pipeline_id = e.pipeline_id AND r.name = e.stage
), reached AS (
  SELECT pipeline_id, stage, count(*) AS reached, count(*) FILTER (WHERE furthest > rank) AS advanced
  FROM entered_ranked GROUP BY pipeline_id, stage
), open_deals AS (
  SELECT pipeline_id, stage, count(*) AS open_deals, sum(amount) AS open_amount, sum(amount * probability) AS weighted_amount
  FROM deal_facts WHERE status = 'open' GROUP BY pipeline_id, stage
)
SELECT r.pipeline, r.name AS stage, r.kind, r.probability,
       coalesce(o.open_deals, 0) AS open_deals, coalesce(o.open_amount, 0) AS open_amount,
       coalesce(o.weighted_amount, 0) AS weighted_amount,
       coalesce(x.reached, 0) AS reached, coalesce(x.advanced, 0) AS advanced,
       CASE WHEN r.kind = 'open' AND x.reached > 0 THEN x.advanced / x.reached END AS conversion
FROM ranked_stages r
LEFT JOIN open_deals o ON o.pipeline_id = r.pipeline_id AND o.stage = r.name
LEFT JOIN reached x ON x.pipeline_id = r.pipeline_id AND x.stage = r.name
"""

# Each stage visit (consecutive repeats of a stage are one visit) with the next one and the move's kind.
STEPS = """
CREATE TEMP TABLE steps AS
WITH changes AS (
  SELECT c.id, c.deal_id, c."at", s.name AS stage, s.kind, s.rank,
         lag(s.name) OVER (PARTITION BY c.deal_id ORDER BY c."at", c.id) AS before
  FROM stage_changes c JOIN ranked_stages s ON s.id = c.to_stage_id
), visits AS (
  SELECT ch.*, d.pipeline_id, p.name AS pipeline, d.status, d.external_id
  FROM changes ch JOIN deals d ON d.id = ch.deal_id JOIN pipelines p ON p.id = d.pipeline_id
  WHERE ch.before IS NULL OR ch.before <> ch.stage
), paired AS (
  SELECT *, lead(stage) OVER w AS next_stage, lead(kind) OVER w AS next_kind, lead(rank) OVER w AS next_rank,
         lead("at") OVER w AS left_at
  FROM visits WINDOW w AS (PARTITION BY deal_id ORDER BY "at", id)
)
SELECT paired.*,
       (epoch_us(left_at) - epoch_us("at")) / 86400e6 AS move_days,
       -- time in the visit: until the next stage, or until now for an open deal's current open stage
       (epoch_us(CASE WHEN left_at IS NOT NULL THEN left_at WHEN kind = 'open' AND status = 'open' THEN n.now END)
        - epoch_us("at")) / 86400e6 AS days,
       CASE WHEN kind IN ('won', 'lost') AND next_kind = 'open' THEN 'reopen'
            WHEN next_kind = 'lost' THEN 'close'
            WHEN next_rank < rank THEN 'regression'
            WHEN next_rank > rank + 1 THEN 'skip'
            WHEN next_kind = 'won' THEN 'close'
            ELSE 'forward' END AS move
FROM paired, data_as_of n
"""

TRANSITIONS = """
SELECT pipeline, stage, next_stage, count(*) AS count, count(DISTINCT deal_id) AS deals,
       median(move_days) AS median_days, quantile_cont(move_days, 0.75) AS p75_days,
       quantile_cont(move_days, 0.90) AS p90_days, avg(move_days) AS mean_days, any_value(move) AS kind
FROM steps WHERE next_stage IS NOT NULL
GROUP BY pipeline, stage, next_stage
"""

DWELL = """
WITH per_deal AS (  -- a deal's days in a stage: the sum over its visits
  SELECT pipeline, stage, status, deal_id, sum(days) AS days
  FROM steps WHERE kind = 'open' GROUP BY pipeline, stage, status, deal_id
)
SELECT pipeline, stage, status, count(*) AS deals, median(days) AS median_days, quantile_cont(days, 0.75) AS p75_days,
       quantile_cont(days, 0.90) AS p90_days, avg(days) AS mean_days
FROM per_deal WHERE days IS NOT NULL
GROUP BY pipeline, stage, status
"""

REGRESSIONS = """
SELECT pipeline, stage, next_stage, count(*) AS count, count(DISTINCT deal_id) AS deals
FROM steps WHERE move = 'regression' GROUP BY pipeline, stage, next_stage
"""

SKIPS = """
SELECT m.pipeline, s.name AS stage, count(*) AS times_skipped, count(DISTINCT m.deal_id) AS deals
FROM steps m JOIN ranked_stages s ON s.pipeline_id = m.pipeline_id AND s.rank > m.rank AND s.rank < m.next_rank
WHERE m.move = 'skip'
GROUP BY m.pipeline, s.name
"""

LOOPS = """
WITH repeats AS (
  SELECT pipeline, stage, deal_id, count(*) AS visits FROM steps GROUP BY pipeline, stage, deal_id HAVING count(*) > 1
)
SELECT pipeline, stage, count(*) AS deals, sum(visits - 1) AS extra_visits FROM repeats GROUP BY pipeline, stage
"""

REOPENED = """
SELECT deal_id, stage, next_stage, any_value(external_id) AS external_id, count(*) AS times
FROM steps WHERE move = 'reopen' GROUP BY deal_id, stage, next_stage
"""

SUMMARY = """
SELECT
  (SELECT count(*) FROM deals) AS deals,
  count(DISTINCT deal_id) AS deals_with_history,
  count(next_stage) AS moves,
  count(*) FILTER (WHERE move = 'regression') AS regressions,
  count(DISTINCT deal_id) FILTER (WHERE move = 'regression') AS deals_regressed,
  count(*) FILTER (WHERE move = 'skip') AS skip_moves,
  count(DISTINCT deal_id) FILTER (WHERE move = 'reopen') AS deals_reopened,
  (SELECT count(DISTINCT deal_id) FROM (SELECT deal_id FROM steps GROUP BY deal_id, stage HAVING count(*) > 1)) AS deals_with_loops
FROM steps
"""


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in TABLES:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{folder / table}.parquet')")
    con.execute(RANKED_STAGES)
    con.execute(DATA_AS_OF)
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def keyed(records: list[dict[str, Any]], *key: str, fmt: str = "{}") -> dict[str, dict[str, Any]]:
    """``records`` as {formatted key: the other fields}."""
    return {fmt.format(*(r[k] for k in key)): {k: v for k, v in r.items() if k not in key} for r in records}


def report(folder: Path) -> dict[str, Any]:
    con = connect(folder)
    con.execute(DEAL_FACTS)
    (totals,) = rows(con, TOTALS)
    (estimates,) = rows(con, ESTIMATES)
    owners = rows(con, OUTCOMES.format(key="owner", extra="any_value(team) AS team,"))
    products = rows(con, OUTCOMES.format(key="product", extra=""))
    return {
        **headline(totals),
        "cycle_days": keyed(rows(con, CYCLE), "status"),
        "stages": keyed(rows(con, STAGES), "pipeline", "stage", fmt="{} / {}"),
        "owners": {r.pop("name"): with_rates(r) for r in owners},
        "products": {r.pop("name"): with_rates(r) for r in products},
        "ageing": keyed(rows(con, AGEING), "bucket"),
        "list_price_estimate": estimates,
    }


def flow(folder: Path) -> dict[str, Any]:
    con = connect(folder)
    con.execute(STEPS)
    (summary,) = rows(con, SUMMARY)
    return {
        "summary": summary,
        "transitions": {pair(r.pop("stage"), r.pop("next_stage"), r.pop("pipeline")): r for r in rows(con, TRANSITIONS)},
        "dwell": keyed(rows(con, DWELL), "pipeline", "stage", "status", fmt="{}: {} ({})"),
        "regressions": {pair(r.pop("stage"), r.pop("next_stage"), r.pop("pipeline")): r for r in rows(con, REGRESSIONS)},
        "skips": keyed(rows(con, SKIPS), "pipeline", "stage", fmt="{}: {}"),
        "loops": keyed(rows(con, LOOPS), "pipeline", "stage", fmt="{}: {}"),
        "reopened": keyed(rows(con, REOPENED), "deal_id", "stage", "next_stage", fmt="{}: {} -> {}"),
    }


if __name__ == "__main__":
    run({"report": report, "flow": flow})
