from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import Conflict
from dealflow.store import models as m
from dealflow.web.auth import Access, admin_access, get_access
from dealflow.web.deps import changed, get_session
from dealflow.web.routers._common import Limit, Offset, audit, get_or_404, new_external_id, paginate
from dealflow.web.schemas import Page, ProductCreate, ProductPublic

router = APIRouter(prefix="/products", tags=["products"])


@router.get("", response_model=Page[ProductPublic], summary="List products")
def list_products(family: str | None = None, q: str | None = None, limit: int = Limit, offset: int = Offset,
                  access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    stmt = select(m.Product)
    if family:
        stmt = stmt.where(m.Product.family == family)
    if q:
        stmt = stmt.where(m.Product.name.ilike(f"%{q}%"))
    return paginate(session, stmt, limit, offset, m.Product.name)


@router.get("/{product_id}", response_model=ProductPublic, summary="One product")
def get_product(product_id: int, access: Access = Depends(get_access), session: Session = Depends(get_session)) -> Any:
    return get_or_404(session, m.Product, product_id, "/api/products")


@router.post("", response_model=ProductPublic, status_code=201, summary="Create a product")
def create_product(body: ProductCreate, request: Request, access: Access = Depends(admin_access),
                   session: Session = Depends(get_session)) -> Any:
    with session.begin():
        if session.scalar(select(m.Product.id).where(m.Product.name == body.name)) is not None:
            raise Conflict(f"a product named {body.name!r} exists already; pick another name")
        row = m.Product(**body.model_dump(exclude={"external_id"}), external_id=body.external_id or new_external_id("prod"))
        session.add(row)
        session.flush()
        audit(session, request, access, "create", "product", row.id)
    changed(request)
    return row
