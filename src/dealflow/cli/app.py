"""The ``dealflow`` command group. Each command lives in its own module under ``dealflow.cli``."""
from __future__ import annotations

import typer

app = typer.Typer(
    name="dealflow",
    help="Sales pipeline management on your own data: import, report, funnels, forecasts and process analysis.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
