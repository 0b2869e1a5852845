"""Stage flow: how deals move between stages, how long each step takes, and where they go back.

Everything is read from ``History.stage_log()`` — each deal's stage visits in time order,
consecutive repeats of a stage counted once, ties in the source's order. A *transition* is
a deal moving from one visit directly to the next, so ``count`` is the number of times that
happened (a deal looping through the same pair twice counts twice), the same definition as a
process-mining directly-follows graph. Its duration is the time from entering the first stage
to entering the second.

>>> result = stage_flow(history)                       # doctest: +SKIP
>>> result.transitions.columns[:6]                     # doctest: +SKIP
['pipeline', 'from', 'to', 'count', 'deals', 'median_days']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import polars as pl

from dealflow.analytics.metrics import days_between
from dealflow.history import UTC_TIME, History, shift_in_deal

Outcome = Literal["won", "lost", "open", "all"]


def deal_value() -> pl.Expr:
    """A deal's money: its amount, else (missing or zero, as for open or lost Maven deals) its product's list price."""
    return (
        pl.when(pl.col("amount").fill_null(0) > 0).then(pl.col("amount"))
        .otherwise(pl.coalesce(pl.col("list_price"), pl.col("amount")))
        .alias("value")
    )


def quantiles(value: str, prefix: str = "") -> list[pl.Expr]:
    """Median, p75 and p90 of a column (linear interpolation, like numpy and pandas)."""
    v = pl.col(value)
    return [
        v.median().alias(f"{prefix}median_days"),
        v.quantile(0.75, interpolation="linear").alias(f"{prefix}p75_days"),
        v.quantile(0.90, interpolation="linear").alias(f"{prefix}p90_days"),
    ]


def stage_visits(history: History, now: datetime | None = None) -> pl.DataFrame:
    """The stage log with each visit's pipeline, the deal's status and how long the visit lasted.

    Columns: deal_id, pipeline_id, pipeline, status, stage, kind, rank, entered_at, left_at,
    visit, next_stage, next_kind, next_rank, days (closed visits: until the next stage;
    the current visit of an open deal: until ``now``; a closed deal's won/lost visit: null),
    current (the deal's last visit).
    """
    at = now or history.now
    log = history.stage_log()
    deals = history.deals.select(pl.col("id").alias("deal_id"), "pipeline_id", "pipeline", "status")
    log = log.join(deals, on="deal_id", how="inner", maintain_order="left")  # keeps each deal's rows together
    nxt = [shift_in_deal(pl.col(c), -1).alias(f"next_{c}") for c in ("stage", "kind", "rank")]
    end = pl.when(pl.col("left_at").is_not_null()).then(pl.col("left_at")).when(
        (pl.col("kind") == "open") & (pl.col("status") == "open")
    ).then(pl.lit(at, dtype=UTC_TIME))
    return log.with_columns(
        *nxt,
        days_between(pl.col("entered_at"), end).alias("days"),
        # the deal's last visit: its last row (visits are numbered 1..n in row order)
        (pl.col("deal_id").shift(-1).is_null() | (pl.col("deal_id") != pl.col("deal_id").shift(-1))).alias("current"),
    ).select(
        "deal_id", "pipeline_id", "pipeline", "status", "stage", "kind", "rank", "entered_at", "left_at",
        "visit", "next_stage", "next_kind", "next_rank", "days", "current",
    )


def deal_stage_days(visits: pl.DataFrame) -> pl.DataFrame:
    """Per deal and open stage: visits and days in the stage (the sum of its visits)."""
    return (
        visits.filter(pl.col("kind") == "open")
        .group_by(["deal_id", "pipeline", "status", "stage", "rank"], maintain_order=True)
        .agg(pl.len().alias("visits"), pl.col("days").sum().alias("days"))
    )


def filter_deals(history: History, outcome: Outcome = "all", period: Any = None) -> History:
    """Keep deals with the given status, first seen inside ``period`` (a ``Period``), if given."""
    deals = history.deals
    if outcome != "all":
        deals = deals.filter(pl.col("status") == outcome)
    if period is not None:
        start, end = pl.lit(period.start_instant(), dtype=UTC_TIME), pl.lit(period.end_instant(), dtype=UTC_TIME)
        deals = deals.filter((pl.col("first_seen_at") >= start) & (pl.col("first_seen_at") < end))
    if deals.height == history.deals.height:
        return history
    from dataclasses import replace

    keep = deals.select(pl.col("id").alias("deal_id"))
    return replace(
        history,
        deals=deals,
        stage_changes=history.stage_changes.join(keep, on="deal_id", how="semi"),
        activities=history.activities.join(keep, on="deal_id", how="semi"),
        field_changes=history.field_changes.join(keep, on="deal_id", how="semi"),
    )


@dataclass(frozen=True)
class FlowResult:
    """Transitions, dwell times and the irregular moves of a set of deals.

    - ``transitions``: pipeline, from, to, count, deals, median_days, p75_days, p90_days, mean_days, kind
      (forward / skip / regression / close / reopen)
    - ``dwell``: pipeline, stage, rank, status, deals, median_days, p75_days, p90_days, mean_days
      (per deal, days in the stage summed over its visits)
    - ``regressions``: pipeline, from, to, count, deals — moves back to an earlier open stage
    - ``skips``: pipeline, stage, times_skipped, deals — stages jumped over by a forward move
    - ``reopened``: deal_id, external_id, closed_stage, reopened_to, at — moves from won/lost back to open
    - ``loops``: pipeline, stage, deals, extra_visits — deals that came back to a stage they had left
    - ``summary``: counts over the whole set
    """

    transitions: pl.DataFrame
    dwell: pl.DataFrame
    regressions: pl.DataFrame
    skips: pl.DataFrame
    reopened: pl.DataFrame
    loops: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from dealflow.jsonable import to_jsonable

        return to_jsonable({
            "summary": self.summary,
            "transitions": self.transitions,
            "dwell": self.dwell,
            "regressions": self.regressions,
            "skips": self.skips,
            "reopened": self.reopened,
            "loops": self.loops,
        })


def _move_kind() -> pl.Expr:
    return (
        pl.when(pl.col("kind").is_in(["won", "lost"]) & (pl.col("next_kind") == "open")).then(pl.lit("reopen"))
        .when(pl.col("next_kind") == "lost").then(pl.lit("close"))
        .when(pl.col("next_rank") < pl.col("rank")).then(pl.lit("regression"))
        .when(pl.col("next_rank") > pl.col("rank") + 1).then(pl.lit("skip"))
        .when(pl.col("next_kind") == "won").then(pl.lit("close"))
        .otherwise(pl.lit("forward"))
    )


def transitions(visits: pl.DataFrame) -> pl.DataFrame:
    """Directly-follows transitions with counts and durations (days from entering ``from`` to entering ``to``)."""
    moves = visits.filter(pl.col("next_stage").is_not_null()).with_columns(
        days_between(pl.col("entered_at"), pl.col("left_at")).alias("_d"), _move_kind().alias("move")
    )
    return (
        moves.group_by(["pipeline", "stage", "next_stage"])
        .agg(
            pl.len().alias("count"),
            pl.col("deal_id").n_unique().alias("deals"),
            *quantiles("_d"),
            pl.col("_d").mean().alias("mean_days"),
            pl.col("move").first().alias("kind"),
            pl.col("rank").first().alias("_r"),
            pl.col("next_rank").first().alias("_nr"),
        )
        .sort(["pipeline", "_r", "_nr", "count"], descending=[False, False, False, True], nulls_last=True)
        .drop("_r", "_nr")
        .rename({"stage": "from", "next_stage": "to"})
    )


def dwell_times(visits: pl.DataFrame) -> pl.DataFrame:
    """Per open stage and deal status: days in the stage per deal (sum of visits), median/p75/p90."""
    per_deal = deal_stage_days(visits).filter(pl.col("days").is_not_null())
    return (
        per_deal.group_by(["pipeline", "stage", "rank", "status"])
        .agg(pl.len().alias("deals"), *quantiles("days"), pl.col("days").mean().alias("mean_days"))
        .sort(["pipeline", "rank", "status"])
    )


def stage_flow(history: History, *, outcome: Outcome = "all", period: Any = None) -> FlowResult:
    """Transitions, dwell times, regressions, skipped stages, reopened deals and loops."""
    history = filter_deals(history, outcome, period)
    visits = stage_visits(history)
    trans = transitions(visits)
    moves = visits.filter(pl.col("next_stage").is_not_null()).with_columns(_move_kind().alias("move"))

    regressions = (
        moves.filter(pl.col("move") == "regression")
        .group_by(["pipeline", "stage", "next_stage"])
        .agg(pl.len().alias("count"), pl.col("deal_id").n_unique().alias("deals"))
        .sort("count", descending=True)
        .rename({"stage": "from", "next_stage": "to"})
    )
    jumps = moves.filter(pl.col("move") == "skip").select("deal_id", "pipeline_id", "pipeline", "rank", "next_rank")
    ranked = history.stages.filter(pl.col("rank").is_not_null()).select(
        "pipeline_id", pl.col("name").alias("stage"), pl.col("rank").alias("_rank")
    )
    skips = (
        jumps.join(ranked, on="pipeline_id", how="inner")
        .filter((pl.col("_rank") > pl.col("rank")) & (pl.col("_rank") < pl.col("next_rank")))
        .group_by(["pipeline", "stage", "_rank"])
        .agg(pl.len().alias("times_skipped"), pl.col("deal_id").n_unique().alias("deals"))
        .sort(["pipeline", "_rank"])
        .drop("_rank")
    )
    names = history.deals.select(pl.col("id").alias("deal_id"), "external_id")
    reopened = (
        moves.filter(pl.col("move") == "reopen")
        .join(names, on="deal_id", how="left")
        .select("deal_id", "external_id", pl.col("stage").alias("closed_stage"),
                pl.col("next_stage").alias("reopened_to"), pl.col("left_at").alias("at"))
        .sort("at")
    )
    loops = (
        visits.group_by(["pipeline", "deal_id", "stage", "rank"])
        .agg(pl.len().alias("_n"))
        .filter(pl.col("_n") > 1)
        .group_by(["pipeline", "stage", "rank"])
        .agg(pl.len().alias("deals"), (pl.col("_n") - 1).sum().alias("extra_visits"))
        .sort(["pipeline", "rank"], nulls_last=True)
        .drop("rank")
    )
    summary = {
        "deals": history.deals.height,
        "deals_with_history": visits["deal_id"].n_unique(),
        "moves": int(trans["count"].sum() or 0),
        "regressions": int(regressions["count"].sum() or 0),
        "deals_regressed": moves.filter(pl.col("move") == "regression")["deal_id"].n_unique(),
        "skip_moves": jumps.height,
        "deals_reopened": reopened["deal_id"].n_unique(),
        "deals_with_loops": visits.group_by(["deal_id", "stage"]).len().filter(pl.col("len") > 1)["deal_id"].n_unique(),
        "outcome": outcome,
        "period": getattr(period, "label", None),
    }
    return FlowResult(
        transitions=trans, dwell=dwell_times(visits), regressions=regressions, skips=skips,
        reopened=reopened, loops=loops, summary=summary,
    )
