"""Every error the web app returns has one JSON shape, built here and only here:

    {"error": {"status": 404, "message": "no deal 7; list deals at /api/deals", ...extra}}

Pages get the same message rendered as HTML; a page that needs a signed-in user redirects to /login.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dealflow.errors import ConfigError, Conflict, DealflowError, DomainError, ImportFailed, NotFound


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in: pages redirect, the API answers 401."""


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, **extra}}


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, message, **extra), status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def _render(request: Request, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    if _wants_html(request):
        templates = request.app.state.templates
        return templates.TemplateResponse(  # type: ignore[no-any-return]
            request, "error.html", {"status": status, "message": message, "user": getattr(request.state, "user", None)},
            status_code=status, headers=headers,
        )
    return error_response(status, message, headers=headers, **extra)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if _wants_html(request) or not request.url.path.startswith("/api"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            from urllib.parse import quote

            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return error_response(401, "sign in first: POST email and password to /api/token, then send 'Authorization: Bearer <token>'",
                              headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}; the API is listed at /docs"
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return _render(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return _render(request, 422, f"invalid request: {text}", problems=problems)

    @app.exception_handler(DealflowError)
    async def _domain(request: Request, exc: DealflowError) -> Response:
        if isinstance(exc, NotFound):
            return _render(request, 404, str(exc))
        if isinstance(exc, Conflict):
            return _render(request, 409, str(exc), current=exc.current)
        if isinstance(exc, ImportFailed):
            problems = [p.__dict__ for p in exc.problems]
            return _render(request, 422, f"{len(problems)} invalid value(s); nothing was stored", problems=problems)
        if isinstance(exc, (DomainError, ConfigError)):
            return _render(request, 422 if isinstance(exc, DomainError) else 400, str(exc))
        return _render(request, 400, str(exc))

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        return _render(request, 422, "a number in this request is out of range for the database; send a smaller one")

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        return _render(request, 409, "this conflicts with what is stored (a duplicate id, or a reference to a record that "
                                     "does not exist); check the ids you sent")

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:  # pragma: no cover - last resort
        import logging

        logging.getLogger("dealflow.web").exception("unhandled error on %s", request.url.path)
        return _render(request, 500, "internal error; the server log has the details")


def not_found(what: str, hint: str = "") -> HTTPException:
    return HTTPException(404, f"no {what}" + (f"; {hint}" if hint else ""))
