"""Writing the CRM one record at a time: pipelines, deals, stage moves, field edits, activities.

Bulk loads go through ``dealflow.ingest``; the web app, the generator and tests use these.
Every function takes an open session and leaves committing to the caller's ``Store.atomic()``.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.domain.deals import plan_stage_move
from dealflow.domain.stages import Stage as StageRule
from dealflow.domain.stages import StageKind, default_probabilities, stage_kind_from_name
from dealflow.errors import Conflict, DomainError, NotFound
from dealflow.store import models as m


def utc_naive(instant: datetime) -> datetime:
    """Times are stored as naive UTC."""
    if instant.tzinfo is not None:
        instant = instant.astimezone(timezone.utc).replace(tzinfo=None)
    return instant


def ensure_pipeline(
    session: Session,
    name: str,
    stages: Sequence[str | tuple[str, str | None, float | None]],
) -> m.Pipeline:
    """Get or create a pipeline with the given ordered stages.

    Each stage is a name (kind guessed from it, probability spread evenly over open stages)
    or a ``(name, kind, probability)`` triple. Stages missing from an existing pipeline are appended.
    """
    pipeline = session.scalar(select(m.Pipeline).where(m.Pipeline.name == name))
    if pipeline is None:
        pipeline = m.Pipeline(name=name)
        session.add(pipeline)
        session.flush()
    specs = [(s, None, None) if isinstance(s, str) else s for s in stages]
    kinds = [StageKind(k) if k else stage_kind_from_name(n) for n, k, _ in specs]
    defaults = iter(default_probabilities(sum(k is StageKind.OPEN for k in kinds)))
    existing = {s.name: s for s in session.scalars(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id))}
    position = max((s.position for s in existing.values()), default=-1) + 1
    for (stage_name, _, probability), kind in zip(specs, kinds):
        default = next(defaults) if kind is StageKind.OPEN else (1.0 if kind is StageKind.WON else 0.0)
        if stage_name in existing:
            continue
        stage = m.Stage(
            pipeline_id=pipeline.id, name=stage_name, position=position, kind=kind.value,
            probability=probability if probability is not None else default,
        )
        session.add(stage)
        existing[stage_name] = stage
        position += 1
    session.flush()
    return pipeline


def stage_by_name(session: Session, pipeline_id: int, name: str) -> m.Stage:
    stage = session.scalar(select(m.Stage).where(m.Stage.pipeline_id == pipeline_id, m.Stage.name == name))
    if stage is None:
        names = session.scalars(select(m.Stage.name).where(m.Stage.pipeline_id == pipeline_id).order_by(m.Stage.position)).all()
        raise NotFound(f"no stage {name!r} in this pipeline; its stages are: {', '.join(names)}")
    return stage


def _rule(stage: m.Stage) -> StageRule:
    return StageRule(stage.name, stage.position, StageKind(stage.kind), stage.probability)


def create_deal(
    session: Session,
    *,
    external_id: str,
    pipeline: m.Pipeline,
    stage: str,
    at: datetime,
    by: str | None = None,
    **fields: Any,
) -> m.Deal:
    """Create a deal in ``stage`` at instant ``at``, with its first history row."""
    target = stage_by_name(session, pipeline.id, stage)
    kind = StageKind(target.kind)
    deal = m.Deal(
        external_id=external_id, pipeline_id=pipeline.id, stage_id=target.id, status=kind.value,
        created_at=utc_naive(fields.pop("created_at", at)), version=1, **fields,
    )
    if kind is not StageKind.OPEN:
        deal.closed_at = utc_naive(at)
    session.add(deal)
    session.flush()
    session.add(m.StageChange(deal_id=deal.id, from_stage_id=None, to_stage_id=target.id, at=utc_naive(at), by=by,
                              lost_reason=fields.get("lost_reason")))
    return deal


def move_deal(
    session: Session,
    deal: m.Deal,
    stage: str,
    *,
    now: datetime,
    by: str | None = None,
    lost_reason: str | None = None,
    expected_version: int | None = None,
) -> m.StageChange:
    """Move a deal to another stage and append the history row, in the caller's transaction."""
    if expected_version is not None and deal.version != expected_version:
        raise Conflict(
            f"deal {deal.external_id} was changed by someone else (version {deal.version}, yours {expected_version}); reload it",
            current={"id": deal.id, "version": deal.version, "stage_id": deal.stage_id, "status": deal.status},
        )
    current = session.get(m.Stage, deal.stage_id)
    target = stage_by_name(session, deal.pipeline_id, stage)
    move = plan_stage_move(_rule(current) if current else None, _rule(target), now=now, lost_reason=lost_reason)
    change = m.StageChange(
        deal_id=deal.id, from_stage_id=deal.stage_id, to_stage_id=target.id, at=utc_naive(now), by=by,
        lost_reason=move.lost_reason,
    )
    deal.stage_id = target.id
    deal.status = move.status.value
    deal.closed_at = utc_naive(move.closed_at) if move.closed_at else None
    deal.lost_reason = move.lost_reason
    deal.version += 1
    session.add(change)
    session.flush()
    return change


_TRACKED = {"amount", "expected_close_date"}


def update_deal(
    session: Session,
    deal: m.Deal,
    changes: dict[str, Any],
    *,
    now: datetime,
    by: str | None = None,
    expected_version: int | None = None,
) -> list[m.FieldChange]:
    """Edit deal fields; amount and expected close date edits are kept as history."""
    if expected_version is not None and deal.version != expected_version:
        raise Conflict(
            f"deal {deal.external_id} was changed by someone else (version {deal.version}, yours {expected_version}); reload it",
            current={"id": deal.id, "version": deal.version},
        )
    recorded = []
    for field, value in changes.items():
        if field in {"id", "stage_id", "status", "version", "pipeline_id"}:
            raise DomainError(f"{field} cannot be edited directly; move the deal to change its stage")
        old = getattr(deal, field)
        if old == value:
            continue
        if field in _TRACKED:
            change = m.FieldChange(
                deal_id=deal.id, field=field, at=utc_naive(now), by=by,
                old_value=None if old is None else (old.isoformat() if isinstance(old, date) else str(old)),
                new_value=None if value is None else (value.isoformat() if isinstance(value, date) else str(value)),
            )
            session.add(change)
            recorded.append(change)
        setattr(deal, field, value)
    deal.version += 1
    session.flush()
    return recorded


def log_activity(
    session: Session,
    *,
    kind: str,
    at: datetime,
    deal: m.Deal | None = None,
    lead: m.Lead | None = None,
    external_id: str | None = None,
    **fields: Any,
) -> m.Activity:
    if deal is None and lead is None:
        raise DomainError("an activity belongs to a deal or a lead")
    activity = m.Activity(
        external_id=external_id or f"{'deal' if deal else 'lead'}:{(deal or lead).id}:{kind}:{utc_naive(at).isoformat()}",  # type: ignore[union-attr]
        deal_id=deal.id if deal else None, lead_id=lead.id if lead else None, kind=kind, at=utc_naive(at), **fields,
    )
    if activity.ended_at is not None:
        activity.ended_at = utc_naive(activity.ended_at)
    session.add(activity)
    session.flush()
    return activity


def get_or_create(session: Session, model: Any, *, external_id: str, **fields: Any) -> Any:
    row = session.scalar(select(model).where(model.external_id == external_id))
    if row is None:
        row = model(external_id=external_id, **fields)
        session.add(row)
        session.flush()
    return row


def delete_deal(session: Session, deal: m.Deal, *, now: datetime) -> None:
    """Soft delete: the deal disappears from every view but stays restorable, history intact."""
    if deal.deleted_at is not None:
        raise DomainError(f"deal {deal.external_id} is already deleted")
    deal.deleted_at = utc_naive(now)
    deal.version += 1


def restore_deal(session: Session, deal: m.Deal) -> None:
    if deal.deleted_at is None:
        raise DomainError(f"deal {deal.external_id} is not deleted")
    deal.deleted_at = None
    deal.version += 1
