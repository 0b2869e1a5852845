from __future__ import annotations

from typing import Any

import json

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import DomainError
from dealflow.ingest.options import ParseOptions
from dealflow.store import models as m
from dealflow.web import imports
from dealflow.web.auth import Access, admin_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import Limit, Offset, paginate
from dealflow.web.schemas import ImportPreview, ImportResultPublic, ImportRunPublic, Page

router = APIRouter(prefix="/imports", tags=["imports"])  # imports write any deal: admins only


@router.get("", response_model=Page[ImportRunPublic], summary="Past imports, newest first")
def list_imports(kind: str | None = None, limit: int = Limit, offset: int = Offset,
                 access: Access = Depends(admin_access), session: Session = Depends(get_session)) -> Any:
    stmt = select(m.ImportRun)
    if kind:
        stmt = stmt.where(m.ImportRun.kind == kind)
    return paginate(session, stmt, limit, offset, m.ImportRun.id.desc())


@router.get("/kinds", response_model=dict[str, list[str]], summary="What can be imported, with the fields of each kind")
def list_kinds(access: Access = Depends(admin_access)) -> Any:
    return {k: imports.fields_for(k) for k in imports.kinds()}


def parse_form(
    dayfirst: bool | None = Form(None, description="03/04/2024 is 3 April (true) or 4 March (false); default: decided per column"),
    decimal: str | None = Form(None, description="',' or '.'; default: decided per column"),
    date_format: str | None = Form(None, description="one strftime format for every date column, e.g. %d/%m/%Y"),
    encoding: str | None = Form(None, description="e.g. cp1252; default: detected"),
    sheet: str | None = Form(None, description="XLSX sheet name; default: the first"),
    allow_negative: bool = Form(False, description="accept amounts below zero"),
    timezone: str | None = Form(None, description="the zone of times written without an offset, e.g. Europe/Berlin; default UTC"),
) -> ParseOptions:
    """How to read the file: the options of ``dealflow import``, for the preview and the run alike."""
    return imports.parse_options(encoding=encoding, sheet=sheet, decimal=decimal, dayfirst=dayfirst, date_format=date_format,
                                 allow_negative=allow_negative, timezone=timezone)


@router.post("/preview", response_model=ImportPreview, summary="Upload a CSV/XLSX and see the detected column mapping")
def preview_import(request: Request, file: UploadFile = File(...), kind: str = Form("deals"),
                   rows: int = Query(10, ge=1, le=100), access: Access = Depends(admin_access),
                   options: ParseOptions = Depends(parse_form)) -> Any:
    upload = imports.save_upload(request.app.state.upload_dir, file.filename or "upload.csv", file.file)
    return imports.preview(upload, kind, rows, options)


@router.post("", response_model=ImportResultPublic, summary="Run an import of an uploaded file (or a new file)")
def run_import(request: Request, kind: str = Form(...), upload: str | None = Form(None),
               file: UploadFile | None = File(None), mapping: str | None = Form(None, description='JSON {"column": "field"}'),
               skip_invalid: bool = Form(False), access: Access = Depends(admin_access),
               options: ParseOptions = Depends(parse_form), session: Session = Depends(get_session)) -> Any:
    if file is not None:
        stored = imports.save_upload(request.app.state.upload_dir, file.filename or "upload.csv", file.file)
    elif upload:
        stored = imports.find_upload(request.app.state.upload_dir, upload)
    else:
        raise DomainError("send a file, or the upload token from POST /api/imports/preview")
    try:
        overrides = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as exc:
        raise DomainError(f"mapping is not JSON ({exc.msg}); send an object like {{\"Opportunity\": \"external_id\"}}") from exc
    if overrides is not None and not isinstance(overrides, dict):
        raise DomainError('mapping must be a JSON object like {"Opportunity": "external_id"}')
    try:
        result = imports.run(request.app.state.store, stored, kind, overrides, skip_invalid, access.email,
                             request.client.host if request.client else None, options)  # audited there
    finally:
        changed(request)
    return result
