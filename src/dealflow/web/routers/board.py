"""The board as JSON: columns (stages) with their totals and a page of cards each, and a cursor per
column for the next page. Computed once per history, user scope and filters; answers are cached
bytes with an ETag (see ``dealflow.web.cache``)."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from typing import Any

import polars as pl
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from dealflow.errors import DomainError
from dealflow.web.auth import Access, get_access
from dealflow.web.board import CARD_COLUMNS, Prepared, after, prepare_board
from dealflow.web.cache import Memo, cached_json
from dealflow.web.deps import get_full_history, get_history, history_version

router = APIRouter(prefix="/board", tags=["board"])


def flags_for(request: Request) -> tuple[pl.DataFrame, int]:
    """The board's flags for this request's history, and their version."""
    return request.app.state.flags.get(get_full_history(request))  # type: ignore[no-any-return]


def prepared(request: Request, pipeline_id: int | None, owner: str | None, team: str | None, product: str | None) -> Prepared:
    """The board's data before paging, shared by every page, cursor and the HTML board."""
    generation, scope = history_version(request)
    flags, flags_version = flags_for(request)
    held = request.state.held
    memo: Memo = request.app.state.board_prepared
    return memo.get(  # type: ignore[no-any-return]
        (generation, scope, flags_version, pipeline_id, owner, team, product),
        lambda: prepare_board(get_history(request), flags, pipeline_id=pipeline_id, owner=owner, team=team, product=product,
                              versions=held.versions))


def encode_cursor(stage_id: int, key: float | None, last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([stage_id, key, last_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, float | None, int]:
    try:
        stage_id, key, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(stage_id), None if key is None else float(key), int(last_id)
    except (ValueError, TypeError, binascii.Error):
        raise DomainError(f"cursor {cursor[:40]!r} is not one this API gave (use a column's next_cursor as it came)") from None


def _card(row: dict[str, Any]) -> dict[str, Any]:
    close = row["expected_close_date"]
    return {**row, "flags": row["flags"].split() if row["flags"] else [],
            "expected_close_date": close.isoformat() if isinstance(close, date) else None}


def _column(p: Prepared, stage: dict[str, Any], limit: int, cursor: tuple[float | None, int] | None) -> dict[str, Any]:
    totals = p.totals.get(stage["id"], {"count": 0, "amount": 0.0, "weighted": 0.0})
    cards = p.cards.get(stage["id"])
    page: list[dict[str, Any]] = []
    next_cursor = None
    if cards is not None:
        if cursor is not None:
            cards = after(cards, stage["kind"], *cursor)
        shown = cards.head(limit)
        page = [_card(r) for r in shown.select([c for c in shown.columns if c != "_k"]).to_dicts()]
        if cards.height > limit:
            last = shown.row(shown.height - 1, named=True)
            next_cursor = encode_cursor(stage["id"], last["_k"], last["id"])
    return {"stage_id": stage["id"], "name": stage["name"], "kind": stage["kind"], "probability": stage["probability"] or 0.0,
            "count": totals["count"], "amount": totals["amount"] or 0.0, "weighted": totals["weighted"] or 0.0,
            "cards": page, "next_cursor": next_cursor}


@router.get("", summary="The board: per stage its totals and a page of cards, with a cursor to the next page",
            description="Open cards come largest first, won and lost ones most recently closed first. Without `cursor` every "
                        "column's first `limit` cards; with a column's `next_cursor` (or `stage_id`) that column alone. "
                        "Totals count every card that matches the filters. Send the ETag back in If-None-Match for a 304 "
                        "while nothing changed. Cards: " + ", ".join(CARD_COLUMNS) + ", version.")
def get_board(
    request: Request,
    pipeline_id: int | None = Query(None, description="default: the pipeline with the most open deals"),
    owner: str | None = Query(None, description="owner name"),
    team: str | None = Query(None, description="team name"),
    product: str | None = Query(None, description="deals with a line of this product"),
    stage_id: int | None = Query(None, description="only this column"),
    limit: int = Query(100, ge=1, le=1000, description="cards per column"),
    cursor: str | None = Query(None, description="a column's next_cursor: the next page of that column"),
    access: Access = Depends(get_access),
) -> Response:
    after_key = None
    if cursor:
        stage_id, key, last_id = decode_cursor(cursor)
        after_key = (key, last_id)

    def compute() -> dict[str, Any]:
        p = prepared(request, pipeline_id, owner or None, team or None, product or None)
        stages = p.stages
        if stage_id is not None:
            stages = [s for s in stages if s["id"] == stage_id]
            if not stages:
                raise DomainError(f"stage {stage_id} is not on the board of pipeline {p.pipeline_id}; "
                                  f"its stages are {', '.join(str(s['id']) for s in p.stages) or 'none'}")
        return {"pipeline_id": p.pipeline_id, "pipelines": p.pipelines, "owners": p.owners, "teams": p.teams,
                "products": p.products, "columns": [_column(p, s, limit, after_key) for s in stages]}

    flags_version = flags_for(request)[1]
    return cached_json(request, "board", (flags_version, pipeline_id, owner, team, product, stage_id, limit, cursor), compute)
