"""The server-rendered UI: sign-in, board, deal page, dashboards and the import page.

Writes from forms go through the same ``dealflow.store.crm`` functions as the API, each form
carrying the session's CSRF token; the board's drag and drop calls the API from ``static/app.js``.
"""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlencode

import polars as pl
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import Conflict, DealflowError, DomainError, ImportFailed
from dealflow.store import models as m
from dealflow.web import analyses, imports
from dealflow.web.auth import (
    LOGIN_COOKIE, SESSION_COOKIE, SESSION_DAYS, Access, _resolve, authenticate, check_rate, login_csrf, note_sign_in,
    page_access, session_cookie_value, sign_out_everywhere,
)
from dealflow.web.board import build_board, render_cards, sql_totals
from dealflow.web.deps import get_full_history, get_history, get_session
from dealflow.web.routers import activities as activities_api
from dealflow.web.routers import deals as deals_api
from dealflow.store import audit as audit_log
from dealflow.web.routers._common import audit, deal_or_404
from dealflow.web.schemas import ActivityCreate, StageMoveCreate

router = APIRouter(include_in_schema=False)
_SCORE_LOCK = threading.Lock()


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    context.setdefault("nav", template.split(".")[0])
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)  # type: ignore[no-any-return]


def _safe_next(target: str | None, default: str = "/board") -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else default


# -- sign in ------------------------------------------------------------------------------
@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/board" if _resolve(request) else "/login", status_code=303)


def _login_form(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The sign-in page with a fresh CSRF pair: a random cookie and its signature in the form."""
    import secrets

    nonce = secrets.token_urlsafe(16)
    response = render(request, "login.html", status_code=status_code, csrf=login_csrf(request.app.state.secret_key, nonce), **context)
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict",
                        secure=request.app.state.settings.https, path="/login")
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
    return _login_form(request, next=_safe_next(next), error=None, email="")


@router.post("/login")
def login(request: Request, email: str = Form(...), password: str = Form(...), next: str = Form("/board"),  # noqa: A002
          csrf: str = Form(""), session: Session = Depends(get_session)) -> Response:
    import hmac

    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(csrf, login_csrf(request.app.state.secret_key, nonce)):
        return _login_form(request, status_code=403, next=_safe_next(next), email=email,
                           error="The sign-in form expired; please try again.")
    if request.app.state.sign_in_limiter.retry_after(email, request.client.host if request.client else "?"):
        return _login_form(request, status_code=429, next=_safe_next(next), email=email,
                           error="Too many failed sign-ins; wait a minute and try again.")
    with session.begin():
        user = authenticate(session, email, password)
        note_sign_in(request, email, user is not None)
        if user is not None:
            audit(session, request, Access(user.id, user.email, user.role, "cookie"), "login", "user", user.id)
        else:
            audit(session, request, Access(0, email.strip().lower()[:320], "", "cookie"), "sign-in failed", "user", None)
    if user is None:
        return _login_form(request, status_code=401, next=_safe_next(next), error="Wrong email or password.", email=email)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_cookie_value(request.app.state.secret_key, user), max_age=SESSION_DAYS * 86400,
                        httponly=True, samesite="lax", secure=request.app.state.settings.https, path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, access: Access = Depends(page_access)) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=request.app.state.settings.https, httponly=True, samesite="lax")
    return response


@router.post("/logout/everywhere")
def logout_everywhere(request: Request, access: Access = Depends(page_access), session: Session = Depends(get_session)) -> Response:
    """Sign out of every browser and revoke every API token of this user."""
    with session.begin():
        user = session.get(m.User, access.user_id)
        revoked = sign_out_everywhere(session, user)  # type: ignore[arg-type]
        audit(session, request, access, "sign out everywhere", "user", access.user_id, {"tokens_revoked": revoked})
    return logout(request, access)


# -- board -------------------------------------------------------------------------------
def _board(request: Request, pipeline: int | None, owner: str | None, team: str | None, product: str | None,
           limit: int | None = 500) -> Any:
    from dealflow.web.routers.board import flags_for, prepared

    # The same prepared data as GET /api/board: what this user may see, computed once per history.
    data = prepared(request, pipeline, owner or None, team or None, product or None)
    return build_board(get_history(request), flags_for(request)[0], limit=limit, prepared=data)


@router.get("/board")
def board_page(request: Request, pipeline: int | None = None, owner: str | None = None, team: str | None = None,
               product: str | None = None, all: bool = False,  # noqa: A002
               access: Access = Depends(page_access)) -> Response:
    board = _board(request, pipeline, owner, team, product, None if all else 500)
    with request.app.state.store.engine.connect() as conn:  # versions guard drag moves against stale boards (409)
        stmt = select(m.Deal.id, m.Deal.version).where(m.Deal.pipeline_id == board.pipeline_id)
        if access.deal_filter() is not None:
            stmt = stmt.where(access.deal_filter())
        versions = dict(conn.execute(stmt).all())
    filters = {"pipeline": board.pipeline_id, "owner": owner or "", "team": team or "", "product": product or ""}
    return render(request, "board.html", board=board, filters=filters, versions=versions, render_cards=render_cards,
                  query=urlencode({k: v for k, v in filters.items() if v}))


@router.get("/board/totals")
def board_totals(request: Request, pipeline: int | None = None, owner: str | None = None, team: str | None = None,
                 product: str | None = None, access: Access = Depends(page_access),
                 session: Session = Depends(get_session)) -> JSONResponse:
    return JSONResponse(sql_totals(session, pipeline, owner=owner or None, team=team or None, product=product or None,
                                   condition=access.deal_filter(), currency=request.app.state.store.currency))


# -- deal page ---------------------------------------------------------------------------
def _timeline(detail: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for c in detail.stage_changes:
        text = f"{c.from_stage} → {c.to_stage}" if c.from_stage else f"created in {c.to_stage}"
        items.append({"at": c.at, "kind": "stage", "text": text, "by": c.by, "note": c.lost_reason})
    for f in detail.field_changes:
        items.append({"at": f.at, "kind": "field", "text": f"{f.field.replace('_', ' ')}: {f.old_value or '–'} → {f.new_value or '–'}",
                      "by": f.by, "note": None})
    for a in detail.activities:
        items.append({"at": a.at, "kind": "activity", "text": a.kind + (f": {a.subject}" if a.subject else ""),
                      "by": None, "note": a.outcome})
    return sorted(items, key=lambda i: i["at"], reverse=True)


def _suggested_products(history: Any, account_id: int | None, sector: str | None) -> list[dict[str, Any]]:
    """Products the account may buy: ``analytics.cross_sell`` (what buyers of its products also bought);
    for an account that bought nothing yet, what accounts of its sector won most often."""
    if account_id is None:
        return []
    try:
        from dealflow.analytics.cross_sell import suggest_for_account

        rows = suggest_for_account(history, account_id).to_dicts()
    except ImportError:
        rows = []
    if rows:
        return [{"product": r["product"],
                 "why": f"{r['score'] * 100:.0f}% of the accounts that bought {r['because']} also bought it"
                        f" ({r['peers_bought']} peer account{'s' if r['peers_bought'] != 1 else ''})"
                        + ("; an open deal for it exists" if r["open_deal"] else "")} for r in rows]
    deals, lines, accounts = history.deals, history.deal_products, history.accounts
    owned = lines.join(deals.filter(pl.col("account_id") == account_id).select(pl.col("id").alias("deal_id")), on="deal_id", how="semi")
    won = deals.filter(pl.col("status") == "won").select(pl.col("id").alias("deal_id"), "account_id")
    if sector:
        peers = accounts.filter(pl.col("sector") == sector).select(pl.col("id").alias("account_id"))
        won = won.join(peers, on="account_id", how="semi")
    ranked = (
        lines.join(won, on="deal_id", how="inner").filter(~pl.col("product").is_in(owned["product"].implode()))
        .group_by("product").agg(pl.col("account_id").n_unique().alias("accounts"))
        .sort(["accounts", "product"], descending=[True, False]).head(5)
    )
    where = f" in {sector}" if sector else ""
    return [{"product": r["product"], "why": f"won at {r['accounts']} account{'s' if r['accounts'] != 1 else ''}{where}"}
            for r in ranked.iter_rows(named=True)]


@router.get("/deals/{deal_id}")
def deal_page(deal_id: int, request: Request, access: Access = Depends(page_access),
              session: Session = Depends(get_session)) -> Response:
    deal = deal_or_404(session, access, deal_id, "/board")
    detail = deals_api.deal_detail(session, deal)
    stage = session.get(m.Stage, deal.stage_id)
    stages = session.scalars(select(m.Stage).where(m.Stage.pipeline_id == deal.pipeline_id).order_by(m.Stage.position)).all()
    account = session.get(m.Account, deal.account_id) if deal.account_id else None
    owner = session.get(m.Owner, deal.owner_id) if deal.owner_id else None
    products = session.scalars(select(m.Product.name).join(m.DealProduct, m.DealProduct.product_id == m.Product.id)
                               .where(m.DealProduct.deal_id == deal.id)).all()
    history = get_history(request)
    suggestions = _suggested_products(history, deal.account_id, account.sector if account else None)
    flags = ""
    cache = request.app.state.board_cache
    if cache.get("history") is get_full_history(request):
        row = cache["flags"].filter(pl.col("deal_id") == deal.id)
        flags = row["flags"][0] if row.height else ""
    return render(request, "deal.html", nav="board", deal=deal, stage=stage, stages=stages, account=account, owner=owner,
                  products=products, timeline=_timeline(detail), suggestions=suggestions, flags=flags,
                  now=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M"), error=request.query_params.get("error"))


def _scores(request: Request) -> Any:
    """The dealflow scorer's probability and reasons for every open deal, once per loaded history."""
    history = get_history(request)
    cache = request.app.state.board_cache
    with _SCORE_LOCK:
        if cache.get("score_history") is not history:
            from dealflow.forecast.scorers import DealflowScorer
            from dealflow.forecast.snapshot import snapshot

            at = history.now
            model = DealflowScorer().fit(history, at)
            cache["scores"] = (model.explain(snapshot(history, at)), list(getattr(model, "notes_", [])))
            cache["score_history"] = history
        return cache["scores"]


@router.get("/deals/{deal_id}/probability")
def deal_probability(deal_id: int, request: Request, access: Access = Depends(page_access)) -> Response:
    """The model's probability for an open deal, fetched by the deal page after it loads."""
    with request.app.state.store.session() as session:
        deal_or_404(session, access, deal_id, "/board")
    try:
        scored, notes = _scores(request)
    except (ImportError, DealflowError) as exc:
        return HTMLResponse(f'<p class="muted" id="model-probability">No model probability: {_escape(str(exc))}</p>')
    row = scored.filter(pl.col("deal_id") == deal_id)
    if row.height == 0:
        return HTMLResponse('<p class="muted" id="model-probability">No model probability: the deal is not open.</p>')
    return render(request, "_probability.html", probability=row["probability"][0], reasons=row["reasons"][0], notes=notes)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def _back(deal_id: int, error: str | None = None) -> RedirectResponse:
    return RedirectResponse(f"/deals/{deal_id}" + (f"?{urlencode({'error': error})}" if error else ""), status_code=303)


@router.post("/deals/{deal_id}/move")
def deal_move(deal_id: int, request: Request, stage: str = Form(...), version: int | None = Form(None),
              lost_reason: str | None = Form(None), access: Access = Depends(page_access),
              session: Session = Depends(get_session)) -> Response:
    try:
        deals_api.move(session, request, access, deal_id, StageMoveCreate(stage=stage, lost_reason=lost_reason, expected_version=version))
    except (DomainError, Conflict) as exc:  # shown on the page; a missing deal or stage is a 404
        return _back(deal_id, str(exc))
    return _back(deal_id)


@router.post("/deals/{deal_id}/activities")
def deal_log_activity(deal_id: int, request: Request, kind: str = Form(...), subject: str | None = Form(None),
                      at: str | None = Form(None), outcome: str | None = Form(None), access: Access = Depends(page_access),
                      session: Session = Depends(get_session)) -> Response:
    try:
        when = datetime.fromisoformat(at).replace(tzinfo=timezone.utc) if at else None
    except ValueError:
        return _back(deal_id, f"{at!r} is not a date and time")
    try:
        activities_api.log(session, request, access, ActivityCreate(deal_id=deal_id, kind=kind.strip() or "note",
                                                                    subject=subject or None, at=when, outcome=outcome or None))
    except DomainError as exc:
        return _back(deal_id, str(exc))
    return _back(deal_id)


@router.post("/deals/{deal_id}/edit")
def deal_edit(deal_id: int, request: Request, amount: str = Form(""), expected_close_date: str = Form(""),
              version: int | None = Form(None), access: Access = Depends(page_access),
              session: Session = Depends(get_session)) -> Response:
    try:
        changes: dict[str, Any] = {
            "amount": float(amount) if amount.strip() else None,
            "expected_close_date": date.fromisoformat(expected_close_date) if expected_close_date.strip() else None,
        }
    except ValueError as exc:
        return _back(deal_id, f"cannot read that value: {exc}")
    try:
        with session.begin():
            deal = deal_or_404(session, access, deal_id, "/board", write=True)
            from dealflow.store import crm

            crm.update_deal(session, deal, changes, now=datetime.now(timezone.utc), by=access.name, expected_version=version)
            audit(session, request, access, "update", "deal", deal.id, {k: str(v) for k, v in changes.items()})
    except DealflowError as exc:
        return _back(deal_id, str(exc))
    from dealflow.web.deps import changed

    changed(request, [deal_id])
    return _back(deal_id)


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' can end it early."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- dashboards --------------------------------------------------------------------------
@router.get("/dashboards")
def dashboards(request: Request, access: Access = Depends(page_access)) -> Response:
    return render(request, "dashboards.html", analyses=list(analyses.REGISTRY.values()))


def _tables(data: dict[str, Any], keys: tuple[str, ...]) -> list[tuple[str, list[str], list[dict[str, Any]], int]]:
    out = []
    for key, value in data.items():
        if keys and key not in keys:
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            columns = list(value[0].keys())
            out.append((key.replace("_", " "), columns, value[:200], len(value)))
    return out


def _display(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if any(w in key for w in ("rate", "conversion", "share", "coverage")) and abs(value) <= 1:
            return f"{value * 100:.1f}%"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _scalars(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Headline numbers of a result (short values only; long text and lists go elsewhere)."""
    found: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            found.extend((f"{key} · {k}", v) for k, v in value.items() if not isinstance(v, (dict, list)))
        elif not isinstance(value, list):
            found.append((key, value))
    return [(k.replace("_", " "), _display(k, v)) for k, v in found if not (isinstance(v, str) and len(v) > 40)]


def _notes(data: dict[str, Any]) -> list[str]:
    notes = data.get("notes")
    return [str(n) for n in notes] if isinstance(notes, list) else []


def _dashboard_context(key: str, as_of: str | None, period: str | None, target: float | None) -> dict[str, Any]:
    analysis = analyses.get(key)
    return {"analysis": analysis, "analyses": list(analyses.REGISTRY.values()), "nav": "dashboards",
            "as_of": as_of or "", "period": period or "", "target": "" if target is None else target,
            "charts": [], "tables": [], "scalars": [], "notes": [], "error": None, "lazy": None, "image": None}


def _fill(request: Request, context: dict[str, Any], as_of: str | None, period: str | None, target: float | None) -> int:
    analysis = context["analysis"]
    if not analysis.available:
        context["error"] = f"This analysis is not available in this version yet ({analysis.target})."
        return 200
    try:
        data = analysis.run(lambda: get_history(request), analyses.Params.parse(as_of, period, target))
    except DomainError as exc:
        context["error"] = str(exc)
        return 422
    if analysis.image is not None:
        query = urlencode({k: v for k, v in {"as_of": as_of, "period": period}.items() if v})
        context["image"] = f"/dashboards/{analysis.key}/image.svg" + (f"?{query}" if query else "")
    context.update(charts=[_script_json(c) for c in analysis.chart_options(data)], tables=_tables(data, analysis.tables),
                   scalars=_scalars(data), notes=_notes(data))
    return 200


@router.get("/dashboards/{key}")
def dashboard(key: str, request: Request, as_of: str | None = None, period: str | None = None,
              target: float | None = Query(None), access: Access = Depends(page_access)) -> Response:
    context = _dashboard_context(key, as_of, period, target)
    if context["analysis"].slow and context["analysis"].available:
        context["lazy"] = f"/dashboards/{key}/body" + (f"?{request.url.query}" if request.url.query else "")
        return render(request, "dashboard.html", **context)
    status = _fill(request, context, as_of, period, target)
    return render(request, "dashboard.html", status_code=status, **context)


@router.get("/dashboards/{key}/image.svg")
def dashboard_image(key: str, request: Request, as_of: str | None = None, period: str | None = None,
                    access: Access = Depends(page_access)) -> Response:
    """The analysis drawn as a picture (the stage-flow graph), SVG."""
    analysis = analyses.get(key)
    svg = analysis.picture(get_history(request), analyses.Params.parse(as_of, period))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=60"})


@router.get("/dashboards/{key}/body")
def dashboard_body(key: str, request: Request, as_of: str | None = None, period: str | None = None,
                   target: float | None = Query(None), access: Access = Depends(page_access)) -> Response:
    """The results part of a dashboard, fetched by the page of a slow analysis."""
    context = _dashboard_context(key, as_of, period, target)
    _fill(request, context, as_of, period, target)  # a refused picker shows its message in place (200 keeps htmx swapping)
    return render(request, "_dashboard_body.html", **context)


# -- imports -----------------------------------------------------------------------------
@router.get("/import")
def import_page(request: Request, access: Access = Depends(page_access)) -> Response:
    access.require_admin()
    return render(request, "import.html", kinds=imports.kinds(), preview=None, result=None, error=None, kind="deals", options={})


def _option_form(encoding: str = Form(""), sheet: str = Form(""), decimal: str = Form(""), dayfirst: str = Form(""),
                 date_format: str = Form(""), timezone: str = Form(""), allow_negative: str = Form("")) -> dict[str, str]:
    """The upload form's reading options as sent (checked in the handler, so a bad one shows on the page)."""
    return {"encoding": encoding, "sheet": sheet, "decimal": decimal, "dayfirst": dayfirst, "date_format": date_format,
            "timezone": timezone, "allow_negative": allow_negative}


@router.post("/import/preview")
def import_preview(request: Request, file: UploadFile = File(...), kind: str = Form("deals"),
                   access: Access = Depends(page_access), sent: dict[str, str] = Depends(_option_form)) -> Response:
    access.require_admin()
    try:
        options = imports.options_from_form(sent)
        upload = imports.save_upload(request.app.state.upload_dir, file.filename or "upload.csv", file.file)
        preview = imports.preview(upload, kind, options=options)
    except DealflowError as exc:
        return render(request, "import.html", status_code=422, kinds=imports.kinds(), preview=None, result=None, error=str(exc),
                      kind=kind, options=sent)
    return render(request, "import.html", kinds=imports.kinds(), preview=preview, result=None, error=None, kind=kind,
                  options=preview["options"])


@router.post("/import/run")
async def import_run(request: Request, access: Access = Depends(page_access)) -> Response:
    access.require_admin()
    form = await request.form()
    kind, token = str(form.get("kind", "")), str(form.get("upload", ""))
    skip_invalid = form.get("skip_invalid") == "on"
    mapping = {str(k)[4:]: str(v) for k, v in form.items() if str(k).startswith("map:") and str(v)}
    context: dict[str, Any] = {"kinds": imports.kinds(), "kind": kind, "preview": None, "result": None, "error": None,
                               "options": {k: str(form.get(k) or "") for k in imports.OPTION_FIELDS}}
    try:
        options = imports.options_from_form(form)
        upload = imports.find_upload(request.app.state.upload_dir, token)
        context["preview"] = imports.preview(upload, kind, options=options)
        context["preview"]["mapping"] = mapping or context["preview"]["mapping"]
        from starlette.concurrency import run_in_threadpool

        context["result"] = await run_in_threadpool(imports.run, request.app.state.store, upload, kind, mapping, skip_invalid,
                                                    access.email, request.client.host if request.client else None, options)
    except ImportFailed as exc:
        context["result"] = {"rows": None, "inserted": 0, "updated": 0, "rejected": len(exc.problems), "failed": True,
                             "problems": [{**p.__dict__, "file": p.file.rsplit("/", 1)[-1]} for p in exc.problems]}
    except DealflowError as exc:
        context["error"] = str(exc)
    finally:
        from dealflow.web.deps import changed

        changed(request)
    return render(request, "import.html", status_code=422 if context["error"] else 200, **context)


# -- audit (admins) ----------------------------------------------------------------------------
@router.get("/audit")
def audit_page(request: Request, entity: str | None = None, entity_id: str | None = None, user_email: str | None = None,
               page: int = Query(1, ge=1, le=10_000), access: Access = Depends(page_access),
               session: Session = Depends(get_session)) -> Response:
    """Who did what, when and from where: the newest 100 entries, filterable (``GET /api/audit`` for scripts)."""
    access.require_admin()
    stmt = audit_log.filtered(entity=entity or None, entity_id=entity_id or None, user_email=user_email or None)
    stmt = stmt.order_by(*audit_log.NEWEST_FIRST)
    entries = session.scalars(stmt.limit(101).offset((page - 1) * 100)).all()
    filters = {"entity": entity or "", "entity_id": entity_id or "", "user_email": user_email or ""}
    return render(request, "audit.html", entries=entries[:100], more=len(entries) > 100, page=page, filters=filters,
                  query=urlencode({k: v for k, v in filters.items() if v}))
