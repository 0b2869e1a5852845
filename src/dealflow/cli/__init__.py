"""Command-line interface. ``main`` runs the group and turns errors into clear messages.

Usage errors (unknown command, bad option value) print click's usage message and exit 2;
dealflow's own errors print one red line and exit 1. Nothing prints a traceback on purpose.
"""
from __future__ import annotations

import sys

import typer

from dealflow.cli.app import app, reflow_all_help
from dealflow.errors import DealflowError

# Each module registers its commands on ``app`` when imported.
from dealflow.cli import admin_cmd, export_cmd, import_cmd, report_cmd, sample_cmd, teams_cmd  # noqa: F401,E402
from dealflow.cli import leads_cmd, forecast_cmd, process_cmd, serve_cmd  # noqa: F401,E402
from dealflow.cli import rates_cmd  # noqa: F401,E402

reflow_all_help(app)  # docstrings are wrapped for the source; help should fill the terminal


def _click_exception_types() -> tuple[type[BaseException], ...]:
    """ClickException from typer's vendored click (typer >= 0.29) and from click itself, whichever exist."""
    types: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        types.append(VendoredClickException)
    except ImportError:  # older typer uses click directly
        pass
    try:
        import click

        types.append(click.ClickException)
    except ImportError:
        pass
    return tuple(types)


def _abort_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [typer.Abort]
    try:
        from typer._click.exceptions import Abort as VendoredAbort

        types.append(VendoredAbort)
    except ImportError:
        pass
    try:
        import click

        types.append(click.exceptions.Abort)
    except ImportError:
        pass
    return tuple(types)


CLICK_EXCEPTIONS = _click_exception_types()
ABORTS = _abort_types()


def main(argv: list[str] | None = None) -> None:
    try:
        rv = app(args=argv, prog_name="dealflow", standalone_mode=False)
    except DealflowError as exc:
        typer.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)
    except ABORTS:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except CLICK_EXCEPTIONS as exc:  # usage errors: the usage line, a hint and the problem; exit 2
        if not (type(exc).__name__ == "NoArgsIsHelpError" and not exc.format_message().strip()):  # type: ignore[attr-defined]
            exc.show()  # type: ignore[attr-defined]  # (with no arguments rich has printed the help already)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except BrokenPipeError:  # `dealflow export deals - | head`: the reader went away
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    # typer.Exit(code) returns its code in non-standalone mode
    sys.exit(rv if isinstance(rv, int) else 0)
