"""Editing a pipeline's stages: rename, set a win probability, reorder the open stages, add a stage.

The rules kept here are the ones the history relies on (``store/frames.py`` ranks stages as open
stages by position, then won ones): a stage's kind never changes (deals and their history were
recorded against it); won and lost stages keep probability 1 and 0; open stages may be reordered
among themselves only, so closed stages stay where they are; positions stay distinct. Analyses see
a change at once: every write changes the store's revision (``dealflow.store.revision``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.domain.stages import StageKind
from dealflow.errors import Conflict, DomainError, NotFound
from dealflow.store import models as m
from dealflow.store.audit import Actor

_CLOSED_PROBABILITY = {StageKind.WON: 1.0, StageKind.LOST: 0.0}


def check_probability(value: float | None, field: str = "probability") -> float:
    if value is None or isinstance(value, bool) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise DomainError(f"{field}: give a win probability between 0 and 1 (0.25 for 25%), not {value!r}")
    return float(value)


def check_stage_name(session: Session, pipeline_id: int, name: str, *, stage_id: int | None = None) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise DomainError("name: give a stage name of 1 to 200 characters")
    taken = session.scalar(select(m.Stage.id).where(m.Stage.pipeline_id == pipeline_id, m.Stage.name == name))
    if taken is not None and taken != stage_id:
        raise Conflict(f"name: this pipeline has a stage {name!r} already; pick another name")
    return name


def get_pipeline(session: Session, pipeline_id: int) -> m.Pipeline:
    pipeline = session.get(m.Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(f"no pipeline {pipeline_id}; list them at /api/pipelines")
    return pipeline


def stages_of(session: Session, pipeline_id: int) -> list[m.Stage]:
    return list(session.scalars(select(m.Stage).where(m.Stage.pipeline_id == pipeline_id).order_by(m.Stage.position, m.Stage.id)))


def get_stage(session: Session, pipeline_id: int, stage_id: int) -> m.Stage:
    stage = session.get(m.Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline_id:
        raise NotFound(f"no stage {stage_id} in pipeline {pipeline_id}; list them at /api/pipelines/{pipeline_id}/stages")
    return stage


def update_stage(session: Session, stage: m.Stage, *, name: str | None = None, probability: float | None = None,
                 by: Actor | None = None) -> dict[str, object]:
    """Rename a stage and/or set its win probability; returns what changed."""
    changes: dict[str, object] = {}
    if name is not None:
        name = check_stage_name(session, stage.pipeline_id, name, stage_id=stage.id)
        if name != stage.name:
            changes["name"] = {"from": stage.name, "to": name}
            stage.name = name
    if probability is not None:
        value = check_probability(probability)
        kind = StageKind(stage.kind)
        if kind is not StageKind.OPEN and value != _CLOSED_PROBABILITY[kind]:
            raise DomainError(f"probability: {stage.name!r} is a {kind.value} stage; its probability stays "
                              f"{_CLOSED_PROBABILITY[kind]:g} (only open stages take another)")
        if value != stage.probability:
            changes["probability"] = {"from": stage.probability, "to": value}
            stage.probability = value
    if changes:
        session.flush()
        if by is not None:
            by.record(session, "update", "stage", stage.id, changes)
    return changes


def _renumber(stages: Sequence[m.Stage]) -> None:
    for position, stage in enumerate(stages):
        stage.position = position


def reorder_stages(session: Session, pipeline: m.Pipeline, open_stage_ids: Sequence[int], *, by: Actor | None = None) -> None:
    """Put the pipeline's open stages in this order; won and lost stages keep their places."""
    stages = stages_of(session, pipeline.id)
    opens = [s for s in stages if s.kind == StageKind.OPEN.value]
    by_id = {s.id: s for s in opens}
    if sorted(open_stage_ids) != sorted(by_id) or len(set(open_stage_ids)) != len(open_stage_ids):
        raise DomainError(f"stage_ids: list each open stage of {pipeline.name!r} once "
                          f"({', '.join(f'{s.id} {s.name}' for s in opens)}); won and lost stages are not reordered")
    slots = iter(i for i, s in enumerate(stages) if s.kind == StageKind.OPEN.value)
    ordered = list(stages)
    for stage_id in open_stage_ids:
        ordered[next(slots)] = by_id[stage_id]
    before = [s.name for s in opens]
    _renumber(ordered)
    session.flush()
    after = [by_id[i].name for i in open_stage_ids]
    if by is not None and after != before:
        by.record(session, "reorder", "pipeline", pipeline.id, {"open_stages": {"from": before, "to": after}})


def move_stage(session: Session, pipeline: m.Pipeline, stage: m.Stage, steps: int, *, by: Actor | None = None) -> None:
    """Move an open stage ``steps`` places along the open stages (negative: earlier)."""
    if stage.kind != StageKind.OPEN.value:
        raise DomainError(f"stage: {stage.name!r} is a {stage.kind} stage; only open stages are reordered")
    ids = [s.id for s in stages_of(session, pipeline.id) if s.kind == StageKind.OPEN.value]
    at = ids.index(stage.id)
    ids.insert(max(0, min(len(ids) - 1, at + steps)), ids.pop(at))
    reorder_stages(session, pipeline, ids, by=by)


def add_stage(session: Session, pipeline: m.Pipeline, name: str, *, kind: str = "open", probability: float | None = None,
              before_id: int | None = None, by: Actor | None = None) -> m.Stage:
    """Add a stage. An open stage goes before the open stage ``before_id`` (default: after the last open
    stage); a won or lost stage goes last, with probability 1 or 0."""
    try:
        stage_kind = StageKind(kind)
    except ValueError:
        raise DomainError(f"kind: choose open, won or lost, not {kind!r}") from None
    name = check_stage_name(session, pipeline.id, name)
    if stage_kind is StageKind.OPEN:
        value = check_probability(probability)
    else:
        value = _CLOSED_PROBABILITY[stage_kind]
        if probability is not None and check_probability(probability) != value:
            raise DomainError(f"probability: a {kind} stage's probability is {value:g}")
    stages = stages_of(session, pipeline.id)
    opens = [s for s in stages if s.kind == StageKind.OPEN.value]
    if stage_kind is not StageKind.OPEN:
        at = len(stages)
    elif before_id is not None:
        before = next((s for s in opens if s.id == before_id), None)
        if before is None:
            raise DomainError(f"before: {before_id} is not an open stage of {pipeline.name!r}")
        at = stages.index(before)
    else:
        at = stages.index(opens[-1]) + 1 if opens else 0
    stage = m.Stage(pipeline_id=pipeline.id, name=name, kind=stage_kind.value, probability=value, position=len(stages))
    session.add(stage)
    stages.insert(at, stage)
    _renumber(stages)
    session.flush()
    if by is not None:
        by.record(session, "add stage", "stage", stage.id, {"pipeline": pipeline.name, "name": name, "kind": kind,
                                                             "probability": value, "position": stage.position})
    return stage
