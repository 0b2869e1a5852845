from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.store import models as m
from dealflow.web.auth import Access, get_access
from dealflow.web.deps import get_session
from dealflow.web.routers._common import Limit, Offset, audit, get_or_404, new_external_id, paginate
from dealflow.web.schemas import ContactCreate, ContactPublic, Page

router = APIRouter(prefix="/contacts", tags=["contacts"])


@router.get("", response_model=Page[ContactPublic], summary="List contacts")
def list_contacts(account_id: int | None = None, q: str | None = None, limit: int = Limit, offset: int = Offset,
                  access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    stmt = select(m.Contact).where(m.Contact.deleted_at.is_(None))
    if account_id is not None:
        stmt = stmt.where(m.Contact.account_id == account_id)
    if q:
        stmt = stmt.where(m.Contact.name.ilike(f"%{q}%"))
    return paginate(session, stmt, limit, offset, m.Contact.name)


@router.get("/{contact_id}", response_model=ContactPublic, summary="One contact")
def get_contact(contact_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return get_or_404(session, m.Contact, contact_id, "/api/contacts")


@router.post("", response_model=ContactPublic, status_code=201, summary="Create a contact")
def create_contact(body: ContactCreate, request: Request, access: Access = Depends(get_access),
                   session: Session = Depends(get_session)) -> Any:
    with session.begin():
        if body.account_id is not None:
            get_or_404(session, m.Account, body.account_id, "/api/accounts")
        row = m.Contact(**body.model_dump(exclude={"external_id"}), external_id=body.external_id or new_external_id("con"))
        session.add(row)
        session.flush()
        audit(session, request, access, "create", "contact", row.id)
    return row
