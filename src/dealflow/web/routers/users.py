"""``/api/users`` (admins): who may sign in, their role and team, deactivation and password resets.
The rules are ``dealflow.store.users``'s, shared with ``dealflow users`` and ``/settings/users``."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from dealflow.store import users
from dealflow.web.auth import Access, admin_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import actor
from dealflow.web.schemas import PasswordReset, UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users (admin)"])


def public(session: Session, user_id: int) -> UserPublic:
    found = users.list_users(session, user_id)
    if not found:
        users.get_user(session, user_id)  # raises the 404
    return UserPublic.model_validate(found[0])


@router.get("", response_model=list[UserPublic], summary="Every user with role, team, active state and last sign-in")
def list_users(access: Access = Depends(admin_access), session: Session = Depends(get_session)) -> Any:
    return [UserPublic.model_validate(r) for r in users.list_users(session)]


@router.get("/{user_id}", response_model=UserPublic, summary="One user")
def get_user(user_id: int, access: Access = Depends(admin_access), session: Session = Depends(get_session)) -> Any:
    return public(session, user_id)


@router.post("", response_model=UserPublic, status_code=201, summary="Create a user with an initial password")
def create_user(body: UserCreate, request: Request, access: Access = Depends(admin_access),
                session: Session = Depends(get_session)) -> Any:
    with session.begin():
        user = users.create_user(session, body.email, body.password, body.role, name=body.name, owner_id=body.owner_id,
                                 team_id=body.team_id, by=actor(request, access))
        out = public(session, user.id)
    if body.name:
        changed(request)  # a new owner may have been created
    return out


@router.patch("/{user_id}", response_model=UserPublic,
              summary="Change a user's role, team or owner, or deactivate (sessions end, tokens revoked) and reactivate")
def update_user(user_id: int, body: UserUpdate, request: Request, access: Access = Depends(admin_access),
                session: Session = Depends(get_session)) -> Any:
    sent = body.model_fields_set
    with session.begin():
        user = users.get_user(session, user_id)
        by = actor(request, access)
        users.update_user(session, user, role=body.role, by=by,
                          **{k: getattr(body, k) for k in ("team_id", "owner_id") if k in sent})
        if body.active is not None and body.active != user.active:
            users.set_active(session, user, body.active, by=by)
        out = public(session, user.id)
    return out


@router.post("/{user_id}/password", status_code=204, summary="Set a new password; the user's open sessions end")
def reset_password(user_id: int, body: PasswordReset, request: Request, access: Access = Depends(admin_access),
                   session: Session = Depends(get_session)) -> None:
    with session.begin():
        users.reset_password(session, users.get_user(session, user_id), body.password, by=actor(request, access))
