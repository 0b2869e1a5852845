from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.store import models as m
from dealflow.web.auth import Access, get_access, utcnow
from dealflow.web.deps import changed, get_session
from fastapi import HTTPException

from dealflow.web.routers._common import Limit, Offset, audit, lead_or_404, new_external_id, paginate
from dealflow.web.schemas import LeadCreate, LeadPublic, Page

router = APIRouter(prefix="/leads", tags=["leads"])


@router.get("", response_model=Page[LeadPublic], summary="List leads")
def list_leads(source: str | None = None, status: str | None = None, owner_id: int | None = None,
               converted: bool | None = None, limit: int = Limit, offset: int = Offset,
               access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    stmt = select(m.Lead).where(m.Lead.deleted_at.is_(None))
    if access.owner_filter(m.Lead.owner_id) is not None:
        stmt = stmt.where(access.owner_filter(m.Lead.owner_id))
    if source:
        stmt = stmt.where(m.Lead.source == source)
    if status:
        stmt = stmt.where(m.Lead.status == status)
    if owner_id is not None:
        stmt = stmt.where(m.Lead.owner_id == owner_id)
    if converted is not None:
        stmt = stmt.where(m.Lead.converted.is_(converted))
    return paginate(session, stmt, limit, offset, m.Lead.id)


@router.get("/{lead_id}", response_model=LeadPublic, summary="One lead")
def get_lead(lead_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return lead_or_404(session, access, lead_id)


@router.post("", response_model=LeadPublic, status_code=201, summary="Create a lead")
def create_lead(body: LeadCreate, request: Request, access: Access = Depends(get_access),
                session: Session = Depends(get_session)) -> Any:
    fields = body.model_dump(exclude={"external_id"})
    if fields.get("owner_id") is None and not access.deal_scope.unowned:
        fields["owner_id"] = access.owner_id
    if not access.deal_scope.can_write(fields.get("owner_id")):
        raise HTTPException(403, f"your role ({access.role}) may not give leads to owner {fields.get('owner_id')}")
    with session.begin():
        row = m.Lead(**fields, external_id=body.external_id or new_external_id("lead"),
                     created_at=utcnow())
        session.add(row)
        session.flush()
        audit(session, request, access, "create", "lead", row.id)
    changed(request)
    return row
