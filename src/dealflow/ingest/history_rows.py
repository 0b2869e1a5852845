"""Appending stage changes without duplicates, and setting each deal's current stage from them."""
from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.ingest.upsert import chunks
from dealflow.store import models as m
from dealflow.store.bulk import bulk_insert, bulk_update


def append_stage_changes(session: Session, changes: pl.DataFrame) -> int:
    """Insert stage changes (deal_id, to_stage_id, at, by, lost_reason) not already stored.

    ``from_stage_id`` is derived from the deal's whole history, stored and new together;
    consecutive changes to the same stage are dropped (a deal cannot enter the stage it is in).
    """
    if changes.is_empty():
        return 0
    for col, dtype in (("by", pl.String), ("lost_reason", pl.String), ("from_stage_id", pl.Int64)):
        if col not in changes.columns:
            changes = changes.with_columns(pl.lit(None, dtype).alias(col))
    deal_ids = changes["deal_id"].unique().to_list()
    stored_rows = []
    for part in chunks(deal_ids):
        stored_rows += session.execute(
            select(m.StageChange.id, m.StageChange.deal_id, m.StageChange.to_stage_id, m.StageChange.at)
            .where(m.StageChange.deal_id.in_(part))
        ).all()
    stored = pl.DataFrame(
        [tuple(r) for r in stored_rows],
        schema={"id": pl.Int64, "deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us")},
        orient="row",
    )
    new = changes.select(
        pl.lit(None, pl.Int64).alias("id"), pl.col("deal_id").cast(pl.Int64), pl.col("to_stage_id").cast(pl.Int64),
        pl.col("at").cast(pl.Datetime("us")), "by", "lost_reason", pl.col("from_stage_id").alias("_from_given"),
        pl.int_range(0, pl.len()).alias("_order"),
    ).join(stored.select("deal_id", "to_stage_id", "at"), on=["deal_id", "to_stage_id", "at"], how="anti")
    new = new.unique(subset=["deal_id", "to_stage_id", "at"], keep="first", maintain_order=True)
    if new.is_empty():
        return 0
    both = pl.concat(
        [stored.with_columns(pl.lit(None, pl.String).alias("by"), pl.lit(None, pl.String).alias("lost_reason"),
                             pl.lit(None, pl.Int64).alias("_from_given"), pl.lit(-1, pl.Int64).alias("_order")),
         new.with_columns(pl.col("_order").cast(pl.Int64))],
        how="vertical_relaxed",
    ).sort(["deal_id", "at", "_order"])
    # The stage before, from the history; a deal with no earlier row keeps the stage it was known in.
    both = both.with_columns(pl.coalesce(pl.col("to_stage_id").shift(1).over("deal_id"), "_from_given").alias("from_stage_id"))
    fresh = both.filter(pl.col("id").is_null() & (pl.col("from_stage_id").is_null() | (pl.col("from_stage_id") != pl.col("to_stage_id"))))
    rows = fresh.select("deal_id", "from_stage_id", "to_stage_id", "at", "by", "lost_reason").to_dicts()
    bulk_insert(session, m.StageChange, rows)
    return len(rows)


def sync_current_stage(session: Session, deal_ids: list[int]) -> None:
    """Set stage, status, closed_at and lost reason of each deal from its latest stage change."""
    kinds = {r.id: r.kind for r in session.execute(select(m.Stage.id, m.Stage.kind))}
    latest: dict[int, tuple[int, datetime, str | None]] = {}
    for part in chunks(deal_ids):
        for r in session.execute(
            select(m.StageChange.deal_id, m.StageChange.to_stage_id, m.StageChange.at, m.StageChange.lost_reason)
            .where(m.StageChange.deal_id.in_(part)).order_by(m.StageChange.deal_id, m.StageChange.at, m.StageChange.id)
        ):
            latest[r.deal_id] = (r.to_stage_id, r.at, r.lost_reason)
    rows = []
    for deal_id, (stage_id, at, reason) in latest.items():
        kind = kinds[stage_id]
        rows.append({
            "id": deal_id, "stage_id": stage_id, "status": kind,
            "closed_at": at if kind != "open" else None,
            "lost_reason": reason if kind == "lost" else None,
        })
    bulk_update(session, m.Deal, rows)
