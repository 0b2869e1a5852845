"""Command-line interface. ``main`` runs the group and turns dealflow errors into clear messages."""
from __future__ import annotations

import sys

import typer

from dealflow.cli.app import app
from dealflow.errors import DealflowError

# Each module registers its commands on ``app`` when imported.
from dealflow.cli import admin_cmd, export_cmd, import_cmd, report_cmd, sample_cmd, teams_cmd  # noqa: F401,E402
from dealflow.cli import leads_cmd, forecast_cmd, process_cmd, serve_cmd  # noqa: F401,E402


def main() -> None:
    try:
        app(standalone_mode=False)
    except DealflowError as exc:
        typer.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors come here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
