"""Vendor presets: the standard deal and stage-history exports of Salesforce, HubSpot, Pipedrive,
Odoo and Zoho, one TOML file per vendor (each cites where its layout comes from).

A preset lists, per field, the headers the vendor writes (first one present wins), plus what the
layout needs: ``[values.FIELD]`` rewrites, ``[status_stages]``, ``[copies]``, and for
tracking-style files ``[keep_rows]`` / ``[drop_rows]`` (a key ``"A|B"`` filters on whichever
column is present). Columns a preset does not name become custom fields (``attributes``) of
deals; only HubSpot's ``Date entered "<stage>"`` columns are still detected.
"""
from __future__ import annotations

import re
import tomllib
from importlib import resources
from typing import Any

from dealflow.errors import DealflowError
from dealflow.ingest.fields import STAGE_DATE_PREFIX
from dealflow.ingest.mapping import Mapping, detect_mapping

PRESETS = ("salesforce", "hubspot", "pipedrive", "odoo", "zoho")

# Kinds a vendor cannot export, with what to do instead.
_INSTEAD = {
    ("hubspot", "stage_history"): "HubSpot keeps stage history in the deals export's 'Date entered \"<stage>\"' "
                                  "columns: import that file with `dealflow import deals FILE --preset hubspot`",
}


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _spec(vendor: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{vendor}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _present(candidates: list[str], headers: list[str]) -> str | None:
    """The first candidate the file has (exact header first, then ignoring case and spacing)."""
    for name in candidates:
        if name in headers:
            return name
    by_key = {_key(h): h for h in headers}
    return next((by_key[_key(n)] for n in candidates if _key(n) in by_key), None)


def preset_mapping(vendor: str, kind: str, headers: list[str]) -> Mapping:
    """The mapping a vendor's export of ``kind`` needs, resolved against the file's headers."""
    vendor = vendor.strip().lower()
    if vendor not in PRESETS:
        raise DealflowError(f"unknown preset {vendor!r}; choose one of: {', '.join(PRESETS)}")
    if (vendor, kind) in _INSTEAD:
        raise DealflowError(f"--preset {vendor} has no {kind} layout: {_INSTEAD[(vendor, kind)]}")
    spec = _spec(vendor).get(kind)
    if spec is None:
        kinds = [k for k in _spec(vendor) if (vendor, k) not in _INSTEAD]
        raise DealflowError(f"--preset {vendor} covers {' and '.join(kinds)} files, not {kind}; import {kind} without --preset")
    columns: dict[str, str] = {}
    for target, candidates in spec.get("fields", {}).items():
        if target == "ignore":
            columns |= {h: "ignore" for h in candidates if h in headers}
        elif (header := _present(candidates, headers)) is not None:
            columns[header] = target
    if kind == "deals":
        columns |= {h: f for h, f in detect_mapping(kind, headers).items() if f.startswith(STAGE_DATE_PREFIX) and h not in columns}

    def filters(table: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {}
        for alternatives, values in table.items():
            header = _present(alternatives.split("|"), headers)
            if header is not None:  # an optional narrowing: a file without the column is not filtered on it
                out[header] = values
        return out

    return Mapping(
        kind=kind, columns=columns, defaults=dict(spec.get("defaults", {})), values=dict(spec.get("values", {})),
        keep_rows=filters(spec.get("keep_rows", {})), drop_rows=filters(spec.get("drop_rows", {})),
        status_stages=dict(spec.get("status_stages", {})), copies=dict(spec.get("copies", {})), preset=vendor,
    )
