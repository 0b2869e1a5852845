"""Point-in-time snapshots: every open deal as it was known at a cut-off, and what happened next.

``snapshot(history, cutoff)`` is built only from ``history.as_of(cutoff)``, so nothing dated
after the cut-off can reach it. ``outcomes(history, snap)`` attaches the labels a backtest
needs (won or lost after the cut-off, and when) from the full history.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import polars as pl

from dealflow.analytics.metrics import DAY_US, days_between
from dealflow.history import UTC_TIME, History, end_per_deal, shift_in_deal, sorted_by_deal, to_utc


# Columns every snapshot has, whatever the data holds (activity counts per kind come on top,
# as ``act_<kind>`` columns for the kinds recorded by the cut-off).
BASE_COLUMNS = [
    "deal_id", "external_id", "cutoff", "pipeline", "stage", "stage_rank", "stage_probability",
    "days_in_stage", "age_days", "amount", "product", "owner", "team", "source", "account",
    "sector", "country", "employees", "account_revenue", "stage_changes", "regressions",
    "max_rank", "activities", "activities_7d", "activities_30d", "days_since_activity",
    "close_pushes", "days_to_expected_close", "expected_close_date", "true_probability",
]


def _days(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return days_between(earlier, later)


def kind_column(kind: str) -> str:
    """The snapshot column counting activities of ``kind`` (a safe, stable name)."""
    safe = "".join(c if c.isalnum() else "_" for c in kind.lower()).strip("_")
    return f"act_{safe}"


def amount_source(history: History) -> str:
    """"recorded", or "list_price" when the data only records an amount once a deal closes.

    Some exports (Maven CRM) hold the closing revenue as the amount, with no edit history:
    every open deal has no amount, every closed one has one (0 when lost). Replaying such
    data would read the outcome from the amount, so snapshots use the product's list price.
    A property of the data source, judged on the whole history as loaded.
    """
    d = history.deals
    open_ = d.filter(pl.col("status") == "open")
    closed = d.filter(pl.col("status") != "open")
    if open_.height and closed.height and open_["amount"].null_count() == open_.height and closed["amount"].null_count() < closed.height / 2:
        return "list_price"
    return "recorded"


def open_candidates(history: History, at: datetime) -> History:
    """``history`` without the deals that cannot be open at ``at``, for ``as_of(at)`` to find the
    same open deals, with the same features, in a few percent of the rows.

    Left out: deals whose last stage change up to ``at`` entered a won or lost stage (``as_of``
    reads their status then from that change), and deals with no date at all when ``as_of``
    would not count them (its "undated deals are known from the end of the data on" rule reads
    the whole history's end). Everything ``as_of`` computes per deal only reads that deal's rows.
    """
    lit = pl.lit(at, dtype=UTC_TIME)
    last = end_per_deal(history.stage_changes.filter(pl.col("at") <= lit), "last")
    closed = last.filter(pl.col("to_stage").is_not_null() & pl.col("to_kind").is_in(["won", "lost"]))["deal_id"]
    keep = ~pl.col("id").is_in(closed.implode())
    if not (history.as_of_instant is None and at >= history.now):
        keep = keep & pl.col("first_seen_at").is_not_null()
    deals = history.deals.filter(keep)
    mine = pl.col("deal_id").is_in(deals["id"].implode())
    return replace(
        history, deals=deals, deal_products=history.deal_products.filter(mine), stage_changes=history.stage_changes.filter(mine),
        field_changes=history.field_changes.filter(mine),
        activities=history.activities.filter(mine & (pl.col("at") <= lit)),  # all as_of keeps of them
    )


def known_at(history: History, at: datetime) -> History:
    """``history.as_of(at)``, or ``history`` itself when it already is the history as known at
    ``at``: a backtest builds that once per cut-off and hands it to every model it fits there
    (each full ``as_of`` copies every table: at a million deals, gigabytes and seconds)."""
    return history if history.as_of_instant == at else history.as_of(at)


def first_activity_by_kind(history: History) -> pl.DataFrame:
    """kind, first (instant): when each kind of activity was first recorded on a deal."""
    return (
        history.activities.lazy().filter(pl.col("deal_id").is_not_null() & pl.col("kind").is_not_null())
        .group_by("kind").agg(pl.col("at").min().alias("first")).collect()
    )


def snapshot(history: History, cutoff: datetime, *, amounts: str | None = None, kinds: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every deal open at ``cutoff``, with the features known then. One row per deal.

    ``amounts``: "recorded" or "list_price" (default: ``amount_source(history)``);
    ``kinds``: ``first_activity_by_kind(history)``, when already computed for other cut-offs.
    """
    at = to_utc(cutoff)
    lit = pl.lit(at, dtype=UTC_TIME)
    amounts = amounts or amount_source(history)
    first_by_kind = kinds if kinds is not None else first_activity_by_kind(history)
    # The kinds recorded by the cut-off on any deal: a column each, even where the kept deals have none.
    kinds_then = sorted(first_by_kind.filter(pl.col("first") <= lit)["kind"].to_list())
    h = open_candidates(history, at).as_of(at)
    deals = h.deals.filter((pl.col("status") == "open") & pl.col("stage").is_not_null())
    if amounts == "list_price":
        deals = deals.with_columns(pl.col("list_price").alias("amount"))
    ids = deals.select(pl.col("id").alias("deal_id"))

    # Features only for the deals kept: every aggregate below is per deal.
    mine = pl.col("deal_id").is_in(ids["deal_id"].implode())
    h = replace(h, stage_changes=h.stage_changes.filter(mine), activities=h.activities.filter(mine),
                field_changes=h.field_changes.filter(mine))

    # Stage history so far: visits, changes, regressions (moving back along the progression).
    log = h.stage_log()
    current = log.group_by("deal_id").agg(pl.col("entered_at").last().alias("_entered"))
    sc = sorted_by_deal(h.stage_changes).with_columns(shift_in_deal(pl.col("to_rank"), 1).alias("_prev_rank"))
    moves = sc.group_by("deal_id").agg(
        (pl.len() - 1).clip(lower_bound=0).alias("stage_changes"),
        ((pl.col("to_rank") < pl.col("_prev_rank")) & (pl.col("to_kind") == "open")).sum().alias("regressions"),
        pl.col("to_rank").max().alias("max_rank"),
    )

    acts = h.activities.filter(pl.col("deal_id").is_not_null())
    act = acts.group_by("deal_id").agg(
        pl.len().alias("activities"),
        (pl.col("at") > lit - pl.duration(days=7)).sum().alias("activities_7d"),
        (pl.col("at") > lit - pl.duration(days=30)).sum().alias("activities_30d"),
        _days(lit, pl.col("at").max()).alias("days_since_activity"),
    )
    if kinds_then:
        per_kind = (
            acts.group_by(["deal_id", "kind"]).agg(pl.len().alias("n"))
            .with_columns(pl.col("kind").replace_strict({k: kind_column(k) for k in kinds_then}, return_dtype=pl.String))
            .pivot(on="kind", index="deal_id", values="n", aggregate_function="sum")
        )
        per_kind = per_kind.with_columns(
            [pl.lit(None, dtype=pl.UInt32).alias(c) for c in {kind_column(k) for k in kinds_then} - set(per_kind.columns)]
        )
        if "deal_id" not in per_kind.columns:  # no kept deal has any activity
            per_kind = per_kind.with_columns(pl.lit(None, dtype=pl.Int64).alias("deal_id"))
    else:
        per_kind = pl.DataFrame({"deal_id": []}, schema={"deal_id": pl.Int64})

    fc = h.field_changes.filter(pl.col("field") == "expected_close_date").with_columns(
        pl.col("old_value").str.to_date(strict=False).alias("_old"),
        pl.col("new_value").str.to_date(strict=False).alias("_new"),
    )
    pushes = fc.group_by("deal_id").agg((pl.col("_new") > pl.col("_old")).sum().alias("close_pushes"))

    stages = h.stages.select(
        "pipeline_id", pl.col("name").alias("stage"), pl.col("rank").alias("stage_rank"),
        pl.col("probability").alias("stage_probability"),
    )
    accounts = h.accounts.select(
        pl.col("id").alias("account_id"), "sector", "country", "employees", pl.col("revenue").alias("account_revenue")
    )
    out = (
        deals.join(stages, on=["pipeline_id", "stage"], how="left")
        .join(accounts, on="account_id", how="left")
        .rename({"id": "deal_id"})
        .join(current, on="deal_id", how="left")
        .join(moves, on="deal_id", how="left")
        .join(act, on="deal_id", how="left")
        .join(pushes, on="deal_id", how="left")
        .with_columns(
            lit.alias("cutoff"),
            _days(lit, pl.coalesce("_entered", "first_seen_at")).alias("days_in_stage"),
            _days(lit, pl.col("first_seen_at")).alias("age_days"),
            (pl.col("expected_close_date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC") - lit)
            .dt.total_microseconds().cast(pl.Float64).truediv(DAY_US).alias("days_to_expected_close"),
            pl.col("stage_changes").fill_null(0).cast(pl.Int64),
            pl.col("regressions").fill_null(0).cast(pl.Int64),
            pl.coalesce("max_rank", "stage_rank").alias("max_rank"),
            pl.col("activities").fill_null(0).cast(pl.Int64),
            pl.col("activities_7d").fill_null(0).cast(pl.Int64),
            pl.col("activities_30d").fill_null(0).cast(pl.Int64),
            pl.col("close_pushes").fill_null(0).cast(pl.Int64),
        )
        .select(BASE_COLUMNS)
    )
    kind_cols = sorted(c for c in per_kind.columns if c != "deal_id")
    per_kind = per_kind.select("deal_id", *kind_cols)
    out = out.join(per_kind, on="deal_id", how="left").with_columns(
        [pl.col(c).fill_null(0).cast(pl.Int64) for c in kind_cols]
    )
    return out.join(ids, on="deal_id", how="semi").sort("deal_id")


def outcomes(history: History, snap: pl.DataFrame) -> pl.DataFrame:
    """The snapshot with what happened next, from ``history``: ``won`` (null while still open),
    ``closed_at`` and ``days_to_close`` (from the row's cut-off)."""
    final = history.deals.filter(pl.col("id").is_in(snap["deal_id"].implode())).select(  # the snapshot's deals only
        pl.col("id").alias("deal_id"),
        pl.when(pl.col("status") == "won").then(True).when(pl.col("status") == "lost").then(False)
        .otherwise(None).alias("won"),
        pl.col("closed_at"),
    )
    return snap.join(final, on="deal_id", how="left").with_columns(
        _days(pl.col("closed_at"), pl.col("cutoff")).alias("days_to_close")
    )


def training_snapshots(history: History, cutoff: datetime, *, every_days: int = 14, lookback_days: int = 365,
                       min_gap_days: float | None = None, known: History | None = None) -> pl.DataFrame:
    """Labelled snapshots at past cut-offs, with outcomes as they were known at ``cutoff``.

    Only deals whose outcome was known by ``cutoff`` are kept (no look-ahead). Past cut-offs
    closer than ``min_gap_days`` to ``cutoff`` are skipped, because the deals open then that
    were already decided are mostly the quick losses (the slow wins are still open); the
    default gap is the 80th percentile of the cycle length of deals closed by ``cutoff``.
    ``known``: ``history.as_of(cutoff)``, when the caller has built it already.
    """
    at = to_utc(cutoff)
    amounts = amount_source(history)  # judged on the whole history, never on what was known then
    known = known if known is not None else history.as_of(at)
    if min_gap_days is None:
        closed = known.deals.filter(pl.col("status") != "open")
        cycles = closed.select(_days(pl.col("closed_at"), pl.col("first_seen_at")).alias("d"))["d"].drop_nulls()
        min_gap_days = float(cycles.quantile(0.8)) if len(cycles) else 30.0
        min_gap_days = max(min(min_gap_days, lookback_days / 2), 1.0)
    first = known.deals["first_seen_at"].min()
    if first is None:
        return pl.DataFrame()
    from datetime import timedelta

    start = max(first, at - timedelta(days=lookback_days))  # type: ignore[type-var]
    frames = []
    point = at - timedelta(days=min_gap_days)
    kinds = first_activity_by_kind(known)
    while point > start:  # type: ignore[operator]
        snap = snapshot(known, point, amounts=amounts, kinds=kinds)
        if snap.height:
            frames.append(outcomes(known, snap).filter(pl.col("won").is_not_null()))
        point -= timedelta(days=every_days)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed").sort(["cutoff", "deal_id"])
