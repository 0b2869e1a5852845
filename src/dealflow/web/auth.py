"""Who is asking: passwords (argon2), the session cookie of the UI, bearer tokens of the API.

Every route depends on ``get_access`` (pages on ``page_access``): the one place where, once roles
and team visibility arrive, what a user may see and change is decided. Today every active
signed-in user sees and changes everything.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import DomainError
from dealflow.store import models as m
from dealflow.store.db import Store
from dealflow.web.errors import LoginRequired

ROLES = ("admin", "manager", "rep")
SESSION_COOKIE = "dealflow_session"
SESSION_DAYS = 14
TOKEN_DAYS = 30
_hasher = PasswordHasher()
# Verifying against this keeps a sign-in with an unknown email as slow as one with a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(session: Session, email: str, password: str, role: str = "rep", *, owner_id: int | None = None) -> m.User:
    """Create a user (or reset the password and role of an existing one)."""
    email = email.strip().lower()
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if "@" not in email:
        raise DomainError(f"{email!r} is not an email address")
    if len(password) < 8:
        raise DomainError("the password needs at least 8 characters")
    user = session.scalar(select(m.User).where(m.User.email == email))
    if user is None:
        user = m.User(email=email, created_at=utcnow(), active=True)
        session.add(user)
    else:  # a reset signs out every session that was open
        user.sessions_valid_after = utcnow()
    user.password_hash = hash_password(password)
    user.role = role
    user.owner_id = owner_id if owner_id is not None else user.owner_id
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> m.User | None:
    user = session.scalar(select(m.User).where(m.User.email == email.strip().lower()))
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


# -- session cookie -------------------------------------------------------------------
def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="dealflow-session")


def session_cookie_value(secret: str, user: m.User) -> str:
    return _serializer(secret).dumps({"uid": user.id, "iat": utcnow().timestamp()})


def csrf_token(secret: str, cookie_value: str) -> str:
    """Tied to the session cookie: forms and the page's scripts send it back on every write."""
    return hmac.new(secret.encode(), b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def _user_from_cookie(request: Request, session: Session) -> m.User | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request.app.state.secret_key).loads(raw, max_age=SESSION_DAYS * 86400)
    except BadSignature:
        return None
    user = session.get(m.User, data.get("uid"))
    if user is None or not user.active:
        return None
    if user.sessions_valid_after and datetime.fromtimestamp(data.get("iat", 0), timezone.utc).replace(tzinfo=None) < user.sessions_valid_after:
        return None
    return user


# -- bearer tokens --------------------------------------------------------------------
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: m.User, *, scope: str = "write", name: str | None = None) -> tuple[str, m.ApiToken]:
    token = "dft_" + secrets.token_urlsafe(32)
    row = m.ApiToken(user_id=user.id, token_hash=_token_hash(token), scope=scope, name=name,
                     created_at=utcnow(), expires_at=utcnow() + timedelta(days=TOKEN_DAYS))
    session.add(row)
    session.flush()
    return token, row


def _user_from_bearer(request: Request, session: Session) -> tuple[m.User, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    row = session.scalar(select(m.ApiToken).where(m.ApiToken.token_hash == _token_hash(header[7:].strip())))
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at < utcnow()):
        raise HTTPException(401, "this token is unknown, revoked or expired; get a new one from POST /api/token",
                            headers={"WWW-Authenticate": "Bearer"})
    user = session.get(m.User, row.user_id)
    if user is None or not user.active:
        raise HTTPException(401, "this token's user is disabled", headers={"WWW-Authenticate": "Bearer"})
    return user, row.scope


# -- the one access dependency -------------------------------------------------------
@dataclass(frozen=True)
class Access:
    """A signed-in user and what they may do. Roles and teams will narrow this in one place."""

    user_id: int
    email: str
    role: str
    via: Literal["cookie", "token"]
    scope: str = "write"
    csrf: str = ""

    def can_write(self) -> bool:
        return self.scope == "write"

    def require_write(self) -> None:
        if not self.can_write():
            raise HTTPException(403, "this token is read-only; ask for a write token")

    def deal_filter(self) -> Any:
        """A SQL condition limiting deals to what this user may see (everything, for now)."""
        return None

    @property
    def name(self) -> str:
        return self.email


_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _resolve(request: Request) -> Access | None:
    store: Store = request.app.state.store
    with store.session() as session:
        bearer = _user_from_bearer(request, session)
        if bearer is not None:
            user, scope = bearer
            access = Access(user.id, user.email, user.role, "token", scope)
        else:
            cookie_user = _user_from_cookie(request, session)
            if cookie_user is None:
                return None
            secret = request.app.state.secret_key
            access = Access(cookie_user.id, cookie_user.email, cookie_user.role, "cookie", "write",
                            csrf_token(secret, request.cookies[SESSION_COOKIE]))
    request.state.user = access
    return access


async def _csrf_ok(request: Request, access: Access) -> bool:
    if access.via != "cookie" or request.method not in _UNSAFE:
        return True
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        sent = form.get("csrf")  # type: ignore[assignment]
    return isinstance(sent, str) and hmac.compare_digest(sent, access.csrf)


async def get_access(request: Request) -> Access:
    """API routes: a bearer token, or the UI's session cookie (writes then need the CSRF token)."""
    access = _resolve(request)
    if access is None:
        raise LoginRequired()
    if not await _csrf_ok(request, access):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")
    if request.method in _UNSAFE:
        access.require_write()
    return access


async def page_access(request: Request) -> Access:
    """Pages: same rules, but an anonymous visitor is sent to the sign-in page."""
    return await get_access(request)


AccessDep = Depends(get_access)
