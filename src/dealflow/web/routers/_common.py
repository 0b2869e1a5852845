"""What every resource router shares: paging, lookups that 404, unique external ids, audit rows."""
from __future__ import annotations

import uuid
from typing import Any, TypeVar

from fastapi import Query, Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dealflow.store import models as m
from dealflow.store.audit import Actor
from dealflow.web.auth import Access, utcnow
from dealflow.web.errors import not_found

T = TypeVar("T")

Limit = Query(50, ge=1, le=1000, description="rows per page")
Offset = Query(0, ge=0, description="rows to skip")


def paginate(session: Session, stmt: Select[Any], limit: int, offset: int, order_by: Any) -> dict[str, Any]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    order = order_by if isinstance(order_by, (list, tuple)) else [order_by]
    items = session.scalars(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def get_or_404(session: Session, model: type[T], id_: int, listing: str) -> T:
    row = session.get(model, id_)
    if row is None or getattr(row, "deleted_at", None) is not None:
        raise not_found(f"{model.__name__.lower()} {id_}", f"list them at {listing}")
    return row


def deal_or_404(session: Session, access: Access, deal_id: int, listing: str = "/api/deals", *,
                write: bool = False, deleted: bool = False) -> m.Deal:
    """A deal the user may see, else 404 (whether it exists or not, so ids do not leak). ``write``
    also requires the right to change it (403) and locks the row until the transaction ends, so two
    concurrent updates cannot both pass the version check. ``deleted`` looks among deleted deals."""
    row = session.get(m.Deal, deal_id, with_for_update=write or None, populate_existing=write)
    if row is None or (row.deleted_at is not None) != deleted or not access.deal_scope.can_read(row.owner_id):
        raise not_found(f"{'deleted ' if deleted else ''}deal {deal_id}", f"list them at {listing}")
    if write:
        access.require_change(row.owner_id)
    return row


def lead_or_404(session: Session, access: Access, lead_id: int, *, write: bool = False) -> m.Lead:
    row = session.get(m.Lead, lead_id)
    if row is None or row.deleted_at is not None or not access.deal_scope.can_read(row.owner_id):
        raise not_found(f"lead {lead_id}", "list them at /api/leads")
    if write:
        access.require_change(row.owner_id, "lead")
    return row


def new_external_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def audit(session: Session, request: Request, access: Access, action: str, entity: str, entity_id: Any,
          changes: dict[str, Any] | None = None) -> None:
    session.add(m.AuditEntry(
        at=utcnow(), user_email=access.email, action=action, entity=entity, entity_id=str(entity_id),
        changes=changes, remote_addr=request.client.host if request.client else None,
    ))


def actor(request: Request, access: Access) -> Actor:
    """The signed-in user as the store's rules and the audit trail see them."""
    return Actor(access.email, access.user_id, request.client.host if request.client else None)
