"""Commands: ``serve`` (the web app and REST API) and ``users`` (who may sign in)."""
from __future__ import annotations

import sys
from typing import Annotated

import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, Format, FormatOption, console, open_store, print_csv, print_frame, print_json, settings_for

users_app = typer.Typer(help="Manage who may sign in to the web app and the API.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Start the web app (board, deal pages, dashboards, import) and the REST API under /api.

    Set DEALFLOW_SECRET_KEY to keep sessions valid across restarts; create a login first with
    ``dealflow users add``.

    Example:
        dealflow users add me@example.com --role admin
        dealflow serve --db crm.db --port 8000
    """
    import uvicorn

    from dealflow.store import Store
    from dealflow.web import create_app

    settings = settings_for(db)
    store = Store(settings.database_url)
    web = create_app(settings, store, warm=True)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    console.print(f"dealflow is at [bold]http://{shown}:{port}/[/bold] (API docs at /docs); Ctrl+C stops it.")
    if not settings.secret_key:
        console.print("[dim]DEALFLOW_SECRET_KEY is not set: sessions end when the server restarts.[/dim]")
    uvicorn.run(web, host=host, port=port, log_level="info")


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The email the user signs in with.")],
    role: Annotated[str, typer.Option(help="admin, manager or rep.")] = "rep",
    owner: Annotated[str | None, typer.Option(help="External id of the owner whose deals are this user's.")] = None,
    db: DbOption = None,
) -> None:
    """Add a user (or reset an existing user's password and role). The password is asked for,
    or read from the first line of stdin when it is not a terminal.

    Example:
        dealflow users add ana@example.com --role manager
        echo 's3cret-pass' | dealflow users add bot@example.com --role rep
    """
    from sqlalchemy import select

    from dealflow.errors import NotFound
    from dealflow.store import models as m
    from dealflow.web.auth import ROLES, add_user

    if role not in ROLES:
        raise typer.BadParameter(f"choose one of {', '.join(ROLES)}", param_hint="--role")
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    store = open_store(db)
    with store.atomic() as session:
        owner_id = None
        if owner:
            owner_id = session.scalar(select(m.Owner.id).where(m.Owner.external_id == owner))
            if owner_id is None:
                raise NotFound(f"no owner {owner!r}; owners come from imported deals (see `dealflow export owners`)")
        user = add_user(session, email, password, role, owner_id=owner_id)
        console.print(f"{user.email} can sign in as {user.role}.")


@users_app.command("list")
def users_list(db: DbOption = None, format: FormatOption = Format.table) -> None:  # noqa: A002
    """List the users who may sign in.

    Example:
        dealflow users list --format json
    """
    import polars as pl
    from sqlalchemy import select

    from dealflow.store import models as m

    store = open_store(db)
    with store.session() as session:
        rows = session.execute(select(m.User.id, m.User.email, m.User.role, m.User.active, m.User.created_at).order_by(m.User.email)).all()
    frame = pl.DataFrame([r._asdict() for r in rows], schema={"id": pl.Int64, "email": pl.String, "role": pl.String,
                                                              "active": pl.Boolean, "created_at": pl.Datetime}, orient="row")
    if format is Format.json:
        print_json(frame)
    elif format is Format.csv:
        print_csv(frame)
    else:
        print_frame(frame, title="Users")
