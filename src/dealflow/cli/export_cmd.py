"""``dealflow export``: any table of the history as CSV or Parquet, now or as of an instant."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dealflow.cli.app import app
from dealflow.cli.common import AsOfOption, DbOption, console, open_store, parse_instant
from dealflow.store.frames import load_history

TABLES = ("deals", "stage_changes", "field_changes", "activities", "leads", "accounts", "products", "owners", "stages", "deal_products")


@app.command()
def export(
    table: Annotated[str, typer.Argument(help=f"What to export: {', '.join(TABLES)}.")],
    file: Annotated[Path, typer.Argument(help="Output file; .parquet writes Parquet, anything else CSV.")],
    db: DbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Export a table as CSV or Parquet, joined with the names people read (stage, owner, account).

    Example:
        dealflow export deals deals.parquet
        dealflow export stage_changes history.csv --as-of 2012-01-01
    """
    if table not in TABLES:
        raise typer.BadParameter(f"choose one of: {', '.join(TABLES)}", param_hint="TABLE")
    history = load_history(open_store(db))
    instant = parse_instant(as_of)
    if instant is not None:
        history = history.as_of(instant)
    frame = getattr(history, table)
    if file.suffix.lower() == ".parquet":
        frame.write_parquet(file)
    else:
        frame.write_csv(file)
    console.print(f"Wrote {frame.height:,} {table} to {file}")
