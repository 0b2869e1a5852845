"""``dealflow rates``: the dated exchange rates that turn deal amounts into the company currency."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, Format, FormatOption, console, open_store, print_csv, print_frame, print_json
from dealflow.cli.import_cmd import ImportKind, import_file

rates = typer.Typer(help="Exchange rates: amounts in other currencies are reported in the company currency through them.",
                    no_args_is_help=True)
app.add_typer(rates, name="rates")


@rates.command("import")
def import_rates(
    file: Annotated[Path, typer.Argument(help="CSV (may be gzipped) or XLSX: a date, a currency code and a rate per row.", metavar="FILE")],
    db: DbOption = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Override the detected mapping: COLUMN=FIELD (valid_from, currency, rate).")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Store the valid rows; write the rejected ones with reasons to a CSV.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the file and show the mapping; store nothing.")] = False,
) -> None:
    """Import exchange rates: how many company-currency units (DEALFLOW_CURRENCY) one unit of a currency is worth from a date on.

    Columns are matched by their headers (date / valid from, currency / code, rate / exchange
    rate). A rate holds until the next date given for its currency. Closed deals are converted
    at the rate on their close date, open deals at the latest rate; a deal in a currency
    without a rate is counted in reports but left out of every amount. Like any import it is
    atomic (one bad row stores nothing) and importing the same file again changes nothing;
    a new rate for a stored date replaces it. Same as `dealflow import rates FILE`.

    Example:
        dealflow rates import rates.csv
        dealflow rates import ecb.xlsx --map "Rate to USD=rate"
    """
    import_file(ImportKind("rates"), file, db=db, map_=map_, skip_invalid=skip_invalid, dry_run=dry_run)


@rates.command("list")
def list_rates(
    db: DbOption = None,
    currency: Annotated[str | None, typer.Option(help="Only this currency (e.g. EUR).", show_default=False)] = None,
    format: FormatOption = Format.table,  # noqa: A002
) -> None:
    """List the exchange rates, each with the day it is valid from and until (the next rate's day before).

    Example:
        dealflow rates list
        dealflow rates list --currency EUR --format csv
    """
    from dealflow.store.frames import load_rates

    store = open_store(db)
    table = load_rates(store).with_columns(
        (pl.col("valid_from").shift(-1).over("currency") - pl.duration(days=1)).alias("valid_until"),
    )
    if currency:
        table = table.filter(pl.col("currency") == currency.strip().upper())
    table = table.select("currency", "valid_from", "valid_until", "rate")
    if format is Format.json:
        print_json({"company_currency": store.currency, "rates": table.to_dicts()})
    elif format is Format.csv:
        print_csv(table)
    elif table.is_empty():
        console.print(f"No exchange rates{' for ' + currency.upper() if currency else ''} yet; import them with `dealflow rates import FILE`.")
    else:
        # Rates are shown as given (a rate of 0.006712 must not print as 0.0067).
        print_frame(table.with_columns(pl.col("rate").cast(pl.String)),
                    f"Exchange rates ({store.currency} per unit)", "a rate holds from its day until the next rate of its currency")
