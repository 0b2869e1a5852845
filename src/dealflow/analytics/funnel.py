"""Cohort funnels from lead to won, and cohort-based stage conversion of deals.

Conventions (PRODUCT.md): a lead counts once per step; a lead "reached" a step when it got
there or to any later step (so skipped steps never make a later rate exceed an earlier
count); lost and disqualified leads stay in the denominator; no rate exceeds 100%.

Steps: ``lead`` → ``contacted`` → ``qualified`` → ``converted`` (became a deal, or the
source's own "converted" flag) → each open deal stage after the first → ``won``. Steps
the data says nothing about (no contact dates, no deals) are left out.

    >>> funnel = lead_funnel(history, by="source", cohort="month")
    >>> funnel.overall["conversion"], funnel.groups, funnel.steps, funnel.cohorts
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import polars as pl

from dealflow.history import UTC_TIME, History, seq_in_deal, sorted_by_deal

Cohort = Literal["month", "quarter"]

DEFAULT_MATURITY_DAYS = 90.0
_CONTACTED = ["contacted", "qualified", "converted", "disqualified", "unqualified"]
_QUALIFIED = ["qualified", "converted"]


def _days(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_seconds() / 86400.0


def _now(history: History) -> datetime:
    if history.as_of_instant is not None:
        return history.as_of_instant
    candidates = [history.now]
    for col in ("created_at", "contacted_at", "qualified_at", "converted_at"):
        value = history.leads[col].max() if history.leads.height else None
        if value is not None:
            candidates.append(value)  # type: ignore[arg-type]
    return max(candidates)


# -- deal side -----------------------------------------------------------------------------
def progression(history: History) -> pl.DataFrame:
    """The main pipeline's progression: rank, stage, kind (open stages then won), ordered."""
    stages = history.stages.filter(pl.col("rank").is_not_null())
    if stages.is_empty():
        return pl.DataFrame(schema={"rank": pl.Int64, "stage": pl.String, "kind": pl.String})
    counts = history.deals.group_by("pipeline_id").len()
    main = (
        stages.select("pipeline_id").unique().join(counts, on="pipeline_id", how="left")
        .sort([pl.col("len").fill_null(0), "pipeline_id"], descending=[True, False])["pipeline_id"][0]
    )
    return (
        stages.filter(pl.col("pipeline_id") == main)
        .select("rank", pl.col("name").alias("stage"), "kind").sort("rank")
    )


def deal_reach(history: History) -> pl.DataFrame:
    """Per deal: the highest rank it ever reached and when it first entered each rank.

    Columns: deal_id, max_rank, won (bool), reached_at_<rank> for every rank of the progression
    (null when the deal skipped that stage).
    A won deal has reached every rank; a deal without stage history counts its current stage.
    """
    prog = progression(history)
    top = int(prog["rank"].max()) if prog.height else 0  # type: ignore[arg-type]
    changes = history.stage_changes.select("deal_id", pl.col("to_rank").alias("rank"), "at")
    current = history.deals.join(
        history.stages.select(pl.col("id").alias("stage_id"), pl.col("rank").alias("rank")), on="stage_id", how="left"
    ).select(
        pl.col("id").alias("deal_id"),
        pl.when(pl.col("status") == "won").then(pl.lit(top)).otherwise(pl.col("rank")).alias("rank"),
        pl.coalesce("closed_at", "first_seen_at").alias("at"),
        (pl.col("status") == "won").alias("won"),
    )
    events = pl.concat([changes, current.select("deal_id", "rank", "at")], how="vertical_relaxed").filter(
        pl.col("rank").is_not_null()
    )
    aggs: list[pl.Expr] = [pl.col("rank").max().alias("max_rank")]
    for r in prog["rank"].to_list():
        aggs.append(pl.col("at").filter(pl.col("rank") == r).min().alias(f"reached_at_{r}"))
    reach = events.group_by("deal_id").agg(aggs) if events.height else pl.DataFrame(
        schema={"deal_id": pl.Int64, "max_rank": pl.Int64, **{f"reached_at_{r}": UTC_TIME for r in prog["rank"].to_list()}}
    )
    return current.select("deal_id", "won").join(reach, on="deal_id", how="left").with_columns(
        pl.when(pl.col("won")).then(pl.lit(top)).otherwise(pl.col("max_rank")).alias("max_rank")
    )


def stage_conversion(history: History, by: str | None = None) -> pl.DataFrame:
    """Cohort-based stage conversion (PRODUCT.md).

    Of the deals that ever entered stage S, the share that later reached any stage after S on
    the progression, each deal counted once per stage however often it re-entered S. Lost and
    open deals stay in the denominator. ``by`` is a column of ``history.deals`` (e.g. "product").

    Columns: [by], stage, rank, entered, advanced, conversion, lost_here (deals lost straight
    from S), won_after (entered S and were won).
    """
    prog = progression(history).filter(pl.col("kind") == "open")
    sc = sorted_by_deal(history.stage_changes).with_columns(seq_in_deal(0).alias("_seq"))
    entries = (
        sc.filter(pl.col("to_stage").is_in(prog["stage"].implode()))
        .group_by("deal_id", "to_stage").agg(pl.col("_seq").min().alias("_first"))
        .rename({"to_stage": "stage"}).join(prog.select("stage", "rank"), on="stage")
    )
    last_up = sc.filter(pl.col("to_rank").is_not_null()).select("deal_id", pl.col("to_rank").alias("_r"), "_seq")
    advanced = (
        entries.join(last_up, on="deal_id")
        .filter((pl.col("_r") > pl.col("rank")) & (pl.col("_seq") > pl.col("_first")))
        .select("deal_id", "stage").unique().with_columns(pl.lit(True).alias("advanced"))
    )
    lost_from = sc.filter(pl.col("to_kind") == "lost").select(
        "deal_id", pl.col("from_stage").alias("stage")
    ).unique().with_columns(pl.lit(True).alias("lost_here"))
    deals = history.deals.select(pl.col("id").alias("deal_id"), (pl.col("status") == "won").alias("won"),
                                 *([pl.col(by)] if by else []))
    per = (
        entries.select("deal_id", "stage", "rank")
        .join(advanced, on=["deal_id", "stage"], how="left")
        .join(lost_from, on=["deal_id", "stage"], how="left")
        .join(deals, on="deal_id", how="inner")
        .with_columns(pl.col("advanced").fill_null(False), pl.col("lost_here").fill_null(False))
    )
    group = ([by] if by else []) + ["stage", "rank"]
    out = per.group_by(group).agg(
        pl.len().alias("entered"),
        pl.col("advanced").sum().alias("advanced"),
        pl.col("lost_here").sum().alias("lost_here"),
        pl.col("won").sum().alias("won_after"),
    )
    # Every (group, stage) appears, with zeros where no deal entered.
    frame = prog.select("stage", "rank")
    if by:
        frame = deals.select(by).unique().join(frame, how="cross")
    out = frame.join(out, on=group, how="left").with_columns(
        pl.col("entered", "advanced", "lost_here", "won_after").fill_null(0).cast(pl.Int64)
    )
    return out.with_columns(
        pl.when(pl.col("entered") > 0).then(pl.col("advanced") / pl.col("entered")).otherwise(None).alias("conversion")
    ).select(*group, "entered", "advanced", "conversion", "lost_here", "won_after").sort(([by] if by else []) + ["rank"])


# -- lead side -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Step:
    name: str
    level: int
    at: pl.Expr


def known_leads(history: History) -> pl.DataFrame:
    """``history.leads`` as known at the history's as-of instant, if it has one.

    ``History.as_of`` hides conversions dated later; this also hides contact and qualification
    times after the instant, links to deals that did not exist yet, and the status (only its
    current value is stored, so it may come from the future).
    """
    leads = history.leads
    if history.as_of_instant is None:
        return leads
    later = pl.lit(history.as_of_instant, dtype=UTC_TIME)
    unborn = pl.col("converted_deal_id").is_not_null() & ~pl.col("converted_deal_id").is_in(history.deals["id"].implode())
    return leads.with_columns(
        [pl.when(pl.col(c) > later).then(None).otherwise(pl.col(c)).alias(c) for c in ("contacted_at", "qualified_at")]
        + [
            pl.when(unborn).then(False).otherwise(pl.col("converted")).alias("converted"),
            pl.when(unborn).then(None).otherwise(pl.col("converted_deal_id")).alias("converted_deal_id"),
            pl.lit(None, dtype=pl.String).alias("status"),
        ]
    )


def deals_as_leads(history: History) -> pl.DataFrame:
    """With no leads recorded, each deal enters the funnel as its own lead, on the day it
    was first seen, so the funnel runs through the deal stages (grouped by the deal's source
    or owner)."""
    d = history.deals
    return pl.DataFrame({
        "id": d["id"], "external_id": d["external_id"], "name": d["name"], "source": d["source"],
        "campaign": pl.Series([None] * d.height, dtype=pl.String), "segment": pl.Series([None] * d.height, dtype=pl.String),
        "status": pl.Series([None] * d.height, dtype=pl.String), "owner_id": d["owner_id"], "account_id": d["account_id"],
        "created_at": d["first_seen_at"], "contacted_at": pl.Series([None] * d.height, dtype=UTC_TIME),
        "qualified_at": pl.Series([None] * d.height, dtype=UTC_TIME), "converted": pl.Series([True] * d.height),
        "converted_at": d["first_seen_at"], "converted_deal_id": d["id"], "lost_reason": pl.Series([None] * d.height, dtype=pl.String),
        "attributes": pl.Series([None] * d.height, dtype=pl.String), "owner": d["owner"],
    })


def _lead_steps(history: History) -> tuple[pl.DataFrame, list[_Step]]:
    """Per lead: the highest step reached (``level``) and when each step was reached."""
    leads = known_leads(history)
    deals_by_lead = history.deals.filter(pl.col("lead_id").is_not_null()).group_by("lead_id").agg(
        pl.col("id").min().alias("_deal_from_deal")
    )
    leads = leads.join(deals_by_lead, left_on="id", right_on="lead_id", how="left").with_columns(
        pl.coalesce("converted_deal_id", "_deal_from_deal").alias("deal_id")
    )
    prog = progression(history)
    has_deals = leads["deal_id"].is_not_null().any() and prog.height > 0
    status = pl.col("status").str.to_lowercase()
    converted = pl.col("converted").fill_null(False) | pl.col("deal_id").is_not_null() | (status == "converted").fill_null(False)
    contacted = pl.col("contacted_at").is_not_null() | status.is_in(_CONTACTED).fill_null(False)
    qualified = pl.col("qualified_at").is_not_null() | status.is_in(_QUALIFIED).fill_null(False)
    steps: list[_Step] = [_Step("lead", 0, pl.col("created_at"))]
    level = pl.lit(0)
    if leads.select(contacted.any()).item():
        steps.append(_Step("contacted", len(steps), pl.col("contacted_at")))
        level = pl.when(contacted).then(pl.lit(steps[-1].level)).otherwise(level)
    if leads.select(qualified.any()).item():
        steps.append(_Step("qualified", len(steps), pl.col("qualified_at")))
        level = pl.when(qualified).then(pl.lit(steps[-1].level)).otherwise(level)
    steps.append(_Step("converted", len(steps), pl.coalesce("converted_at", "_deal_seen")))
    level = pl.when(converted).then(pl.lit(steps[-1].level)).otherwise(level)
    leads = leads.join(
        history.deals.select(pl.col("id").alias("deal_id"), pl.col("first_seen_at").alias("_deal_seen"),
                             pl.col("lost_reason").alias("_deal_lost_reason"), pl.col("status").alias("_deal_status")),
        on="deal_id", how="left",
    )
    if has_deals:
        reach = deal_reach(history)
        leads = leads.join(reach, on="deal_id", how="left")
        # The first stage of the progression is where a deal starts: the "converted" step.
        for r, stage in prog.select("rank", "stage").iter_rows():
            if r == 0:
                continue
            steps.append(_Step(stage, len(steps), pl.col(f"reached_at_{r}")))
            level = pl.when(pl.col("max_rank").fill_null(-1) >= r).then(pl.lit(steps[-1].level)).otherwise(level)
        if steps[-1].name != "won" and prog["kind"][-1] == "won":
            steps[-1] = _Step("won", steps[-1].level, steps[-1].at)
    leads = leads.with_columns(level.alias("level"))
    return leads, steps


def _why() -> pl.Expr:
    """Why a lead stopped where it did: its lost reason, else its deal's, else open/none."""
    return pl.coalesce(
        pl.col("lost_reason"),
        pl.col("_deal_lost_reason"),
        pl.when(pl.col("_deal_status") == "open").then(pl.lit("(deal still open)")),
        pl.when(pl.col("status").str.to_lowercase().is_in(["disqualified", "unqualified", "lost"])).then(pl.lit("(disqualified, no reason)")),
        pl.lit("(no reason recorded)"),
    )


@dataclass
class LeadFunnel:
    """Result of :func:`lead_funnel`. Frames are attributes; ``to_dict()`` gives JSON."""

    by: str | None
    cohort: str | None
    overall: dict[str, Any]
    groups: pl.DataFrame
    steps: pl.DataFrame
    cohorts: pl.DataFrame
    leaks: pl.DataFrame
    maturity_days: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by, "cohort": self.cohort, "overall": self.overall, "groups": self.groups,
            "steps": self.steps, "cohorts": self.cohorts, "leaks": self.leaks,
            "maturity_days": self.maturity_days, "notes": self.notes,
        }


def lead_funnel(
    history: History,
    *,
    by: str | None = None,
    cohort: Cohort | None = None,
    maturity_days: float | None = None,
) -> LeadFunnel:
    """How many leads reached each step, step and cumulative conversion, time between steps.

    ``by`` groups by a lead column (source, segment, owner, campaign). ``cohort`` groups leads
    by the month or quarter of ``created_at``; a cohort is *immature* when less than
    ``maturity_days`` (default: the 75th percentile of lead-to-converted time, else 90 days)
    have passed since its end, so its low conversion is not yet a verdict.
    """
    if by is not None and by not in history.leads.columns:
        from dealflow.errors import DomainError

        raise DomainError(f"leads have no column {by!r}; group by one of: source, segment, owner, campaign")
    fallback_notes = []
    if history.leads.is_empty() and not history.deals.is_empty():
        history = replace(history, leads=deals_as_leads(history))
        fallback_notes.append("no leads recorded: the funnel starts at the deals, each counted from the day it was first seen")
    leads, steps = _lead_steps(history)
    converted_step = next(s for s in steps if s.name == "converted")
    final = steps[-1]
    leads = leads.with_columns([s.at.alias(f"_at_{s.level}") for s in steps])

    lag = leads.select(_days(pl.col(f"_at_{converted_step.level}"), pl.col("_at_0")).quantile(0.75)).item()
    if maturity_days is None:
        maturity_days = float(lag) if lag is not None and lag > 0 else DEFAULT_MATURITY_DAYS
    now = _now(history)

    group_col = pl.col(by).fill_null("(blank)").cast(pl.String).alias("group") if by else pl.lit("all").alias("group")
    leads = leads.with_columns(group_col)
    if cohort is not None:
        every = "1mo" if cohort == "month" else "1q"
        start = pl.col("created_at").dt.truncate(every)
        label = start.dt.strftime("%Y-%m") if cohort == "month" else (
            start.dt.year().cast(pl.String) + "Q" + start.dt.quarter().cast(pl.String)
        )
        leads = leads.with_columns(
            pl.when(pl.col("created_at").is_null()).then(pl.lit("(no date)")).otherwise(label).alias("cohort"),
            start.dt.offset_by(every).alias("_cohort_end"),
        )
    else:
        leads = leads.with_columns(pl.lit("all").alias("cohort"), pl.lit(None, dtype=UTC_TIME).alias("_cohort_end"))

    def summary(keys: list[str]) -> pl.DataFrame:
        return leads.group_by(keys).agg(
            pl.len().alias("leads"),
            (pl.col("level") >= converted_step.level).sum().alias("converted"),
            (pl.col("level") >= final.level).sum().alias("won") if final.name == "won" else pl.lit(None, dtype=pl.UInt32).alias("won"),
            pl.col("_cohort_end").max().alias("_cohort_end"),
        ).with_columns(
            (pl.col("converted") / pl.col("leads")).alias("conversion"),
            (pl.col("won") / pl.col("leads")).alias("win_conversion"),
        )

    overall_row = summary([]).row(0, named=True) if leads.height else {"leads": 0, "converted": 0, "won": None}
    overall = {
        "leads": int(overall_row["leads"]),
        "converted": int(overall_row["converted"]),
        "conversion": (overall_row["converted"] / overall_row["leads"]) if overall_row["leads"] else None,
        "won": None if overall_row["won"] is None else int(overall_row["won"]),
    }
    overall["win_conversion"] = (overall["won"] / overall["leads"]) if overall["won"] is not None and overall["leads"] else None
    groups = summary(["group"]).drop("_cohort_end").sort("leads", descending=True).select(
        "group", "leads", "converted", "conversion", "won", "win_conversion"
    )

    # One row per (group, cohort, step): how many reached it, step and cumulative conversion, time taken.
    keys = ["group", "cohort"]
    parts = []
    for prev, step in zip([None, *steps[:-1]], steps):
        reached = (pl.col("level") >= step.level)
        # Time since the latest earlier step whose time is known.
        earlier = [pl.col(f"_at_{s.level}") for s in reversed(steps) if s.level < step.level]
        days = _days(pl.col(f"_at_{step.level}"), pl.coalesce(earlier)) if earlier else pl.lit(None, dtype=pl.Float64)
        days = pl.when(reached).then(days).otherwise(None)
        parts.append(
            leads.group_by(keys).agg(
                pl.lit(step.name).alias("step"),
                pl.lit(step.level).alias("order"),
                reached.sum().cast(pl.Int64).alias("reached"),
                (pl.col("level") >= (prev.level if prev else 0)).sum().cast(pl.Int64).alias("_prev"),
                pl.len().cast(pl.Int64).alias("_leads"),
                days.median().alias("median_days"),
                days.quantile(0.75).alias("p75_days"),
            )
        )
    step_frame = pl.concat(parts).with_columns(
        pl.when(pl.col("_prev") > 0).then(pl.col("reached") / pl.col("_prev")).alias("step_conversion"),
        pl.when(pl.col("_leads") > 0).then(pl.col("reached") / pl.col("_leads")).alias("cumulative_conversion"),
        (pl.col("_prev") - pl.col("reached")).alias("dropped_before"),
    ).sort(["group", "cohort", "order"]).drop("_prev", "_leads")

    # Where leads leak out and why: those whose last step was S, with their top reasons.
    names = pl.DataFrame({"level": [s.level for s in steps], "stopped_at": [s.name for s in steps]})
    stopped = leads.filter(pl.col("level") < final.level).with_columns(_why().alias("reason"))
    leaks = (
        stopped.group_by("group", "level", "reason").len()
        .sort(["group", "level", "len"], descending=[False, False, True])
        .join(names, on="level").rename({"len": "leads"})
        .select("group", "stopped_at", "reason", "leads")
    )

    cohort_frame = summary(["group", "cohort"]).with_columns(
        (
            pl.col("_cohort_end").is_not_null()
            & (pl.col("_cohort_end") + pl.duration(days=maturity_days) > pl.lit(now, dtype=UTC_TIME))
        ).alias("immature")
    ).drop("_cohort_end").sort(["group", "cohort"])
    notes = fallback_notes
    if "contacted" not in [s.name for s in steps] and not fallback_notes:
        notes.append("no contact or qualification data: the funnel goes straight from lead to converted")
    if cohort is not None and leads["created_at"].is_null().all():
        notes.append("leads have no created_at: cohorts cannot be formed")
    return LeadFunnel(
        by=by, cohort=cohort, overall=overall, groups=groups, steps=step_frame, cohorts=cohort_frame,
        leaks=leaks, maturity_days=float(maturity_days), notes=notes,
    )

