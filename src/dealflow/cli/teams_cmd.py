"""``dealflow teams``: the teams owners belong to, and what members may see of each other."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer

from dealflow.cli.app import app
from dealflow.cli.common import DbOption, console, open_store, print_frame
from dealflow.errors import NotFound

if TYPE_CHECKING:
    from dealflow.store import models as m

teams = typer.Typer(help="Teams: who belongs where, and whether members may read each other's deals.", no_args_is_help=True)
app.add_typer(teams, name="teams")


@teams.command("list")
def list_teams(db: DbOption = None) -> None:
    """List teams with their members and sharing.

    Example:
        dealflow teams list
    """
    from sqlalchemy import select

    from dealflow.store import models as m

    store = open_store(db)
    with store.session() as s:
        rows = [
            {"team": t.name, "region": t.region, "manager": t.manager, "shares_deals": t.share_with_members,
             "members": len(s.scalars(select(m.Owner.id).where(m.Owner.team_id == t.id)).all())}
            for t in s.scalars(select(m.Team).order_by(m.Team.name))
        ]
    print_frame(pl.DataFrame(rows, schema=["team", "region", "manager", "shares_deals", "members"], orient="row") if rows else pl.DataFrame(), "Teams")


@teams.command("add")
def add_team(
    name: Annotated[str, typer.Argument(help="The new team's name.")],
    db: DbOption = None,
    region: Annotated[str | None, typer.Option(help="Sales region the team covers.", show_default=False)] = None,
    manager: Annotated[str | None, typer.Option(help="Who manages the team.", show_default=False)] = None,
) -> None:
    """Create a team.

    Example:
        dealflow teams add "Enterprise East" --region East
    """
    from sqlalchemy import select

    from dealflow.store import models as m

    store = open_store(db)
    with store.atomic() as s:
        if s.scalar(select(m.Team).where(m.Team.name == name)) is not None:
            raise typer.BadParameter(f"team {name!r} exists already", param_hint="NAME")
        s.add(m.Team(name=name, region=region, manager=manager, share_with_members=False))
    console.print(f"Created team {name!r}")


def _team(s, name: str) -> m.Team:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from dealflow.store import models as m

    team = s.scalar(select(m.Team).where(m.Team.name == name))
    if team is None:
        raise NotFound(f"no team {name!r}; see dealflow teams list")
    return team


@teams.command("assign")
def assign(team: Annotated[str, typer.Argument(help="The team's name (see dealflow teams list).")], owners: Annotated[list[str], typer.Argument(help="Owner names or ids.")], db: DbOption = None) -> None:
    """Put owners (sales reps) into a team.

    Example:
        dealflow teams assign "Rocco Neubert" "Boris Faz" "Donn Cantrell"
    """
    from sqlalchemy import select

    from dealflow.store import models as m

    store = open_store(db)
    with store.atomic() as s:
        t = _team(s, team)
        for ref in owners:
            owner = s.scalar(select(m.Owner).where((m.Owner.name == ref) | (m.Owner.external_id == ref)))
            if owner is None:
                raise NotFound(f"no owner {ref!r}")
            owner.team_id = t.id
    console.print(f"Assigned {len(owners)} owner(s) to {team!r}")


@teams.command("share")
def share(team: Annotated[str, typer.Argument(help="The team's name (see dealflow teams list).")], on: Annotated[bool, typer.Option("--on/--off", help="Let members read (not change) each other's deals.")] = True, db: DbOption = None) -> None:
    """Let a team's reps read each other's deals (read-only), or stop it.

    Example:
        dealflow teams share "Rocco Neubert" --on
    """
    store = open_store(db)
    with store.atomic() as s:
        _team(s, team).share_with_members = on
    console.print(f"Team {team!r}: members {'can' if on else 'cannot'} read each other's deals")
