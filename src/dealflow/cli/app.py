"""The ``dealflow`` command group. Each command lives in its own module under ``dealflow.cli``."""
from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="dealflow",
    help="Sales pipeline management on your own data: import, report, funnels, forecasts and process analysis.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def reflow_help(text: str | None) -> str | None:
    """Join the hard-wrapped lines of each prose paragraph so help fills the terminal's width.

    Blocks such as "Example:" followed by indented command lines keep their line breaks.
    """
    if not text:
        return text
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.splitlines()
        block = lines[0].rstrip().endswith(":") or any(line.startswith((" ", "\t")) for line in lines[1:])
        out.append(para if block else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def reflow_all_help(typer_app: typer.Typer) -> None:
    """Apply ``reflow_help`` to every command and group registered on ``typer_app``."""
    import inspect

    for info in typer_app.registered_commands:
        info.help = reflow_help(info.help or (inspect.getdoc(info.callback) if info.callback else None))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            reflow_all_help(group.typer_instance)


def version_text() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"dealflow {version('dealflow')}"
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "dealflow (version unknown: not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.", callback=_show_version, is_eager=True)] = False,
) -> None:
    """Sales pipeline management on your own data: import, report, funnels, forecasts and process analysis."""
