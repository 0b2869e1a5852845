"""Deals: list with filters, one deal with its history, create, edit (field history kept), move between stages."""
from __future__ import annotations

from typing import Any

from datetime import datetime, timezone
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from dealflow.errors import Conflict
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.web.auth import Access, admin_access, get_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import Limit, Offset, audit, deal_or_404, get_or_404, new_external_id, paginate
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


def _stale(session: Session, deal_id: int, exc: Conflict) -> Conflict:
    """A 409 carrying the deal as it now stands, so the client can reload and retry."""
    session.rollback()
    deal = session.get(m.Deal, deal_id)
    current = DealPublic.model_validate(deal).model_dump(mode="json") if deal is not None else exc.current
    return Conflict(str(exc), current=current)


def check_owner(access: Access, owner_id: int | None) -> None:
    """A deal may only be given to an owner whose deals the user may change."""
    if not access.deal_scope.can_write(owner_id):
        raise HTTPException(403, f"your role ({access.role}) may not give deals to owner {owner_id}")


def move(session: Session, request: Request, access: Access, deal_id: int, body: StageMoveCreate) -> MoveResult:
    """Move a deal in one transaction, with the history row and an audit row (shared with the board page)."""
    try:
        with session.begin():
            deal = deal_or_404(session, access, deal_id, write=True)
            before = deal.stage_id
            change = crm.move_deal(session, deal, body.stage, now=now_utc(), by=access.name, lost_reason=body.lost_reason,
                                   expected_version=body.expected_version)
            audit(session, request, access, "move", "deal", deal.id,
                  {"from_stage_id": before, "stage": body.stage, "lost_reason": change.lost_reason, "version": deal.version})
    except Conflict as exc:
        raise _stale(session, deal_id, exc) from None
    changed(request, [deal_id])
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
    stmt = select(m.Deal).where(m.Deal.deleted_at.is_(None))  # deleted deals never list
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


@router.get("/deleted", response_model=Page[DealPublic], summary="Deleted deals, restorable (admin only)")
def list_deleted(limit: int = Limit, offset: int = Offset, access: Access = Depends(admin_access),
                 session: Session = Depends(get_session)) -> Any:
    return paginate(session, select(m.Deal).where(m.Deal.deleted_at.is_not(None)), limit, offset, [m.Deal.deleted_at.desc(), m.Deal.id])


@router.get("/{deal_id}", response_model=DealDetail, summary="One deal with its stage changes, field changes and activities")
def get_deal(deal_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return deal_detail(session, deal_or_404(session, access, deal_id))


@router.get("/{deal_id}/stage-changes", response_model=list[StageChangePublic], summary="A deal's stage changes, oldest first")
def get_deal_stage_changes(deal_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    deal_or_404(session, access, deal_id)
    return stage_changes(session, deal_id)


@router.post("", response_model=DealPublic, status_code=201, summary="Create a deal in a stage")
def create_deal(body: DealCreate, request: Request, access: Access = Depends(get_access),
                session: Session = Depends(get_session)) -> Any:
    with session.begin():
        pipeline = get_or_404(session, m.Pipeline, body.pipeline_id, "/api/pipelines")
        fields = body.model_dump(exclude={"external_id", "pipeline_id", "stage"})
        if fields.get("owner_id") is None and not access.deal_scope.unowned:
            fields["owner_id"] = access.owner_id  # a rep's new deal is theirs
        check_owner(access, fields.get("owner_id"))
        deal = crm.create_deal(session, external_id=body.external_id or new_external_id("deal"), pipeline=pipeline,
                               stage=body.stage, at=now_utc(), by=access.name, **fields)
        audit(session, request, access, "create", "deal", deal.id)
    changed(request, [deal.id])
    return deal


@router.patch("/{deal_id}", response_model=DealPublic, summary="Edit a deal (amount and close-date edits are kept as history)")
def update_deal(deal_id: int, body: DealUpdate, request: Request, access: Access = Depends(get_access),
                session: Session = Depends(get_session)) -> Any:
    values = body.model_dump(exclude_unset=True)
    expected = values.pop("expected_version", None)
    try:
        with session.begin():
            deal = deal_or_404(session, access, deal_id, write=True)
            if "owner_id" in values:
                check_owner(access, values["owner_id"])
            before = {k: getattr(deal, k) for k in values}
            crm.update_deal(session, deal, values, now=now_utc(), by=access.name, expected_version=expected)
            audit(session, request, access, "update", "deal", deal.id,
                  {k: {"from": None if before[k] is None else str(before[k]), "to": None if v is None else str(v)}
                   for k, v in values.items()})
    except Conflict as exc:
        raise _stale(session, deal_id, exc) from None
    changed(request, [deal_id])
    return deal


@router.post("/{deal_id}/moves", response_model=MoveResult, status_code=201,
             summary="Move a deal to another stage (a lost stage needs lost_reason; a stale expected_version gives 409)")
def move_deal(deal_id: int, body: StageMoveCreate, request: Request, access: Access = Depends(get_access),
              session: Session = Depends(get_session)) -> Any:
    return move(session, request, access, deal_id, body)


@router.delete("/{deal_id}", status_code=204, summary="Delete a deal (soft: an admin can restore it; history is kept)")
def delete_deal(deal_id: int, request: Request, expected_version: int | None = Query(None, description="409 if the deal changed since"),
                access: Access = Depends(get_access), session: Session = Depends(get_session)) -> None:
    try:
        with session.begin():
            deal = deal_or_404(session, access, deal_id, write=True)
            if expected_version is not None and deal.version != expected_version:
                raise Conflict(f"deal {deal.external_id} was changed by someone else (version {deal.version}, "
                               f"yours {expected_version}); reload it")
            crm.delete_deal(session, deal, now=now_utc())
            audit(session, request, access, "delete", "deal", deal.id, {"external_id": deal.external_id, "name": deal.name})
    except Conflict as exc:
        raise _stale(session, deal_id, exc) from None
    changed(request, [deal_id])


@router.post("/{deal_id}/restore", response_model=DealPublic, summary="Restore a deleted deal (admin only)")
def restore_deal(deal_id: int, request: Request, access: Access = Depends(admin_access),
                 session: Session = Depends(get_session)) -> Any:
    with session.begin():
        deal = deal_or_404(session, access, deal_id, write=True, deleted=True)
        crm.restore_deal(session, deal)
        audit(session, request, access, "restore", "deal", deal.id, {"external_id": deal.external_id})
    changed(request, [deal_id])
    return deal
