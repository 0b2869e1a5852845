"""Signing in to the API: ``POST /api/token`` with an OAuth2 password form gives a bearer token."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.orm import Session

from dealflow.web.auth import Access, authenticate, get_access, issue_token
from dealflow.web.deps import get_session
from dealflow.web.routers._common import audit
from dealflow.web.schemas import Me, Token

router = APIRouter(tags=["sign in"])


@router.post("/token", response_model=Token, summary="Trade email (as username) and password for a bearer token")
def create_token(request: Request, form: OAuth2PasswordRequestForm = Depends(), session: Session = Depends(get_session)) -> Any:
    with session.begin():
        user = authenticate(session, form.username, form.password)
        if user is None:
            raise HTTPException(401, "wrong email or password", headers={"WWW-Authenticate": "Bearer"})
        scope = "read" if "read" in form.scopes and "write" not in form.scopes else "write"
        token, row = issue_token(session, user, scope=scope, name=form.client_id)
        audit(session, request, Access(user.id, user.email, user.role, "token", scope), "token", "user", user.id)
    return Token(access_token=token, expires_at=row.expires_at)


@router.get("/me", response_model=Me, summary="Who the token or session belongs to")
def me(access: Access = Depends(get_access)) -> Any:
    return Me(id=access.user_id, email=access.email, role=access.role, via=access.via)
