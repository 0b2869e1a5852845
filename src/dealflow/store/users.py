"""Who may sign in: users, their roles, teams and passwords, and their API tokens.

One place for the rules, used by ``dealflow users``, ``/api/users`` and ``/settings/users``:
passwords are hashed with argon2; disabling a user ends their sessions and revokes their tokens;
an admin cannot demote or disable themselves, and the last active admin cannot be removed.
Every change made with an ``Actor`` is written to the audit trail.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dealflow.domain.access import Role
from dealflow.errors import Conflict, DomainError, NotFound
from dealflow.store import models as m
from dealflow.store.audit import Actor

ROLES: Final = tuple(r.value for r in Role)
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 1000  # argon2 takes any length; this only stops absurd requests
TOKEN_DAYS: Final = 30
SIGN_IN_ACTIONS: Final = ("login", "token")  # what the sign-in routes record for a user
_hasher = PasswordHasher()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- checks: each message names the field ------------------------------------------------------
def check_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or not domain or any(c.isspace() for c in email):
        raise DomainError(f"email: {email!r} is not an email address")
    if len(email) > 320:
        raise DomainError("email: at most 320 characters")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise DomainError(f"password: needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise DomainError(f"password: at most {MAX_PASSWORD} characters")
    return password


def check_role(role: str) -> str:
    value = role.strip().lower()
    if value not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return value


# -- lookups ---------------------------------------------------------------------------------
def find_user(session: Session, email: str) -> m.User:
    user = session.scalar(select(m.User).where(m.User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user {email!r}; see `dealflow users list` or /settings/users")
    return user


def get_user(session: Session, user_id: int) -> m.User:
    user = session.get(m.User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}; list them at /api/users")
    return user


def find_owner_id(session: Session, owner: str) -> int:
    """An owner by external id, name or numeric id."""
    conds = [m.Owner.external_id == owner, m.Owner.name == owner]
    if owner.isdigit():
        conds.append(m.Owner.id == int(owner))
    found = session.scalars(select(m.Owner.id).where(or_(*conds)).order_by(m.Owner.id)).all()
    if not found:
        raise NotFound(f"no owner {owner!r}; owners come from imported deals (see `dealflow export owners`)")
    if len(set(found)) > 1:
        raise NotFound(f"{owner!r} names {len(found)} owners; give the external id or the numeric id")
    return int(found[0])


def find_team_id(session: Session, team: str) -> int:
    found = session.scalar(select(m.Team.id).where(m.Team.name == team))
    if found is None:
        raise NotFound(f"no team {team!r}; create it with `dealflow teams add {team}`")
    return int(found)


def check_team_id(session: Session, team_id: int | None) -> int | None:
    if team_id is not None and session.get(m.Team, team_id) is None:
        raise DomainError(f"team: no team {team_id}; create it with `dealflow teams add NAME`")
    return team_id


def check_owner_id(session: Session, owner_id: int | None) -> int | None:
    if owner_id is not None and session.get(m.Owner, owner_id) is None:
        raise DomainError(f"owner: no owner {owner_id}; owners come from imported deals (see `dealflow export owners`)")
    return owner_id


def _owner_named(session: Session, name: str, email: str, team_id: int | None) -> int:
    """The owner a new user's name stands for: the one owner of that name, else a new owner (so the
    user can be given deals), in the user's team."""
    name = name.strip()
    if not name or len(name) > 200:
        raise DomainError("name: give 1 to 200 characters")
    found = session.scalars(select(m.Owner.id).where(m.Owner.name == name)).all()
    if len(found) > 1:
        raise DomainError(f"name: {len(found)} owners are called {name!r}; link the user with `dealflow users set-role --owner ID`")
    if found:
        return int(found[0])
    owner = m.Owner(external_id=f"user:{email}", name=name, email=email, team_id=team_id)
    session.add(owner)
    session.flush()
    return owner.id


# -- changes -----------------------------------------------------------------------------------
def _record(by: Actor | None, session: Session, action: str, user: m.User, changes: dict[str, object] | None = None) -> None:
    if by is not None:
        by.record(session, action, "user", user.id, changes)


def _still_an_admin_left(session: Session, user: m.User, by: Actor | None, field: str) -> None:
    """Refuse a change that takes the admin role or sign-in away from ``user`` when ``user`` is the
    one making it, or the last active admin."""
    if by is not None and by.user_id == user.id:
        what = "remove your own admin role" if field == "role" else "deactivate yourself"
        raise DomainError(f"{field}: you cannot {what}; ask another admin to do it")
    # Every active admin's row is locked, in id order (on PostgreSQL): of two admins demoting each other
    # at once, the second waits for the first and then finds itself the last one.
    admins = session.scalars(select(m.User.id).where(m.User.role == Role.ADMIN.value, m.User.active.is_(True))
                             .order_by(m.User.id).with_for_update()).all()
    if not set(admins) - {user.id}:
        raise DomainError(f"{field}: {user.email} is the last active admin; make another user admin first")


KEEP: Final = -1  # "leave unchanged" for the nullable ids of ``update_user``


def create_user(session: Session, email: str, password: str, role: str = "rep", *, name: str | None = None,
                owner_id: int | None = None, team_id: int | None = None, by: Actor | None = None) -> m.User:
    """A new user; an email that is taken already is a conflict. ``name`` links the user to the owner
    of that name (created when there is none)."""
    email, role, password = check_email(email), check_role(role), check_password(password)
    check_team_id(session, team_id)
    check_owner_id(session, owner_id)
    if session.scalar(select(m.User.id).where(m.User.email == email)) is not None:
        raise Conflict(f"email: a user {email} exists already; change their role or reset their password instead")
    if owner_id is None and name:
        owner_id = _owner_named(session, name, email, team_id)
    user = m.User(email=email, password_hash=hash_password(password), role=role, owner_id=owner_id, team_id=team_id,
                  created_at=utcnow(), active=True)
    session.add(user)
    session.flush()
    _record(by, session, "add user", user, {"role": role, "owner_id": owner_id, "team_id": team_id})
    return user


def add_user(session: Session, email: str, password: str, role: str = "rep", *, owner_id: int | None = None,
             team_id: int | None = None, by: Actor | None = None) -> m.User:
    """Create a user, or reset the password and role of an existing one (``dealflow users add``)."""
    found = session.scalar(select(m.User).where(m.User.email == email.strip().lower()))
    if found is None:
        return create_user(session, email, password, role, owner_id=owner_id, team_id=team_id, by=by)
    check_password(password)
    update_user(session, found, role=role, owner_id=KEEP if owner_id is None else owner_id,
                team_id=KEEP if team_id is None else team_id, by=by)
    reset_password(session, found, password, by=by)
    return found


def update_user(session: Session, user: m.User, *, role: str | None = None, team_id: int | None = KEEP,
                owner_id: int | None = KEEP, by: Actor | None = None) -> dict[str, object]:
    """Change a user's role, team (None: no team) and owner; returns what changed. Open sessions see
    the new role at their next request."""
    changes: dict[str, object] = {}
    if role is not None:
        role = check_role(role)
        if user.role == Role.ADMIN.value and role != Role.ADMIN.value and user.active:
            _still_an_admin_left(session, user, by, "role")
        if role != user.role:
            changes["role"] = {"from": user.role, "to": role}
            user.role = role
    if team_id != KEEP and team_id != user.team_id:
        changes["team_id"] = {"from": user.team_id, "to": check_team_id(session, team_id)}
        user.team_id = team_id
    if owner_id != KEEP and owner_id != user.owner_id:
        changes["owner_id"] = {"from": user.owner_id, "to": check_owner_id(session, owner_id)}
        user.owner_id = owner_id
    if changes:
        session.flush()
        _record(by, session, "set role", user, changes)
    return changes


def set_active(session: Session, user: m.User, active: bool, *, by: Actor | None = None) -> int:
    """Let a user sign in again, or stop them: a disabled user's sessions end and tokens are revoked
    (returns how many tokens)."""
    if active:
        user.active = True
        _record(by, session, "enable user", user)
        return 0
    if user.role == Role.ADMIN.value and user.active:
        _still_an_admin_left(session, user, by, "active")
    user.active = False
    revoked = sign_out_everywhere(session, user)
    _record(by, session, "disable user", user, {"tokens_revoked": revoked})
    return revoked


def reset_password(session: Session, user: m.User, password: str, *, by: Actor | None = None) -> None:
    """A new password; every session signed in with the old one ends (API tokens stay valid)."""
    user.password_hash = hash_password(check_password(password))
    user.sessions_valid_after = utcnow()
    _record(by, session, "reset password", user)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: m.User, *, scope: str = "write", name: str | None = None,
                days: int = TOKEN_DAYS) -> tuple[str, m.ApiToken]:
    """A new API token: the secret is returned once; only its hash is stored."""
    if scope not in ("read", "write"):
        raise DomainError(f"scope: a token's scope is read or write, not {scope!r}")
    token = "dft_" + secrets.token_urlsafe(32)
    row = m.ApiToken(user_id=user.id, token_hash=token_hash(token), scope=scope, name=name,
                     created_at=utcnow(), expires_at=utcnow() + timedelta(days=days))
    session.add(row)
    session.flush()
    return token, row


def revoke_tokens(session: Session, user_id: int, token_id: int | None = None) -> int:
    """Revoke one of the user's tokens (or all of them); returns how many were revoked."""
    stmt = select(m.ApiToken).where(m.ApiToken.user_id == user_id, m.ApiToken.revoked_at.is_(None))
    if token_id is not None:
        stmt = stmt.where(m.ApiToken.id == token_id)
    rows = list(session.scalars(stmt))
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)


def sign_out_everywhere(session: Session, user: m.User) -> int:
    """End every session cookie issued so far and revoke every token of ``user``."""
    user.sessions_valid_after = utcnow()
    return revoke_tokens(session, user.id)


# -- listing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str | None  # the linked owner's name
    role: str
    owner_id: int | None
    team_id: int | None
    team: str | None
    active: bool
    created_at: datetime
    last_sign_in: datetime | None  # from the audit trail: the last sign-in form or token


def list_users(session: Session, user_id: int | None = None) -> list[UserRow]:
    """Every user (or the one ``user_id``), by email, with their owner's name, team and last sign-in."""
    last = (select(m.AuditEntry.entity_id, func.max(m.AuditEntry.at))
            .where(m.AuditEntry.entity == "user", m.AuditEntry.action.in_(SIGN_IN_ACTIONS)).group_by(m.AuditEntry.entity_id))
    stmt = (select(m.User, m.Owner.name, m.Team.name)
            .outerjoin(m.Owner, m.Owner.id == m.User.owner_id).outerjoin(m.Team, m.Team.id == m.User.team_id)
            .order_by(m.User.email))
    if user_id is not None:
        last = last.where(m.AuditEntry.entity_id == str(user_id))
        stmt = stmt.where(m.User.id == user_id)
    signed_in = dict(session.execute(last).tuples().all())
    rows = session.execute(stmt).tuples().all()
    return [UserRow(u.id, u.email, owner, u.role, u.owner_id, u.team_id, team, u.active, u.created_at,
                    signed_in.get(str(u.id))) for u, owner, team in rows]
