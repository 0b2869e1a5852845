"""The weekly inspection list: open deals that are stalled, idle, slipped or regressed, and
the pipeline's changes between two dates.

- **stalled**: days in the current stage, counted from the start of the current visit, above
  the 75th percentile (``stall_quantile``) of won deals' days in that stage (per won deal, the
  sum of its visits to the stage);
- **idle**: no activity for ``idle_days`` days (a deal without any activity counts from when it
  was first seen);
- **slipped**: the expected close date was moved into a later period (``slip_period``: month or
  quarter), ``slips`` says how often;
- **regressed**: the deal has moved back to an earlier open stage at least once.

Each deal carries its probability — the stage's default probability, or a scorer's — and
``at_risk`` = value × probability, where value is the amount, else (no amount yet) the
product's list price; the list is sorted by money at risk. When no activity was ever
recorded, idle is unknown (``idle_days`` null) rather than true for every deal.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import polars as pl

from dealflow.analytics.flow import deal_stage_days, deal_value, stage_visits
from dealflow.analytics.metrics import days_between
from dealflow.history import UTC_TIME, History, to_utc

Scorer = Callable[[History], pl.DataFrame]  # returns deal_id, probability for open deals


@dataclass(frozen=True)
class InspectResult:
    """``deals``: one row per open deal with its flags; ``thresholds``: the stall limit per stage."""

    deals: pl.DataFrame
    thresholds: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> pl.DataFrame:
        return self.deals.filter(pl.col("flags") != "")

    def to_dict(self, *, all_open: bool = False) -> dict[str, Any]:
        from dealflow.jsonable import to_jsonable

        return to_jsonable({
            "summary": self.summary,
            "thresholds": self.thresholds,
            "deals": self.deals if all_open else self.flagged,
        })


def stall_thresholds(visits: pl.DataFrame, quantile: float = 0.75) -> pl.DataFrame:
    """Per pipeline and open stage: the ``quantile`` of won deals' days in it (sum of visits)."""
    won = deal_stage_days(visits.filter(pl.col("status") == "won")).filter(pl.col("days").is_not_null())
    return (
        won.group_by(["pipeline", "stage"])
        .agg(pl.len().alias("won_deals"), pl.col("days").quantile(quantile, interpolation="linear").alias("stall_days"))
        .sort(["pipeline", "stage"])
    )


def _period_key(col: pl.Expr, period: str, fiscal_start_month: int = 1) -> pl.Expr:
    months = col.dt.year().cast(pl.Int64) * 12 + col.dt.month().cast(pl.Int64) - 1
    if period == "month":
        return months
    return (months - (fiscal_start_month - 1)) // 3  # fiscal quarters


def slips(
    history: History, period: Literal["month", "quarter"] = "quarter", fiscal_start_month: int = 1, *, deal_ids: pl.Expr | None = None
) -> pl.DataFrame:
    """Per deal (of ``deal_ids``, else all): how often its expected close date moved into a later period (fiscal quarters by default)."""
    fc = history.field_changes.filter(pl.col("field") == "expected_close_date")
    if deal_ids is not None:
        fc = fc.filter(pl.col("deal_id").is_in(deal_ids))
    fc = fc.with_columns(
        pl.col("old_value").str.to_date(strict=False).alias("_old"),
        pl.col("new_value").str.to_date(strict=False).alias("_new"),
    )
    fc = fc.with_columns(
        (_period_key(pl.col("_new"), period, fiscal_start_month) > _period_key(pl.col("_old"), period, fiscal_start_month)).fill_null(False).alias("_slip"),
        (pl.col("_new") > pl.col("_old")).fill_null(False).alias("_pushed"),
    )
    return fc.group_by("deal_id").agg(
        pl.col("_slip").sum().cast(pl.Int64).alias("slips"),
        pl.col("_pushed").sum().cast(pl.Int64).alias("pushes"),
        pl.col("_old").first().alias("first_close_date"),
    )


def stage_probability(history: History) -> pl.DataFrame:
    """deal_id, probability: the default probability of each deal's current stage."""
    probs = history.stages.select("pipeline_id", pl.col("name").alias("stage"), "probability")
    return history.deals.select(pl.col("id").alias("deal_id"), "pipeline_id", "stage").join(
        probs, on=["pipeline_id", "stage"], how="left"
    ).select("deal_id", "probability")


def inspect_pipeline(
    history: History,
    *,
    as_of: datetime | None = None,
    owner: str | None = None,
    stall_quantile: float = 0.75,
    idle_days: float = 14,
    slip_period: Literal["month", "quarter"] = "quarter",
    fiscal_start_month: int = 1,
    scorer: Scorer | None = None,
) -> InspectResult:
    """Open deals with their stalled / idle / slipped / regressed flags, sorted by money at risk.

    Stall limits come from won deals in the history known at ``as_of`` (no look-ahead).
    """
    if as_of is not None:
        history = history.as_of(as_of)
    now = history.now
    visits = stage_visits(history, now)
    thresholds = stall_thresholds(visits, stall_quantile)

    deals = history.open_deals()
    if owner is not None:
        deals = deals.filter(pl.col("owner") == owner)
    # Only the listed deals' visits and activities are joined below: leave the rest out first.
    listed = pl.lit(deals["id"].implode())
    listed_visits = visits.filter(pl.col("deal_id").is_in(listed))
    current = listed_visits.filter(pl.col("current")).select(
        "deal_id", pl.col("entered_at").alias("stage_entered_at"), pl.col("days").alias("days_in_stage"), "visit"
    )
    per_stage = deal_stage_days(listed_visits).select("deal_id", "stage", pl.col("days").alias("days_in_stage_total"))
    regressed = (
        listed_visits.filter(pl.col("next_rank") < pl.col("rank"))
        .filter((pl.col("kind") == "open") & (pl.col("next_kind") == "open"))
        .group_by("deal_id").agg(pl.len().alias("regressions"))
    )
    acts = history.activities.filter(pl.col("deal_id").is_in(listed)).group_by("deal_id").agg(
        pl.col("at").max().alias("last_activity_at")
    )
    probability = scorer(history) if scorer is not None else stage_probability(history)
    now_lit = pl.lit(now, dtype=UTC_TIME)
    has_activities = history.activities.filter(pl.col("deal_id").is_not_null()).height > 0  # else idle is unknown

    out = (
        deals.select("id", "external_id", "name", "owner", "pipeline", "stage", "amount", deal_value(), "expected_close_date", "first_seen_at")
        .rename({"id": "deal_id"})
        .join(current, on="deal_id", how="left")
        .join(per_stage, on=["deal_id", "stage"], how="left")
        .join(thresholds.select("pipeline", "stage", "stall_days"), on=["pipeline", "stage"], how="left")
        .join(acts, on="deal_id", how="left")
        .join(slips(history, slip_period, fiscal_start_month, deal_ids=listed), on="deal_id", how="left")
        .join(regressed, on="deal_id", how="left")
        .join(probability.select("deal_id", pl.col("probability").cast(pl.Float64)), on="deal_id", how="left")
        .with_columns(
            pl.when(pl.lit(has_activities)).then(days_between(pl.coalesce("last_activity_at", "first_seen_at"), now_lit)).alias("idle_days"),
            pl.col("slips").fill_null(0),
            pl.col("pushes").fill_null(0),
            pl.col("regressions").fill_null(0),
        )
        .with_columns(
            (pl.col("days_in_stage") > pl.col("stall_days")).fill_null(False).alias("stalled"),
            (pl.col("idle_days") > idle_days).fill_null(False).alias("idle"),
            (pl.col("slips") > 0).alias("slipped"),
            (pl.col("regressions") > 0).alias("regressed"),
            (pl.col("value").fill_null(0) * pl.col("probability").fill_null(0)).alias("at_risk"),
        )
    )
    flag_names = ["stalled", "idle", "slipped", "regressed"]
    out = out.with_columns(
        pl.concat_str([pl.when(pl.col(f)).then(pl.lit(f)) for f in flag_names], separator=",", ignore_nulls=True).alias("flags"),
        pl.sum_horizontal([pl.col(f).cast(pl.Int32) for f in flag_names]).alias("n_flags"),
    ).sort(["at_risk", "n_flags", "deal_id"], descending=[True, True, False], nulls_last=True)
    out = out.select(
        "deal_id", "external_id", "name", "owner", "stage", "amount", "value", "probability", "at_risk", "flags",
        "days_in_stage", "stall_days", "days_in_stage_total", "idle_days", "last_activity_at", "slips",
        "expected_close_date", "regressions", "stalled", "idle", "slipped", "regressed", "stage_entered_at",
    )
    summary = {
        "as_of": now,
        "open_deals": out.height,
        "flagged": int((out["flags"] != "").sum()),
        **{f: int(out[f].sum()) for f in flag_names},
        "at_risk_flagged": float(out.filter(pl.col("flags") != "")["at_risk"].sum()),
        "stall_quantile": stall_quantile,
        "idle_after_days": idle_days if has_activities else None,
    }
    return InspectResult(deals=out, thresholds=thresholds, summary=summary)


# -- changes between two dates ---------------------------------------------------------
CHANGES = ["new", "advanced", "moved back", "pushed out", "pulled in", "amount up", "amount down", "won", "lost"]


@dataclass(frozen=True)
class ChangesResult:
    """``changes``: one row per deal and kind of change; ``summary``: deals and amount per change."""

    since: datetime
    until: datetime
    changes: pl.DataFrame
    summary: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        from dealflow.jsonable import to_jsonable

        return to_jsonable({"since": self.since, "until": self.until, "summary": self.summary, "changes": self.changes})


def pipeline_changes(history: History, since: datetime, until: datetime | None = None, *, owner: str | None = None) -> ChangesResult:
    """What changed in the pipeline between ``since`` and ``until`` (default: the history's now).

    Both ends are rebuilt with ``History.as_of``. A deal can show several changes (advanced
    and amount up); ``before``/``after`` hold the stage, date or amount that changed.
    """
    end = to_utc(until) if until is not None else history.now
    start = to_utc(since)
    cols = ["id", "external_id", "owner", "stage", "status", "amount", "expected_close_date", "stage_id"]
    before = history.as_of(start).deals.select(cols)
    after_h = history.as_of(end)
    after = after_h.deals.select(cols)
    ranks = history.stages.select(pl.col("id").alias("stage_id"), "rank")
    before = before.join(ranks, on="stage_id", how="left").drop("stage_id")
    after = after.join(ranks, on="stage_id", how="left").drop("stage_id")
    if owner is not None:
        after = after.filter(pl.col("owner") == owner)
    j = after.join(before, on="id", how="left", suffix="_0")
    was_open = pl.col("status_0").is_null() | (pl.col("status_0") == "open")
    both_open = (pl.col("status_0") == "open") & (pl.col("status") == "open")
    s = pl.col("stage")
    s0 = pl.col("stage_0")
    a, a0 = pl.col("amount"), pl.col("amount_0")
    d, d0 = pl.col("expected_close_date").cast(pl.String), pl.col("expected_close_date_0").cast(pl.String)
    rules: list[tuple[str, pl.Expr, pl.Expr, pl.Expr]] = [
        ("new", pl.col("status_0").is_null(), pl.lit(None, pl.String), s),
        ("advanced", both_open & (pl.col("rank") > pl.col("rank_0")), s0, s),
        ("moved back", both_open & (pl.col("rank") < pl.col("rank_0")), s0, s),
        ("pushed out", (pl.col("status") == "open") & (pl.col("expected_close_date") > pl.col("expected_close_date_0")), d0, d),
        ("pulled in", (pl.col("status") == "open") & (pl.col("expected_close_date") < pl.col("expected_close_date_0")), d0, d),
        ("amount up", a > a0, a0.cast(pl.String), a.cast(pl.String)),
        ("amount down", a < a0, a0.cast(pl.String), a.cast(pl.String)),
        ("won", was_open & (pl.col("status") == "won"), s0, s),
        ("lost", was_open & (pl.col("status") == "lost"), s0, s),
    ]
    parts = [
        j.filter(cond.fill_null(False)).select(
            pl.col("id").alias("deal_id"), "external_id", "owner", pl.lit(name).alias("change"),
            b.cast(pl.String).alias("before"), aft.cast(pl.String).alias("after"), pl.col("amount"),
            pl.when(pl.lit(name) == "new").then(a)
            .when(pl.lit(name).is_in(["amount up", "amount down"])).then(a - a0)
            .otherwise(None).cast(pl.Float64).alias("amount_change"),
        )
        for name, cond, b, aft in rules
    ]
    changes = pl.concat(parts)
    order = pl.DataFrame({"change": CHANGES, "_o": list(range(len(CHANGES)))})
    summary = (
        order.join(
            changes.group_by("change").agg(pl.len().alias("deals"), pl.col("amount").sum().alias("amount"),
                                           pl.col("amount_change").sum().alias("amount_change")),
            on="change", how="left",
        )
        .with_columns(pl.col("deals").fill_null(0), pl.col("amount").fill_null(0.0), pl.col("amount_change").fill_null(0.0))
        .sort("_o").drop("_o")
    )
    changes = changes.join(order, on="change").sort(["_o", "amount"], descending=[False, True], nulls_last=True).drop("_o")
    return ChangesResult(since=start, until=end, changes=changes, summary=summary)
