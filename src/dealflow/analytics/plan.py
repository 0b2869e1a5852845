"""The reverse funnel: how many leads (per source, and by when) to close N deals or reach X.

1. What the current pipeline is expected to deliver: each open deal × the measured share of
   deals that were won after reaching its stage (× the chance, from past wins' times from that
   stage, that it closes before the period ends); each open lead × the lead-to-won rate.
2. The gap to the target, in deals (a revenue gap ÷ the average won deal).
3. Leads needed = ⌈gap ÷ lead-to-won rate⌉, split over sources by their share of past leads
   (largest remainder, so the parts add up), with a range from the rate's Wilson interval.
4. Deals needed per stage = ⌈gap ÷ share won after reaching that stage⌉.
5. By when: the period's end minus the median time from lead (or stage) to won.

"Won" for a lead is its deal being won; when no lead has a deal (a lead list alone, such as
X Education), the lead's own "converted" flag is the outcome. Rates use settled leads and
closed deals only: open ones have no outcome yet.

    >>> p = plan(history, target_deals=100, period="2017Q4")
    >>> p.leads_needed, p.by_source, p.stages
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from dealflow.analytics.funnel import deal_reach, known_leads, progression
from dealflow.domain.periods import Period, parse_period
from dealflow.errors import DomainError
from dealflow.analytics.metrics import wilson_interval
from dealflow.history import History

OPEN_LEAD_STATUSES = ["new", "open", "working", "contacted", "qualified", "nurturing", "in progress"]


def wilson(successes: float, n: float, z: float = 1.645) -> tuple[float, float]:
    """Wilson interval for a rate (z=1.645: 90%); with no data, anything from 0 to 1."""
    return (0.0, 1.0) if n <= 0 else wilson_interval(successes, n, z)


def _needed(gap: float, rate: float | None) -> int | None:
    if gap <= 0:
        return 0
    if not rate:
        return None
    return math.ceil(round(gap / rate, 9))


def allocate(total: int, shares: list[float]) -> list[int]:
    """Split an integer total by shares, largest remainders first, so the parts add up."""
    if not shares or total <= 0:
        return [0] * len(shares)
    s = sum(shares)
    raw = [total * x / s for x in shares]
    base = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (raw[i] - base[i]), reverse=True)
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


def _needed_expr(gap: float, rate: str) -> pl.Expr:
    """⌈gap ÷ rate⌉ per row; 0 when there is no gap, null when the rate is 0 or unknown."""
    if gap <= 0:
        return pl.lit(0, dtype=pl.Int64)
    return pl.when(pl.col(rate) > 0).then((pl.lit(gap) / pl.col(rate)).round(9).ceil()).cast(pl.Int64)


def _before(deadline: datetime | None, days: str) -> pl.Expr:
    """The deadline minus a number of days (null without a deadline or days)."""
    if deadline is None:
        return pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    return pl.lit(deadline, dtype=pl.Datetime("us", "UTC")) - pl.duration(seconds=(pl.col(days) * 86400).round(0).cast(pl.Int64))


def lead_outcomes(history: History) -> pl.DataFrame:
    """Per lead: group columns, created_at, settled (outcome known), won (bool), won_at."""
    leads = known_leads(history)
    deals = history.deals.select(
        pl.col("id").alias("_deal"), pl.col("status").alias("_deal_status"), pl.col("closed_at").alias("_closed_at"),
        pl.col("lead_id").alias("_lead"),
    )
    by_lead = deals.filter(pl.col("_lead").is_not_null()).group_by("_lead").agg(pl.col("_deal").min().alias("_deal_of_lead"))
    leads = leads.join(by_lead, left_on="id", right_on="_lead", how="left").with_columns(
        pl.coalesce("converted_deal_id", "_deal_of_lead").alias("_deal")
    ).join(deals.drop("_lead"), on="_deal", how="left")
    uses_deals = leads["_deal"].is_not_null().any()
    status = pl.col("status").str.to_lowercase()
    open_lead = (
        pl.col("_deal").is_null() & ~pl.col("converted").fill_null(False) & pl.col("lost_reason").is_null()
        & status.is_in(OPEN_LEAD_STATUSES).fill_null(False)
    )
    if uses_deals:
        won = (pl.col("_deal_status") == "won").fill_null(False)
        won_at = pl.when(won).then(pl.col("_closed_at"))
        settled = ~open_lead & ~(pl.col("_deal_status") == "open").fill_null(False) & ~(
            pl.col("converted").fill_null(False) & pl.col("_deal").is_null()
        )
    else:
        won = pl.col("converted").fill_null(False)
        won_at = pl.when(won).then(pl.col("converted_at"))
        settled = ~open_lead
    return leads.select(
        "id", "source", "segment", "owner", "campaign", "created_at",
        settled.alias("settled"), won.alias("won"), won_at.alias("won_at"),
        (pl.col("_deal_status") == "open").fill_null(False).alias("deal_open"),
        open_lead.alias("open"),
    )


@dataclass
class Plan:
    target_deals: float | None
    target_revenue: float | None
    period: str | None
    deadline: datetime | None
    expected_deals: float  # from open deals and open leads
    expected_revenue: float | None
    gap_deals: float
    deals_needed: int
    lead_rate: float | None
    lead_rate_range: tuple[float, float]
    leads_needed: int | None
    leads_needed_range: tuple[int | None, int | None]
    lead_lag_days: float | None
    enter_by: datetime | None
    average_won_amount: float | None
    by: str
    by_source: pl.DataFrame
    stages: pl.DataFrame
    pipeline: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_deals": self.target_deals, "target_revenue": self.target_revenue, "period": self.period,
            "deadline": self.deadline, "expected_deals": self.expected_deals, "expected_revenue": self.expected_revenue,
            "gap_deals": self.gap_deals, "deals_needed": self.deals_needed, "lead_rate": self.lead_rate,
            "lead_rate_range": list(self.lead_rate_range), "leads_needed": self.leads_needed,
            "leads_needed_range": list(self.leads_needed_range), "lead_lag_days": self.lead_lag_days,
            "enter_by": self.enter_by, "average_won_amount": self.average_won_amount, "by": self.by,
            "groups": self.by_source, "stages": self.stages, "pipeline": self.pipeline, "notes": self.notes,
        }


def _median_days(frame: pl.DataFrame, later: str, earlier: str) -> float | None:
    if frame.is_empty():
        return None
    value = frame.select(((pl.col(later) - pl.col(earlier)).dt.total_seconds() / 86400.0).median()).item()
    return None if value is None else float(value)


def stage_win_rates(history: History) -> pl.DataFrame:
    """Per open stage of the progression: of the closed deals that reached it, the share won,
    the Wilson range, and the median days from first entering it to the win."""
    prog = progression(history).filter(pl.col("kind") == "open")
    reach = deal_reach(history).join(
        history.deals.select(pl.col("id").alias("deal_id"), "status", "closed_at", "amount"), on="deal_id"
    )
    closed = reach.filter(pl.col("status") != "open")
    rows = []
    for r, stage in prog.select("rank", "stage").iter_rows():
        got = closed.filter(pl.col("max_rank").fill_null(-1) >= r) if r > 0 else closed
        won = got.filter(pl.col("status") == "won")
        entered_col = f"reached_at_{r}"
        lag = _median_days(won.filter(pl.col(entered_col).is_not_null()), "closed_at", entered_col)
        lo, hi = wilson(won.height, got.height)
        rows.append({"stage": stage, "rank": r, "closed_deals": got.height, "won": won.height,
                     "win_rate": won.height / got.height if got.height else None, "win_rate_low": lo, "win_rate_high": hi,
                     "lag_days": lag})
    schema = {"stage": pl.String, "rank": pl.Int64, "closed_deals": pl.Int64, "won": pl.Int64, "win_rate": pl.Float64,
              "win_rate_low": pl.Float64, "win_rate_high": pl.Float64, "lag_days": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def _in_time(history: History, horizon: float | None) -> pl.DataFrame:
    """Per open deal: the chance that, if won, it is won within ``horizon`` days from now.

    From the won deals that passed through the same stage: of those whose time from entering
    it to the win exceeds the time this deal has already spent there, the share that took no
    more than that time plus the horizon. Columns: deal_id, in_time (null: no such won deals).
    """
    schema = {"deal_id": pl.Int64, "in_time": pl.Float64}
    if horizon is None:
        return pl.DataFrame(schema=schema)
    prog = progression(history)
    reach = deal_reach(history).join(history.deals.select(pl.col("id").alias("deal_id"), "status", "closed_at"), on="deal_id")
    cols = [f"reached_at_{r}" for r in prog["rank"].to_list()]
    if not cols:
        return pl.DataFrame(schema=schema)
    lags = reach.filter(pl.col("status") == "won").unpivot(index=["deal_id", "closed_at"], on=cols, variable_name="_r", value_name="_at").filter(
        pl.col("_at").is_not_null()
    ).select(pl.col("_r").str.strip_prefix("reached_at_").cast(pl.Int64).alias("rank"),
             ((pl.col("closed_at") - pl.col("_at")).dt.total_seconds() / 86400.0).alias("lag"))
    entered = history.stage_changes.group_by("deal_id").agg(pl.col("at").max().alias("_entered"))
    now = pl.lit(history.now, dtype=pl.Datetime("us", "UTC"))
    open_deals = history.open_deals().join(
        history.stages.select(pl.col("id").alias("stage_id"), "rank"), on="stage_id", how="left"
    ).join(entered, left_on="id", right_on="deal_id", how="left").select(
        pl.col("id").alias("deal_id"), "rank",
        ((now - pl.coalesce("_entered", "first_seen_at")).dt.total_seconds() / 86400.0).fill_null(0.0).clip(0).alias("spent"),
    )
    return open_deals.join(lags, on="rank").filter(pl.col("lag") > pl.col("spent")).group_by("deal_id").agg(
        (pl.col("lag") <= pl.col("spent") + horizon).mean().alias("in_time")
    ).select("deal_id", "in_time").vstack(
        # deals whose stage has won history, but every win took less time than this deal has already spent
        open_deals.join(lags.select("rank").unique(), on="rank", how="semi").join(
            open_deals.join(lags, on="rank").filter(pl.col("lag") > pl.col("spent")).select("deal_id").unique(), on="deal_id", how="anti"
        ).select("deal_id", pl.lit(0.0).alias("in_time"))
    )


def plan(
    history: History,
    *,
    target_deals: float | None = None,
    target_revenue: float | None = None,
    period: str | Period | None = None,
    by: str = "source",
    z: float = 1.645,
) -> Plan:
    """Work the funnel backwards from a target of won deals or won revenue (see module doc)."""
    if (target_deals is None) == (target_revenue is None):
        raise DomainError("give exactly one target: --target-deals N or --target-revenue X")
    if by not in ("source", "segment", "owner", "campaign"):
        raise DomainError(f"cannot split by {by!r}; use source, segment, owner or campaign")
    per = parse_period(period) if isinstance(period, str) else period
    deadline = per.end_instant() if per else None
    notes: list[str] = []

    # 1. the current pipeline
    stages = stage_win_rates(history)
    open_deals = history.open_deals().join(
        history.stages.select(pl.col("id").alias("stage_id"), pl.col("rank")), on="stage_id", how="left"
    ).join(stages.select("rank", "win_rate"), on="rank", how="left")
    if open_deals["win_rate"].null_count():
        notes.append(f"{open_deals['win_rate'].null_count()} open deal(s) in stages without closed history count as 0")
    open_deals = open_deals.with_columns(pl.col("win_rate").fill_null(0.0))
    now = history.now
    horizon = (deadline - now).total_seconds() / 86400.0 if deadline else None
    if horizon is not None and horizon <= 0:
        notes.append(f"{per.label if per else 'the period'} ended before the data's last event: nothing more can close in it")
    open_deals = open_deals.join(_in_time(history, horizon), left_on="id", right_on="deal_id", how="left").with_columns(
        pl.col("in_time").fill_null(1.0)  # no timing history for its stage: only its win rate counts
    )
    won_deals = history.deals.filter(pl.col("status") == "won")
    avg_won = won_deals["amount"].mean() if won_deals["amount"].drop_nulls().len() else None
    amount = pl.col("amount").fill_null(avg_won) if avg_won is not None else pl.col("amount")
    pipeline = open_deals.group_by("stage", "rank").agg(
        pl.len().alias("open_deals"),
        pl.col("win_rate").first(),
        pl.col("in_time").mean().alias("in_time"),
        (pl.col("win_rate") * pl.col("in_time")).sum().alias("expected_won"),
        (amount * pl.col("win_rate") * pl.col("in_time")).sum().alias("expected_revenue"),
    ).sort("rank")

    outcomes = lead_outcomes(history)
    settled = outcomes.filter(pl.col("settled"))
    won_leads = settled.filter(pl.col("won"))
    lead_rate = won_leads.height / settled.height if settled.height else None
    rate_lo, rate_hi = wilson(won_leads.height, settled.height, z)
    open_leads = outcomes.filter(pl.col("open")).height
    lead_lags = won_leads.filter(pl.col("won_at").is_not_null() & pl.col("created_at").is_not_null()).select(
        ((pl.col("won_at") - pl.col("created_at")).dt.total_seconds() / 86400.0).alias("lag"))["lag"]
    leads_in_time = 1.0 if horizon is None or lead_lags.len() == 0 else float((lead_lags <= horizon).mean())  # type: ignore[arg-type]
    expected_from_leads = open_leads * (lead_rate or 0.0) * leads_in_time
    expected = float((open_deals["win_rate"] * open_deals["in_time"]).sum()) + expected_from_leads
    expected_revenue = None
    if avg_won is not None:
        expected_revenue = float(pipeline["expected_revenue"].sum()) + expected_from_leads * avg_won
    if open_leads:
        pipeline = pl.concat([pipeline, pl.DataFrame({
            "stage": ["(open leads)"], "rank": [None], "open_deals": [open_leads], "win_rate": [lead_rate],
            "in_time": [leads_in_time], "expected_won": [expected_from_leads], "expected_revenue": [expected_from_leads * avg_won if avg_won else None],
        }, schema=pipeline.schema)])

    # 2. the gap, in deals
    if target_deals is not None:
        gap = max(0.0, float(target_deals) - expected)
    else:
        if not avg_won:
            raise DomainError("a revenue target needs won deals with amounts to size a deal; use --target-deals instead")
        gap = max(0.0, (float(target_revenue) - (expected_revenue or 0.0)) / avg_won)  # type: ignore[arg-type]
    deals_needed = math.ceil(round(gap, 9))

    # 3. leads, overall and per group
    leads_needed = _needed(gap, lead_rate)
    leads_range = (_needed(gap, rate_hi), _needed(gap, rate_lo)) if lead_rate is not None else (None, None)
    lag = _median_days(won_leads.filter(pl.col("won_at").is_not_null() & pl.col("created_at").is_not_null()), "won_at", "created_at")
    enter_by = deadline - timedelta(days=lag) if (deadline and lag is not None) else None
    if enter_by is not None and enter_by < now and leads_needed:
        notes.append(f"at the median pace ({lag:.0f} days from lead to won) new leads had to enter by {enter_by:%Y-%m-%d}, "
                     "which has passed: most of them will close after the period")
    if lead_rate is None:
        notes.append("no settled leads: cannot say how many leads are needed; import leads with their outcome")
    if lag is None and deadline is not None and lead_rate is not None:
        notes.append("leads have no dates: cannot say by when they must enter")

    groups = settled.with_columns(pl.col(by).fill_null("(blank)").alias("group")).group_by("group").agg(
        pl.len().alias("past_leads"),
        pl.col("won").sum().alias("past_won"),
        ((pl.col("won_at") - pl.col("created_at")).dt.total_seconds() / 86400.0).filter(pl.col("won")).median().alias("lag_days"),
    ).with_columns(
        (pl.col("past_leads") / pl.col("past_leads").sum()).alias("mix"),
        (pl.col("past_won") / pl.col("past_leads")).alias("conversion"),
    ).sort(["past_leads", "group"], descending=[True, False])
    split = allocate(leads_needed or 0, groups["mix"].to_list())
    groups = groups.with_columns(pl.Series("leads_needed", split, dtype=pl.Int64)).with_columns(
        (pl.col("leads_needed") * pl.col("conversion")).alias("expected_won"),
        _before(deadline, "lag_days").alias("enter_by"),
    ).select("group", "past_leads", "mix", "conversion", "leads_needed", "expected_won", "lag_days", "enter_by")

    # 4. deals per stage
    stages = stages.with_columns(
        _needed_expr(gap, "win_rate").alias("deals_needed"),
        _needed_expr(gap, "win_rate_high").alias("deals_needed_low"),
        _needed_expr(gap, "win_rate_low").alias("deals_needed_high"),
        _before(deadline, "lag_days").alias("enter_by"),
    )
    return Plan(
        target_deals=target_deals, target_revenue=target_revenue, period=per.label if per else None, deadline=deadline,
        expected_deals=expected, expected_revenue=expected_revenue, gap_deals=gap, deals_needed=deals_needed,
        lead_rate=lead_rate, lead_rate_range=(rate_lo, rate_hi), leads_needed=leads_needed, leads_needed_range=leads_range,
        lead_lag_days=lag, enter_by=enter_by, average_won_amount=avg_won, by=by, by_source=groups, stages=stages,
        pipeline=pipeline, notes=notes,
    )
