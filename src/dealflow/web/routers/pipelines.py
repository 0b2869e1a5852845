from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import Conflict
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.web.auth import Access, admin_access, get_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import audit, get_or_404
from dealflow.web.schemas import PipelineCreate, PipelinePublic, StagePublic

router = APIRouter(prefix="/pipelines", tags=["pipelines and stages"])


def _public(session: Session, pipeline: m.Pipeline) -> PipelinePublic:
    stages = session.scalars(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id).order_by(m.Stage.position)).all()
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
