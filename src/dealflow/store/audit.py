"""The audit trail: who did what, when, from where. Append-only, like the stage history."""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from dealflow.store import models as m


def cli_actor() -> str:
    """How a command-line user appears in the trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (containers, CI)
        return "cli"


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the trail shows it: a signed-in user (with their id, so rules about
    oneself can be checked) or the command line (``cli_actor()``, no user id)."""

    name: str
    user_id: int | None = None
    remote_addr: str | None = None

    def record(self, session: Session, action: str, entity: str, entity_id: str | int | None,
               changes: dict[str, Any] | None = None) -> m.AuditEntry:
        return record(session, action, actor=self.name, entity=entity, entity_id=entity_id, changes=changes,
                      remote_addr=self.remote_addr)


def record(
    session: Session,
    action: str,
    *,
    actor: str | None,
    entity: str | None = None,
    entity_id: str | int | None = None,
    changes: dict[str, Any] | None = None,
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> m.AuditEntry:
    entry = m.AuditEntry(
        at=(now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None),
        user_email=actor, action=action, entity=entity,
        entity_id=None if entity_id is None else str(entity_id), changes=changes, remote_addr=remote_addr,
    )
    session.add(entry)
    return entry


def filtered(*, entity: str | None = None, entity_id: str | int | None = None, action: str | None = None,
             user_email: str | None = None) -> Select[m.AuditEntry]:
    """Entries matching every filter given (None = any); the caller orders and pages."""
    query = select(m.AuditEntry)
    if entity is not None:
        query = query.where(m.AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(m.AuditEntry.entity_id == str(entity_id))
    if action is not None:
        query = query.where(m.AuditEntry.action == action)
    if user_email is not None:
        query = query.where(m.AuditEntry.user_email == user_email.strip().lower())
    return query


NEWEST_FIRST = (m.AuditEntry.at.desc(), m.AuditEntry.id.desc())


def trail(session: Session, *, entity: str | None = None, entity_id: str | int | None = None, limit: int = 100) -> list[m.AuditEntry]:
    return list(session.scalars(filtered(entity=entity, entity_id=entity_id).order_by(*NEWEST_FIRST).limit(limit)))
