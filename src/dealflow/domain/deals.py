"""Deal rules: what a stage move does to a deal's status and history."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dealflow.domain.stages import Stage, StageKind
from dealflow.errors import DomainError


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


def status_for(kind: StageKind) -> DealStatus:
    return DealStatus(kind.value)


@dataclass(frozen=True)
class StageMove:
    """The outcome of moving a deal: its new state and the history row to append."""

    from_stage: str | None
    to_stage: str
    status: DealStatus
    at: datetime
    closed_at: datetime | None
    lost_reason: str | None


def plan_stage_move(
    current: Stage | None,
    target: Stage,
    *,
    now: datetime,
    lost_reason: str | None = None,
) -> StageMove:
    """Work out a stage move. Moving to a lost stage needs a reason; reopening clears the close."""
    if current is not None and current.name == target.name:
        raise DomainError(f"the deal is already in stage {target.name!r}")
    if target.kind is StageKind.LOST and not (lost_reason and lost_reason.strip()):
        raise DomainError(f"moving a deal to {target.name!r} needs a lost reason")
    closed = target.kind is not StageKind.OPEN
    return StageMove(
        from_stage=current.name if current else None,
        to_stage=target.name,
        status=status_for(target.kind),
        at=now,
        closed_at=now if closed else None,
        lost_reason=lost_reason.strip() if (lost_reason and target.kind is StageKind.LOST) else None,
    )
