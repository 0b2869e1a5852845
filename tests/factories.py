"""Plain factory functions with deterministic values, for building small histories by hand."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dealflow.store import Store
from dealflow.store import crm
from dealflow.store import models as m

SALES_STAGES = [
    ("Qualify", "open", 0.1), ("Propose", "open", 0.4), ("Negotiate", "open", 0.7),
    ("Won", "won", 1.0), ("Lost", "lost", 0.0),
]


def t(text: str) -> datetime:
    """'2024-01-05' or '2024-01-05T10:00' as a UTC instant."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def add_deal(
    store: Store,
    external_id: str,
    path: list[tuple[str, str]],
    *,
    pipeline: str = "Sales",
    amount: float | None = 1000.0,
    owner: str | None = None,
    product: str | None = None,
    lost_reason: str | None = None,
    activities: list[tuple[str, str]] = (),  # type: ignore[assignment]
    **fields: Any,
) -> int:
    """A deal that walked ``path`` — [(stage, when), ...] — with optional activities [(kind, when)]."""
    with store.atomic() as s:
        p = crm.ensure_pipeline(s, pipeline, SALES_STAGES)
        if owner is not None:
            fields["owner_id"] = crm.get_or_create(s, m.Owner, external_id=owner, name=owner).id
        (first_stage, first_at), *rest = path
        deal = crm.create_deal(s, external_id=external_id, pipeline=p, stage=first_stage, at=t(first_at), amount=amount, **fields)
        for stage, at in rest:
            is_lost = stage == "Lost"
            crm.move_deal(s, deal, stage, now=t(at), lost_reason=(lost_reason or "no budget") if is_lost else None)
        if product is not None:
            prod = crm.get_or_create(s, m.Product, external_id=product, name=product)
            s.add(m.DealProduct(deal_id=deal.id, product_id=prod.id, quantity=1))
        for kind, at in activities:
            crm.log_activity(s, kind=kind, at=t(at), deal=deal)
        return deal.id
