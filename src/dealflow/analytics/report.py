"""The pipeline report: where the deals stand, how they convert, and how fast they close."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from dealflow.analytics.metrics import cycle_days, days_between, outcome_summary, win_rate
from dealflow.analytics.runs import WORD, DealRuns, StageIndex, stage_bits
from dealflow.domain.money import normalize_currency, unconverted, unconverted_note
from dealflow.history import History, sorted_by_deal

AGE_BUCKETS = [(0, 30, "0-30 days"), (30, 60, "31-60 days"), (60, 90, "61-90 days"), (90, 180, "91-180 days"), (180, None, "over 180 days")]


@dataclass(frozen=True)
class PipelineReport:
    as_of: datetime | None  # the instant asked for, or None for "now"
    data_as_of: datetime  # the instant ages are measured from
    totals: dict[str, Any]
    cycle: pl.DataFrame  # status, deals, median_days, p75_days, p90_days, mean_days
    stages: pl.DataFrame  # pipeline, stage, kind, probability, open_deals, open_amount, weighted_amount, reached, advanced, conversion
    owners: pl.DataFrame
    products: pl.DataFrame
    ageing: pl.DataFrame  # bucket, open_deals, open_amount
    estimates: dict[str, Any]  # open deals without an amount, valued at their product's list price
    # Amounts are in ``currency``; deals in a currency without a rate are counted but in no amount.
    money: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        med = {r["status"]: r["median_days"] for r in self.cycle.to_dicts()}
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "data_as_of": self.data_as_of.isoformat(),
            "deals": {"open": t["open"], "won": t["won"], "lost": t["lost"], "total": t["total"]},
            "win_rate": t["win_rate"],
            "value_win_rate": t["value_win_rate"],
            "won_amount": t["won_amount"],
            "open_amount": t["open_amount"],
            "weighted_amount": t["weighted_amount"],
            "sales_velocity_per_day": t["sales_velocity_per_day"],
            "median_cycle_days": {"won": med.get("won"), "lost": med.get("lost")},
            "cycle_days": self.cycle.to_dicts(),
            "stages": self.stages.to_dicts(),
            "owners": self.owners.to_dicts(),
            "products": self.products.to_dicts(),
            "ageing": self.ageing.to_dicts(),
            "list_price_estimate": self.estimates,
            "currency": self.money.get("currency"),
            "unconverted_deals": self.money.get("unconverted_deals", 0),
            "unconverted": self.money.get("unconverted", []),
        }


def _stage_probability(stages: pl.DataFrame) -> pl.Expr:
    """Each deal's stage's default probability, looked up by the integer stage id."""
    return pl.col("stage_id").replace_strict(stages["id"], stages["probability"], default=None, return_dtype=pl.Float64)


def stage_table(history: History) -> pl.DataFrame:
    """Per stage: open deals and amounts, and cohort conversion.

    ``reached`` counts the deals that ever entered the stage (once each, however often);
    ``advanced`` those of them that later entered any stage further on the progression;
    ``conversion`` = advanced ÷ reached, lost deals staying in the denominator.
    """
    stages = history.stages
    deals = history.deals
    # Keyed by the integer stage id over millions of rows; names join the few result rows.
    probability = _stage_probability(stages)
    open_ = deals.filter(pl.col("status") == "open").group_by("stage_id").agg(
        pl.len().alias("open_deals"),
        pl.col("amount").sum().alias("open_amount"),
        (pl.col("amount") * probability).sum().alias("weighted_amount"),
    )
    reached = _reached(history)
    table = (
        stages.select(pl.col("id").alias("stage_id"), "pipeline_id", "pipeline", pl.col("name").alias("stage"), "kind", "probability", "position")
        .join(open_, on="stage_id", how="left")
        .join(reached, on="stage_id", how="left")
        .with_columns(
            pl.col("open_deals").fill_null(0), pl.col("open_amount").fill_null(0.0), pl.col("weighted_amount").fill_null(0.0),
            pl.col("reached").fill_null(0), pl.col("advanced").fill_null(0),
        )
        .with_columns(
            pl.when((pl.col("kind") == "open") & (pl.col("reached") > 0)).then(pl.col("advanced") / pl.col("reached")).otherwise(None).alias("conversion")
        )
        .sort(["pipeline_id", "position"])
    )
    return table.drop("stage_id", "pipeline_id", "position")


def _reached(history: History) -> pl.DataFrame:
    """Per stage id: ``reached`` and ``advanced`` (see ``stage_table``).

    Each deal's stages are a bit mask (one bit per stage, 63 to a word) and its furthest rank,
    folded over its stage changes plus its current stage (which counts as reached even when the
    source recorded no date for it); a stage's counts are then a test of its bit over the deals."""
    stages, deals = history.stages, history.deals
    index = StageIndex.of(stages)
    rank = index.lookup(stages, "rank", -1)  # lost stages have no rank: never passed
    changes = sorted_by_deal(history.stage_changes)
    runs = DealRuns.of(changes["deal_id"])
    changed_pos = index.positions(changes["to_stage_id"])
    current_pos = index.positions(deals["stage_id"])
    # Deals' own rows, in deals' order; deals without stage changes fold only their current stage.
    rows, known = runs.rows_in(deals["id"].to_numpy())
    rows = rows[known]  # the deals row of each run whose deal is in the frame (each deal once)
    furthest = rank[current_pos]
    furthest[rows] = np.maximum(furthest[rows], runs.reduce(rank[changed_pos], np.maximum)[known])
    counts: dict[int, tuple[int, int]] = {}
    for word, bits in stage_bits(len(index.ids)):
        mask = bits[current_pos]
        mask[rows] |= runs.reduce(bits[changed_pos], np.bitwise_or)[known]
        for p in range(word, min(word + WORD, len(index.ids))):
            hit = (mask & (1 << (p - word))) != 0
            counts[int(index.ids[p])] = (int(hit.sum()), int((hit & (furthest > rank[p])).sum()) if rank[p] >= 0 else 0)
    return pl.DataFrame(
        {"stage_id": list(counts), "reached": [c[0] for c in counts.values()], "advanced": [c[1] for c in counts.values()]},
        schema={"stage_id": pl.Int64, "reached": pl.UInt32, "advanced": pl.UInt32},
    )


def pipeline_report(history: History, as_of: datetime | None = None) -> PipelineReport:
    """The report of PRODUCT.md's conventions, now or as it stood at ``as_of``."""
    h = history.as_of(as_of) if as_of is not None else history
    now = h.now
    # Only the columns the report reads: every filter below copies what it keeps.
    deals = h.deals.select(
        "id", "status", "amount", "currency", "amount_original", "owner", "product", "list_price", "first_seen_at", "closed_at",
        _stage_probability(h.stages).alias("stage_probability"), cycle_days(),
    )
    status = pl.col("status")
    amount = pl.col("amount")
    totals_row = deals.select(
        *[(status == s).sum().alias(s) for s in ("open", "won", "lost")],
        amount.filter(status == "won").fill_null(0).sum().alias("won_amount"),
        amount.filter(status == "lost").fill_null(0).sum().alias("lost_amount"),
        (amount * pl.col("stage_probability")).filter(status == "open").sum().alias("weighted"),
        amount.filter(status == "won").mean().alias("avg_won"),
        pl.col("cycle_days").filter(status == "won").mean().alias("avg_cycle"),
    ).row(0, named=True)
    counts = {s: int(totals_row[s]) for s in ("open", "won", "lost")}
    won_amount, lost_amount, weighted = totals_row["won_amount"], totals_row["lost_amount"], totals_row["weighted"]
    open_deals = deals.filter(status == "open")
    rate = counts["won"] / (counts["won"] + counts["lost"]) if counts["won"] + counts["lost"] else None
    avg_won, avg_cycle = totals_row["avg_won"], totals_row["avg_cycle"]
    velocity = (counts["open"] * avg_won * rate / avg_cycle) if (rate and avg_won and avg_cycle) else None  # type: ignore[operator]

    cycle = (
        deals.filter(status != "open", pl.col("cycle_days").is_not_null())
        .group_by("status")
        .agg(
            pl.len().alias("deals"),
            pl.col("cycle_days").median().alias("median_days"),
            pl.col("cycle_days").quantile(0.75, "linear").alias("p75_days"),
            pl.col("cycle_days").quantile(0.90, "linear").alias("p90_days"),
            pl.col("cycle_days").mean().alias("mean_days"),
        )
        .sort("status", descending=True)
    )
    owners = outcome_summary(deals.with_columns(pl.col("owner").fill_null("(no owner)")), ["owner"]).join(
        h.owners.select(pl.col("name").alias("owner"), "team"), on="owner", how="left"
    )
    products = outcome_summary(deals.with_columns(pl.col("product").fill_null("(no product)")), ["product"])
    ages = open_deals.with_columns(days_between("first_seen_at", pl.lit(now)).alias("age"))
    bucket = pl.lit("unknown (no date)")
    for lo, hi, label in reversed(AGE_BUCKETS):
        cond = pl.col("age") >= lo if hi is None else (pl.col("age") >= lo) & (pl.col("age") < hi)
        bucket = pl.when(cond).then(pl.lit(label)).otherwise(bucket)
    order = {label: i for i, (_, _, label) in enumerate(AGE_BUCKETS)} | {"unknown (no date)": len(AGE_BUCKETS)}
    ageing = (
        ages.with_columns(bucket.alias("bucket"))
        .group_by("bucket").agg(pl.len().alias("open_deals"), pl.col("amount").sum().alias("open_amount"))
        .with_columns(pl.col("bucket").replace_strict(order, return_dtype=pl.Int64).alias("_o")).sort("_o").drop("_o")
    )
    missing_rate = unconverted(deals)
    # A deal whose amount no rate converts has an amount: it is not estimated at a list price.
    unpriced = open_deals.join(missing_rate.select("id"), on="id", how="anti").filter(pl.col("amount").is_null())
    estimable = unpriced.filter(pl.col("list_price").is_not_null())
    estimates = {
        "label": "estimate: open deals without an amount, valued at their product's list price",
        "deals_without_amount": unpriced.height,
        "estimated_deals": estimable.height,
        "estimated_open_amount": float(estimable["list_price"].sum()),
        "estimated_weighted_amount": float((estimable["list_price"] * estimable["stage_probability"]).sum()),
    }
    totals = {
        "total": deals.height, **counts, "win_rate": rate,
        # Undefined, not 100%, when lost deals carry no amounts (exports often zero them).
        "value_win_rate": won_amount / (won_amount + lost_amount) if (lost_amount or not counts["lost"]) and (won_amount + lost_amount) else None,
        "won_amount": float(won_amount),
        "open_amount": float(open_deals["amount"].sum()) if open_deals["amount"].is_not_null().any() else None,
        "weighted_amount": float(weighted) if open_deals["amount"].is_not_null().any() else None, "avg_won_amount": avg_won, "avg_cycle_won_days": avg_cycle,
        "sales_velocity_per_day": velocity,
    }
    return PipelineReport(
        as_of=as_of, data_as_of=now, totals=totals, cycle=cycle, stages=stage_table(h),
        owners=owners, products=products, ageing=ageing, estimates=estimates, money=_money(h.currency, missing_rate),
    )


def _money(currency: str, missing_rate: pl.DataFrame) -> dict[str, Any]:
    by_currency = (
        missing_rate.group_by(normalize_currency(pl.col("currency")).alias("currency")).agg(pl.len().alias("deals"), pl.col("amount_original").sum().alias("amount_original"))
        .sort(["deals", "currency"], descending=[True, False])
    ) if missing_rate.height else pl.DataFrame(schema={"currency": pl.String, "deals": pl.UInt32, "amount_original": pl.Float64})
    return {"currency": currency, "unconverted_deals": missing_rate.height, "unconverted": by_currency.to_dicts(),
            "note": unconverted_note(missing_rate)}


__all__ = ["PipelineReport", "pipeline_report", "stage_table", "win_rate"]
