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
    workers: Annotated[int, typer.Option(min=1, help="Processes serving requests; each holds its own copy of the data "
                                                     "in memory and computes its own analyses (see docs/benchmarks.md).")] = 1,
) -> None:
    """Start the web app (board, deal pages, dashboards, import) and the REST API under /api.

    Set DEALFLOW_SECRET_KEY to keep sessions valid across restarts; create a login first with
    ``dealflow users add``.

    Example:
        dealflow users add me@example.com --role admin
        dealflow serve --db crm.db --port 8000
        dealflow serve --db postgresql+psycopg://me@localhost/crm --workers 2
    """
    import uvicorn

    from dealflow.store import Store
    from dealflow.web import create_app

    settings = settings_for(db)
    store = Store(settings.database_url, currency=settings.currency)  # opens (or refuses) the database before saying where
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    console.print(f"dealflow is at [bold]http://{shown}:{port}/[/bold] (API docs at /docs); Ctrl+C stops it.")
    if not settings.secret_key:
        console.print("[dim]DEALFLOW_SECRET_KEY is not set: sessions end when the server restarts.[/dim]")
    if workers > 1:  # uvicorn starts each worker from an import string: they read the settings from the environment
        import os
        import secrets

        store.dispose()
        os.environ["DEALFLOW_DATABASE_URL"] = settings.database_url
        os.environ.setdefault("DEALFLOW_SECRET_KEY", settings.secret_key or secrets.token_urlsafe(32))  # one key for every worker
        uvicorn.run("dealflow.web.app:create_app_from_env", factory=True, workers=workers, host=host, port=port, log_level="info")
        return
    uvicorn.run(create_app(settings, store, warm=True), host=host, port=port, log_level="info")


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The email the user signs in with.")],
    role: Annotated[str, typer.Option(help="admin, manager or rep.")] = "rep",
    owner: Annotated[str | None, typer.Option(help="The owner (external id, name or id) whose deals are this user's.")] = None,
    team: Annotated[str | None, typer.Option(help="The team (name) this user belongs to; defaults to the owner's team.")] = None,
    db: DbOption = None,
) -> None:
    """Add a user (or reset an existing user's password and role). The password is asked for,
    or read from the first line of stdin when it is not a terminal.

    Example:
        dealflow users add ana@example.com --role manager --team West
        echo 's3cret-pass' | dealflow users add bot@example.com --role rep --owner "Darcel Schlecht"
    """
    from dealflow.store import users

    if role not in users.ROLES:
        raise typer.BadParameter(f"choose one of {', '.join(users.ROLES)}", param_hint="--role")
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    store = open_store(db)
    with store.atomic() as session:
        owner_id = users.find_owner_id(session, owner) if owner else None
        team_id = users.find_team_id(session, team) if team else None
        user = users.add_user(session, email, password, role, owner_id=owner_id, team_id=team_id, by=_cli())
        console.print(f"{user.email} can sign in as {user.role}.")


def _cli():  # type: ignore[no-untyped-def]
    from dealflow.store.audit import Actor, cli_actor

    return Actor(cli_actor())


@users_app.command("disable")
def users_disable(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    db: DbOption = None,
) -> None:
    """Stop a user signing in: their sessions end and their API tokens are revoked.

    Example:
        dealflow users disable ana@example.com
    """
    from dealflow.store import users

    store = open_store(db)
    with store.atomic() as session:
        user = users.find_user(session, email)
        revoked = users.set_active(session, user, False, by=_cli())
        console.print(f"{user.email} is disabled ({revoked} token(s) revoked).")


@users_app.command("enable")
def users_enable(email: Annotated[str, typer.Argument(help="The user's email.")], db: DbOption = None) -> None:
    """Let a disabled user sign in again.

    Example:
        dealflow users enable ana@example.com
    """
    from dealflow.store import users

    store = open_store(db)
    with store.atomic() as session:
        user = users.find_user(session, email)
        users.set_active(session, user, True, by=_cli())
        console.print(f"{user.email} may sign in again.")


@users_app.command("set-role")
def users_set_role(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    role: Annotated[str, typer.Argument(help="admin, manager or rep.")],
    owner: Annotated[str | None, typer.Option(help="Also link the user to this owner (external id, name or id).")] = None,
    team: Annotated[str | None, typer.Option(help="Also put the user in this team (name).")] = None,
    db: DbOption = None,
) -> None:
    """Change a user's role (and optionally their owner and team). Open sessions pick it up at once.

    Example:
        dealflow users set-role ana@example.com manager --team West
    """
    from dealflow.store import users

    if role not in users.ROLES:
        raise typer.BadParameter(f"choose one of {', '.join(users.ROLES)}", param_hint="ROLE")
    store = open_store(db)
    with store.atomic() as session:
        user = users.find_user(session, email)
        users.update_user(session, user, role=role, by=_cli(),
                          owner_id=users.find_owner_id(session, owner) if owner else users.KEEP,
                          team_id=users.find_team_id(session, team) if team else users.KEEP)
        console.print(f"{user.email} is now {role}.")


tokens_app = typer.Typer(help="API tokens for scripts: created (shown once), listed, revoked.", no_args_is_help=True)
users_app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Argument(help="The user the token acts as.")],
    scope: Annotated[str, typer.Option(help="read or write.")] = "read",
    name: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days until it expires.")] = 30,
    db: DbOption = None,
) -> None:
    """Create an API token and print it: this is the only time it is shown (only its hash is stored).

    Example:
        dealflow users tokens create bot@example.com --scope read --name nightly-report
    """
    from dealflow.store.audit import cli_actor, record
    from dealflow.store.users import find_user, issue_token

    if scope not in ("read", "write"):
        raise typer.BadParameter("choose read or write", param_hint="--scope")
    store = open_store(db)
    with store.atomic() as session:
        user = find_user(session, email)
        secret, row = issue_token(session, user, scope=scope, name=name, days=days)
        record(session, "create", actor=cli_actor(), entity="api_token", entity_id=row.id, changes={"scope": scope, "name": name})
        expires = row.expires_at
    print(secret)
    typer.echo(f"{scope} token for {email}, expires {expires:%Y-%m-%d}; it is not shown again.", err=True)


@tokens_app.command("list")
def tokens_list(email: Annotated[str, typer.Argument(help="The user.")], db: DbOption = None,
                format: FormatOption = Format.table) -> None:  # noqa: A002
    """List a user's tokens (never their secrets).

    Example:
        dealflow users tokens list bot@example.com
    """
    import polars as pl
    from sqlalchemy import select

    from dealflow.store import models as m
    from dealflow.store.users import find_user

    store = open_store(db)
    with store.session() as session:
        user = find_user(session, email)
        rows = session.execute(select(m.ApiToken.id, m.ApiToken.name, m.ApiToken.scope, m.ApiToken.created_at,
                                      m.ApiToken.expires_at, m.ApiToken.revoked_at)
                               .where(m.ApiToken.user_id == user.id).order_by(m.ApiToken.id)).all()
    frame = pl.DataFrame([r._asdict() for r in rows], schema={"id": pl.Int64, "name": pl.String, "scope": pl.String,
                                                              "created_at": pl.Datetime, "expires_at": pl.Datetime,
                                                              "revoked_at": pl.Datetime}, orient="row")
    if format is Format.json:
        print_json(frame)
    elif format is Format.csv:
        print_csv(frame)
    else:
        print_frame(frame, title=f"Tokens of {email}")


@tokens_app.command("revoke")
def tokens_revoke(
    email: Annotated[str, typer.Argument(help="The user whose tokens to revoke.")],
    token_id: Annotated[int | None, typer.Option("--id", help="Only this token (see `users tokens list`); default: all.")] = None,
    db: DbOption = None,
) -> None:
    """Revoke one or all of a user's API tokens.

    Example:
        dealflow users tokens revoke bot@example.com --id 3
    """
    from dealflow.store.audit import cli_actor, record
    from dealflow.store.users import find_user, revoke_tokens

    store = open_store(db)
    with store.atomic() as session:
        user = find_user(session, email)
        n = revoke_tokens(session, user.id, token_id)
        record(session, "revoke", actor=cli_actor(), entity="api_token", entity_id=token_id, changes={"user": user.email, "revoked": n})
        console.print(f"{n} token(s) of {user.email} revoked.")


@users_app.command("list")
def users_list(db: DbOption = None, format: FormatOption = Format.table) -> None:  # noqa: A002
    """List the users who may sign in, with their owner, team and last sign-in.

    Example:
        dealflow users list --format json
    """
    import polars as pl

    from dealflow.store.users import list_users

    store = open_store(db)
    with store.session() as session:
        rows = [(u.id, u.email, u.role, u.active, u.name, u.team, u.created_at, u.last_sign_in) for u in list_users(session)]
    frame = pl.DataFrame(rows, schema={"id": pl.Int64, "email": pl.String, "role": pl.String, "active": pl.Boolean,
                                       "owner": pl.String, "team": pl.String, "created_at": pl.Datetime,
                                       "last_sign_in": pl.Datetime}, orient="row")
    if format is Format.json:
        print_json(frame)
    elif format is Format.csv:
        print_csv(frame)
    else:
        print_frame(frame, title="Users")
