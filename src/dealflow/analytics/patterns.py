"""Won-vs-lost paths and the activities associated with winning, stage by stage.

- ``variants``: the most frequent stage paths of won and of lost deals, with their share of
  the outcome and typical (median) duration from the first stage to the close.
- ``activity_patterns``: for each open stage S and activity kind K, among closed deals that
  reached S: the deals that had K *while in S* against those that did not. Comparing within
  the stage keeps "deals that got further had more activities" out: every deal in the
  comparison reached S, and only activities logged during S count. It is still an
  association, not a cause — a deal lost in its first hour in S had no time for a call.

  Columns: support (share of deals at S that had K in S), win_rate_with / win_rate_without,
  lift = win_rate_with ÷ win rate of all deals at S, with a 95% Wilson interval on
  win_rate_with (lift_low / lift_high divide its bounds by the stage's win rate) and
  Newcombe's interval on the difference with − without (diff_low / diff_high).
  ``landmark_*`` columns repeat the comparison among deals still in the stage at the
  typical time of the activity, so that "stayed longer, so had more calls" is taken out too.
- ``next_steps``: what won deals like an open one did next from the stage it is in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dealflow.analytics.flow import deal_value, quantiles, stage_visits
from dealflow.analytics.metrics import days_between
from dealflow.errors import DomainError, NotFound
from dealflow.analytics.metrics import Z95, wilson, wilson_interval  # noqa: F401  (wilson_interval is re-exported)
from dealflow.history import History

# -- variants ---------------------------------------------------------------------------
def variants(history: History, *, top: int | None = 10, arrow: str = " → ") -> pl.DataFrame:
    """Most frequent stage paths per outcome (won, lost, open): deals, share, median/p75 days.

    Duration runs from entering the first stage to entering the last one (the close).
    """
    visits = stage_visits(history)
    paths = (
        visits.group_by("deal_id", maintain_order=True)
        .agg(
            pl.col("status").first(),
            pl.col("stage").str.join(arrow).alias("path"),
            pl.len().alias("steps"),
            days_between(pl.col("entered_at").first(), pl.col("entered_at").last()).alias("_d"),
        )
    )
    out = (
        paths.group_by(["status", "path"])
        .agg(pl.len().alias("deals"), pl.col("steps").first(), pl.col("_d").median().alias("median_days"),
             pl.col("_d").quantile(0.75, interpolation="linear").alias("p75_days"))
        .with_columns((pl.col("deals") / pl.col("deals").sum().over("status")).alias("share"))
        .sort(["status", "deals", "path"], descending=[True, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1).over("status").alias("variant"))
        .select("status", "variant", "path", "deals", "share", "median_days", "p75_days", "steps")
    )
    if top is not None:
        out = out.filter(pl.col("variant") <= top)
    return out


# -- activity patterns ------------------------------------------------------------------
def activities_in_visits(history: History, visits: pl.DataFrame | None = None) -> pl.DataFrame:
    """Each deal activity placed in the stage visit it happened in (the last visit entered at or before it).

    Columns: deal_id, kind, at, pipeline, status, stage, stage_kind, visit, entered_at.
    """
    visits = stage_visits(history) if visits is None else visits
    acts = history.activities.filter(pl.col("deal_id").is_not_null()).select("deal_id", "kind", "at").sort("at")
    v = visits.select("deal_id", "pipeline", "status", "stage", pl.col("kind").alias("stage_kind"), "visit", "entered_at").sort("entered_at")
    placed = acts.join_asof(v, left_on="at", right_on="entered_at", by="deal_id", strategy="backward", check_sortedness=False)
    return placed.filter(pl.col("stage").is_not_null())


def activity_patterns(
    history: History,
    *,
    min_deals: int = 10,
    at_least: tuple[int, ...] = (1, 2, 3, 5),
    visits: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per open stage, activity kind and ``at_least`` (times the activity happened in the stage):
    support, win rates with/without, lift and 95% intervals.

    Only closed deals count. A row is kept when at least ``min_deals`` deals had the activity
    that often and (for thresholds above 1) at least ``min_deals`` did not — when nearly every
    deal has a follow-up call, "had one" says nothing and "had three or more" may.
    """
    visits = stage_visits(history) if visits is None else visits
    closed = visits.filter(pl.col("status").is_in(["won", "lost"]))
    reached = (
        closed.filter(pl.col("kind") == "open")
        .group_by(["pipeline", "stage", "deal_id"])
        .agg(pl.col("status").first(), pl.col("rank").first(),
             pl.col("entered_at").min().alias("t0"), pl.col("left_at").max().alias("t_exit"))
    )
    base = reached.group_by(["pipeline", "stage"]).agg(
        pl.len().alias("deals"), (pl.col("status") == "won").sum().alias("won"), pl.col("rank").first()
    )
    placed = activities_in_visits(history, visits).filter(pl.col("stage_kind") == "open")
    had = (
        placed.group_by(["pipeline", "stage", "deal_id", "kind"])
        .agg(pl.len().alias("n_acts"))
        .join(reached.select("pipeline", "stage", "deal_id", "status"), on=["pipeline", "stage", "deal_id"], how="inner")
    )
    thresholds = pl.DataFrame({"at_least": list(at_least)}, schema={"at_least": pl.Int64})
    had = had.join(thresholds, how="cross").filter(pl.col("n_acts") >= pl.col("at_least"))
    with_k = had.group_by(["pipeline", "stage", "kind", "at_least"]).agg(
        pl.len().alias("deals_with"),
        (pl.col("status") == "won").sum().alias("won_with"),
        pl.col("n_acts").median().alias("median_count"),
    )
    out = with_k.join(base, on=["pipeline", "stage"], how="inner").with_columns(
        (pl.col("deals") - pl.col("deals_with")).alias("deals_without"),
        (pl.col("won") - pl.col("won_with")).alias("won_without"),
    )
    p1 = pl.col("won_with") / pl.col("deals_with")
    p2 = pl.col("won_without") / pl.col("deals_without")
    l1, u1 = wilson(pl.col("won_with"), pl.col("deals_with"))
    l2, u2 = wilson(pl.col("won_without"), pl.col("deals_without"))
    stage_rate = pl.col("won") / pl.col("deals")
    out = out.with_columns(
        (pl.col("deals_with") / pl.col("deals")).alias("support"),
        stage_rate.alias("stage_win_rate"),
        p1.alias("win_rate_with"), l1.alias("with_low"), u1.alias("with_high"),
        pl.when(pl.col("deals_without") > 0).then(p2).alias("win_rate_without"),
        (p1 / stage_rate).alias("lift"),
        (l1 / stage_rate).alias("lift_low"),
        (u1 / stage_rate).alias("lift_high"),
        pl.when(pl.col("deals_without") > 0).then(p1 - p2).alias("diff"),
        pl.when(pl.col("deals_without") > 0).then(p1 - p2 - ((p1 - l1) ** 2 + (u2 - p2) ** 2).sqrt()).alias("diff_low"),
        pl.when(pl.col("deals_without") > 0).then(p1 - p2 + ((u1 - p1) ** 2 + (p2 - l2) ** 2).sqrt()).alias("diff_high"),
    )
    keys = ["pipeline", "stage", "kind", "at_least"]
    out = out.join(_landmark(reached, placed, thresholds), on=keys, how="left")
    return (
        out.filter((pl.col("deals_with") >= min_deals) & ((pl.col("at_least") == 1) | (pl.col("deals_without") >= min_deals)))
        .sort(["pipeline", "rank", "kind", "at_least"])
        .select("pipeline", "stage", "kind", "at_least", "deals", "deals_with", "support", "median_count", "stage_win_rate",
                "win_rate_with", "with_low", "with_high", "win_rate_without", "lift", "lift_low", "lift_high",
                "diff", "diff_low", "diff_high", *LANDMARK_COLUMNS)
    )


LANDMARK_COLUMNS = ["landmark_days", "landmark_deals", "landmark_with", "landmark_rate_with", "landmark_rate_without",
                    "landmark_diff", "landmark_diff_low", "landmark_diff_high"]


def _landmark(reached: pl.DataFrame, placed: pl.DataFrame, thresholds: pl.DataFrame) -> pl.DataFrame:
    """The same comparison at a landmark, so that time spent in the stage cannot pass for an effect.

    Deals that linger in a stage collect more activities whatever their outcome. So, per stage,
    kind and threshold k: L = the median days from first entering the stage to the k-th such
    activity (among deals that had it); the cohort = closed deals still in the stage L days after
    entering it; "with" = had the k-th activity by then. Win rates with and without, their
    difference and Newcombe's 95% interval.
    """
    keys = ["pipeline", "stage", "kind", "at_least"]
    acts = (
        placed.join(reached.select("pipeline", "stage", "deal_id", "t0"), on=["pipeline", "stage", "deal_id"], how="inner")
        .sort("at")
        .with_columns(
            days_between(pl.col("t0"), pl.col("at")).alias("_d"),
            pl.int_range(1, pl.len() + 1).over(["pipeline", "stage", "deal_id", "kind"]).alias("_n"),
        )
    )
    kth = acts.join(thresholds, left_on="_n", right_on="at_least", how="inner").select(
        "pipeline", "stage", "deal_id", "kind", pl.col("_n").cast(pl.Int64).alias("at_least"), pl.col("_d").alias("_kth")
    )
    landmarks = kth.group_by(keys).agg(pl.col("_kth").median().alias("landmark_days"))
    cohort = (
        reached.select("pipeline", "stage", "deal_id", "status", days_between(pl.col("t0"), pl.col("t_exit")).alias("_stay"))
        .join(landmarks, on=["pipeline", "stage"], how="inner")
        .filter(pl.col("_stay") > pl.col("landmark_days"))
        .join(kth, on=["pipeline", "stage", "deal_id", "kind", "at_least"], how="left")
        .with_columns((pl.col("_kth") <= pl.col("landmark_days")).fill_null(False).alias("_with"), (pl.col("status") == "won").alias("_won"))
    )
    g = cohort.group_by(keys).agg(
        pl.col("landmark_days").first(),
        pl.len().alias("landmark_deals"),
        pl.col("_with").sum().alias("landmark_with"),
        (pl.col("_with") & pl.col("_won")).sum().alias("_won_with"),
        (~pl.col("_with")).sum().alias("_without"),
        (~pl.col("_with") & pl.col("_won")).sum().alias("_won_without"),
    )
    n1, n2 = pl.col("landmark_with"), pl.col("_without")
    p1, p2 = pl.col("_won_with") / n1, pl.col("_won_without") / n2
    l1, u1 = wilson(pl.col("_won_with"), n1)
    l2, u2 = wilson(pl.col("_won_without"), n2)
    both = (n1 > 0) & (n2 > 0)
    return g.with_columns(
        pl.when(n1 > 0).then(p1).alias("landmark_rate_with"),
        pl.when(n2 > 0).then(p2).alias("landmark_rate_without"),
        pl.when(both).then(p1 - p2).alias("landmark_diff"),
        pl.when(both).then(p1 - p2 - ((p1 - l1) ** 2 + (u2 - p2) ** 2).sqrt()).alias("landmark_diff_low"),
        pl.when(both).then(p1 - p2 + ((u1 - p1) ** 2 + (p2 - l2) ** 2).sqrt()).alias("landmark_diff_high"),
    ).select(*keys, *LANDMARK_COLUMNS)


@dataclass(frozen=True)
class PatternsResult:
    variants: pl.DataFrame
    activities: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        from dealflow.jsonable import to_jsonable

        return to_jsonable({"variants": self.variants, "activity_patterns": self.activities})


def patterns(history: History, *, top: int = 10, min_deals: int = 10) -> PatternsResult:
    visits = stage_visits(history)
    return PatternsResult(variants=variants(history, top=top), activities=activity_patterns(history, min_deals=min_deals, visits=visits))


# -- next steps -------------------------------------------------------------------------
@dataclass(frozen=True)
class NextResult:
    """What won deals similar to ``deal`` did next from the stage it is in.

    ``next_stages``: stage, deals, share, median_days (from entering the current stage to the next);
    ``activities``: activity kinds those won deals had in the stage, with share and the pattern's lift;
    ``summary``: the deal, its stage, how similar deals were chosen and their median days to win.
    """

    summary: dict[str, Any]
    next_stages: pl.DataFrame
    activities: pl.DataFrame
    done_so_far: pl.DataFrame = field(default_factory=pl.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        from dealflow.jsonable import to_jsonable

        return to_jsonable({"summary": self.summary, "next_stages": self.next_stages,
                            "activities": self.activities, "done_so_far": self.done_so_far})


def next_steps(history: History, external_id: str, *, min_similar: int = 30, amount_bands: int = 4) -> NextResult:
    """What won deals that passed through this deal's current stage did next.

    Similar = won deals of the same pipeline that visited the stage; narrowed to the same
    product, then to the same amount band (quartiles of those deals' amounts), each time only
    when that still leaves ``min_similar`` deals.
    """
    deal = history.deals.filter(pl.col("external_id") == external_id)
    if deal.height == 0:
        raise NotFound(f"no deal {external_id!r}; list deals with `dealflow report` or check the external id")
    d = deal.row(0, named=True)
    visits = stage_visits(history)
    mine = visits.filter(pl.col("deal_id") == d["id"])
    if d["status"] != "open" or mine.height == 0:
        raise DomainError(
            f"deal {external_id} is {d['status']}{'' if mine.height else ' without stage history'}; "
            "`dealflow next` needs an open deal with a stage history"
        )
    cur = mine.filter(pl.col("current")).row(0, named=True)
    stage = cur["stage"]
    at_stage = visits.filter((pl.col("pipeline") == d["pipeline"]) & (pl.col("stage") == stage) & (pl.col("status") == "won"))
    # Each won deal's last visit to the stage: the one it moved on from towards winning.
    last_visit = at_stage.group_by("deal_id").agg(pl.all().sort_by("visit").last())
    amounts = history.deals.select(pl.col("id").alias("deal_id"), "product", deal_value().alias("amount"))
    pool = last_visit.join(amounts, on="deal_id", how="left")
    similarity = f"won deals in {d['pipeline']} that were in {stage}"
    if d["product"] is not None:
        same = pool.filter(pl.col("product") == d["product"])
        if same.height >= min_similar:
            pool = same
            similarity += f", product {d['product']}"
    d["amount"] = deal.select(deal_value()).item()
    if d["amount"] is not None and pool["amount"].drop_nulls().len() >= min_similar:
        qs = [pool["amount"].quantile(i / amount_bands, interpolation="linear") for i in range(1, amount_bands)]
        edges = [-math.inf, *qs, math.inf]
        band = next(i for i in range(amount_bands) if edges[i] <= d["amount"] < edges[i + 1]) if d["amount"] < edges[-1] else amount_bands - 1
        lo, hi = edges[band], edges[band + 1]
        narrowed = pool.filter((pl.col("amount") >= lo) & (pl.col("amount") < hi))
        if narrowed.height >= min_similar:
            pool = narrowed
            if lo == -math.inf:
                similarity += f", amount below {hi:,.0f}"
            elif hi == math.inf:
                similarity += f", amount {lo:,.0f} and up"
            else:
                similarity += f", amount {lo:,.0f} to below {hi:,.0f}"
    n = pool.height
    next_stages = (
        pool.filter(pl.col("next_stage").is_not_null())
        .with_columns(days_between(pl.col("entered_at"), pl.col("left_at")).alias("_d"))
        .group_by("next_stage")
        .agg(pl.len().alias("deals"), *quantiles("_d"))
        .with_columns((pl.col("deals") / max(n, 1)).alias("share"))
        .sort("deals", descending=True)
        .rename({"next_stage": "stage"})
        .select("stage", "deals", "share", "median_days", "p75_days", "p90_days")
    )
    placed = activities_in_visits(history, visits)
    pool_keys = pool.select("deal_id", "visit")
    acts = placed.join(pool_keys, on=["deal_id", "visit"], how="inner")
    pats = activity_patterns(history, min_deals=1, at_least=(1,), visits=visits).filter(
        (pl.col("pipeline") == d["pipeline"]) & (pl.col("stage") == stage)
    ).select("kind", "lift", "lift_low", "lift_high", "win_rate_with", "win_rate_without")
    mine_acts = placed.filter((pl.col("deal_id") == d["id"]) & (pl.col("visit") == cur["visit"]))
    done = mine_acts.group_by("kind").agg(pl.len().alias("times"), pl.col("at").max().alias("last_at")).sort("times", descending=True)
    activities = (
        acts.group_by(["deal_id", "kind"]).agg(pl.len().alias("_n"), pl.col("at").min().alias("_first"),
                                               pl.col("entered_at").first())
        .group_by("kind")
        .agg(pl.len().alias("deals"), pl.col("_n").median().alias("median_times"),
             days_between(pl.col("entered_at"), pl.col("_first")).median().alias("median_days_to_first"))
        .with_columns((pl.col("deals") / max(n, 1)).alias("share"))
        .join(pats, on="kind", how="left")
        .join(done.select("kind", pl.col("times").alias("this_deal_times")), on="kind", how="left")
        .with_columns(pl.col("this_deal_times").fill_null(0))
        .sort("deals", descending=True)
        .select("kind", "deals", "share", "median_times", "median_days_to_first", "this_deal_times",
                "lift", "lift_low", "lift_high", "win_rate_with", "win_rate_without")
    )
    won_at = history.deals.filter(pl.col("status") == "won").select(pl.col("id").alias("deal_id"), "closed_at")
    to_win = pool.join(won_at, on="deal_id").select(days_between(pl.col("entered_at"), pl.col("closed_at")).alias("_d"))["_d"]
    summary = {
        "deal": external_id, "deal_id": d["id"], "pipeline": d["pipeline"], "stage": stage,
        "days_in_stage": cur["days"], "amount": d["amount"], "similar_deals": n, "similar": similarity,
        "median_days_to_win": to_win.median() if to_win.len() else None,
        "suggestion": _suggest(next_stages, activities, cur["days"]),
    }
    return NextResult(summary=summary, next_stages=next_stages, activities=activities, done_so_far=done)


def _suggest(next_stages: pl.DataFrame, activities: pl.DataFrame, days_here: float | None = None) -> str | None:
    """One sentence: the usual next stage, whether this deal is overdue for it, and the most
    common in-stage activity this deal lacks."""
    if next_stages.height == 0:
        return None
    top = next_stages.row(0, named=True)
    text = f"{top['share']:.0%} of similar won deals moved on to {top['stage']} (median {top['median_days']:.1f} days)"
    if days_here is not None and top["p90_days"] is not None and days_here > top["p90_days"]:
        text += f"; at {days_here:.1f} days here this deal is past the {top['p90_days']:.1f} days within which 90% of them did"
    todo = activities.filter((pl.col("this_deal_times") == 0) & (pl.col("share") >= 0.25))
    if todo.height:
        a = todo.row(0, named=True)
        text += f"; {a['share']:.0%} of them had {a['kind']} in this stage, which this deal has not had yet"
    return text
