from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.store import models as m
from dealflow.web.auth import Access, get_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import Limit, Offset, audit, get_or_404, new_external_id, paginate
from dealflow.web.schemas import AccountCreate, AccountPublic, Page

router = APIRouter(prefix="/accounts", tags=["accounts"])


@router.get("", response_model=Page[AccountPublic], summary="List accounts")
def list_accounts(q: str | None = None, sector: str | None = None, country: str | None = None,
                  limit: int = Limit, offset: int = Offset,
                  access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    stmt = select(m.Account).where(m.Account.deleted_at.is_(None))
    if q:
        stmt = stmt.where(m.Account.name.ilike(f"%{q}%"))
    if sector:
        stmt = stmt.where(m.Account.sector == sector)
    if country:
        stmt = stmt.where(m.Account.country == country)
    return paginate(session, stmt, limit, offset, m.Account.name)


@router.get("/{account_id}", response_model=AccountPublic, summary="One account")
def get_account(account_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return get_or_404(session, m.Account, account_id, "/api/accounts")


@router.post("", response_model=AccountPublic, status_code=201, summary="Create an account")
def create_account(body: AccountCreate, request: Request, access: Access = Depends(get_access),
                   session: Session = Depends(get_session)) -> Any:
    with session.begin():
        row = m.Account(**body.model_dump(exclude={"external_id"}), external_id=body.external_id or new_external_id("acc"))
        session.add(row)
        session.flush()
        audit(session, request, access, "create", "account", row.id)
    changed(request)
    return row
