"""``dealflow backup`` and ``dealflow restore``."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, console, err_console, open_store, settings_for
from dealflow.errors import ConfigError


def _existing_store(db: str | None):  # type: ignore[no-untyped-def]
    """Open the store, refusing a SQLite file that does not exist yet (a mistyped --db would back up an empty one)."""
    from dealflow.store.db import resolve_url, sqlite_path

    path = sqlite_path(resolve_url(settings_for(db).database_url))
    if path is not None and not path.exists():
        raise ConfigError(f"no database at {path} to back up; check --db (or $DEALFLOW_DATABASE_URL)")
    return open_store(db)


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="File to write the backup to; its folder must exist.")],
    db: DbOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite TARGET if it exists.")] = False,
) -> None:
    """Back up the whole store while it is in use (SQLite online backup, or pg_dump).

    Refuses to overwrite an existing file unless --force, and to back up a database that does not exist.

    Example:
        dealflow backup backups/dealflow-2024-05-01.db
    """
    from dealflow.store.backup import backup as backup_store

    store = _existing_store(db)
    console.print(f"Backed up {store.url} to {backup_store(store, target, force=force)}")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file written by dealflow backup.")],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the store's contents with a backup. Everything written since the backup is lost.

    The file is checked first: anything that is not a dealflow backup is refused and nothing changes.

    Example:
        dealflow restore backups/dealflow-2024-05-01.db --yes
    """
    from dealflow.store.backup import check_backup
    from dealflow.store.backup import restore as restore_store

    store = open_store(db)
    check_backup(store, source)
    if not yes and not typer.confirm(f"Replace everything in {store.url} with {source}?", default=False):
        err_console.print("Cancelled; nothing was changed.")
        raise typer.Exit(1)
    restore_store(store, source)
    console.print(f"Restored {store.url} from {source}")
