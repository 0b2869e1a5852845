"""The app factory: ``create_app(settings, store=None)`` wires the store, auth, the API and the pages."""
from __future__ import annotations

import secrets
import shutil
import weakref
import tempfile
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from dealflow.settings import Settings
from dealflow.store.db import Store
from dealflow.web.deps import HistoryCache
from dealflow.web.errors import install_error_handlers
from dealflow.web.formatting import money

HERE = Path(__file__).parent

# No request ever leaves the host: scripts, styles, images and fetches are same-origin only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def _fmt_pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value * 100:.0f}%"


def create_app(settings: Settings | None = None, store: Store | None = None, *, warm: bool = False) -> FastAPI:
    """Build the app. ``store`` defaults to ``Store(settings.database_url)``; ``warm`` loads the
    history and the board's flags in the background so the first visitor does not wait for them."""
    from dealflow.web import pages
    from dealflow.web.routers import (
        accounts, activities, analyses, contacts, deals, exports, imports, leads, pipelines, products, session,
    )

    settings = settings or Settings.from_env()
    store = store or Store(settings.database_url)
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
    for module in (session, accounts, contacts, leads, deals, products, pipelines, activities, imports, analyses, exports):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(pages.router)
    @app.get("/docs", include_in_schema=False)
    def _docs():  # type: ignore[no-untyped-def]
        from fastapi.openapi.docs import get_swagger_ui_html

        # Served from the vendored copy: the stock page would fetch Swagger UI from a CDN.
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="dealflow API",
                                   swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui.css", swagger_favicon_url="/static/favicon.svg")

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        if request.url.path == "/docs":  # Swagger UI's page starts itself with an inline script
            response.headers.setdefault("Content-Security-Policy", CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'"))
        else:
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    if warm:
        import threading

        def _warm() -> None:
            from dealflow.web.board import deal_flags

            history = app.state.history.get()
            app.state.board_cache.update(history=history, flags=deal_flags(history, settings))

        threading.Thread(target=_warm, name="dealflow-warm", daemon=True).start()
    return app
