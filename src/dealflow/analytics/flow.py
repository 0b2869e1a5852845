"""Stage flow: how deals move between stages, how long each step takes, and where they go back.

Everything is read from each deal's stage visits in time order (``visit_codes``, integer-keyed;
``stage_visits`` with names), consecutive repeats of a stage counted once, ties in the source's
order. A *transition* is
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

import numpy as np
import polars as pl

from dealflow.analytics.metrics import days_between
from dealflow.analytics.runs import DealRuns, StageIndex, agg_by_ints, stage_bits
from dealflow.history import UTC_TIME, History, shift_in_deal, sorted_by_deal

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


KINDS = ("open", "won", "lost")  # stage kinds and deal statuses, coded 0, 1, 2 in visit_codes


def visit_codes(history: History, now: datetime | None = None) -> pl.DataFrame:
    """``stage_visits`` keyed by integers only: stage ids, and kind and status as codes (index into
    ``KINDS``). Millions of visits group and compare faster on integers; names are joined to the
    few rows of a result (``stage_visits`` joins them to every row, for callers that want them).

    Columns: deal_id, pipeline_id, status, stage_id, kind, rank, entered_at, left_at, visit,
    next_stage_id, next_kind, next_rank, days, current (see ``stage_visits``).
    """
    at = now or history.now
    stages, deals = history.stages, history.deals
    changes = sorted_by_deal(history.stage_changes).select("deal_id", pl.col("to_stage_id").alias("stage_id"), pl.col("at").alias("entered_at"))
    # A visit: consecutive changes to the same stage count once.
    log = changes.filter((pl.col("stage_id") != shift_in_deal(pl.col("stage_id"), 1)).fill_null(True))
    runs = DealRuns.of(log["deal_id"])
    row, found = runs.rows_in(deals["id"].to_numpy())
    if not found.all():  # stage changes of deals outside the frame (filtered or scoped away)
        log = log.filter(pl.Series(runs.per_row(found)))
        runs, row = DealRuns.of(log["deal_id"]), row[found]
    index = StageIndex.of(stages)
    where = index.positions(log["stage_id"])
    status = deals["status"].replace_strict(list(KINDS), range(len(KINDS)), default=None, return_dtype=pl.Int8).to_numpy()
    kinds = stages.with_columns(pl.col("kind").replace_strict(list(KINDS), range(len(KINDS))))
    rank = index.lookup(stages, "rank", -1)[where]
    log = log.with_columns(
        pl.Series("pipeline_id", runs.per_row(deals["pipeline_id"].to_numpy()[row]), dtype=pl.Int64),
        pl.Series("status", runs.per_row(status[row]), dtype=pl.Int8),
        pl.Series("kind", index.lookup(kinds, "kind", -1)[where], dtype=pl.Int8),
        pl.Series("rank", rank, dtype=pl.Int64).set(pl.Series(rank < 0), None),  # type: ignore[arg-type]
        pl.Series("visit", np.arange(len(where)) - runs.per_row(runs.starts) + 1, dtype=pl.Int64),
        pl.Series("current", runs.last_rows(len(where))),  # the deal's last visit
    )
    same_deal = pl.col("current").not_()  # the next row is the same deal's next visit
    end = pl.col("left_at").fill_null(
        pl.when((pl.col("kind") == 0) & (pl.col("status") == 0)).then(pl.lit(at, dtype=UTC_TIME))
    )
    return log.with_columns(
        pl.when(same_deal).then(pl.col("entered_at").shift(-1)).alias("left_at"),
        *[pl.when(same_deal).then(pl.col(c).shift(-1)).alias(f"next_{c}") for c in ("stage_id", "kind", "rank")],
    ).with_columns(days_between(pl.col("entered_at"), end).alias("days")).select(
        "deal_id", "pipeline_id", "status", "stage_id", "kind", "rank", "entered_at", "left_at", "visit",
        "next_stage_id", "next_kind", "next_rank", "days", "current",
    )


def _nullable(positions: np.ndarray) -> pl.Series:
    """Positions with -1 (not found) as null, for ``Series.gather``."""
    return pl.Series(positions, dtype=pl.Int64).set(pl.Series(positions < 0), None)  # type: ignore[arg-type]


def stage_visits(history: History, now: datetime | None = None) -> pl.DataFrame:
    """The stage log with each visit's pipeline, the deal's status and how long the visit lasted.

    Columns: deal_id, pipeline_id, pipeline, status, stage, stage_id, kind, rank, entered_at,
    left_at, visit, next_stage, next_stage_id, next_kind, next_rank, days (closed visits: until
    the next stage; the current visit of an open deal: until ``now``; a closed deal's won/lost
    visit: null), current (the deal's last visit).
    """
    visits = visit_codes(history, now)
    stages, pipelines = history.stages, _pipelines(history)
    index, pipeline_index = StageIndex.of(stages), StageIndex(np.sort(pipelines["pipeline_id"].to_numpy()))
    stage_names = index.names(stages, "id", "name")
    pipeline_names = pipeline_index.names(pipelines, "pipeline_id", "pipeline")
    kind_names = pl.Series(KINDS)
    # Names gathered by position from a few values: four times faster than a replace per row.
    return visits.with_columns(
        pipeline_names.gather(_nullable(pipeline_index.positions(visits["pipeline_id"]))).alias("pipeline"),
        *[kind_names.gather(_nullable(visits[c].fill_null(-1).to_numpy())).alias(c) for c in ("status", "kind", "next_kind")],
        stage_names.gather(_nullable(index.positions(visits["stage_id"]))).alias("stage"),
        stage_names.gather(_nullable(index.positions(visits["next_stage_id"]))).alias("next_stage"),
    ).select(
        "deal_id", "pipeline_id", "pipeline", "status", "stage", "stage_id", "kind", "rank", "entered_at", "left_at",
        "visit", "next_stage", "next_stage_id", "next_kind", "next_rank", "days", "current",
    )


def deal_stage_days(visits: pl.DataFrame) -> pl.DataFrame:
    """Per deal and open stage: visits and days in the stage (the sum of its visits)."""
    open_visits = visits.filter(pl.col("kind") == "open")
    return _per_deal_stage(open_visits, _revisiting(open_visits), ["deal_id", "stage_id", "pipeline", "status", "stage", "rank"]).drop("stage_id")


def _revisiting(visits: pl.DataFrame) -> pl.Series | None:
    """Per row: whether its deal has two rows of one stage in ``visits``; None unless rows are grouped by deal.

    Each deal's stages are a bit mask; it revisits one if it has fewer distinct stages than rows."""
    runs = DealRuns.of(visits["deal_id"])
    if len(runs.deal_ids) != visits["deal_id"].n_unique():
        return None
    index = StageIndex(np.unique(visits["stage_id"].drop_nulls().to_numpy()))
    where = index.positions(visits["stage_id"]) + 1  # 0: no stage, a value of its own
    distinct = np.zeros(len(runs.deal_ids), dtype=np.int64)
    for _, bits in stage_bits(len(index.ids) + 1):
        distinct += np.bitwise_count(runs.reduce(bits[where], np.bitwise_or)).astype(np.int64)
    return pl.Series(runs.per_row(distinct < runs.lengths))


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


OPEN, WON, LOST = range(len(KINDS))


def _move_kind() -> pl.Expr:
    """forward / skip / regression / close / reopen, from the coded kinds and ranks of a visit and the next."""
    return (
        pl.when(pl.col("kind").is_in([WON, LOST]) & (pl.col("next_kind") == OPEN)).then(pl.lit("reopen"))
        .when(pl.col("next_kind") == LOST).then(pl.lit("close"))
        .when(pl.col("next_rank") < pl.col("rank")).then(pl.lit("regression"))
        .when(pl.col("next_rank") > pl.col("rank") + 1).then(pl.lit("skip"))
        .when(pl.col("next_kind") == WON).then(pl.lit("close"))
        .otherwise(pl.lit("forward"))
    )


def _named(frame: pl.DataFrame, history: History, **columns: str) -> pl.DataFrame:
    """Add stage names for id columns (``stage="stage_id"``) and the pipeline name for ``pipeline_id``."""
    names = history.stages.select("id", "name")
    for name, id_col in columns.items():
        frame = frame.join(names.rename({"id": id_col, "name": name}), on=id_col, how="left")
    return frame.join(_pipelines(history), on="pipeline_id", how="left")


def _pipelines(history: History) -> pl.DataFrame:
    return history.stages.select("pipeline_id", "pipeline").unique("pipeline_id")


def _status_names(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).replace_strict(range(len(KINDS)), list(KINDS), return_dtype=pl.String) for c in columns)


def _looping(visits: pl.DataFrame) -> pl.Series:
    """Per visit: whether its deal may visit a stage twice (a superset of the deals that do).

    A deal whose moves all climb the ranks, bar a last move into a lost stage, visits each stage
    once; only the others (regressions, reopens, moves out of won or lost) need grouping by
    (deal, stage) — a hash group-by over every visit costs about a second at 1M deals."""
    back = (pl.col("rank").is_null() | (pl.col("next_rank") <= pl.col("rank"))) & pl.col("next_stage_id").is_not_null()
    flag = visits.select(back.fill_null(False).cast(pl.UInt8))[:, 0].to_numpy()
    runs = DealRuns.of(visits["deal_id"])
    return pl.Series(runs.per_row(runs.reduce(flag, np.maximum).astype(bool)))


def transitions(visits: pl.DataFrame, history: History, looping: pl.Series | None = None) -> pl.DataFrame:
    """Directly-follows transitions with counts and durations (days from entering ``from`` to entering ``to``).

    ``visits`` as ``visit_codes`` returns them; grouped by integer ids (the move kind follows from
    the two stages), names join the result. ``deals`` counts each deal once per transition."""
    looping = _looping(visits) if looping is None else looping
    keys = ["pipeline_id", "stage_id", "next_stage_id"]
    # Lazy, so that only the columns used are copied by the filter (visits are millions of rows).
    moves = visits.lazy().with_columns(looping.alias("_loops")).filter(pl.col("next_stage_id").is_not_null()).select(
        *keys, "deal_id", "_loops", "kind", "next_kind", "rank", "next_rank", days_between(pl.col("entered_at"), pl.col("left_at")).alias("_d"),
    ).collect()
    grouped = agg_by_ints(
        moves, keys, pl.len().alias("count"), *quantiles("_d"), pl.col("_d").mean().alias("mean_days"),
        pl.col("kind", "next_kind", "rank", "next_rank").first(),
    )
    # A deal makes a move more than once only if it loops: count those repeats on its few rows.
    looped = moves.filter(pl.col("_loops"))
    repeats = agg_by_ints(looped, [*keys, "deal_id"], pl.len().alias("_n")).group_by(keys).agg((pl.col("_n") - 1).sum().alias("_again"))
    grouped = grouped.join(repeats, on=keys, how="left").with_columns(
        (pl.col("count") - pl.col("_again").fill_null(0)).cast(pl.UInt32).alias("deals")
    )
    return (
        _named(grouped.with_columns(_move_kind().alias("kind")), history, **{"from": "stage_id", "to": "next_stage_id"})
        .sort(["pipeline", "rank", "next_rank", "count"], descending=[False, False, False, True], nulls_last=True)
        .select("pipeline_id", "pipeline", "from", "to", "count", "deals", "median_days", "p75_days", "p90_days", "mean_days", "kind")
    )


def _per_deal_stage(visits: pl.DataFrame, looping: pl.Series | None,
                    columns: tuple[str, ...] | list[str] = ("deal_id", "stage_id", "pipeline_id", "status", "kind", "rank")) -> pl.DataFrame:
    """Per deal and stage, over all its visits: ``columns`` (the first two are the key), visits and days (summed).

    Only rows flagged in ``looping`` (deals that may visit a stage twice) are grouped; the others
    have one visit per stage, so they pass as they are (a hash group-by over every visit costs
    about a second at 1M deals). ``looping`` None: group every row."""
    columns = list(columns)
    key, rest = columns[:2], columns[2:]
    lazy = visits.lazy().with_columns((pl.lit(True) if looping is None else pl.lit(looping)).alias("_loops"))
    single = lazy.filter(~pl.col("_loops")).select(*columns, pl.lit(1, pl.UInt32).alias("visits"), "days")
    grouped = lazy.filter(pl.col("_loops")).group_by(key).agg(
        pl.col(rest).first(), pl.len().alias("visits"),
        # unknown when no visit's length is known (a closed deal last seen in an open stage), not 0 days
        pl.when(pl.col("days").count() > 0).then(pl.col("days").sum()).alias("days"),
    ).select(*columns, "visits", "days")
    return pl.concat([single, grouped]).collect()


def dwell_times(per_deal_stage: pl.DataFrame, history: History) -> pl.DataFrame:
    """Per open stage and deal status: days in the stage per deal (sum of visits), median/p75/p90."""
    grouped = (
        agg_by_ints(
            per_deal_stage.lazy().filter((pl.col("kind") == OPEN) & pl.col("days").is_not_null())
            .select("pipeline_id", "stage_id", "status", "rank", "days").collect(),
            ["pipeline_id", "stage_id", "status"],
            pl.len().alias("deals"), *quantiles("days"), pl.col("days").mean().alias("mean_days"), pl.col("rank").first(),
        )
    )
    return (
        _status_names(_named(grouped, history, stage="stage_id"), "status")
        .sort(["pipeline", "rank", "status"])
        .select("pipeline", "stage", "rank", "status", "deals", "median_days", "p75_days", "p90_days", "mean_days")
    )


def stage_flow(history: History, *, outcome: Outcome = "all", period: Any = None) -> FlowResult:
    """Transitions, dwell times, regressions, skipped stages, reopened deals and loops."""
    history = filter_deals(history, outcome, period)
    visits = visit_codes(history)
    looping = _looping(visits)
    trans = transitions(visits, history, looping)
    per_deal_stage = _per_deal_stage(visits, looping)
    # The irregular moves, a small part of all: reopens leave a closed stage, the others jump ranks.
    candidates = (pl.col("kind") != OPEN) | (pl.col("next_rank") < pl.col("rank")) | (pl.col("next_rank") > pl.col("rank") + 1)
    moves = (
        visits.lazy().filter(pl.col("next_stage_id").is_not_null() & candidates.fill_null(False))
        .select("deal_id", "pipeline_id", "stage_id", "next_stage_id", "kind", "next_kind", "rank", "next_rank", "left_at")
        .with_columns(_move_kind().alias("move")).filter(pl.col("move").is_in(["regression", "skip", "reopen"])).collect()
    )
    regressions = (
        trans.filter(pl.col("kind") == "regression")
        .sort(["count", "pipeline"], descending=[True, False], maintain_order=True)
        .select("pipeline", "from", "to", "count", "deals")
    )
    jumps = moves.filter(pl.col("move") == "skip").select("deal_id", "pipeline_id", "rank", "next_rank")
    ranked = history.stages.filter(pl.col("rank").is_not_null()).select(
        "pipeline_id", "pipeline", pl.col("name").alias("stage"), pl.col("rank").alias("_rank")
    )
    skips = (
        jumps.join(ranked, on="pipeline_id", how="inner")
        .filter((pl.col("_rank") > pl.col("rank")) & (pl.col("_rank") < pl.col("next_rank")))
        .group_by(["pipeline", "stage", "_rank"])
        .agg(pl.len().alias("times_skipped"), pl.col("deal_id").n_unique().alias("deals"))
        .sort(["pipeline", "_rank"])
        .drop("_rank")
    )
    reopened = (
        _named(moves.filter(pl.col("move") == "reopen"), history, closed_stage="stage_id", reopened_to="next_stage_id")
        .join(history.deals.select(pl.col("id").alias("deal_id"), "external_id"), on="deal_id", how="left")
        .select("deal_id", "external_id", "closed_stage", "reopened_to", pl.col("left_at").alias("at"))
        .sort("at")
    )
    looped = per_deal_stage.filter(pl.col("visits") > 1)
    loops = _named(
        looped.group_by(["pipeline_id", "stage_id"]).agg(pl.len().alias("deals"), (pl.col("visits") - 1).sum().alias("extra_visits"),
                                                         pl.col("rank").first()),
        history, stage="stage_id",
    ).sort(["pipeline", "rank"], nulls_last=True).select("pipeline", "stage", "deals", "extra_visits")
    summary = {
        "deals": history.deals.height,
        "deals_with_history": visits["deal_id"].n_unique(),
        "moves": int(trans["count"].sum() or 0),
        "regressions": int(regressions["count"].sum() or 0),
        "deals_regressed": moves.filter(pl.col("move") == "regression")["deal_id"].n_unique(),
        "skip_moves": jumps.height,
        "deals_reopened": reopened["deal_id"].n_unique(),
        "deals_with_loops": looped["deal_id"].n_unique(),
        "outcome": outcome,
        "period": getattr(period, "label", None),
    }
    return FlowResult(
        transitions=trans.drop("pipeline_id"), dwell=dwell_times(per_deal_stage, history),
        regressions=regressions, skips=skips, reopened=reopened, loops=loops, summary=summary,
    )
