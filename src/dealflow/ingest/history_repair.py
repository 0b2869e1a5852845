"""When a stage history file is stored: the file's details win, and every change links to the one before.

A deals import records the move into each deal's current stage itself (by "import"). When
the deal's stage history arrives later, that change is among the file's rows: the file says
who made it and why the deal was lost, and the earlier moves it adds come before it, so the
change's ``from_stage_id`` must now name the stage before it. Only stored rows that differ are
written, in one statement; the work is joins over frames the import already holds (the stored
changes it read once, the history after its insert), never a second read or a loop over rows.
"""
from __future__ import annotations

import polars as pl
from sqlalchemy.orm import Session

from dealflow.store.bulk import update_frame

_KEY = ["deal_id", "to_stage_id", "at"]


def repair_listed_changes(session: Session, stored: pl.DataFrame, history: pl.DataFrame, listed: pl.DataFrame,
                          details: list[str]) -> pl.DataFrame:
    """``stored``: the deals' changes before the insert (``history_rows.STORED_FULL``); ``history``:
    their whole history after it (``append_changes``); ``listed``: the file's rows (deal_id,
    to_stage_id, at, by, lost_reason) of which the columns ``details`` were given.

    Updates the stored rows whose details or stage before differ, and returns ``history`` with
    the file's lost reasons, so that a lost deal's reason follows its last change."""
    if stored.is_empty():
        return history
    file = listed.unique(subset=_KEY, keep="first", maintain_order=True).select(*_KEY, *[pl.col(c).alias(f"_{c}_file") for c in details])
    # The stage before, in the deal's whole history (time, then id; new rows' ids come after the
    # stored ones'); a first change keeps its own.
    before = history.sort(["deal_id", "at", "id"]).select("id", pl.col("to_stage_id").shift(1).over("deal_id").alias("_prev"))
    wanted = _wanted(stored, before, file, details)
    changed = wanted.filter(pl.any_horizontal(pl.col(f"_{c}").ne_missing(pl.col(c)) for c in ("from_stage_id", "by", "lost_reason")))
    update_frame(session, "stage_changes", changed.select("id", *[pl.col(f"_{c}").alias(c) for c in ("from_stage_id", "by", "lost_reason")]))
    if "lost_reason" not in details or changed.is_empty():
        return history
    # Only the adopted rows' reasons change (to null too, if the file leaves one blank).
    adopted = changed.select("id", pl.col("_lost_reason").alias("_adopted"), pl.lit(True).alias("_hit"))
    return history.join(adopted, on="id", how="left", maintain_order="left").with_columns(
        pl.when(pl.col("_hit")).then(pl.col("_adopted")).otherwise(pl.col("lost_reason")).alias("lost_reason")).drop("_adopted", "_hit")


def _wanted(stored: pl.DataFrame, before: pl.DataFrame, file: pl.DataFrame, details: list[str]) -> pl.DataFrame:
    """Each stored row with the values it should have: ``_from_stage_id``, ``_by``, ``_lost_reason``."""
    listed = file.with_columns(pl.lit(True).alias("_listed"))
    out = stored.join(before, on="id", how="left").join(listed, on=_KEY, how="left").with_columns(
        pl.coalesce("_prev", "from_stage_id").alias("_from_stage_id"))
    return out.with_columns(
        (pl.when(pl.col("_listed")).then(pl.col(f"_{c}_file")).otherwise(pl.col(c)) if c in details else pl.col(c)).alias(f"_{c}")
        for c in ("by", "lost_reason"))
