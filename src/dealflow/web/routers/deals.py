"""Deals: list with filters, one deal with its history, create, edit (field history kept), move between stages."""
from __future__ import annotations

from typing import Any

from datetime import datetime, timezone
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from dealflow.store import crm
from dealflow.store import models as m
from dealflow.web.auth import Access, get_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import Limit, Offset, audit, get_or_404, new_external_id, paginate
from dealflow.web.schemas import (
    ActivityPublic, DealCreate, DealDetail, DealPublic, DealUpdate, FieldChangePublic, MoveResult, Page,
    StageChangePublic, StageMoveCreate,
)

router = APIRouter(prefix="/deals", tags=["deals"])


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def stage_changes(session: Session, deal_id: int) -> list[StageChangePublic]:
    src, dst = aliased(m.Stage), aliased(m.Stage)
    rows = session.execute(
        select(m.StageChange, src.name, dst.name)
        .outerjoin(src, src.id == m.StageChange.from_stage_id).join(dst, dst.id == m.StageChange.to_stage_id)
        .where(m.StageChange.deal_id == deal_id).order_by(m.StageChange.at, m.StageChange.id)
    ).all()
    return [StageChangePublic(id=c.id, deal_id=c.deal_id, from_stage=f, to_stage=t, at=c.at, by=c.by, lost_reason=c.lost_reason)
            for c, f, t in rows]


def deal_detail(session: Session, deal: m.Deal) -> DealDetail:
    stage = session.get(m.Stage, deal.stage_id)
    fields = session.scalars(select(m.FieldChange).where(m.FieldChange.deal_id == deal.id).order_by(m.FieldChange.at, m.FieldChange.id)).all()
    acts = session.scalars(select(m.Activity).where(m.Activity.deal_id == deal.id, m.Activity.deleted_at.is_(None))
                           .order_by(m.Activity.at, m.Activity.id)).all()
    return DealDetail(
        deal=DealPublic.model_validate(deal), stage=stage.name if stage else "", probability=stage.probability if stage else None,
        stage_changes=stage_changes(session, deal.id), field_changes=[FieldChangePublic.model_validate(f) for f in fields],
        activities=[ActivityPublic.model_validate(a) for a in acts],
    )


def move(session: Session, request: Request, access: Access, deal_id: int, body: StageMoveCreate) -> MoveResult:
    """Move a deal in one transaction, with the history row and an audit row (shared with the board page)."""
    with session.begin():
        deal = get_or_404(session, m.Deal, deal_id, "/api/deals")
        change = crm.move_deal(session, deal, body.stage, now=now_utc(), by=access.name, lost_reason=body.lost_reason,
                               expected_version=body.expected_version)
        audit(session, request, access, "move", "deal", deal.id, {"stage": body.stage, "lost_reason": change.lost_reason})
    changed(request)
    public = [c for c in stage_changes(session, deal.id) if c.id == change.id][0]
    return MoveResult(deal=DealPublic.model_validate(deal), change=public)


@router.get("", response_model=Page[DealPublic], summary="List deals")
def list_deals(
    status: Literal["open", "won", "lost"] | None = None,
    pipeline_id: int | None = None,
    stage: str | None = Query(None, description="stage name"),
    owner_id: int | None = None,
    account_id: int | None = None,
    product_id: int | None = None,
    q: str | None = Query(None, description="text in the deal's name or external id"),
    min_amount: float | None = None,
    sort: Literal["id", "amount", "created_at", "expected_close_date"] = "id",
    limit: int = Limit, offset: int = Offset,
    access: Access = Depends(get_access), session: Session = Depends(get_session),
) -> Any:
    stmt = select(m.Deal).where(m.Deal.deleted_at.is_(None))
    if access.deal_filter() is not None:
        stmt = stmt.where(access.deal_filter())
    if status:
        stmt = stmt.where(m.Deal.status == status)
    if pipeline_id is not None:
        stmt = stmt.where(m.Deal.pipeline_id == pipeline_id)
    if stage:
        stmt = stmt.where(m.Deal.stage_id.in_(select(m.Stage.id).where(m.Stage.name == stage)))
    if owner_id is not None:
        stmt = stmt.where(m.Deal.owner_id == owner_id)
    if account_id is not None:
        stmt = stmt.where(m.Deal.account_id == account_id)
    if product_id is not None:
        stmt = stmt.where(m.Deal.id.in_(select(m.DealProduct.deal_id).where(m.DealProduct.product_id == product_id)))
    if q:
        stmt = stmt.where(m.Deal.name.ilike(f"%{q}%") | m.Deal.external_id.ilike(f"%{q}%"))
    if min_amount is not None:
        stmt = stmt.where(m.Deal.amount >= min_amount)
    return paginate(session, stmt, limit, offset, [getattr(m.Deal, sort), m.Deal.id])


@router.get("/{deal_id}", response_model=DealDetail, summary="One deal with its stage changes, field changes and activities")
def get_deal(deal_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return deal_detail(session, get_or_404(session, m.Deal, deal_id, "/api/deals"))


@router.get("/{deal_id}/stage-changes", response_model=list[StageChangePublic], summary="A deal's stage changes, oldest first")
def get_deal_stage_changes(deal_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    get_or_404(session, m.Deal, deal_id, "/api/deals")
    return stage_changes(session, deal_id)


@router.post("", response_model=DealPublic, status_code=201, summary="Create a deal in a stage")
def create_deal(body: DealCreate, request: Request, access: Access = Depends(get_access),
                session: Session = Depends(get_session)) -> Any:
    with session.begin():
        pipeline = get_or_404(session, m.Pipeline, body.pipeline_id, "/api/pipelines")
        fields = body.model_dump(exclude={"external_id", "pipeline_id", "stage"})
        deal = crm.create_deal(session, external_id=body.external_id or new_external_id("deal"), pipeline=pipeline,
                               stage=body.stage, at=now_utc(), by=access.name, **fields)
        audit(session, request, access, "create", "deal", deal.id)
    changed(request)
    return deal


@router.patch("/{deal_id}", response_model=DealPublic, summary="Edit a deal (amount and close-date edits are kept as history)")
def update_deal(deal_id: int, body: DealUpdate, request: Request, access: Access = Depends(get_access),
                session: Session = Depends(get_session)) -> Any:
    values = body.model_dump(exclude_unset=True)
    expected = values.pop("expected_version", None)
    with session.begin():
        deal = get_or_404(session, m.Deal, deal_id, "/api/deals")
        crm.update_deal(session, deal, values, now=now_utc(), by=access.name, expected_version=expected)
        audit(session, request, access, "update", "deal", deal.id, {k: str(v) for k, v in values.items()})
    changed(request)
    return deal


@router.post("/{deal_id}/moves", response_model=MoveResult, status_code=201,
             summary="Move a deal to another stage (a lost stage needs lost_reason; a stale expected_version gives 409)")
def move_deal(deal_id: int, body: StageMoveCreate, request: Request, access: Access = Depends(get_access),
              session: Session = Depends(get_session)) -> Any:
    return move(session, request, access, deal_id, body)
