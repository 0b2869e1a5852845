"""The scope of a signed-in user, read from the users, owners and teams tables."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.domain.access import Scope, parse_role, scope_for
from dealflow.store import models as m


def scope_of_user(session: Session, user: m.User) -> Scope:
    team_id = user.team_id
    if team_id is None and user.owner_id is not None:
        team_id = session.scalar(select(m.Owner.team_id).where(m.Owner.id == user.owner_id))
    team_owners: frozenset[int] = frozenset()
    shares = False
    if team_id is not None:
        team_owners = frozenset(session.scalars(select(m.Owner.id).where(m.Owner.team_id == team_id)))
        shares = bool(session.scalar(select(m.Team.share_with_members).where(m.Team.id == team_id)))
    return scope_for(parse_role(user.role), own_owner_id=user.owner_id, team_owner_ids=team_owners, team_shares=shares)
