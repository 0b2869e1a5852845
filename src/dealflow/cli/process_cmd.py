"""Process analysis commands: ``flow``, ``inspect``, ``patterns``, ``next`` and ``bottlenecks``."""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from dealflow.cli.app import app
from dealflow.cli.common import (
    AsOfOption, DbOption, Format, FormatOption, PeriodKind, console, load_history, parse_instant, print_csv, print_frame,
    print_json, settings_for,
)


class OutcomeChoice(StrEnum):
    won = "won"
    lost = "lost"
    open = "open"
    all = "all"


@app.command()
def flow(
    outcome: Annotated[OutcomeChoice, typer.Option(help="Only deals with this status.")] = OutcomeChoice.all,
    period: Annotated[str | None, typer.Option(help="Only deals first seen in this period (2012Q1, 2012-01, 2012).", show_default=False)] = None,
    image: Annotated[Path | None, typer.Option(help="Also draw the flow graph to this .svg or .png file.", show_default=False)] = None,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """How deals move between stages, how long each step takes, and where they go back.

    Transitions with counts and days (median, p75, p90); days in each stage for won and lost
    deals; moves back, skipped stages, reopened deals and loops. --image draws the flow graph.

    Example:
        dealflow flow --outcome won --image flow.svg
        dealflow flow --period 2012Q1 --format json
    """
    from dealflow.analytics.flow import stage_flow
    from dealflow.domain.periods import parse_period

    history = load_history(db, as_of)
    result = stage_flow(history, outcome=outcome.value, period=parse_period(period) if period else None)
    if image is not None:
        from dealflow.analytics.flow_image import draw_flow

        draw_flow(result, history.stages, image)
        if format is Format.table:
            console.print(f"Flow graph written to {image}")
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.transitions)
        return
    s = result.summary
    print_frame(result.transitions.drop("pipeline") if result.transitions["pipeline"].n_unique() <= 1 else result.transitions,
                title=f"Transitions ({s['moves']:,} moves, {s['deals_with_history']:,} deals)",
                caption="count = times a deal moved directly from one stage to the other; days from entering 'from' to entering 'to'")
    dwell = result.dwell.pivot(on="status", index=["stage", "rank"], values="median_days").sort("rank").drop("rank")
    print_frame(dwell, title="Median days in each stage, by deal status", caption="per deal: the sum of its visits")
    console.print(
        f"Moves back: {s['regressions']:,} ({s['deals_regressed']:,} deals) · skipped-stage moves: {s['skip_moves']:,} · "
        f"reopened deals: {s['deals_reopened']:,} · deals that revisited a stage: {s['deals_with_loops']:,}"
    )
    if result.skips.height:
        print_frame(result.skips, title="Skipped stages")


@app.command("inspect")
def inspect_(
    as_of: AsOfOption = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's deals.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option(help="Show the pipeline's changes from this date to --as-of (default: the latest data) instead.", show_default=False)] = None,
    stall_quantile: Annotated[float | None, typer.Option(help="Stalled = days in the current stage above this quantile of won deals' days there (default: $DEALFLOW_STALLED_PERCENTILE, else 0.75).", show_default=False)] = None,
    idle_days: Annotated[float | None, typer.Option(help="Idle = no activity for this many days (default: $DEALFLOW_IDLE_DAYS, else 14).", show_default=False)] = None,
    slip_period: Annotated[PeriodKind, typer.Option(help="Slipped = close date moved into a later month or quarter.")] = PeriodKind.quarter,
    all_open: Annotated[bool, typer.Option("--all", help="List every open deal, not only flagged ones.")] = False,
    limit: Annotated[int, typer.Option(help="Rows shown in the table.")] = 30,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Open deals that are stalled, idle, slipped or regressed, by money at risk; or what changed.

    Stalled: days in the current stage (this visit) above the 75th percentile of won deals'
    days there. Idle: no activity for --idle-days. Slipped: close date moved into a later
    period. With --since: new, advanced, moved back, pushed out, pulled in, amount up/down, won, lost.

    Example:
        dealflow inspect --owner "Darcel Schlecht" --idle-days 21
        dealflow inspect --since 2012-02-01 --as-of 2012-02-08 --format json
    """
    from dealflow.analytics.inspect import inspect_pipeline, pipeline_changes

    history = load_history(db)
    until = parse_instant(as_of)
    if since is not None:
        ch = pipeline_changes(history, parse_instant(since, option="--since"), until, owner=owner)  # type: ignore[arg-type]
        if format is Format.json:
            print_json(ch.to_dict())
        elif format is Format.csv:
            print_csv(ch.changes)
        else:
            print_frame(ch.summary, title=f"Pipeline changes {ch.since:%Y-%m-%d %H:%M} → {ch.until:%Y-%m-%d %H:%M}")
            print_frame(ch.changes.drop("deal_id").head(limit), title="Deals that changed",
                        caption=f"{ch.changes.height:,} changes" + (f"; first {limit} shown" if ch.changes.height > limit else ""))
        return
    settings = settings_for(db)
    result = inspect_pipeline(
        history, as_of=until, owner=owner,
        stall_quantile=settings.stalled_percentile if stall_quantile is None else stall_quantile,
        idle_days=settings.idle_days if idle_days is None else idle_days,
        slip_period=slip_period.value, fiscal_start_month=settings.fiscal_start_month,
    )
    deals = result.deals if all_open else result.flagged
    if format is Format.json:
        print_json(result.to_dict(all_open=all_open))
        return
    if format is Format.csv:
        print_csv(deals)
        return
    s = result.summary
    cols = ["external_id", "owner", "stage", "amount", "probability", "at_risk", "flags", "days_in_stage", "stall_days", "idle_days"]
    print_frame(deals.select(cols).head(limit),
                title=f"Deals to review as of {s['as_of']:%Y-%m-%d %H:%M}: {s['flagged']:,} of {s['open_deals']:,} open deals flagged",
                caption=f"stalled {s['stalled']:,} · idle {s['idle']:,} · slipped {s['slipped']:,} · regressed {s['regressed']:,}"
                        f" · at risk {s['at_risk_flagged']:,.0f}" + (f"; first {limit} shown" if deals.height > limit else ""))


@app.command()
def patterns(
    top: Annotated[int, typer.Option(help="Variants shown per outcome.")] = 10,
    min_deals: Annotated[int, typer.Option(help="Least number of deals with an activity for its pattern to be shown.")] = 20,
    stage: Annotated[str | None, typer.Option(help="Only activity patterns in this stage.", show_default=False)] = None,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Won and lost paths, and the activities associated with winning at each stage.

    Variants with their share and typical duration; per stage, each activity (done at least
    1, 2, 3, 5 times in the stage) with support, lift and a 95% Wilson interval, compared
    among closed deals that reached the same stage.

    Example:
        dealflow patterns --stage "Offer sent"
        dealflow patterns --format json > patterns.json
    """
    from dealflow.analytics.patterns import patterns as find_patterns

    result = find_patterns(load_history(db, as_of), top=top, min_deals=min_deals)
    acts = result.activities if stage is None else result.activities.filter(pl.col("stage") == stage)
    if format is Format.json:
        print_json({"variants": result.variants, "activity_patterns": acts})
        return
    if format is Format.csv:
        print_csv(acts)
        return
    for status in ("won", "lost"):
        v = result.variants.filter(pl.col("status") == status).drop("status", "steps")
        print_frame(v, title=f"Most frequent paths of {status} deals")
    cols = ["stage", "kind", "at_least", "deals_with", "support", "win_rate_with", "win_rate_without", "lift", "lift_low", "lift_high",
            "landmark_days", "landmark_diff", "landmark_diff_low", "landmark_diff_high"]
    print_frame(acts.select(cols), title="Activities associated with winning, within each stage",
                caption="closed deals that reached the stage; the activity done at least N times while in the stage vs not. "
                        "lift = win rate with it ÷ the stage's win rate (95% Wilson interval). landmark: among deals still in "
                        "the stage after the typical days to that activity, win rate with − without it by then (95% Newcombe). "
                        "Associations, not causes.")


@app.command("next")
def next_(
    deal: Annotated[str, typer.Argument(help="The deal's external id.")],
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """What similar won deals did next from the stage this open deal is in.

    Where they moved, how fast, and which activities they had in this stage that this deal has not.

    Example:
        dealflow next 206324
    """
    from dealflow.analytics.patterns import next_steps

    result = next_steps(load_history(db, as_of), deal)
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.activities)
        return
    s = result.summary
    console.print(f"[bold]{s['deal']}[/bold] is in {s['stage']} ({s['days_in_stage']:.1f} days). "
                  f"Compared with {s['similar_deals']:,} {s['similar']}.")
    if s["suggestion"]:
        console.print(f"Suggestion: {s['suggestion']}.")
    print_frame(result.next_stages, title="Where they went next")
    print_frame(result.activities.select("kind", "share", "median_times", "median_days_to_first", "this_deal_times", "lift"),
                title="What they did in this stage", caption="share of the similar won deals; lift: win rate with it ÷ the stage's, among all closed deals")


@app.command()
def bottlenecks(
    period: Annotated[PeriodKind, typer.Option(help="Compare months or quarters.")] = PeriodKind.month,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,
    db: DbOption = None,
) -> None:
    """Stages ranked by revenue lost and by delay, and the change from period to period.

    Example:
        dealflow bottlenecks --period quarter
    """
    from dealflow.analytics.bottlenecks import bottlenecks as find_bottlenecks

    result = find_bottlenecks(load_history(db, as_of), period=period.value,
                              fiscal_start_month=settings_for(db).fiscal_start_month)
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.stages)
        return
    cols = ["stage", "revenue_rank", "revenue_lost", "lost_deals", "loss_rate", "delay_rank", "deal_days", "median_days", "won_median_days"]
    print_frame(result.stages.select(cols),
                title="Stages by revenue lost and by delay",
                caption="revenue lost = amounts of deals lost from the stage; deal days = total days deals spent there")
    bp = result.by_period.filter((pl.col("revenue_rank") == 1) & (pl.col("revenue_lost") > 0)).select("period", "stage", "revenue_lost", "revenue_lost_change", "lost_deals")
    print_frame(bp, title=f"Biggest leak per {period.value}")
    slow = result.by_period.filter((pl.col("delay_rank") == 1) & (pl.col("deal_days") > 0)).select("period", "stage", "deal_days", "median_days", "median_days_change")
    print_frame(slow, title=f"Slowest stage per {period.value} (most deal days)")
