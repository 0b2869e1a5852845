"""The audit trail: who did what, when, from where. Append-only, like the stage history."""
from __future__ import annotations

import getpass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.store import models as m


def cli_actor() -> str:
    """How a command-line user appears in the trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (containers, CI)
        return "cli"


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


def trail(session: Session, *, entity: str | None = None, entity_id: str | int | None = None, limit: int = 100) -> list[m.AuditEntry]:
    query = select(m.AuditEntry).order_by(m.AuditEntry.at.desc(), m.AuditEntry.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(m.AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(m.AuditEntry.entity_id == str(entity_id))
    return list(session.scalars(query))
