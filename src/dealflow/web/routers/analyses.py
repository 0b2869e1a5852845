"""Every analysis of ``dealflow.web.analyses.REGISTRY`` as ``GET /api/analyses/{key}``."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from dealflow.web import analyses
from dealflow.web.auth import Access, get_access
from dealflow.web.cache import cached_json
from dealflow.web.deps import get_history
from dealflow.web.schemas import AnalysisInfo

router = APIRouter(prefix="/analyses", tags=["analyses"])


@router.get("", response_model=list[AnalysisInfo], summary="The analyses this server offers")
def list_analyses(access: Access = Depends(get_access)) -> Any:
    return [a.info() for a in analyses.REGISTRY.values()]


@router.get("/{key}", response_model=dict[str, Any],
            summary="Run one analysis (see GET /api/analyses for the list)",
            description="The answer carries an ETag: send it back in If-None-Match to get 304 while it is unchanged. "
                        "Slow analyses (forecast, backtest) may answer with their previous result, marked "
                        "`X-Dealflow-Stale: true`, while the new data is being computed.")
def run_analysis(key: str, request: Request,
                 as_of: str | None = Query(None, description="as it stood at this instant: 2012-01-01 or 2012-01-01T00:00:00+01:00"),
                 period: str | None = Query(None, description="a period such as 2017Q3 or 2017-05 (analyses that take one)"),
                 target: float | None = Query(None, description="a bookings or revenue target (plan, forecast)"),
                 access: Access = Depends(get_access)) -> Any:
    analysis = analyses.get(key)
    params = analyses.Params.parse(as_of, period, target)
    history = get_history(request)
    # Slow analyses answer with their last result while the new one is computed (X-Dealflow-Stale).
    return cached_json(request, f"analysis:{key}", (params.as_of, params.period_text, params.target),
                       lambda: analysis.run(lambda: history, params), stale_ok=analysis.slow)
