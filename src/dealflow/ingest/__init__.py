"""Importing CSV/XLSX files and event logs: detect the columns, check every cell, store atomically."""
from dealflow.ingest.mapping import Mapping, detect_mapping, load_mapping, parse_overrides
from dealflow.ingest.options import ParseOptions
from dealflow.ingest.readers import read_table
from dealflow.ingest.runner import ImportResult, run_import

__all__ = ["ImportResult", "Mapping", "ParseOptions", "detect_mapping", "load_mapping", "parse_overrides", "read_table", "run_import"]
