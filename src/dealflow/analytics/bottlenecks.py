"""Bottlenecks: the stages that lose the most revenue and hold deals the longest, and how
that changed from one period to the next.

- *Revenue lost at a stage*: the amounts of lost deals whose last open stage before the loss
  was that stage (their drop-off stage); a lost deal without an amount counts at its
  product's list price. ``loss_rate`` = those deals ÷ deals that reached it.
- *Delay at a stage*: per deal, days in the stage (sum of its visits; open deals up to now);
  ``deal_days`` is the total over all deals — where the pipeline's time goes — and ranks it.
- *By period*: losses fall in the period of the close, delays in the period a visit ended
  (finished visits only), with the change against the previous period.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from dealflow.analytics.flow import deal_stage_days, deal_value, quantiles, stage_visits
from dealflow.history import History

PeriodKind = Literal["month", "quarter"]


def period_label(col: pl.Expr, kind: PeriodKind, fiscal_start_month: int = 1) -> pl.Expr:
    """2012-03 for months; 2012Q1 for quarters, on the fiscal calendar of ``domain.periods``
    (with ``fiscal_start_month=4``, April-June 2017 is 2018Q1)."""
    if kind == "month":
        return col.dt.strftime("%Y-%m")
    shifted = col.dt.year().cast(pl.Int64) * 12 + col.dt.month().cast(pl.Int64) - fiscal_start_month
    year = shifted // 12 + (1 if fiscal_start_month > 1 else 0)
    quarter = (shifted % 12) // 3 + 1
    return pl.concat_str([year.cast(pl.String), pl.lit("Q"), quarter.cast(pl.String)])


def drop_offs(visits: pl.DataFrame) -> pl.DataFrame:
    """Per lost deal: the open stage it was lost from (its last move into a lost stage)."""
    return (
        visits.filter((pl.col("kind") == "open") & (pl.col("next_kind") == "lost") & (pl.col("status") == "lost"))
        .group_by("deal_id").agg(pl.all().sort_by("visit").last())
        .select("deal_id", "pipeline", "stage", "rank", pl.col("left_at").alias("lost_at"))
    )


@dataclass(frozen=True)
class BottlenecksResult:
    """``stages``: one row per open stage with loss and delay measures and both ranks;
    ``by_period``: the same per period, with the change against the previous period."""

    stages: pl.DataFrame
    by_period: pl.DataFrame
    period: str

    def to_dict(self) -> dict[str, Any]:
        from dealflow.cli.common import to_jsonable

        return to_jsonable({"period": self.period, "stages": self.stages, "by_period": self.by_period})


def bottlenecks(history: History, *, period: PeriodKind = "month", fiscal_start_month: int = 1) -> BottlenecksResult:
    visits = stage_visits(history)
    amounts = history.deals.select(pl.col("id").alias("deal_id"), deal_value().fill_null(0.0).alias("amount"))
    lost = drop_offs(visits).join(amounts, on="deal_id", how="left")
    per_deal = deal_stage_days(visits)
    open_stages = history.stages.filter(pl.col("kind") == "open").select(
        "pipeline", pl.col("name").alias("stage"), "rank"
    )
    reached = per_deal.group_by(["pipeline", "stage"]).agg(
        pl.len().alias("deals_reached"),
        pl.col("days").sum().alias("deal_days"),
        *quantiles("days"),
        pl.col("days").filter(pl.col("status") == "won").median().alias("won_median_days"),
        (pl.col("status") == "open").sum().alias("open_now"),
    )
    losses = lost.group_by(["pipeline", "stage"]).agg(
        pl.len().alias("lost_deals"), pl.col("amount").sum().alias("revenue_lost")
    )
    stages = (
        open_stages.join(reached, on=["pipeline", "stage"], how="left")
        .join(losses, on=["pipeline", "stage"], how="left")
        .with_columns(
            pl.col("deals_reached").fill_null(0), pl.col("lost_deals").fill_null(0),
            pl.col("revenue_lost").fill_null(0.0), pl.col("deal_days").fill_null(0.0),
        )
        .with_columns(
            pl.when(pl.col("deals_reached") > 0).then(pl.col("lost_deals") / pl.col("deals_reached")).alias("loss_rate"),
            pl.col("revenue_lost").rank("min", descending=True).over("pipeline").cast(pl.Int64).alias("revenue_rank"),
            pl.col("deal_days").rank("min", descending=True).over("pipeline").cast(pl.Int64).alias("delay_rank"),
        )
        .with_columns(
            pl.when(pl.col("revenue_lost") > 0).then(pl.col("revenue_rank")).alias("revenue_rank"),
            pl.when(pl.col("deal_days") > 0).then(pl.col("delay_rank")).alias("delay_rank"),
        )
        .sort(["pipeline", "revenue_rank", "rank"], nulls_last=True)
        .select("pipeline", "stage", "revenue_rank", "revenue_lost", "lost_deals", "loss_rate", "deals_reached",
                "delay_rank", "deal_days", "median_days", "p75_days", "p90_days", "won_median_days", "open_now")
    )

    loss_p = (
        lost.with_columns(period_label(pl.col("lost_at"), period, fiscal_start_month).alias("period"))
        .group_by(["pipeline", "period", "stage"])
        .agg(pl.len().alias("lost_deals"), pl.col("amount").sum().alias("revenue_lost"))
    )
    delay_p = (
        visits.filter((pl.col("kind") == "open") & pl.col("left_at").is_not_null())
        .with_columns(period_label(pl.col("left_at"), period, fiscal_start_month).alias("period"))
        .group_by(["pipeline", "period", "stage"])
        .agg(pl.len().alias("visits_ended"), pl.col("days").sum().alias("deal_days"), pl.col("days").median().alias("median_days"))
    )
    periods = pl.concat([loss_p.select("pipeline", "period"), delay_p.select("pipeline", "period")]).unique()
    grid = periods.join(open_stages, on="pipeline", how="inner")
    by_period = (
        grid.join(loss_p, on=["pipeline", "period", "stage"], how="left")
        .join(delay_p, on=["pipeline", "period", "stage"], how="left")
        .with_columns(
            pl.col("lost_deals").fill_null(0), pl.col("revenue_lost").fill_null(0.0),
            pl.col("visits_ended").fill_null(0), pl.col("deal_days").fill_null(0.0),
        )
        .sort(["pipeline", "rank", "period"])
        .with_columns(
            (pl.col("revenue_lost") - pl.col("revenue_lost").shift(1)).over(["pipeline", "stage"]).alias("revenue_lost_change"),
            (pl.col("median_days") - pl.col("median_days").shift(1)).over(["pipeline", "stage"]).alias("median_days_change"),
        )
        .with_columns(
            pl.col("revenue_lost").rank("min", descending=True).over(["pipeline", "period"]).cast(pl.Int64).alias("revenue_rank"),
            pl.col("deal_days").rank("min", descending=True).over(["pipeline", "period"]).cast(pl.Int64).alias("delay_rank"),
        )
        .sort(["pipeline", "period", "rank"])
        .select("pipeline", "period", "stage", "revenue_rank", "revenue_lost", "revenue_lost_change", "lost_deals",
                "delay_rank", "deal_days", "median_days", "median_days_change", "visits_ended")
    )
    return BottlenecksResult(stages=stages, by_period=by_period, period=period)
