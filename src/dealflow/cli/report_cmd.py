"""``dealflow report``: the pipeline as it stands (or stood)."""
from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.panel import Panel

from dealflow.cli.app import app
from dealflow.cli.common import (
    AsOfOption, DbOption, Format, FormatOption, console, err_console, fmt_value, load_history, parse_instant, print_csv,
    print_frame, print_json,
)

if TYPE_CHECKING:
    from dealflow.analytics.report import PipelineReport

NO_DATA_HINT = "no data yet: load a sample with `dealflow sample maven_crm` or import a file (`dealflow import deals FILE`)"


class ReportTable(StrEnum):
    stages = "stages"
    owners = "owners"
    products = "products"
    ageing = "ageing"
    cycle = "cycle"


def _drop_empty_money(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Drop amount columns that are zero or missing on every row (data without amounts, e.g. open deals in Maven)."""
    empty = [c for c in columns if c in frame.columns and frame.height and frame[c].fill_null(0).fill_nan(0).abs().sum() == 0]
    return frame.drop(empty)


def render_report(report: PipelineReport) -> None:
    t = report.totals
    med = {r["status"]: r["median_days"] for r in report.cycle.to_dicts()}
    when = f"as of {report.as_of.isoformat()}" if report.as_of else f"data up to {report.data_as_of:%Y-%m-%d %H:%M} UTC"
    lines = [
        f"Deals  open [bold]{t['open']:,}[/]  won [bold green]{t['won']:,}[/]  lost [bold red]{t['lost']:,}[/]  (total {t['total']:,})",
        f"Win rate by count [bold]{fmt_value(t['win_rate'], 'win_rate')}[/]   by value {fmt_value(t['value_win_rate'], 'value_win_rate')}"
        f"   won amount [bold]{fmt_value(t['won_amount'])}[/]",
        f"Median cycle days  won [bold]{fmt_value(med.get('won'), 'days')}[/]  lost [bold]{fmt_value(med.get('lost'), 'days')}[/]",
        f"Open amount {fmt_value(t['open_amount'])}   weighted {fmt_value(t['weighted_amount'])}"
        f"   sales velocity {fmt_value(t['sales_velocity_per_day'])} per day",
    ]
    if report.money.get("note"):
        lines.append(f"[yellow]Currency[/]: {report.money['note']}")
    est = report.estimates
    if est["estimated_deals"]:
        lines.append(
            f"[yellow]Estimate[/]: {est['estimated_deals']:,} open deals have no amount; at their product's list price they are "
            f"worth {fmt_value(est['estimated_open_amount'])} (weighted {fmt_value(est['estimated_weighted_amount'])})"
        )
    currency = f" · amounts in {report.money['currency']}" if report.money.get("currency") else ""
    console.print(Panel("\n".join(lines), title=f"Pipeline report · {when}{currency}", title_align="left"))
    print_frame(report.cycle, "Cycle length (days, created to closed)",
                labels={"median_days": "median", "p75_days": "p75", "p90_days": "p90", "mean_days": "mean"})
    stages = report.stages if report.stages["pipeline"].n_unique() > 1 else report.stages.drop("pipeline")
    stages = _drop_empty_money(stages.drop("kind", "advanced"), ("open_amount", "weighted_amount"))
    print_frame(stages, "Stages", "reached = deals that ever entered the stage; conversion = share of them that went further",
                labels={"probability": "prob.", "open_deals": "open", "open_amount": "open amt", "weighted_amount": "weighted"})
    owners = _drop_empty_money(report.owners.select("owner", "team", "open", "won", "win_rate", "won_amount", "open_amount"),
                               ("open_amount",))
    print_frame(owners, "Owners", labels={"win_rate": "win rate", "won_amount": "won amt", "open_amount": "open amt"})
    print_frame(report.products.select("product", "open", "won", "lost", "win_rate", "won_amount", "avg_won_amount", "median_cycle_won"),
                "Products", "cycle = median days from created to won",
                labels={"win_rate": "win rate", "won_amount": "won amt", "avg_won_amount": "avg won", "median_cycle_won": "cycle"})
    print_frame(_drop_empty_money(report.ageing, ("open_amount",)), "Ageing of open deals")


@app.command()
def report(
    db: DbOption = None,
    as_of: AsOfOption = None,
    pipeline: Annotated[str | None, typer.Option(
        "--pipeline", help="Only this pipeline's deals and stages (name, any case).", show_default=False)] = None,
    format: FormatOption = Format.table,  # noqa: A002
    table: Annotated[ReportTable, typer.Option(
        "--table", help="With --format csv: which table to write (CSV holds one table).")] = ReportTable.stages,
) -> None:
    """Deals by status, win rates, cycle times, stages, owners, products, ageing and velocity.

    With --as-of, the pipeline is rebuilt as it stood then: the deals that existed,
    in the stage they were in, from the stage history. --format json holds everything;
    --format csv writes one table, the stages unless --table says otherwise.

    Example:
        dealflow report
        dealflow report --pipeline MavenTech --format csv --table owners
        dealflow report --as-of 2012-01-01T00:00:00+01:00 --format json
    """
    from dealflow.analytics.report import pipeline_report

    instant = parse_instant(as_of)
    history = load_history(db)
    if history.deals.height == 0:
        err_console.print(f"[yellow]{NO_DATA_HINT}[/]", soft_wrap=True)
    if pipeline:
        from dataclasses import replace

        names = sorted(set(history.stages["pipeline"].drop_nulls().to_list()) | set(history.deals["pipeline"].drop_nulls().to_list()))
        match = [n for n in names if n.casefold() == pipeline.strip().casefold()]
        if not match:
            known = ", ".join(names) if names else "none yet"
            raise typer.BadParameter(f"no pipeline {pipeline!r}; pipelines: {known}", param_hint="--pipeline")
        name = match[0]
        history = replace(history, deals=history.deals.filter(pl.col("pipeline") == name),
                          stages=history.stages.filter(pl.col("pipeline") == name))
    result = pipeline_report(history, instant)
    if format is Format.json:
        print_json(result.to_dict())
    elif format is Format.csv:
        print_csv(getattr(result, table.value))
    else:
        render_report(result)
