"""Matching names typed by people: "GTXPro" is the product "GTX Pro"."""
from __future__ import annotations

import re
from collections.abc import Iterable


def normalize_name(name: str) -> str:
    """Key for comparing names that differ only in spaces, punctuation or case."""
    return re.sub(r"[\W_]+", "", name).casefold()


def match_name(name: str, known: Iterable[str]) -> str | None:
    """The known name equal to ``name`` up to spaces and case, if exactly one is."""
    known = list(known)
    if name in known:
        return name
    key = normalize_name(name)
    hits = [k for k in known if normalize_name(k) == key]
    return hits[0] if len(hits) == 1 else None
