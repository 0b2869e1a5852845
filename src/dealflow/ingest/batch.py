"""What every import writer takes and returns: the typed rows of one file, and the counts."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from dealflow.ingest.mapping import Mapping

DEFAULT_PIPELINE = "Sales"


@dataclass
class Batch:
    """Typed rows of one file, ready to write."""

    frame: pl.DataFrame  # field columns + __row__ (+ attributes as JSON text)
    mapping: Mapping
    source: str
    now: datetime  # naive UTC: when the import runs
    notes: list[str] = field(default_factory=list)

    def col(self, name: str) -> list[Any]:
        return self.frame[name].to_list() if name in self.frame.columns else [None] * self.frame.height

    def has(self, name: str) -> bool:
        return name in self.frame.columns


@dataclass
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def naive_col(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A datetime column as naive UTC microseconds (what the store keeps)."""
    col = pl.col(name)
    if getattr(frame.schema[name], "time_zone", None):
        col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return col.cast(pl.Datetime("us")).alias(name)
