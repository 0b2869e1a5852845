"""Commands ``forecast``, ``score``, ``backtest`` and ``generate``: forecasts and how good they are."""
from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.panel import Panel

from dealflow.cli.app import app
from dealflow.cli.common import (
    AsOfOption, DbOption, Format, FormatOption, PeriodKind, console, err_console, fmt_value, load_history, open_store,
    parse_instant, print_csv, print_frame, print_json,
)


class ForecastGroup(StrEnum):
    owner = "owner"
    team = "team"
    product = "product"


class ScorerName(StrEnum):
    dealflow = "dealflow"
    stage_rate = "stage_rate"
    stage_default = "stage_default"
    naive_bayes = "naive_bayes"


class OutFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"




@app.command()
def forecast(
    period: Annotated[str, typer.Option("--period", "-p", help="Month (2017-05), quarter (2017Q3) or year (2017).")],
    by: Annotated[ForecastGroup | None, typer.Option("--by", help="Also split the forecast by this (default: no split).", show_default=False)] = None,
    db: DbOption = None,
    as_of: AsOfOption = None,
    sims: Annotated[int, typer.Option("--sims", help="Monte Carlo runs.")] = 4000,
    track_record: Annotated[int, typer.Option(
        "--track-record", help="Widen P10–P90 by the errors of forecasts made at the start of this many earlier "
        "periods (one more forecast each; 0: the range counts deal-level chance only).")] = 0,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Expected bookings in a period, P10/P50/P90, from open deals and pipeline not created yet.

    Each open deal counts with its win probability times the chance it closes inside the
    period (learned time to close from its stage, and how often close dates slip); deals not
    created yet add the learned creation rate × conversion. Lists the commit and best-case
    deals and the deals that move the outcome most. P10–P90 draws each deal on its own, so at
    scale it is narrow; --track-record widens it by how far earlier forecasts were off.

    Example:
        dealflow forecast --period 2017Q3
        dealflow forecast -p 2012-02 --as-of 2012-02-01 --by owner -f json
        dealflow forecast -p 2023-12 --as-of 2023-12-01 --track-record 6
    """
    from dealflow.domain.periods import parse_period
    from dealflow.forecast.period import forecast_period
    from dealflow.forecast.period import track_record as past_errors

    history, target, at = load_history(db), parse_period(period), parse_instant(as_of)
    errors = past_errors(history, target, as_of=at, periods=track_record, sims=sims) if track_record > 0 else None
    result = forecast_period(history, target, as_of=at, by=by.value if by else None, sims=sims, period_errors=errors)
    if format is Format.json:
        print_json(result.to_dict())
        return
    if format is Format.csv:
        print_csv(result.by if result.by is not None else result.deals)
        return
    lines = [
        f"Expected bookings [bold]{fmt_value(result.expected)}[/]   P10 {fmt_value(result.p10)}   "
        f"P50 [bold]{fmt_value(result.p50)}[/]   P90 {fmt_value(result.p90)}",
        f"existing pipeline {fmt_value(result.existing['expected'])} from {result.existing['deals']:,} open deals · "
        f"new pipeline {fmt_value(result.new['expected'])} (≈{result.new['expected_wins']:.1f} deals not created yet) · "
        f"already booked {fmt_value(result.already_booked)}",
        *[f"[yellow]note[/]: {n}" for n in result.notes],
    ]
    console.print(Panel("\n".join(lines), title=f"Forecast {result.period} · as of {result.as_of:%Y-%m-%d %H:%M} UTC", title_align="left"))
    print_frame(result.summary(), "Existing vs new pipeline")
    if result.by is not None:
        print_frame(result.by, f"By {by.value if by else ''}")
    cols = ["external_id", "stage", "owner", "amount", "win_probability", "in_period_probability", "expected_value"]
    print_frame(result.commit.select(cols).head(15), "Commit (≥70% chance of booking in the period)")
    print_frame(result.best_case.select(cols).head(15), "Best case (30–70%)")
    if result.movers is not None:
        print_frame(result.movers.drop("deal_id"), "Deals that move the outcome most")


@app.command()
def score(
    db: DbOption = None,
    as_of: AsOfOption = None,
    scorer: Annotated[ScorerName, typer.Option("--scorer", help="How to score: dealflow's model, or a simple baseline.")] = ScorerName.dealflow,
    limit: Annotated[int, typer.Option("--limit", help="Show this many deals (0 = all).")] = 30,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Win probability of every open deal, with the factors that move it most.

    Example:
        dealflow score
        dealflow score --as-of 2012-01-15 --format csv
    """
    from dealflow.forecast.scorers import DealflowScorer, make_scorer
    from dealflow.forecast.snapshot import snapshot

    history = load_history(db)
    at = parse_instant(as_of) or history.now
    snap = snapshot(history, at)
    model = make_scorer(scorer.value).fit(history, at)
    if isinstance(model, DealflowScorer):
        scored = model.explain(snap)
    else:
        scored = pl.DataFrame({"deal_id": snap["deal_id"], "probability": model.predict_proba(snap), "reasons": [model.name] * snap.height})
    table = snap.select("deal_id", "external_id", "stage", "owner", "amount").join(scored, on="deal_id").drop("deal_id")
    table = table.sort("probability", descending=True)
    notes = list(getattr(model, "notes_", []))
    if format is Format.json:
        print_json({"as_of": at, "scorer": scorer.value, "notes": notes, "deals": table})
    elif format is Format.csv:
        print_csv(table)
    else:
        for n in notes:
            console.print(f"[yellow]note[/]: {n}")
        print_frame(table.head(limit) if limit else table, f"Open deals as of {at:%Y-%m-%d} · {scorer.value} scorer")


@app.command()
def backtest(
    db: DbOption = None,
    cutoffs: Annotated[list[str] | None, typer.Option("--cutoffs", help="Cut-off instants (repeat, or comma-separate); default: every month start.", show_default=False)] = None,
    period: Annotated[PeriodKind, typer.Option("--period", help="Length of the bookings period forecast at each cut-off.")] = PeriodKind.month,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Replay history: how good every scorer and forecaster would have been.

    At each cut-off the deals open then are scored with what was known then and compared
    with what happened (AUC, Brier, log loss, ECE); each period's bookings forecast is
    compared with the bookings that came (WAPE, P10–P90 coverage).

    Example:
        dealflow backtest
        dealflow backtest --cutoffs 2011-12-01,2012-01-01 --format json
    """
    from dealflow.forecast.backtest import backtest as run

    history = load_history(db)
    points = [parse_instant(c.strip(), option="--cutoffs") for part in (cutoffs or []) for c in part.split(",") if c.strip()]
    show = (lambda m: err_console.print(f"[dim]{m}[/]")) if format is Format.table else None
    result = run(history, points or None, period_kind=period.value, progress=show)  # type: ignore[arg-type]
    if format is Format.json:
        print_json(result.to_dict())
    elif format is Format.csv:
        print_csv(result.scorers)
    else:
        n = len(result.cutoffs)
        print_frame(result.scorers, f"Deal scores over {n} cut-offs", "lower Brier, log loss and ECE are better; higher AUC is better")
        print_frame(result.forecasters, "Period bookings forecasts", "WAPE: error over periods ÷ bookings; coverage: share of periods inside P10–P90")
        if "dealflow" in result.reliability:
            print_frame(result.reliability["dealflow"], "Reliability of dealflow's probabilities")
        for note in result.notes[:5]:
            console.print(f"[yellow]note[/]: {note}")
        console.print(f"[dim]{result.seconds:.0f} s[/]")


@app.command()
def generate(
    deals: Annotated[int, typer.Option("--deals", "-n", help="How many deals.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same data.")] = 0,
    days: Annotated[int, typer.Option("--days", help="Length of the simulated history in days.")] = 1095,
    start: Annotated[str, typer.Option("--start", help="First day of the simulated history.")] = "2021-01-01",
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write import-ready files to this folder instead of the store.", show_default=False)] = None,
    out_format: Annotated[OutFormat, typer.Option("--out-format", help="File format for --out.")] = OutFormat.csv,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """Write a realistic synthetic pipeline, with each deal's true win probability, into the store.

    Owners of different skill, products, accounts, sources, seasonality, stage histories with
    setbacks, activities, slipping close dates and lost reasons. The true probabilities let
    `dealflow backtest` print an oracle row.

    With --out, writes owners, accounts, products, deals, stage_history and activities files
    instead (headers are import field names; import them in that order; close-date edits and
    true probabilities are not included).

    Example:
        dealflow generate --deals 20000 --seed 1 --db synthetic.db
        dealflow generate --deals 1000000 --out data/ --out-format parquet
    """
    from datetime import date

    from dealflow.synthetic import generate as run
    from dealflow.synthetic.generator import generate_files

    if out is not None:
        result, paths = generate_files(out, deals=deals, seed=seed, days=days, start=date.fromisoformat(start), fmt=out_format.value)
        if format is Format.table:
            console.print("Wrote " + ", ".join(f"{p} ({p.stat().st_size / 1e6:,.1f} MB)" for p in paths.values()))
    else:
        result = run(open_store(db), deals=deals, seed=seed, days=days, start=date.fromisoformat(start))
    if format is Format.json:
        print_json(result.to_dict())
    elif format is Format.csv:
        print_csv(pl.DataFrame([result.to_dict()]))
    else:
        console.print(
            f"Generated {result.deals:,} deals ({result.won:,} won, {result.lost:,} lost, {result.open:,} open) "
            f"from {result.start} to {result.end}: {result.stage_changes:,} stage changes, "
            f"{result.field_changes:,} close-date edits{' (not in the files)' if out else ''}, {result.activities:,} activities; "
            f"mean true win probability {result.mean_true_probability:.3f}"
        )
