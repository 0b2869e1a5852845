"""Lead process and product potential: ``funnel``, ``plan``, ``leads``, ``products``, ``cross-sell``."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import polars as pl
import typer
from rich.panel import Panel

from dealflow.cli.app import app
from dealflow.cli.common import (
    AsOfOption, DbOption, Format, FormatOption, PeriodKind, console, fmt_value, load_history, print_csv, print_frame, print_json,
)


class LeadGroup(StrEnum):
    source = "source"
    segment = "segment"
    owner = "owner"
    campaign = "campaign"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


@app.command()
def funnel(
    by: Annotated[LeadGroup | None, typer.Option("--by", help="Group leads by this column (default: all leads together).", show_default=False)] = None,
    cohort: Annotated[PeriodKind | None, typer.Option("--cohort", help="Cohorts by month or quarter of lead creation (default: no cohorts).", show_default=False)] = None,
    maturity_days: Annotated[float | None, typer.Option(
        "--maturity-days", help="Days after a cohort's end before it counts as mature (default: p75 of lead-to-converted time, else 90).",
    )] = None,
    db: DbOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Lead funnel by cohort: each step's reach, conversion and timing, and where leads leak out.

    Steps: lead, contacted, qualified, converted, each deal stage, won. A lead counts once per
    step; lost and disqualified leads stay in the denominator; recent cohorts are marked immature.

    Example:
        dealflow funnel --by source
        dealflow funnel --by owner --cohort quarter --format json
    """
    from dealflow.analytics.funnel import lead_funnel

    result = lead_funnel(load_history(db, as_of), by=by.value if by else None, cohort=cohort.value if cohort else None,
                         maturity_days=maturity_days)
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.steps)
        return
    o = result.overall
    lines = [f"Leads [bold]{o['leads']:,}[/]  converted [bold]{o['converted']:,}[/]  conversion [bold]{_pct(o['conversion'])}[/]"]
    if o["won"] is not None:
        lines.append(f"Won [bold]{o['won']:,}[/]  lead-to-won [bold]{_pct(o['win_conversion'])}[/]")
    lines += [f"[yellow]Note[/]: {n}" for n in result.notes]
    console.print(Panel("\n".join(lines), title="Lead funnel", title_align="left"))
    no_deals = o["won"] is None
    if by:
        print_frame(result.groups.drop("won", "win_conversion") if no_deals else result.groups, f"By {by.value}")
    steps = result.steps.drop([c for c, used in (("group", by), ("cohort", cohort)) if not used])
    print_frame(steps, "Steps", "reached = leads that got to the step or beyond; days = time from the previous step with a known time")
    if cohort:
        cohorts = result.cohorts.drop("won", "win_conversion") if no_deals else result.cohorts
        print_frame(cohorts if by else cohorts.drop("group"), f"Cohorts by {cohort.value}",
                    f"immature = fewer than {result.maturity_days:.0f} days since the cohort ended: too early to judge")
    if result.leaks.height:
        print_frame(result.leaks.head(30), "Where leads leak out, and why")


@app.command()
def plan(
    target_deals: Annotated[float | None, typer.Option("--target-deals", help="Won deals wanted.")] = None,
    target_revenue: Annotated[float | None, typer.Option("--target-revenue", help="Won revenue wanted.")] = None,
    period: Annotated[str | None, typer.Option("--period", help="The period the target is for (2017Q4, 2017-11, 2018): sets the deadline.")] = None,
    by: Annotated[LeadGroup, typer.Option("--by", help="Split the leads needed by this column.")] = LeadGroup.source,
    db: DbOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Reverse funnel: leads (per source) and deals (per stage) needed to reach a target, and by when.

    First what the current pipeline should deliver; then, for the gap, the leads and deals
    needed from the measured conversion rates and time lags, with a range from their uncertainty.

    Example:
        dealflow plan --target-deals 100
        dealflow plan --target-revenue 2500000 --period 2017Q4 --format json
    """
    from dealflow.analytics.plan import plan as make_plan

    result = make_plan(load_history(db, as_of), target_deals=target_deals, target_revenue=target_revenue, period=period, by=by.value)
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.by_source)
        return
    target = f"{fmt_value(target_deals)} won deals" if target_deals is not None else f"{fmt_value(target_revenue)} won revenue"
    lo, hi = result.leads_needed_range
    lines = [
        f"Target {target}" + (f" in {result.period} (deadline {result.deadline:%Y-%m-%d})" if result.deadline else ""),
        f"Current pipeline should deliver [bold]{result.expected_deals:,.1f}[/] deals"
        + (f" ({fmt_value(result.expected_revenue)})" if result.expected_revenue is not None else ""),
        f"Gap [bold]{result.gap_deals:,.1f}[/] deals → [bold]{result.deals_needed:,}[/] more deals to win",
        f"Leads needed [bold]{fmt_value(result.leads_needed)}[/] at {_pct(result.lead_rate)} lead-to-won"
        + (f" (range {fmt_value(lo)} to {fmt_value(hi)})" if lo is not None else "")
        + (f", entering by [bold]{result.enter_by:%Y-%m-%d}[/]" if result.enter_by else ""),
    ]
    lines += [f"[yellow]Note[/]: {n}" for n in result.notes]
    console.print(Panel("\n".join(lines), title="Reverse funnel", title_align="left"))
    print_frame(result.by_source, f"Leads needed by {by.value}", "split by each group's share of past leads")
    if result.stages.height:
        print_frame(result.stages.select("stage", "closed_deals", "won", "win_rate", "lag_days", "deals_needed",
                                         "deals_needed_low", "deals_needed_high", "enter_by"),
                    "Deals needed per stage", "win rate = share of closed deals that reached the stage and were won")
    if result.pipeline.height:
        print_frame(result.pipeline, "Expected from the current pipeline")


@app.command()
def leads(
    include_leaky: Annotated[bool, typer.Option("--include-leaky", help="Keep fields flagged as leaky (filled in after the outcome).")] = False,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Leave this field out (repeatable).")] = None,
    top: Annotated[int, typer.Option("--top", help="Show the N best-scored leads not yet converted.")] = 20,
    evaluate: Annotated[bool, typer.Option("--evaluate/--no-evaluate", help="Measure the scores out of sample beside a naive Bayes baseline.")] = True,
    db: DbOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Lead scores: how likely each lead is to convert, why, and how accurate the scores are.

    Evaluated on a time split (or cross-validation when leads have no dates) beside a naive
    Bayes baseline. Fields that alone predict the outcome almost perfectly are flagged as
    leaky (filled in after the outcome) and left out.

    Example:
        dealflow leads
        dealflow leads --top 50 --format csv > scores.csv
    """
    from dealflow.analytics.lead_scores import LeadScorer, evaluate_lead_scores, find_leaky_fields, lead_table

    history = load_history(db, as_of)
    table = lead_table(history)
    leaky = find_leaky_fields(table)
    excluded = tuple(exclude or ())
    evaluation = evaluate_lead_scores(history, include_leaky=include_leaky, exclude=excluded) if evaluate else None
    scorer = LeadScorer(include_leaky=include_leaky, exclude=excluded)
    scorer.fit_table(table, leaky)
    scored = scorer.explain(history).join(
        history.leads.select(pl.col("id").alias("lead_id"), "source", "converted"), on="lead_id", how="left"
    ).sort("probability", descending=True)
    candidates = scored.filter(~pl.col("converted").fill_null(False)).head(top)
    if format is Format.json:
        print_json({"evaluation": evaluation.to_dict() if evaluation else None, "leaky": leaky,
                    "excluded": scorer.excluded_, "leads": candidates})
        return
    if format is Format.csv:
        print_csv(scored)
        return
    for r in leaky.filter(pl.col("leaky")).to_dicts():
        console.print(f"[yellow]Warning[/]: {r['field']!r} alone predicts conversion (AUC {r['auc']:.3f} where filled); "
                      f"it is probably filled in after the outcome. {'Kept (--include-leaky).' if include_leaky else 'Left out; --include-leaky keeps it.'}")
    if evaluation:
        print_frame(evaluation.metrics, f"Lead-score accuracy ({evaluation.method}, {evaluation.leads:,} leads)",
                    "AUC: 0.5 is a coin toss, 1.0 perfect; Brier and log loss: lower is better")
    print_frame(candidates.select("external_id", "source", "probability", "reasons"),
                f"Top {top} leads not yet converted", "reasons: fields that moved the score most (log-odds)")


@app.command()
def products(
    db: DbOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Product potential: win rates, deal sizes, cycle, pipeline, drop-out, trend, small changes.

    Per product: deals, win rate by count and value, won amounts, cycle, open / weighted /
    forecast pipeline, the stage its deals drop out at, lost reasons, trend by quarter; then the
    small changes ranked by the extra won revenue if the product converted at a stage like the
    median of the other products (with the deals behind each figure).

    Example:
        dealflow products
        dealflow products --format json
    """
    from dealflow.analytics.products import product_report

    result = product_report(load_history(db, as_of))
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.products)
        return
    print_frame(result.products.select("product", "deals", "won", "lost", "open", "win_rate", "value_win_rate", "won_amount"), "Products")
    print_frame(result.products.select("product", "avg_won_amount", "median_won_amount", "cycle_median_days", "cycle_p75_days"),
                "Deal size and cycle", "cycle = days from created (or first known date) to closed")
    print_frame(result.products.select("product", "open_pipeline", "weighted_pipeline", "forecast", "drop_out_stage",
                                       "drop_out_deals", "top_lost_reasons"), "Pipeline and losses",
                "open deals without an amount are valued at list price")
    trend = result.trend.pivot(on="quarter", index="product", values="win_rate", sort_columns=True)
    print_frame(trend, "Win rate by quarter closed")
    print_frame(result.changes.head(15).select("product", "stage", "deals", "conversion", "others_median", "extra_won", "extra_revenue"),
                "Small changes that would sell the most",
                "extra revenue if the product converted at that stage like the other products' median; deals = how many it rests on")


@app.command("cross-sell")
def cross_sell_command(
    product: Annotated[str | None, typer.Option("--product", help="Only what buyers of this product also bought.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only suggestions for this account.")] = None,
    top: Annotated[int, typer.Option("--top", help="Rows to show per table.")] = 30,
    db: DbOption = None,
    as_of: AsOfOption = None,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Cross-sell: what buyers of X also bought, and what accounts lack that their peers bought.

    Example:
        dealflow cross-sell
        dealflow cross-sell --account "Acme Corporation" --format json
    """
    from dealflow.analytics.cross_sell import cross_sell

    result = cross_sell(load_history(db, as_of), product=product, account=account)
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.whitespace)
        return
    print_frame(result.also_bought.head(top), "Accounts that bought X also bought Y",
                "share = of X's buying accounts, those that also bought Y; lift > 1: more than accounts in general")
    print_frame(result.whitespace.head(top), "Not bought yet, though their peers did",
                "score = highest share over the products the account bought (because)")
