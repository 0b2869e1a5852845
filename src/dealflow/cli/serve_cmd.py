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


def _owner_id(session, owner: str) -> int:  # type: ignore[no-untyped-def]
    """An owner by external id, name or numeric id."""
    from sqlalchemy import or_, select

    from dealflow.errors import NotFound
    from dealflow.store import models as m

    conds = [m.Owner.external_id == owner, m.Owner.name == owner]
    if owner.isdigit():
        conds.append(m.Owner.id == int(owner))
    found = session.scalars(select(m.Owner.id).where(or_(*conds)).order_by(m.Owner.id)).all()
    if not found:
        raise NotFound(f"no owner {owner!r}; owners come from imported deals (see `dealflow export owners`)")
    if len(set(found)) > 1:
        raise NotFound(f"{owner!r} names {len(found)} owners; give the external id or the numeric id")
    return int(found[0])


def _team_id(session, team: str) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from dealflow.errors import NotFound
    from dealflow.store import models as m

    found = session.scalar(select(m.Team.id).where(m.Team.name == team))
    if found is None:
        raise NotFound(f"no team {team!r}; create it with `dealflow teams add {team}`")
    return int(found)


def _user(session, email: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from dealflow.errors import NotFound
    from dealflow.store import models as m

    user = session.scalar(select(m.User).where(m.User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user {email!r}; see `dealflow users list`")
    return user


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
    from dealflow.store.audit import cli_actor, record
    from dealflow.web.auth import ROLES, add_user

    if role not in ROLES:
        raise typer.BadParameter(f"choose one of {', '.join(ROLES)}", param_hint="--role")
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    store = open_store(db)
    with store.atomic() as session:
        owner_id = _owner_id(session, owner) if owner else None
        team_id = _team_id(session, team) if team else None
        user = add_user(session, email, password, role, owner_id=owner_id, team_id=team_id)
        record(session, "add user", actor=cli_actor(), entity="user", entity_id=user.id,
               changes={"role": role, "owner_id": owner_id, "team_id": team_id})
        console.print(f"{user.email} can sign in as {user.role}.")


@users_app.command("disable")
def users_disable(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    db: DbOption = None,
) -> None:
    """Stop a user signing in: their sessions end and their API tokens are revoked.

    Example:
        dealflow users disable ana@example.com
    """
    from dealflow.store.audit import cli_actor, record
    from dealflow.web.auth import sign_out_everywhere

    store = open_store(db)
    with store.atomic() as session:
        user = _user(session, email)
        user.active = False
        revoked = sign_out_everywhere(session, user)
        record(session, "disable user", actor=cli_actor(), entity="user", entity_id=user.id, changes={"tokens_revoked": revoked})
        console.print(f"{user.email} is disabled ({revoked} token(s) revoked).")


@users_app.command("enable")
def users_enable(email: Annotated[str, typer.Argument(help="The user's email.")], db: DbOption = None) -> None:
    """Let a disabled user sign in again.

    Example:
        dealflow users enable ana@example.com
    """
    from dealflow.store.audit import cli_actor, record

    store = open_store(db)
    with store.atomic() as session:
        user = _user(session, email)
        user.active = True
        record(session, "enable user", actor=cli_actor(), entity="user", entity_id=user.id)
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
    from dealflow.store.audit import cli_actor, record
    from dealflow.web.auth import ROLES

    if role not in ROLES:
        raise typer.BadParameter(f"choose one of {', '.join(ROLES)}", param_hint="ROLE")
    store = open_store(db)
    with store.atomic() as session:
        user = _user(session, email)
        changes = {"role": {"from": user.role, "to": role}}
        user.role = role
        if owner:
            user.owner_id = _owner_id(session, owner)
            changes["owner_id"] = {"to": user.owner_id}
        if team:
            user.team_id = _team_id(session, team)
            changes["team_id"] = {"to": user.team_id}
        record(session, "set role", actor=cli_actor(), entity="user", entity_id=user.id, changes=changes)
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
    from dealflow.web.auth import issue_token

    if scope not in ("read", "write"):
        raise typer.BadParameter("choose read or write", param_hint="--scope")
    store = open_store(db)
    with store.atomic() as session:
        user = _user(session, email)
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

    store = open_store(db)
    with store.session() as session:
        user = _user(session, email)
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
    from dealflow.web.auth import revoke_tokens

    store = open_store(db)
    with store.atomic() as session:
        user = _user(session, email)
        n = revoke_tokens(session, user.id, token_id)
        record(session, "revoke", actor=cli_actor(), entity="api_token", entity_id=token_id, changes={"user": user.email, "revoked": n})
        console.print(f"{n} token(s) of {user.email} revoked.")


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
        rows = session.execute(select(m.User.id, m.User.email, m.User.role, m.User.active, m.Owner.name.label("owner"),
                                      m.Team.name.label("team"), m.User.created_at)
                               .outerjoin(m.Owner, m.Owner.id == m.User.owner_id).outerjoin(m.Team, m.Team.id == m.User.team_id)
                               .order_by(m.User.email)).all()
    frame = pl.DataFrame([r._asdict() for r in rows], schema={"id": pl.Int64, "email": pl.String, "role": pl.String,
                                                              "active": pl.Boolean, "owner": pl.String, "team": pl.String,
                                                              "created_at": pl.Datetime}, orient="row")
    if format is Format.json:
        print_json(frame)
    elif format is Format.csv:
        print_csv(frame)
    else:
        print_frame(frame, title="Users")
