"""``dealflow report``: the pipeline as it stands (or stood)."""
from __future__ import annotations

import polars as pl
from rich.panel import Panel

from dealflow.analytics.report import PipelineReport, pipeline_report
from dealflow.cli.app import app
from dealflow.cli.common import AsOfOption, DbOption, Format, FormatOption, console, fmt_value, open_store, parse_instant, print_csv, print_frame, print_json
from dealflow.store.frames import load_history


def render_report(report: PipelineReport) -> None:
    t = report.totals
    med = {r["status"]: r["median_days"] for r in report.cycle.to_dicts()}
    when = f"as of {report.as_of.isoformat()}" if report.as_of else f"data up to {report.data_as_of:%Y-%m-%d %H:%M} UTC"
    lines = [
        f"Deals  open [bold]{t['open']:,}[/]  won [bold green]{t['won']:,}[/]  lost [bold red]{t['lost']:,}[/]  (total {t['total']:,})",
        f"Win rate by count [bold]{fmt_value(t['win_rate'])}[/]   by value {fmt_value(t['value_win_rate'])}   won amount [bold]{fmt_value(t['won_amount'])}[/]",
        f"Median cycle days  won [bold]{fmt_value(med.get('won'))}[/]  lost [bold]{fmt_value(med.get('lost'))}[/]",
        f"Open amount {fmt_value(t['open_amount'])}   weighted {fmt_value(t['weighted_amount'])}   sales velocity {fmt_value(t['sales_velocity_per_day'])} per day",
    ]
    est = report.estimates
    if est["estimated_deals"]:
        lines.append(
            f"[yellow]Estimate[/]: {est['estimated_deals']:,} open deals have no amount; at their product's list price they are "
            f"worth {fmt_value(est['estimated_open_amount'])} (weighted {fmt_value(est['estimated_weighted_amount'])})"
        )
    console.print(Panel("\n".join(lines), title=f"Pipeline report · {when}", title_align="left"))
    print_frame(report.cycle, "Cycle length (days, created to closed)")
    stages = report.stages if report.stages["pipeline"].n_unique() > 1 else report.stages.drop("pipeline")
    print_frame(stages, "Stages", "reached = deals that ever entered the stage; conversion = share of them that went further")
    print_frame(report.owners.select("owner", "team", "open", "won", "lost", "win_rate", "won_amount", "open_amount"), "Owners")
    print_frame(report.products.select("product", "open", "won", "lost", "win_rate", "won_amount", "avg_won_amount", "median_cycle_won"), "Products")
    print_frame(report.ageing, "Ageing of open deals")


@app.command()
def report(
    db: DbOption = None,
    as_of: AsOfOption = None,
    pipeline: str | None = None,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Deals by status, win rates, cycle times, stages, owners, products, ageing and velocity.

    With --as-of, the pipeline is rebuilt as it stood then: the deals that existed, in the
    stage they were in, from the stage history.

    Example:
        dealflow report
        dealflow report --as-of 2012-01-01T00:00:00+01:00 --format json
    """
    history = load_history(open_store(db))
    if pipeline:
        from dataclasses import replace

        history = replace(history, deals=history.deals.filter(pl.col("pipeline") == pipeline),
                          stages=history.stages.filter(pl.col("pipeline") == pipeline))
    result = pipeline_report(history, parse_instant(as_of))
    if format is Format.json:
        print_json(result.to_dict())
    elif format is Format.csv:
        print_csv(result.stages)
    else:
        render_report(result)
