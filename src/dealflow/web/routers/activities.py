from __future__ import annotations

from typing import Any

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from dealflow.errors import DomainError
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.web.auth import Access, get_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import Limit, Offset, audit, deal_or_404, lead_or_404, paginate
from dealflow.web.routers.deals import now_utc
from dealflow.web.schemas import ActivityCreate, ActivityPublic, Page, StageChangePublic

router = APIRouter(tags=["activities and stage changes"])


@router.get("/activities", response_model=Page[ActivityPublic], summary="List activities")
def list_activities(deal_id: int | None = None, lead_id: int | None = None, kind: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    limit: int = Limit, offset: int = Offset,
                    access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    stmt = select(m.Activity).where(m.Activity.deleted_at.is_(None))
    if access.deal_filter() is not None:  # only activities on deals and leads the user may see
        stmt = stmt.where(m.Activity.deal_id.in_(access.visible_deal_ids())
                          | m.Activity.lead_id.in_(select(m.Lead.id).where(access.owner_filter(m.Lead.owner_id))))
    if deal_id is not None:
        stmt = stmt.where(m.Activity.deal_id == deal_id)
    if lead_id is not None:
        stmt = stmt.where(m.Activity.lead_id == lead_id)
    if kind:
        stmt = stmt.where(m.Activity.kind == kind)
    if since:
        stmt = stmt.where(m.Activity.at >= crm.utc_naive(since))
    if until:
        stmt = stmt.where(m.Activity.at < crm.utc_naive(until))
    return paginate(session, stmt, limit, offset, [m.Activity.at, m.Activity.id])


@router.post("/activities", response_model=ActivityPublic, status_code=201, summary="Log an activity on a deal or a lead")
def create_activity(body: ActivityCreate, request: Request, access: Access = Depends(get_access),
                    session: Session = Depends(get_session)) -> Any:
    return log(session, request, access, body)


def log(session: Session, request: Request, access: Access, body: ActivityCreate) -> m.Activity:
    if (body.deal_id is None) == (body.lead_id is None):
        raise DomainError("an activity belongs to exactly one deal or one lead: give deal_id or lead_id")
    with session.begin():
        deal = deal_or_404(session, access, body.deal_id, write=True) if body.deal_id is not None else None
        lead = lead_or_404(session, access, body.lead_id, write=True) if body.lead_id is not None else None
        at = body.at or now_utc()
        import uuid

        row = crm.log_activity(session, kind=body.kind, at=at, deal=deal, lead=lead,
                               external_id=f"web:{uuid.uuid4().hex}", subject=body.subject, outcome=body.outcome,
                               resource=access.name, ended_at=body.ended_at)
        audit(session, request, access, "create", "activity", row.id)
    changed(request, None if body.deal_id is None else [body.deal_id])
    return row


@router.get("/stage-changes", response_model=Page[StageChangePublic], summary="List stage changes, oldest first")
def list_stage_changes(deal_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
                       to_stage: str | None = None, limit: int = Limit, offset: int = Offset,
                       access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    src, dst = aliased(m.Stage), aliased(m.Stage)
    stmt = select(m.StageChange.id)
    if access.deal_filter() is not None:
        stmt = stmt.where(m.StageChange.deal_id.in_(access.visible_deal_ids()))
    if deal_id is not None:
        deal_or_404(session, access, deal_id)
        stmt = stmt.where(m.StageChange.deal_id == deal_id)
    if since:
        stmt = stmt.where(m.StageChange.at >= crm.utc_naive(since))
    if until:
        stmt = stmt.where(m.StageChange.at < crm.utc_naive(until))
    if to_stage:
        stmt = stmt.where(m.StageChange.to_stage_id.in_(select(m.Stage.id).where(m.Stage.name == to_stage)))
    page = paginate(session, stmt, limit, offset, [m.StageChange.at, m.StageChange.id])
    ids = list(page["items"])
    rows = session.execute(
        select(m.StageChange, src.name, dst.name)
        .outerjoin(src, src.id == m.StageChange.from_stage_id).join(dst, dst.id == m.StageChange.to_stage_id)
        .where(m.StageChange.id.in_(ids))
    ).all()
    by_id = {c.id: StageChangePublic(id=c.id, deal_id=c.deal_id, from_stage=f, to_stage=t, at=c.at, by=c.by,
                                     lost_reason=c.lost_reason) for c, f, t in rows}
    page["items"] = [by_id[i] for i in ids]
    return page
