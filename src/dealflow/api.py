"""The Python API for analysts: ``dealflow.open(db)`` and methods returning Polars frames.

>>> import dealflow
>>> crm = dealflow.open("dealflow.db")
>>> crm.report().stages          # a polars.DataFrame
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dealflow.lazy import lazy_names
from dealflow.store import Store

if TYPE_CHECKING:
    import polars as pl

    from dealflow.analytics.report import PipelineReport
    from dealflow.history import History
    from dealflow.ingest import ImportResult
    from dealflow.ingest.options import ParseOptions

# Loaded on first use, so ``import dealflow`` stays cheap; still attributes of this module.
_HOMES = {"PipelineReport": "dealflow.analytics.report", "History": "dealflow.history", "ImportResult": "dealflow.ingest",
          "ParseOptions": "dealflow.ingest.options"}

__getattr__ = lazy_names(__name__, _HOMES)


class Dealflow:
    """One store, read as frames. Histories are loaded once and refreshed after writes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._history: History | None = None

    # -- reading ------------------------------------------------------------------------
    def history(self, as_of: datetime | None = None) -> History:
        if self._history is None:
            from dealflow.store.history_cache import cached_history  # on-disk cache, keyed by the store revision

            self._history = cached_history(self.store)
        return self._history.as_of(as_of) if as_of else self._history

    def refresh(self) -> None:
        self._history = None

    def deals(self, as_of: datetime | None = None) -> pl.DataFrame:
        return self.history(as_of).deals

    def stage_changes(self) -> pl.DataFrame:
        return self.history().stage_changes

    def activities(self) -> pl.DataFrame:
        return self.history().activities

    def leads(self) -> pl.DataFrame:
        return self.history().leads

    def rates(self) -> pl.DataFrame:
        """Exchange rates (currency, valid_from, rate in company-currency units per unit); add them
        with ``import_file("rates", path)``."""
        return self.history().rates

    def unconverted_deals(self, as_of: datetime | None = None) -> pl.DataFrame:
        """Deals whose amount is in a currency without a usable rate: counted, but in no total."""
        return self.history(as_of).unconverted_deals()

    def report(self, as_of: datetime | None = None) -> PipelineReport:
        """The pipeline report; its parts (``stages``, ``owners``, ``products``, ``cycle``, ``ageing``) are frames."""
        from dealflow.analytics.report import pipeline_report

        return pipeline_report(self.history(), as_of)

    # -- analyses: each returns a result whose parts are frames (and ``to_dict()``) -------
    def products(self, as_of: datetime | None = None):  # type: ignore[no-untyped-def]
        """Product potential: per-product outcomes, drop-off stages, small changes."""
        from dealflow.analytics.products import product_report

        return product_report(self.history(as_of))

    def funnel(self, **options: Any):  # type: ignore[no-untyped-def]
        """Lead funnel by cohort: ``funnel(by="source", cohort="month")``."""
        from dealflow.analytics.funnel import lead_funnel

        return lead_funnel(self.history(), **options)

    def plan(self, **options: Any):  # type: ignore[no-untyped-def]
        """Reverse funnel: ``plan(target_deals=100)`` or ``plan(target_revenue=1e6, period="2018Q1")``."""
        from dealflow.analytics.plan import plan

        return plan(self.history(), **options)

    def cross_sell(self, **options: Any):  # type: ignore[no-untyped-def]
        from dealflow.analytics.cross_sell import cross_sell

        return cross_sell(self.history(), **options)

    def flow(self, **options: Any):  # type: ignore[no-untyped-def]
        """Stage flow: transitions, dwell times, regressions, skips, reopenings."""
        from dealflow.analytics.flow import stage_flow

        return stage_flow(self.history(), **options)

    def inspect(self, **options: Any):  # type: ignore[no-untyped-def]
        """The weekly inspection list: stalled, idle, slipped and regressed deals."""
        from dealflow.analytics.inspect import inspect_pipeline

        return inspect_pipeline(self.history(), **options)

    def patterns(self, **options: Any):  # type: ignore[no-untyped-def]
        from dealflow.analytics.patterns import patterns

        return patterns(self.history(), **options)

    def bottlenecks(self, **options: Any):  # type: ignore[no-untyped-def]
        from dealflow.analytics.bottlenecks import bottlenecks

        return bottlenecks(self.history(), **options)

    # -- writing ------------------------------------------------------------------------
    def import_file(self, kind: str, path: str | Path, *, mapping: str | Path | None = None,
                    map: list[str] | None = None, skip_invalid: bool = False,  # noqa: A002
                    options: ParseOptions | None = None, preset: str | None = None) -> ImportResult:
        """``options``: how to read the file (encoding, sheet, decimal, dayfirst, ...); default: detect.
        ``preset``: a CRM's export layout (salesforce, hubspot, pipedrive, odoo, zoho)."""
        from dealflow.ingest import load_mapping, parse_overrides, run_import

        result = run_import(self.store, kind, path, mapping=load_mapping(mapping) if mapping else None,
                            overrides=parse_overrides(map or []), skip_invalid=skip_invalid, options=options, preset=preset)
        self.refresh()
        return result

    def load_sample(self, name: str = "maven_crm") -> list[ImportResult]:
        from dealflow.samples import load_sample

        results = load_sample(self.store, name)
        self.refresh()
        return results

    def __repr__(self) -> str:
        return f"dealflow.open({self.store.url!r})"


def open(target: str | Store = "dealflow.db", *, currency: str = "USD") -> Dealflow:  # noqa: A001
    """Open a store by file path or URL (SQLite or PostgreSQL); a new database sets itself up.

    ``currency`` is the company currency reports convert amounts to (see ``import_file("rates", ...)``).
    """
    return Dealflow(target if isinstance(target, Store) else Store(target, currency=currency))
