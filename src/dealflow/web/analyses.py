"""The one registry of analyses the app shows: each entry is an API endpoint
(``/api/analyses/{key}``) and a dashboard page (``/dashboards/{key}``). Adding an analysis is one
``Analysis(...)`` entry: where its function lives, which pickers it takes, and how to chart it.

Functions are imported lazily, so an analysis whose module is not written yet shows as
"not available" instead of breaking the app. Each function takes a ``History`` first; the
pickers are passed when the function accepts them (``as_of``, ``period``, ``target``), else
``as_of`` is applied with ``History.as_of``. Results must have ``to_dict()``.
"""
from __future__ import annotations

import importlib
from collections import OrderedDict
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dealflow.errors import DomainError, NotFound
from dealflow.history import History

Chart = dict[str, Any]  # an ECharts option
_RESULTS: OrderedDict[tuple[Any, ...], tuple[History, dict[str, Any]]] = OrderedDict()


def jsonable(value: Any) -> Any:
    """Frames become lists of records, dates ISO strings, NaN null (as ``cli.common.to_jsonable``)."""
    import math
    from datetime import date

    import polars as pl

    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, pl.DataFrame):
        return [jsonable(r) for r in value.to_dicts()]
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    return value


def _as_dict(result: Any) -> dict[str, Any]:
    import dataclasses

    if hasattr(result, "to_dict"):
        try:
            return result.to_dict()  # type: ignore[no-any-return]
        except ImportError:  # to_dict borrowed a helper that cannot load; the fields say the same
            pass
    if dataclasses.is_dataclass(result):
        return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return {"result": result}


@dataclass(frozen=True)
class Params:
    as_of: datetime | None = None
    period: Any = None
    period_text: str | None = None
    target: float | None = None

    @classmethod
    def parse(cls, as_of: str | None, period: str | None, target: float | None = None) -> "Params":
        from datetime import timezone

        instant = None
        if as_of:
            try:
                instant = datetime.fromisoformat(as_of.strip())
            except ValueError:
                raise DomainError(f"as_of {as_of!r} is not a date or instant; use 2012-01-01 or 2012-01-01T00:00:00+01:00")
            instant = instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)
        parsed = None
        if period:
            from dealflow.domain.periods import parse_period

            try:
                parsed = parse_period(period.strip())
            except (ValueError, KeyError) as exc:
                raise DomainError(f"period {period!r} is not a period ({exc}); use 2017Q3, 2017-05 or 2017") from exc
        return cls(instant, parsed, period.strip() if period else None, target)


@dataclass(frozen=True)
class Analysis:
    key: str
    title: str
    description: str
    target: str  # "package.module:function"
    pickers: tuple[str, ...] = ("as_of",)
    charts: Callable[[dict[str, Any]], list[Chart]] | None = None
    tables: tuple[str, ...] = ()  # keys of to_dict() shown as tables (default: every list of records)
    fixed: dict[str, Any] = field(default_factory=dict)  # keyword arguments always passed
    adapt: Callable[[History, Params, dict[str, Any]], dict[str, Any]] | None = None  # fills required arguments
    slow: bool = False  # the page loads first and fetches the results (htmx) instead of waiting for them
    image: Callable[[History, Params], bytes] | None = None  # an SVG picture shown on the page (/dashboards/{key}/image.svg)

    def function(self) -> Callable[..., Any] | None:
        module, _, name = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            return None

    @property
    def available(self) -> bool:
        return self.function() is not None

    def info(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "description": self.description, "available": self.available,
                "api": f"/api/analyses/{self.key}", "page": f"/dashboards/{self.key}", "params": list(self.pickers)}

    def run(self, history: Callable[[], History], params: Params) -> dict[str, Any]:
        """The analysis as JSON-able data; kept while the history it was computed from is current."""
        hist = history()
        key = (self.key, params.as_of, params.period_text, params.target)
        cached = _RESULTS.get(key)
        if cached is not None and cached[0] is hist:
            _RESULTS.move_to_end(key)
            return cached[1]
        data = self._compute(hist, params)
        _RESULTS[key] = (hist, data)
        while len(_RESULTS) > 32:
            _RESULTS.popitem(last=False)
        return data

    def _compute(self, hist: History, params: Params) -> dict[str, Any]:
        fn = self.function()
        if fn is None:
            raise NotFound(f"the {self.title.lower()} analysis is not available in this version ({self.target} is missing)")
        accepted = inspect.signature(fn).parameters
        kwargs: dict[str, Any] = dict(self.fixed)
        if params.as_of is not None:
            if "as_of" in accepted:
                kwargs["as_of"] = params.as_of
            else:
                hist = hist.as_of(params.as_of)
        if params.period is not None and "period" in accepted:
            kwargs["period"] = params.period
        if params.target is not None and "target" in accepted:
            kwargs["target"] = params.target
        if self.adapt is not None:
            kwargs = self.adapt(hist, params, kwargs)
        result = fn(hist, **kwargs)
        data = _as_dict(result)
        if params.target is not None and "target" not in data:
            data = {**data, "target": params.target}
        return jsonable(data)  # type: ignore[no-any-return]

    def picture(self, history: History, params: Params) -> bytes:
        if self.image is None:
            raise NotFound(f"the {self.title.lower()} analysis has no picture")
        key = (self.key, "image", params.as_of, params.period_text)
        cached = _RESULTS.get(key)
        if cached is not None and cached[0] is history:
            return cached[1]  # type: ignore[return-value]
        data = self.image(history, params)
        _RESULTS[key] = (history, data)  # type: ignore[assignment]
        return data

    def chart_options(self, data: dict[str, Any]) -> list[Chart]:
        if self.charts is None:
            return []
        try:
            return [{"animation": False, **chart} for chart in self.charts(data)]
        except (KeyError, TypeError, IndexError, ValueError):  # a changed result shape costs the chart, not the page
            return []


# -- charts -----------------------------------------------------------------------------
def _bar(title: str, categories: list[Any], series: dict[str, list[Any]], *, horizontal: bool = False, percent: bool = False) -> Chart:
    cat_axis = {"type": "category", "data": categories, "axisLabel": {"interval": 0, "overflow": "truncate", "width": 110}}
    val_axis: dict[str, Any] = {"type": "value"}
    if percent:
        val_axis["axisLabel"] = {"formatter": "{value}%"}
    return {
        "title": {"text": title, "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 32} if len(series) > 1 else {"show": False},
        "grid": {"left": 120 if horizontal else 50, "right": 20, "top": 70, "bottom": 40, "containLabel": False},
        "xAxis": val_axis if horizontal else cat_axis,
        "yAxis": cat_axis if horizontal else val_axis,
        "series": [{"type": "bar", "name": name, "data": values} for name, values in series.items()],
    }


def _round(values: list[Any], scale: float = 1.0) -> list[Any]:
    return [None if v is None else round(float(v) * scale, 2) for v in values]


def _flow_charts(data: dict[str, Any]) -> list[Chart]:
    trans = [t for t in data["transitions"] if t.get("kind") in ("forward", "skip", "close") and t["from"] != t["to"]]
    nodes = sorted({t["from"] for t in trans} | {t["to"] for t in trans})
    sankey = {
        "title": {"text": "Stage flow (forward moves and closes)", "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "item"},
        "series": [{"type": "sankey", "emphasis": {"focus": "adjacency"}, "nodeAlign": "left", "top": 40, "bottom": 10, "right": 90,
                    "data": [{"name": n} for n in nodes],
                    "links": [{"source": t["from"], "target": t["to"], "value": t["count"]} for t in trans]}],
    }
    dwell = [d for d in data["dwell"] if d.get("median_days") is not None]
    stages = list(dict.fromkeys(d["stage"] for d in dwell))
    statuses = sorted({d["status"] for d in dwell})
    series = {s: [next((d["median_days"] for d in dwell if d["stage"] == st and d["status"] == s), None) for st in stages] for s in statuses}
    return [sankey, _bar("Median days in stage", stages, {k: _round(v) for k, v in series.items()})]


def _inspect_charts(data: dict[str, Any]) -> list[Chart]:
    deals = data["deals"]
    flags: dict[str, list[float]] = {}
    for d in deals:
        for flag in (d.get("flags") or "").replace(",", " ").split():
            flags.setdefault(flag, [0, 0])
            flags[flag][0] += 1
            flags[flag][1] += d.get("amount") or 0
    names = sorted(flags)
    return [_bar("Flagged open deals", names, {"deals": [flags[n][0] for n in names]}),
            _bar("Amount at risk", names, {"amount": [round(flags[n][1]) for n in names]})]


def _funnel_charts(data: dict[str, Any]) -> list[Chart]:
    steps = data["steps"]
    if not steps:
        return []
    name_key = "step" if steps and "step" in steps[0] else next(iter(steps[0]))
    count_key = next(k for k in ("reached", "leads", "count", "n") if k in steps[0])
    return [{
        "title": {"text": "Lead funnel", "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "item", "formatter": "{b}: {c}"},
        "series": [{"type": "funnel", "sort": "none", "left": "10%", "width": "80%", "top": 40, "bottom": 10,
                    "label": {"show": True, "position": "inside"},
                    "data": [{"name": s[name_key], "value": s[count_key]} for s in steps]}],
    }]


def _current_quarter(history: History, params: Params) -> Any:
    from dealflow.domain.periods import parse_period

    at = params.as_of or history.now
    return parse_period(f"{at.year}Q{(at.month - 1) // 3 + 1}")


def _forecast_args(history: History, params: Params, kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("period", _current_quarter(history, params))
    kwargs.pop("target", None)
    return kwargs


def _plan_args(history: History, params: Params, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A revenue target when one is given; else as many deals as were won in the last 90 days."""
    import polars as pl

    if params.target is not None:
        kwargs["target_revenue"] = params.target
    else:
        since = (params.as_of or history.now).timestamp() - 90 * 86400
        won = history.deals.filter((pl.col("status") == "won") & (pl.col("closed_at").dt.epoch("s") >= since)).height
        kwargs["target_deals"] = max(won, 1)
    kwargs.pop("target", None)
    if params.period is not None:
        kwargs["period"] = params.period
    return kwargs


def _report_charts(data: dict[str, Any]) -> list[Chart]:
    stages = [s for s in data["stages"] if s.get("kind") == "open"]
    names = [s["stage"] for s in stages]
    conv = [s for s in data["stages"] if s.get("conversion") is not None and s.get("kind") != "lost"]
    charts = [_bar("Open pipeline by stage", names, {"open amount": _round([s["open_amount"] for s in stages]),
                                                     "weighted": _round([s["weighted_amount"] for s in stages])})]
    if conv:
        charts.append(_bar("Stage conversion (cohort)", [s["stage"] for s in conv],
                           {"conversion": _round([s["conversion"] for s in conv], 100)}, percent=True))
    if data.get("ageing"):
        charts.append(_bar("Open deals by age", [a["bucket"] for a in data["ageing"]], {"open deals": [a["open_deals"] for a in data["ageing"]]}))
    return charts


def _forecast_charts(data: dict[str, Any]) -> list[Chart]:
    """P10–P90 bands with the P50 marked, per part of the forecast, and the target as a line."""
    parts = [("total", data), ("existing pipeline", data["existing"]), ("new pipeline", data["new"])]
    names = [n for n, _ in parts]
    lows = [round(p["p10"]) for _, p in parts]
    bands = [round(p["p90"] - p["p10"]) for _, p in parts]
    mids = [round(p["p50"]) for _, p in parts]
    band: dict[str, Any] = {"type": "bar", "name": "P10–P90", "stack": "range", "data": bands, "itemStyle": {"color": "#9ec5e8"}}
    if data.get("target"):
        band["markLine"] = {"data": [{"xAxis": data["target"], "name": "target"}], "label": {"formatter": "target"}}
    return [{
        "title": {"text": f"Bookings forecast {data.get('period', '')}: P10 / P50 / P90", "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"}, "legend": {"top": 32},
        "grid": {"left": 130, "right": 30, "top": 70, "bottom": 30},
        "xAxis": {"type": "value"}, "yAxis": {"type": "category", "data": names},
        "series": [
            {"type": "bar", "name": "P10", "stack": "range", "data": lows, "itemStyle": {"color": "transparent"}, "tooltip": {"show": False}},
            band,
            {"type": "scatter", "name": "P50", "data": mids, "symbolSize": 14, "itemStyle": {"color": "#1f4e79"}},
        ],
    }]


def _plan_charts(data: dict[str, Any]) -> list[Chart]:
    groups = [g for g in data["groups"] if g.get("leads_needed") is not None]
    key = data.get("by") or "source"
    return [_bar(f"Leads needed by {key}", [str(g.get(key)) for g in groups], {"leads needed": [g["leads_needed"] for g in groups]})]


def _backtest_args(history: History, params: Params, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The web replays at most the last 12 monthly cut-offs (the CLI replays them all)."""
    from dealflow.forecast.backtest import monthly_cutoffs

    kwargs["cutoffs"] = monthly_cutoffs(history)[-12:]
    return kwargs


def _flow_image(history: History, params: Params) -> bytes:
    from dealflow.analytics.flow import stage_flow
    from dealflow.analytics.flow_image import render_flow

    h = history.as_of(params.as_of) if params.as_of is not None else history
    return render_flow(stage_flow(h, period=params.period), h.stages, "svg")


def _products_charts(data: dict[str, Any]) -> list[Chart]:
    rows = data["products"]
    names = [r["product"] for r in rows]
    keys = rows[0].keys() if rows else []
    charts = []
    if "win_rate" in keys:
        charts.append(_bar("Win rate by product", names, {"win rate": _round([r["win_rate"] for r in rows], 100)}, percent=True))
    pipe = {k: _round([r.get(k) for r in rows]) for k in ("open_pipeline", "weighted_pipeline", "forecast") if k in keys}
    if pipe:
        charts.append(_bar("Open pipeline by product", names, {k.replace("_", " "): v for k, v in pipe.items()}))
    return charts


def _backtest_charts(data: dict[str, Any]) -> list[Chart]:
    scorers = data["scorers"]
    name = next(k for k in ("scorer", "name") if k in scorers[0])
    charts = [_bar(f"Brier score by scorer (lower is better)", [s[name] for s in scorers], {"brier": _round([s.get("brier") for s in scorers])})]
    if "auc" in scorers[0]:
        charts.append(_bar("AUC by scorer (higher is better)", [s[name] for s in scorers], {"AUC": _round([s.get("auc") for s in scorers])}))
    rel = data.get("reliability") or []
    if rel and {"predicted", "observed"} <= set(rel[0]):
        charts.append({
            "title": {"text": "Reliability: predicted vs observed", "textStyle": {"fontSize": 14}},
            "tooltip": {"trigger": "item"}, "grid": {"left": 50, "right": 20, "top": 50, "bottom": 40},
            "xAxis": {"type": "value", "min": 0, "max": 1, "name": "predicted"}, "yAxis": {"type": "value", "min": 0, "max": 1, "name": "observed"},
            "series": [{"type": "scatter", "data": [[r["predicted"], r["observed"]] for r in rel if r["predicted"] is not None]},
                       {"type": "line", "data": [[0, 0], [1, 1]], "symbol": "none", "lineStyle": {"type": "dashed"}}],
        })
    return charts


def _stage_labels(rows: list[dict[str, Any]]) -> list[str]:
    """Stage names, prefixed with the pipeline when there is more than one."""
    several = len({r.get("pipeline") for r in rows}) > 1
    return [f"{r['pipeline']}: {r['stage']}" if several else str(r["stage"]) for r in rows]


def _bottleneck_args(history: History, params: Params, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The by-period table is monthly; a period picker (2017Q3) is not a period kind."""
    kwargs["period"] = "month"
    return kwargs


def _bottleneck_charts(data: dict[str, Any]) -> list[Chart]:
    stages = data["stages"]
    by_loss = sorted(stages, key=lambda r: -(r.get("revenue_lost") or 0))
    by_delay = sorted(stages, key=lambda r: -(r.get("deal_days") or 0))
    return [_bar("Revenue lost by stage (lost from there)", _stage_labels(by_loss), {"revenue lost": _round([r["revenue_lost"] for r in by_loss])},
                 horizontal=True),
            _bar("Delay by stage (deal-days spent there)", _stage_labels(by_delay), {"deal-days": _round([r["deal_days"] for r in by_delay])},
                 horizontal=True)]


def _patterns_charts(data: dict[str, Any]) -> list[Chart]:
    charts = []
    for status in ("won", "lost"):
        rows = [v for v in data["variants"] if v["status"] == status][:8]
        if rows:
            charts.append(_bar(f"Most common paths of {status} deals", [f"#{v['variant']}" for v in rows],
                               {"deals": [v["deals"] for v in rows]}))
    acts = [a for a in data["activity_patterns"] if a.get("at_least") == 1 and a.get("lift") is not None]
    if acts:
        charts.append(_bar("Win-rate lift when the activity happened in the stage (1 = no effect)",
                           [f"{a['stage']}: {a['kind']}" for a in acts], {"lift": _round([a["lift"] for a in acts])}, horizontal=True))
    return charts


def _cross_sell_charts(data: dict[str, Any]) -> list[Chart]:
    pairs = sorted(data["also_bought"], key=lambda r: (-(r.get("share") or 0), r["product"], r["also_bought"]))[:15]
    if not pairs:
        return []
    return [_bar("Buyers of X who also bought Y", [f"{r['product']} → {r['also_bought']}" for r in pairs],
                 {"share": _round([r["share"] for r in pairs], 100)}, horizontal=True, percent=True)]


def _changes_args(history: History, params: Params, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The period picker's span (up to now); else the 7 days before now (the as-of date, or the data's end)."""
    from datetime import timedelta

    if params.period is not None:
        kwargs["since"] = params.period.start_instant()
        kwargs["until"] = min(params.period.end_instant(), history.now)
    else:
        kwargs["since"] = history.now - timedelta(days=7)
    return kwargs


def _changes_charts(data: dict[str, Any]) -> list[Chart]:
    rows = data["summary"]
    names = [r["change"] for r in rows]
    return [_bar("Deals per change", names, {"deals": [r["deals"] for r in rows]}),
            _bar("Amount of the deals that changed", names, {"amount": _round([r["amount"] for r in rows])})]


REGISTRY: dict[str, Analysis] = {a.key: a for a in [
    Analysis("report", "Pipeline report", "Open and weighted pipeline, win rates, cycle length and velocity.",
             "dealflow.analytics.report:pipeline_report", ("as_of",), charts=_report_charts),
    Analysis("funnel", "Lead funnel", "Cohort funnel from lead to won, with step conversion and leaks.",
             "dealflow.analytics.funnel:lead_funnel", ("as_of",), charts=_funnel_charts),
    Analysis("products", "Product potential", "Per product: win rate, size, cycle, pipeline and the changes that would sell the most.",
             "dealflow.analytics.products:product_report", ("as_of",), charts=lambda d: _products_charts(d)),
    Analysis("plan", "Lead plan", "Leads needed, per source and by when, to reach a target.",
             "dealflow.analytics.plan:plan", ("as_of", "period", "target"), charts=_plan_charts, adapt=_plan_args),
    Analysis("forecast", "Forecast", "Expected bookings per period with P10/P50/P90 against the target.",
             "dealflow.forecast.period:forecast_period", ("as_of", "period", "target"), charts=_forecast_charts,
             adapt=_forecast_args, slow=True),
    Analysis("backtest", "Forecast accuracy", "Backtested accuracy of deal scores and period forecasts against baselines.",
             "dealflow.forecast.backtest:backtest", ("as_of",), charts=lambda d: _backtest_charts(d), fixed={"sims": 500}, slow=True,
             adapt=_backtest_args),
    Analysis("flow", "Stage flow", "Transitions between stages, time in stage, regressions, skips and reopenings.",
             "dealflow.analytics.flow:stage_flow", ("as_of", "period"), charts=_flow_charts,
             image=_flow_image),
    Analysis("inspect", "Inspection list", "Open deals that are stalled, idle, slipped or regressed, by money at risk.",
             "dealflow.analytics.inspect:inspect_pipeline", ("as_of",), charts=_inspect_charts),
    Analysis("bottlenecks", "Bottlenecks", "Stages ranked by revenue lost from them and by the delay deals spend there, per month too.",
             "dealflow.analytics.bottlenecks:bottlenecks", ("as_of",), charts=_bottleneck_charts, adapt=_bottleneck_args),
    Analysis("patterns", "Win patterns", "The usual paths of won and lost deals, and the activities that go with winning (lift and interval).",
             "dealflow.analytics.patterns:patterns", ("as_of",), charts=_patterns_charts),
    Analysis("cross_sell", "Cross-sell", "What buyers of each product also bought, and what each account may buy next.",
             "dealflow.analytics.cross_sell:cross_sell", ("as_of",), charts=_cross_sell_charts),
    Analysis("changes", "Pipeline changes", "New, advanced, slipped, resized, won and lost deals over the period (default: the last 7 days).",
             "dealflow.analytics.inspect:pipeline_changes", ("as_of", "period"), charts=_changes_charts, adapt=_changes_args),
]}


def get(key: str) -> Analysis:
    if key not in REGISTRY:
        raise NotFound(f"no analysis {key!r}; choose one of: {', '.join(REGISTRY)}")
    return REGISTRY[key]
