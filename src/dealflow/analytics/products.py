"""Product potential: per product win rates, sizes, cycle, pipeline, drop-out, loss reasons,
trend, and a ranked list of the small changes that would sell the most.

A deal's product is its first line's product (``deals.product``). Conventions (PRODUCT.md):
win rate = won ÷ (won + lost) by count; value win rate uses amounts (a lost deal without an
amount is valued at its product's list price, since many CRMs store 0 for lost deals);
cycle = closed_at − created_at (first known date when created_at is missing); open
pipeline values deals without an amount at list price; weighted = Σ value × the stage's
default probability; forecast = Σ value × the measured share of closed deals won after
reaching that stage, for that product (all products when it has fewer than 20 such deals).

Small changes: for each product and stage, if the product's stage conversion matched the
median of the other products', how many more deals would get past that stage, how many of
those would be won (at the product's rate after that stage), and the extra won revenue (at
its average won deal). ``deals`` shows how many deals the figure rests on.

    >>> p = product_report(history)
    >>> p.products, p.trend, p.changes
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from dealflow.analytics.funnel import deal_reach, progression, stage_conversion
from dealflow.analytics.metrics import days_between
from dealflow.history import History

MIN_DEALS_FOR_OWN_RATE = 20


def _quarter(col: str) -> pl.Expr:
    return pl.col(col).dt.year().cast(pl.String) + "Q" + pl.col(col).dt.quarter().cast(pl.String)


def _stage_forecast_rates(history: History, deals: pl.DataFrame) -> pl.DataFrame:
    """Per (product, rank): share of closed deals that reached the rank and were won; with the
    all-products rate where the product has too few closed deals there."""
    prog = progression(history).filter(pl.col("kind") == "open").select("rank")
    closed = deal_reach(history).join(
        deals.select(pl.col("id").alias("deal_id"), "product", "status"), on="deal_id"
    ).filter(pl.col("status") != "open")
    pairs = closed.join(prog, how="cross").filter(pl.col("max_rank").fill_null(-1) >= pl.col("rank"))
    own = pairs.group_by("product", "rank").agg(pl.len().alias("_n"), (pl.col("status") == "won").mean().alias("_own"))
    overall = pairs.group_by("rank").agg((pl.col("status") == "won").mean().alias("_all"))
    return own.join(overall, on="rank", how="left").with_columns(
        pl.when(pl.col("_n") >= MIN_DEALS_FOR_OWN_RATE).then(pl.col("_own")).otherwise(pl.col("_all")).alias("forecast_rate")
    ).select("product", "rank", "forecast_rate").join(
        overall.rename({"_all": "_overall"}), on="rank", how="right"
    )


@dataclass
class ProductReport:
    products: pl.DataFrame
    trend: pl.DataFrame
    stages: pl.DataFrame
    changes: pl.DataFrame
    lost_reasons: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"products": self.products, "trend": self.trend, "stages": self.stages, "changes": self.changes,
                "lost_reasons": self.lost_reasons}


def product_report(history: History) -> ProductReport:
    """Per product figures, quarterly trend, stage conversion and the ranked small changes."""
    deals = history.deals.with_columns(pl.col("product").fill_null("(no product)"))
    value = pl.when(pl.col("amount") > 0).then(pl.col("amount")).otherwise(pl.col("list_price"))
    deals = deals.with_columns(
        value.alias("_value"),
        days_between("first_seen_at", "closed_at").alias("_cycle"),
    ).join(history.stages.select(pl.col("id").alias("stage_id"), pl.col("probability").alias("_prob"), pl.col("rank").alias("_rank")),
           on="stage_id", how="left")
    rates = _stage_forecast_rates(history, deals)
    deals = deals.join(rates.select("product", pl.col("rank").alias("_rank"), "forecast_rate", "_overall"),
                       on=["product", "_rank"], how="left").with_columns(
        pl.coalesce("forecast_rate", "_overall", "_prob").alias("_forecast_rate")
    )
    won, lost, open_ = (pl.col("status") == s for s in ("won", "lost", "open"))
    products = deals.group_by("product").agg(
        pl.len().alias("deals"),
        won.sum().alias("won"),
        lost.sum().alias("lost"),
        open_.sum().alias("open"),
        pl.col("amount").filter(won).sum().alias("won_amount"),
        pl.col("_value").filter(lost).sum().alias("lost_value"),
        pl.col("amount").filter(won).mean().alias("avg_won_amount"),
        pl.col("amount").filter(won).median().alias("median_won_amount"),
        pl.col("_cycle").filter(~open_).median().alias("cycle_median_days"),
        pl.col("_cycle").filter(~open_).quantile(0.75).alias("cycle_p75_days"),
        pl.col("_value").filter(open_).sum().alias("open_pipeline"),
        (pl.col("_value") * pl.col("_prob")).filter(open_).sum().alias("weighted_pipeline"),
        (pl.col("_value") * pl.col("_forecast_rate")).filter(open_).sum().alias("forecast"),
    ).with_columns(
        pl.when(pl.col("won") + pl.col("lost") > 0).then(pl.col("won") / (pl.col("won") + pl.col("lost"))).alias("win_rate"),
        pl.when(pl.col("won_amount") + pl.col("lost_value") > 0)
        .then(pl.col("won_amount") / (pl.col("won_amount") + pl.col("lost_value"))).alias("value_win_rate"),
    )

    # Where deals drop out: the stage most of its lost deals were lost from; and the top reasons.
    lost_moves = history.stage_changes.filter(pl.col("to_kind") == "lost").sort(["deal_id", "at", "id"]).group_by(
        "deal_id").agg(pl.col("from_stage").last().alias("lost_from"))
    lost_deals = deals.filter(lost).join(lost_moves, left_on="id", right_on="deal_id", how="left")
    drop = lost_deals.filter(pl.col("lost_from").is_not_null()).group_by("product", "lost_from").len().join(
        progression(history).select(pl.col("stage").alias("lost_from"), "rank"), on="lost_from", how="left"
    ).sort(["product", "len", "rank"], descending=[False, True, False]).group_by("product", maintain_order=True).agg(
        pl.col("lost_from").first().alias("drop_out_stage"), pl.col("len").first().alias("drop_out_deals")
    )
    reasons = lost_deals.with_columns(pl.col("lost_reason").fill_null("(no reason)")).group_by("product", "lost_reason").len(
    ).rename({"len": "deals"}).sort(["product", "deals", "lost_reason"], descending=[False, True, False])
    top_reasons = reasons.group_by("product", maintain_order=True).agg(
        (pl.col("lost_reason") + " (" + pl.col("deals").cast(pl.String) + ")").head(3).str.join("; ").alias("top_lost_reasons")
    )

    stages = stage_conversion(_with_deals(history, deals), by="product")
    weakest = stages.filter(pl.col("entered") > 0).sort(["product", "conversion", "rank"]).group_by(
        "product", maintain_order=True).agg(pl.col("stage").first().alias("weakest_stage"),
                                            pl.col("conversion").first().alias("weakest_conversion"))
    products = products.join(drop, on="product", how="left").join(top_reasons, on="product", how="left").join(
        weakest, on="product", how="left"
    ).sort(["won_amount", "product"], descending=[True, False]).select(
        "product", "deals", "won", "lost", "open", "win_rate", "value_win_rate", "won_amount", "avg_won_amount",
        "median_won_amount", "cycle_median_days", "cycle_p75_days", "open_pipeline", "weighted_pipeline", "forecast",
        "drop_out_stage", "drop_out_deals", "weakest_stage", "weakest_conversion", "top_lost_reasons",
    )

    trend = deals.filter(~open_ & pl.col("closed_at").is_not_null()).with_columns(_quarter("closed_at").alias("quarter")).group_by(
        "product", "quarter").agg(
        won.sum().alias("won"), lost.sum().alias("lost"), pl.col("amount").filter(won).sum().alias("won_amount"),
    ).with_columns((pl.col("won") / (pl.col("won") + pl.col("lost"))).alias("win_rate")).sort(["product", "quarter"])

    changes = small_changes(stages, products)
    return ProductReport(products=products, trend=trend, stages=stages, changes=changes, lost_reasons=reasons)


def _with_deals(history: History, deals: pl.DataFrame) -> History:
    return replace(history, deals=deals)


def small_changes(stages: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """Rank (product, stage) by the extra won revenue if the product converted at that stage
    like the median of the other products. Only stages where it is below that median."""
    s = stages.filter(pl.col("entered") > 0)
    # median of the *other* products' conversion at the same stage
    others = s.select(pl.col("product").alias("_p"), "stage", pl.col("conversion").alias("_c"))
    med = s.select("product", "stage").join(others, on="stage").filter(pl.col("_p") != pl.col("product")).group_by(
        "product", "stage").agg(pl.col("_c").median().alias("others_median"), pl.len().alias("other_products"))
    total_adv = s.group_by("stage").agg(pl.col("advanced").sum().alias("_adv_all"), pl.col("won_after").sum().alias("_won_all"))
    overall_avg = products.select(pl.col("won_amount").sum() / pl.col("won").sum()).item() if products.height else None
    out = s.join(med, on=["product", "stage"]).join(total_adv, on="stage").join(
        products.select("product", "avg_won_amount"), on="product", how="left"
    ).with_columns(
        # won after getting past the stage: the product's own rate, else all products'
        pl.when(pl.col("advanced") > 0).then(pl.col("won_after") / pl.col("advanced"))
        .otherwise(pl.when(pl.col("_adv_all") > 0).then(pl.col("_won_all") / pl.col("_adv_all"))).alias("won_after_advancing"),
        pl.coalesce("avg_won_amount", pl.lit(overall_avg, dtype=pl.Float64)).alias("avg_won_amount"),
    ).with_columns(
        (pl.col("entered") * (pl.col("others_median") - pl.col("conversion"))).alias("extra_advancing"),
    ).with_columns(
        (pl.col("extra_advancing") * pl.col("won_after_advancing")).alias("extra_won"),
    ).with_columns(
        (pl.col("extra_won") * pl.col("avg_won_amount")).alias("extra_revenue"),
    ).filter(pl.col("extra_advancing") > 0)
    return out.sort(["extra_revenue", "product", "rank"], descending=[True, False, False], nulls_last=True).select(
        pl.int_range(1, pl.len() + 1).alias("rank_order"), "product", "stage", pl.col("entered").alias("deals"),
        "conversion", "others_median", "other_products", "extra_advancing", "won_after_advancing", "extra_won",
        "avg_won_amount", "extra_revenue",
    )
