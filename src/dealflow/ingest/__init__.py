"""Importing CSV/XLSX files and event logs: detect the columns, check every cell, store atomically.

The names below load on first use (PEP 562), so ``dealflow.ingest.fields`` and the other light
modules can be imported (the CLI's option lists) without the import machinery and SQLAlchemy.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from dealflow.lazy import lazy_names

if TYPE_CHECKING:
    from dealflow.ingest.mapping import Mapping, detect_mapping, load_mapping, parse_overrides
    from dealflow.ingest.options import ParseOptions
    from dealflow.ingest.readers import read_table
    from dealflow.ingest.runner import ImportResult, run_import

_HOMES = {
    "Mapping": "dealflow.ingest.mapping", "detect_mapping": "dealflow.ingest.mapping", "load_mapping": "dealflow.ingest.mapping",
    "parse_overrides": "dealflow.ingest.mapping", "ParseOptions": "dealflow.ingest.options", "read_table": "dealflow.ingest.readers",
    "ImportResult": "dealflow.ingest.runner", "run_import": "dealflow.ingest.runner",
}

__all__ = ["ImportResult", "Mapping", "ParseOptions", "detect_mapping", "load_mapping", "parse_overrides", "read_table", "run_import"]

__getattr__ = lazy_names(__name__, _HOMES)
