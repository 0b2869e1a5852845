"""CSV exports of the history tables, always of the history the user may see (``get_history`` scopes it)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dealflow.web.auth import Access, get_access
from dealflow.web.deps import get_history

router = APIRouter(prefix="/export", tags=["exports"])

Table = Literal["deals", "deal_products", "stage_changes", "field_changes", "activities", "leads"]


@router.get("/{table}", summary="One history table as CSV (only the rows you may see)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}, "description": "CSV with a header row"}})
def export_table(table: Table, request: Request, access: Access = Depends(get_access)) -> Response:
    frame = getattr(get_history(request), table)
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if nested:  # CSV holds no lists or structs
        frame = frame.drop(nested)
    return Response(frame.write_csv(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})
