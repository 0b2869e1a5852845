"""The admin's settings pages: ``/settings/users`` and ``/settings/pipelines``.

Each form posts with the session's CSRF token (checked by ``page_access``) and calls the same
``dealflow.store.users`` / ``dealflow.store.pipelines`` functions as ``/api/users``, ``/api/pipelines``
and ``dealflow users``. A change redirects back with a notice; a refused one shows the page again
with the reason, which names the field.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import Conflict, DealflowError, DomainError, NotFound
from dealflow.store import models as m
from dealflow.store import pipelines as stage_rules
from dealflow.store import users as user_rules
from dealflow.web.auth import Access, page_access
from dealflow.web.deps import changed, get_session
from dealflow.web.pages import render
from dealflow.web.routers._common import actor

router = APIRouter(include_in_schema=False)


async def settings_access(request: Request) -> Access:
    """Pages for admins only: 403 for everyone else, the sign-in page for a visitor."""
    access = await page_access(request)
    access.require_admin()
    return access


def _status(exc: DealflowError) -> int:
    return 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422


def _done(path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'notice': notice})}", status_code=303)


def _apply(request: Request, session: Session, write: Callable[[], str], page: Callable[..., Response], path: str,
           *, reload_history: bool = False) -> Response:
    """Run ``write`` in one transaction: redirect to ``path`` with its notice, or show ``page`` with the error."""
    try:
        with session.begin():
            notice = write()
    except DealflowError as exc:
        return page(request, session, error=str(exc), status_code=_status(exc))
    if reload_history:
        changed(request)
    return _done(path, notice)


def _number(text: str, field: str) -> float:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise DomainError(f"{field}: {text!r} is not a number; give a value between 0 and 1, such as 0.25") from None


def _id_or_none(text: str, field: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise DomainError(f"{field}: {text!r} is not an id")
    return int(text)


@router.get("/settings")
def settings_home(access: Access = Depends(settings_access)) -> Response:
    return RedirectResponse("/settings/users", status_code=303)


# -- users ---------------------------------------------------------------------------------------
def users_page(request: Request, session: Session, *, error: str | None = None, status_code: int = 200) -> Response:
    teams = session.scalars(select(m.Team).order_by(m.Team.name)).all()
    return render(request, "settings_users.html", status_code=status_code, nav="settings", section="users",
                  users=user_rules.list_users(session), teams=teams, roles=user_rules.ROLES, error=error,
                  notice=None if error else request.query_params.get("notice"))


@router.get("/settings/users")
def settings_users(request: Request, access: Access = Depends(settings_access), session: Session = Depends(get_session)) -> Response:
    return users_page(request, session)


@router.post("/settings/users")
def settings_user_create(request: Request, email: str = Form(""), name: str = Form(""), role: str = Form("rep"),
                         team_id: str = Form(""), password: str = Form(""), access: Access = Depends(settings_access),
                         session: Session = Depends(get_session)) -> Response:
    def write() -> str:
        user = user_rules.create_user(session, email, password, role, name=name.strip() or None,
                                      team_id=_id_or_none(team_id, "team"), by=actor(request, access))
        return f"{user.email} can now sign in as {user.role}."

    return _apply(request, session, write, users_page, "/settings/users", reload_history=bool(name.strip()))


@router.post("/settings/users/{user_id}")
def settings_user_update(user_id: int, request: Request, role: str = Form(...), team_id: str = Form(""),
                         access: Access = Depends(settings_access), session: Session = Depends(get_session)) -> Response:
    def write() -> str:
        user = user_rules.get_user(session, user_id)
        changes = user_rules.update_user(session, user, role=role, team_id=_id_or_none(team_id, "team"), by=actor(request, access))
        return f"{user.email}: saved." if changes else f"{user.email}: nothing changed."

    return _apply(request, session, write, users_page, "/settings/users")


@router.post("/settings/users/{user_id}/active")
def settings_user_active(user_id: int, request: Request, active: str = Form(...), access: Access = Depends(settings_access),
                         session: Session = Depends(get_session)) -> Response:
    def write() -> str:
        if active not in ("0", "1"):
            raise DomainError(f"active: 1 (reactivate) or 0 (deactivate), not {active!r}")
        user = user_rules.get_user(session, user_id)
        if active == "1":
            user_rules.set_active(session, user, True, by=actor(request, access))
            return f"{user.email} may sign in again."
        revoked = user_rules.set_active(session, user, False, by=actor(request, access))
        return f"{user.email} is deactivated: signed out everywhere, {revoked} API token(s) revoked."

    return _apply(request, session, write, users_page, "/settings/users")


@router.post("/settings/users/{user_id}/password")
def settings_user_password(user_id: int, request: Request, password: str = Form(""), access: Access = Depends(settings_access),
                           session: Session = Depends(get_session)) -> Response:
    def write() -> str:
        user = user_rules.get_user(session, user_id)
        user_rules.reset_password(session, user, password, by=actor(request, access))
        return f"{user.email} has a new password; their open sessions have ended."

    return _apply(request, session, write, users_page, "/settings/users")


# -- pipelines and stages -------------------------------------------------------------------------
def pipelines_page(request: Request, session: Session, *, error: str | None = None, status_code: int = 200) -> Response:
    pipelines = [(p, stage_rules.stages_of(session, p.id)) for p in session.scalars(select(m.Pipeline).order_by(m.Pipeline.name))]
    return render(request, "settings_pipelines.html", status_code=status_code, nav="settings", section="pipelines",
                  pipelines=pipelines, error=error, notice=None if error else request.query_params.get("notice"))


@router.get("/settings/pipelines")
def settings_pipelines(request: Request, access: Access = Depends(settings_access),
                       session: Session = Depends(get_session)) -> Response:
    return pipelines_page(request, session)


@router.post("/settings/pipelines/{pipeline_id}/stages/{stage_id}")
def settings_stage_update(pipeline_id: int, stage_id: int, request: Request, name: str = Form(""), probability: str = Form(""),
                          access: Access = Depends(settings_access), session: Session = Depends(get_session)) -> Response:
    def write() -> str:
        stage = stage_rules.get_stage(session, pipeline_id, stage_id)
        value = _number(probability, "probability") if probability.strip() else None
        changes = stage_rules.update_stage(session, stage, name=name if name.strip() else None, probability=value,
                                           by=actor(request, access))
        return f"Stage {stage.name!r}: saved." if changes else f"Stage {stage.name!r}: nothing changed."

    return _apply(request, session, write, pipelines_page, "/settings/pipelines", reload_history=True)


@router.post("/settings/pipelines/{pipeline_id}/stages/{stage_id}/move")
def settings_stage_move(pipeline_id: int, stage_id: int, request: Request, direction: str = Form(...),
                        access: Access = Depends(settings_access), session: Session = Depends(get_session)) -> Response:
    def write() -> str:
        if direction not in ("up", "down"):
            raise DomainError(f"direction: up or down, not {direction!r}")
        stage = stage_rules.get_stage(session, pipeline_id, stage_id)
        stage_rules.move_stage(session, stage_rules.get_pipeline(session, pipeline_id), stage, -1 if direction == "up" else 1,
                               by=actor(request, access))
        return f"Stage {stage.name!r} moved {direction}."

    return _apply(request, session, write, pipelines_page, "/settings/pipelines", reload_history=True)


@router.post("/settings/pipelines/{pipeline_id}/stages")
def settings_stage_add(pipeline_id: int, request: Request, name: str = Form(""), kind: str = Form("open"),
                       probability: str = Form(""), before_id: str = Form(""), access: Access = Depends(settings_access),
                       session: Session = Depends(get_session)) -> Response:
    def write() -> str:
        pipeline = stage_rules.get_pipeline(session, pipeline_id)
        value = _number(probability, "probability") if probability.strip() else None
        stage = stage_rules.add_stage(session, pipeline, name, kind=kind, probability=value,
                                      before_id=_id_or_none(before_id, "before"), by=actor(request, access))
        return f"Stage {stage.name!r} added to {pipeline.name}."

    return _apply(request, session, write, pipelines_page, "/settings/pipelines", reload_history=True)
