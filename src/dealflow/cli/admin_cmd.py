"""``dealflow backup`` and ``dealflow restore``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, console, open_store
from dealflow.store.backup import backup as backup_store
from dealflow.store.backup import restore as restore_store


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="File to write the backup to.")],
    db: DbOption = None,
) -> None:
    """Back up the whole store while it is in use (SQLite online backup, or pg_dump).

    Example:
        dealflow backup backups/dealflow-2024-05-01.db
    """
    store = open_store(db)
    console.print(f"Backed up {store.url} to {backup_store(store, target)}")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file written by dealflow backup.")],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the store's contents with a backup. Everything written since the backup is lost.

    Example:
        dealflow restore backups/dealflow-2024-05-01.db --yes
    """
    store = open_store(db)
    if not yes and not typer.confirm(f"Replace everything in {store.url} with {source}?"):
        raise typer.Abort()
    restore_store(store, source)
    console.print(f"Restored {store.url} from {source}")
