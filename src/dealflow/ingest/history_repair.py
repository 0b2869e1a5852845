"""After a stage history file is stored: the file's details win, and every change links to the one before.

A deals import records the move into each deal's current stage itself (by "import"). When
the deal's stage history arrives later, that change is among the file's rows: the file says
who made it and why the deal was lost, and the earlier moves it adds come before it, so the
change's ``from_stage_id`` must now name the stage before it. Only rows that differ are
written; the work is joins in Polars, not a loop over rows.
"""
from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.ingest.upsert import chunks
from dealflow.store import models as m
from dealflow.store.bulk import select_frame, update_frame

_KEY = ["deal_id", "to_stage_id", "at"]


def _rows(session: Session, query: Any, schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([tuple(r) for r in session.execute(query)], schema=schema, orient="row")


def repair_listed_changes(session: Session, frame: pl.DataFrame) -> int:
    """``frame``: the imported rows (deal external id, stage, at[, by, lost_reason]). Returns rows changed."""
    if frame.is_empty():
        return 0
    refs = frame["deal"].drop_nulls().unique().to_list()
    # One statement each (store.bulk.select_frame), not one per 900 ids: files of millions of rows.
    deals = select_frame(session, "deals", {"external_id": pl.String, "id": pl.Int64, "pipeline_id": pl.Int64},
                         where_in=("external_id", pl.Series(refs, dtype=pl.String))).rename({"external_id": "deal", "id": "deal_id"})
    stored = select_frame(session, "stage_changes", {"id": pl.Int64, "deal_id": pl.Int64, "from_stage_id": pl.Int64, "to_stage_id": pl.Int64,
                                                     "at": pl.Datetime("us"), "by": pl.String, "lost_reason": pl.String},
                          where_in=("deal_id", deals["deal_id"]))
    stages = _rows(session, select(m.Stage.id, m.Stage.pipeline_id, m.Stage.name),
                   {"to_stage_id": pl.Int64, "pipeline_id": pl.Int64, "stage": pl.String})
    at = pl.col("at")
    if getattr(frame.schema["at"], "time_zone", None):
        at = at.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    details = [c for c in ("by", "lost_reason") if c in frame.columns]
    listed = (
        frame.select("deal", "stage", at.cast(pl.Datetime("us")).alias("at"), *details)
        .join(deals, on="deal").join(stages, on=["pipeline_id", "stage"])
        .unique(subset=_KEY, keep="first", maintain_order=True)
    )
    updates: list[pl.DataFrame] = []
    deal_updates = pl.DataFrame()
    if details:
        adopted = stored.join(listed.select(*_KEY, *[pl.col(c).alias(f"{c}_file") for c in details]), on=_KEY).filter(
            pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_file")) for c in details))
        updates.append(adopted.select("id", *[pl.col(f"{c}_file").alias(c) for c in details]))
        if "lost_reason" in details and adopted.height:
            # A lost deal's reason is its last change's: follow the adopted one.
            latest = stored.sort(["deal_id", "at", "id"]).group_by("deal_id").last().select("deal_id", "id")
            current = pl.concat([
                _rows(session, select(m.Deal.id, m.Deal.status, m.Deal.lost_reason).where(m.Deal.id.in_(part)),
                      {"deal_id": pl.Int64, "status": pl.String, "lost_reason": pl.String})
                for part in chunks(adopted["deal_id"].unique().to_list())
            ])
            deal_updates = (
                latest.join(adopted.select("id", "lost_reason_file"), on="id").join(current, on="deal_id")
                .filter((pl.col("status") == "lost") & pl.col("lost_reason").ne_missing(pl.col("lost_reason_file")))
                .select(pl.col("deal_id").alias("id"), pl.col("lost_reason_file").alias("lost_reason"))
            )
    # The stage before, in the deal's whole history (time, then id); a first change keeps its own.
    prev = pl.col("to_stage_id").shift(1).over("deal_id")
    relinked = stored.sort(["deal_id", "at", "id"]).with_columns(prev.alias("_prev")).filter(
        pl.col("_prev").is_not_null() & pl.col("from_stage_id").ne_missing(pl.col("_prev")))
    updates.append(relinked.select("id", pl.col("_prev").alias("from_stage_id")))
    # One statement per kind of change (UPDATE ... FROM a temp table on PostgreSQL), never one per row.
    changed = sum(update_frame(session, "stage_changes", rows) for rows in updates)
    return changed + update_frame(session, "deals", deal_updates)
