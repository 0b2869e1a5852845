"""The app factory: ``create_app(settings, store=None)`` wires the store, auth, the API and the pages."""
from __future__ import annotations

import secrets
import shutil
import weakref
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from dealflow.settings import Settings
from dealflow.store.db import Store
from dealflow.web.cache import Memo, ResponseCache
from dealflow.web.deps import HistoryCache
from dealflow.web.errors import install_error_handlers
from dealflow.web.formatting import money

HERE = Path(__file__).parent

# No request ever leaves the host: scripts, styles, images and fetches are same-origin only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY")]
_DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")  # Swagger UI starts itself inline


class SecurityHeaders:
    """Adds the security headers a response has not set. Plain ASGI rather than ``@app.middleware``:
    that wrapper streams every body through an extra task and costs each request about a millisecond."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (_DOCS_CSP if scope["path"] == "/docs" else CSP).encode()

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in [(b"content-security-policy", csp), *_HEADERS] if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _fmt_pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value * 100:.0f}%"


def create_app(settings: Settings | None = None, store: Store | None = None, *, warm: bool = False) -> FastAPI:
    """Build the app. ``store`` defaults to ``Store(settings.database_url)``; ``warm`` loads the
    history and the board's flags in the background so the first visitor does not wait for them."""
    from dealflow.web import pages, settings_pages
    from dealflow.web.routers import (
        accounts, activities, analyses, board, contacts, deals, exports, imports, leads, pipelines, products, session, users,
    )

    settings = settings or Settings.from_env()
    store = store or Store(settings.database_url, currency=settings.currency)
    app = FastAPI(
        title="dealflow",
        version="0.1.0",
        description="Sales pipeline management. Sign in with `POST /api/token` (email + password form), "
                    "then send `Authorization: Bearer <token>`. Errors always look like "
                    '`{"error": {"status": 404, "message": "..."}}`.',
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.secret_key = settings.secret_key or secrets.token_urlsafe(32)
    app.state.history = HistoryCache(store)
    from dealflow.web.auth import SignInLimiter

    app.state.sign_in_limiter = SignInLimiter()
    app.state.board_cache = {}
    app.state.responses = ResponseCache()  # serialised GET answers per history generation (web/cache.py)
    from dealflow.web.board import FlagCache

    app.state.flags = FlagCache(settings, app.state.board_cache)
    app.state.board_prepared = Memo()
    app.state.upload_dir = Path(tempfile.mkdtemp(prefix="dealflow-uploads-"))
    weakref.finalize(app, shutil.rmtree, app.state.upload_dir, True)  # uploads live as long as the app
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html
    templates.env.filters["money"] = money
    templates.env.filters["pct"] = _fmt_pct
    templates.env.globals["currency"] = settings.currency
    app.state.templates = templates
    install_error_handlers(app)

    from dealflow.web.schemas import ErrorBody

    error = {"model": ErrorBody}
    api = APIRouter(prefix="/api", responses={401: {**error, "description": "Not signed in"}, 403: error, 404: error,
                                               409: error, 422: {**error, "description": "Invalid request or broken rule"}})
    for module in (session, accounts, contacts, leads, deals, board, products, pipelines, activities, imports, analyses, exports,
                   users):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(pages.router)
    app.include_router(settings_pages.router)
    @app.get("/docs", include_in_schema=False)
    def _docs():  # type: ignore[no-untyped-def]
        from fastapi.openapi.docs import get_swagger_ui_html

        # Served from the vendored copy: the stock page would fetch Swagger UI from a CDN.
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="dealflow API",
                                   swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui.css", swagger_favicon_url="/static/favicon.svg")

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.add_middleware(SecurityHeaders)

    if warm:
        import threading

        def _warm() -> None:
            app.state.flags.get(app.state.history.get())

        threading.Thread(target=_warm, name="dealflow-warm", daemon=True).start()
    return app


def create_app_from_env() -> FastAPI:
    """The app of each worker process of ``dealflow serve --workers N`` (settings from the environment)."""
    return create_app(warm=True)
