"""Who is asking: passwords (argon2), the session cookie of the UI, bearer tokens of the API.

Every route depends on ``get_access`` (pages on ``page_access``): the one place where what a user
may see and change is decided. ``Access.deal_scope`` is the user's ``Scope`` (admin everything,
manager their team, rep their own deals), derived by ``dealflow.store.access.scope_of_user``;
routes ask it through ``deal_filter``/``require_read``/``require_write``, and ``get_history``
hands every analysis, dashboard, board and export the history ``scoped`` to it.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.domain.access import Scope
from dealflow.store import models as m
from dealflow.store.access import scope_of_user
from dealflow.store.db import Store
# The user rules live in the store (shared with the CLI); re-exported for the web app and its tests.
from dealflow.store.users import ROLES as ROLES
from dealflow.store.users import TOKEN_DAYS as TOKEN_DAYS
from dealflow.store.users import add_user as add_user
from dealflow.store.users import hash_password as hash_password
from dealflow.store.users import issue_token as issue_token
from dealflow.store.users import revoke_tokens as revoke_tokens
from dealflow.store.users import sign_out_everywhere as sign_out_everywhere
from dealflow.store.users import token_hash, utcnow as utcnow
from dealflow.store.users import verify_password as verify_password
from dealflow.web.errors import LoginRequired

SESSION_COOKIE = "dealflow_session"
SESSION_DAYS = 14
# Verifying against this keeps a sign-in with an unknown email as slow as one with a wrong password.
_DUMMY_HASH = hash_password("not-a-real-password")


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


# -- bearer tokens (issued by dealflow.store.users.issue_token) ------------------------
def _user_from_bearer(request: Request, session: Session) -> tuple[m.User, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    found = session.execute(select(m.ApiToken, m.User).outerjoin(m.User, m.User.id == m.ApiToken.user_id)  # one round trip per request
                            .where(m.ApiToken.token_hash == token_hash(header[7:].strip()))).first()
    row, user = found if found is not None else (None, None)
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at < utcnow()):
        raise HTTPException(401, "this token is unknown, revoked or expired; get a new one from POST /api/token",
                            headers={"WWW-Authenticate": "Bearer"})
    if user is None or not user.active:
        raise HTTPException(401, "this token's user is disabled", headers={"WWW-Authenticate": "Bearer"})
    return user, row.scope


# -- sign-in rate limiting --------------------------------------------------------------
class SignInLimiter:
    """At most ``failures`` failed sign-ins per email and address per ``window`` seconds (in memory,
    per process); past that, sign-in answers 429 until the window has passed."""

    def __init__(self, failures: int = 5, window: float = 60.0) -> None:
        import threading

        self.failures, self.window = failures, window
        self._seen: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        times = [t for t in self._seen.get(key, []) if now - t < self.window]
        if times:
            self._seen[key] = times
        else:
            self._seen.pop(key, None)
        return times

    def retry_after(self, email: str, addr: str) -> int:
        """Seconds to wait, or 0 when a sign-in may be tried."""
        import time

        now = time.monotonic()
        with self._lock:
            times = self._recent((email.strip().lower(), addr), now)
            return int(self.window - (now - times[0])) + 1 if len(times) >= self.failures else 0

    def failed(self, email: str, addr: str) -> None:
        import time

        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:  # forget expired entries so random emails cannot grow this without bound
                for key in list(self._seen):
                    self._recent(key, now)
            self._seen.setdefault((email.strip().lower(), addr), []).append(now)

    def succeeded(self, email: str, addr: str) -> None:
        with self._lock:
            self._seen.pop((email.strip().lower(), addr), None)


def check_rate(request: Request, email: str) -> None:
    wait = request.app.state.sign_in_limiter.retry_after(email, _addr(request))
    if wait:
        raise HTTPException(429, f"too many failed sign-ins; try again in {wait} seconds", headers={"Retry-After": str(wait)})


def _addr(request: Request) -> str:
    return request.client.host if request.client else "?"


def note_sign_in(request: Request, email: str, ok: bool) -> None:
    limiter = request.app.state.sign_in_limiter
    (limiter.succeeded if ok else limiter.failed)(email, _addr(request))


# -- CSRF on the sign-in form (nobody is signed in yet: a double-submit cookie) -------------
LOGIN_COOKIE = "dealflow_login"


def login_csrf(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


# -- the one access dependency -------------------------------------------------------
@dataclass(frozen=True)
class Access:
    """A signed-in user and what they may do: ``scope`` is the token's read/write scope,
    ``deal_scope`` the owners whose deals the user may read and change (their role)."""

    user_id: int
    email: str
    role: str
    via: Literal["cookie", "token"]
    scope: str = "write"
    csrf: str = ""
    deal_scope: Scope = Scope(frozenset(), frozenset(), False)  # nothing unless the role says otherwise
    owner_id: int | None = None

    def can_write(self) -> bool:
        return self.scope == "write"

    def require_write(self) -> None:
        if not self.can_write():
            raise HTTPException(403, "this token is read-only; ask for a write token")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise HTTPException(403, "only an admin may do this")

    def owner_filter(self, column: Any) -> Any:
        """A SQL condition on an owner-id column limiting rows to what this user may read; None for everything."""
        from sqlalchemy import false, or_

        scope = self.deal_scope
        if scope.read_owners is None and scope.unowned:
            return None
        owners = column.in_(sorted(scope.read_owners)) if scope.read_owners is not None else column.is_not(None)
        if scope.read_owners is not None and not scope.read_owners:
            owners = false()
        return or_(owners, column.is_(None)) if scope.unowned else owners

    def deal_filter(self) -> Any:
        """A SQL condition limiting deals to what this user may see (None: everything)."""
        return self.owner_filter(m.Deal.owner_id)

    def visible_deal_ids(self) -> Any:
        """A subquery of the ids of the deals this user may see (deleted ones excluded)."""
        stmt = select(m.Deal.id).where(m.Deal.deleted_at.is_(None))
        cond = self.deal_filter()
        return stmt.where(cond) if cond is not None else stmt

    def require_read(self, owner_id: int | None, what: str = "deal", id_: Any = "") -> None:
        """A deal the user may not see answers 404, as if it did not exist: ids do not leak."""
        if not self.deal_scope.can_read(owner_id):
            raise HTTPException(404, f"no {what} {id_}".rstrip() + "; list them at /api/deals")

    def require_change(self, owner_id: int | None, what: str = "deal") -> None:
        """Write access to a (readable) deal: 403 when the role only lets the user read it."""
        if not self.deal_scope.can_write(owner_id):
            raise HTTPException(403, f"your role ({self.role}) may read this {what} but not change it")

    @property
    def name(self) -> str:
        return self.email


_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _resolve(request: Request) -> Access | None:
    cached = getattr(request.state, "user", None)
    if isinstance(cached, Access):
        return cached
    store: Store = request.app.state.store
    with store.session() as session:
        bearer = _user_from_bearer(request, session)
        if bearer is not None:
            user, scope = bearer
            access = Access(user.id, user.email, user.role, "token", scope,
                            deal_scope=scope_of_user(session, user), owner_id=user.owner_id)
        else:
            cookie_user = _user_from_cookie(request, session)
            if cookie_user is None:
                return None
            secret = request.app.state.secret_key
            access = Access(cookie_user.id, cookie_user.email, cookie_user.role, "cookie", "write",
                            csrf_token(secret, request.cookies[SESSION_COOKIE]),
                            deal_scope=scope_of_user(session, cookie_user), owner_id=cookie_user.owner_id)
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
    """API routes: a bearer token, or the UI's session cookie (writes then need the CSRF token).

    The lookup runs in the thread pool: blocking the event loop on a database connection would
    stall every response that must finish before a connection is given back (a deadlock under load)."""
    from starlette.concurrency import run_in_threadpool

    access = await run_in_threadpool(_resolve, request)
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


async def admin_access(request: Request) -> Access:
    """Routes only an admin may use (restore, audit, imports): 403 for everyone else."""
    access = await get_access(request)
    access.require_admin()
    return access


AccessDep = Depends(get_access)
