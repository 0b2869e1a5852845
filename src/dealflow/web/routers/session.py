"""Signing in to the API: ``POST /api/token`` with an OAuth2 password form gives a bearer token;
``/api/tokens`` creates (shown once), lists and revokes named tokens for scripts; ``/api/me/sign-out-everywhere``
ends every session and token of the user; ``/api/audit`` is the trail (admins)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.store import models as m
from dealflow.web.auth import (
    Access, admin_access, authenticate, check_rate, get_access, issue_token, note_sign_in, revoke_tokens, sign_out_everywhere,
)
from dealflow.web.deps import get_session
from dealflow.store import audit as audit_log
from dealflow.web.routers._common import Limit, Offset, audit, paginate
from dealflow.web.schemas import AuditEntryPublic, Me, Page, Token, TokenCreate, TokenCreated, TokenInfo

router = APIRouter(tags=["sign in"])


@router.post("/token", response_model=Token, summary="Trade email (as username) and password for a bearer token",
             responses={429: {"description": "Too many failed sign-ins from this address for this email"}})
def create_token(request: Request, form: OAuth2PasswordRequestForm = Depends(), session: Session = Depends(get_session)) -> Any:
    check_rate(request, form.username)
    with session.begin():
        user = authenticate(session, form.username, form.password)
        note_sign_in(request, form.username, user is not None)
        if user is None:
            audit(session, request, Access(0, form.username.strip().lower()[:320], "", "token"), "sign-in failed", "user", None)
        else:
            scope = "read" if "read" in form.scopes and "write" not in form.scopes else "write"
            token, row = issue_token(session, user, scope=scope, name=form.client_id)
            audit(session, request, Access(user.id, user.email, user.role, "token", scope), "token", "user", user.id)
    if user is None:
        raise HTTPException(401, "wrong email or password", headers={"WWW-Authenticate": "Bearer"})
    return Token(access_token=token, expires_at=row.expires_at)


@router.get("/me", response_model=Me, summary="Who the token or session belongs to")
def me(access: Access = Depends(get_access)) -> Any:
    return Me(id=access.user_id, email=access.email, role=access.role, via=access.via, owner_id=access.owner_id)


@router.post("/me/sign-out-everywhere", status_code=204, summary="End every session and revoke every token of this user")
def sign_out_all(request: Request, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> None:
    with session.begin():
        user = session.get(m.User, access.user_id)
        revoked = sign_out_everywhere(session, user)  # type: ignore[arg-type]
        audit(session, request, access, "sign out everywhere", "user", access.user_id, {"tokens_revoked": revoked})


@router.get("/tokens", response_model=list[TokenInfo], summary="Your API tokens (never their secrets)")
def list_tokens(access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return session.scalars(select(m.ApiToken).where(m.ApiToken.user_id == access.user_id).order_by(m.ApiToken.id)).all()


@router.post("/tokens", response_model=TokenCreated, status_code=201,
             summary="Create an API token for a script: read or write, with an expiry; the secret is shown once")
def create_named_token(body: TokenCreate, request: Request, access: Access = Depends(get_access),
                       session: Session = Depends(get_session)) -> Any:
    if body.scope == "write" and not access.can_write():
        raise HTTPException(403, "a read-only token cannot create a write token")
    with session.begin():
        user = session.get(m.User, access.user_id)
        secret, row = issue_token(session, user, scope=body.scope, name=body.name, days=body.days)  # type: ignore[arg-type]
        audit(session, request, access, "create", "api_token", row.id, {"scope": body.scope, "name": body.name})
        out = TokenCreated(token=secret, **TokenInfo.model_validate(row).model_dump())
    return out


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of your tokens (an admin may revoke anyone's)")
def revoke_token(token_id: int, request: Request, access: Access = Depends(get_access),
                 session: Session = Depends(get_session)) -> None:
    with session.begin():
        row = session.get(m.ApiToken, token_id)
        if row is None or (row.user_id != access.user_id and not access.is_admin):
            raise HTTPException(404, f"no token {token_id}; list yours at /api/tokens")
        revoke_tokens(session, row.user_id, token_id)
        audit(session, request, access, "revoke", "api_token", token_id)


@router.get("/audit", response_model=Page[AuditEntryPublic], summary="The audit trail, newest first (admin only)")
def audit_trail(entity: str | None = Query(None, description="deal, activity, user, …"), entity_id: str | None = None,
                action: str | None = None, user_email: str | None = None, limit: int = Limit, offset: int = Offset,
                access: Access = Depends(admin_access), session: Session = Depends(get_session)) -> Any:
    stmt = audit_log.filtered(entity=entity or None, entity_id=entity_id or None, action=action or None, user_email=user_email or None)
    return paginate(session, stmt, limit, offset, list(audit_log.NEWEST_FIRST))
