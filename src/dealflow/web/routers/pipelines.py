from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import Conflict
from dealflow.store import crm
from dealflow.store import pipelines as stage_rules
from dealflow.store import models as m
from dealflow.web.auth import Access, admin_access, get_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import actor, audit, get_or_404
from dealflow.web.schemas import PipelineCreate, PipelinePublic, StageCreate, StageOrder, StagePublic, StageUpdate

router = APIRouter(prefix="/pipelines", tags=["pipelines and stages"])


def _public(session: Session, pipeline: m.Pipeline) -> PipelinePublic:
    stages = stage_rules.stages_of(session, pipeline.id)
    return PipelinePublic(id=pipeline.id, name=pipeline.name, stages=[StagePublic.model_validate(s) for s in stages])


@router.get("", response_model=list[PipelinePublic], summary="List pipelines with their ordered stages")
def list_pipelines(access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return [_public(session, p) for p in session.scalars(select(m.Pipeline).order_by(m.Pipeline.id))]


@router.get("/{pipeline_id}", response_model=PipelinePublic, summary="One pipeline with its stages")
def get_pipeline(pipeline_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return _public(session, get_or_404(session, m.Pipeline, pipeline_id, "/api/pipelines"))


@router.get("/{pipeline_id}/stages", response_model=list[StagePublic], summary="The ordered stages of a pipeline")
def list_stages(pipeline_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return _public(session, get_or_404(session, m.Pipeline, pipeline_id, "/api/pipelines")).stages


@router.post("", response_model=PipelinePublic, status_code=201, summary="Create a pipeline with ordered stages")
def create_pipeline(body: PipelineCreate, request: Request, access: Access = Depends(admin_access),
                    session: Session = Depends(get_session)) -> Any:
    with session.begin():
        if session.scalar(select(m.Pipeline.id).where(m.Pipeline.name == body.name)) is not None:
            raise Conflict(f"a pipeline named {body.name!r} exists already; add stages to it or pick another name")
        pipeline = crm.ensure_pipeline(session, body.name, [(s.name, s.kind, s.probability) for s in body.stages])
        audit(session, request, access, "create", "pipeline", pipeline.id)
        out = _public(session, pipeline)
    changed(request)
    return out


# -- stage settings (admins): the rules are dealflow.store.pipelines's, shared with /settings/pipelines --
@router.patch("/{pipeline_id}/stages/{stage_id}", response_model=StagePublic,
              summary="Rename a stage or set its win probability (admin only)",
              description="Only open stages take a probability other than 1 (won) or 0 (lost). Reports and the "
                          "weighted pipeline use the new probability at once.")
def update_stage(pipeline_id: int, stage_id: int, body: StageUpdate, request: Request, access: Access = Depends(admin_access),
                 session: Session = Depends(get_session)) -> Any:
    with session.begin():
        stage = stage_rules.get_stage(session, pipeline_id, stage_id)
        stage_rules.update_stage(session, stage, name=body.name, probability=body.probability, by=actor(request, access))
        out = StagePublic.model_validate(stage)
    changed(request)
    return out


@router.post("/{pipeline_id}/stages", response_model=StagePublic, status_code=201, summary="Add a stage (admin only)")
def add_stage(pipeline_id: int, body: StageCreate, request: Request, access: Access = Depends(admin_access),
              session: Session = Depends(get_session)) -> Any:
    with session.begin():
        pipeline = stage_rules.get_pipeline(session, pipeline_id)
        stage = stage_rules.add_stage(session, pipeline, body.name, kind=body.kind, probability=body.probability,
                                      before_id=body.before_id, by=actor(request, access))
        out = StagePublic.model_validate(stage)
    changed(request)
    return out


@router.put("/{pipeline_id}/stage-order", response_model=list[StagePublic],
            summary="Put the open stages in a new order (admin only); won and lost stages keep their places")
def reorder_stages(pipeline_id: int, body: StageOrder, request: Request, access: Access = Depends(admin_access),
                   session: Session = Depends(get_session)) -> Any:
    with session.begin():
        pipeline = stage_rules.get_pipeline(session, pipeline_id)
        stage_rules.reorder_stages(session, pipeline, body.stage_ids, by=actor(request, access))
        out = _public(session, pipeline).stages
    changed(request)
    return out
