"""Appending stage changes without duplicates, and setting each deal's current stage from them.

Columnar: the stored history of the deals in a file is read as one frame, new rows are found
with an anti-join on the natural key (deal, stage, time), each is linked to the stage before it
over the deal's whole history (stored and new together), and the deals' current stage is
computed per deal in Polars and written only where it changed.
"""
from __future__ import annotations

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.store import models as m
from dealflow.store.bulk import Types, insert_frame, select_frame, update_frame

_STORED: Types = {"id": pl.Int64, "deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us"), "lost_reason": pl.String}
STORED_FULL: Types = {**_STORED, "from_stage_id": pl.Int64, "by": pl.String}  # what ingest.history_repair compares
_DEAL_STATE: Types = {"id": pl.Int64, "stage_id": pl.Int64, "status": pl.String, "closed_at": pl.Datetime("us"), "lost_reason": pl.String}


def append_stage_changes(session: Session, changes: pl.DataFrame) -> int:
    """Insert stage changes (deal_id, to_stage_id, at, by, lost_reason[, from_stage_id]) not already stored.

    ``from_stage_id`` is derived from the deal's whole history, stored and new together;
    consecutive changes to the same stage are dropped (a deal cannot enter the stage it is in).
    A given ``from_stage_id`` is used only for a deal's first change.
    """
    inserted, _ = append_changes(session, changes)
    return inserted


def stored_changes(session: Session, deal_ids: pl.Series) -> pl.DataFrame:
    """Every stored stage change of the deals (``STORED_FULL`` columns), in one statement."""
    return select_frame(session, "stage_changes", STORED_FULL, where_in=("deal_id", deal_ids.cast(pl.Int64)))


def append_changes(session: Session, changes: pl.DataFrame, stored: pl.DataFrame | None = None) -> tuple[int, pl.DataFrame | None]:
    """``append_stage_changes``, also returning the full history (stored + inserted) of the deals
    touched, for ``sync_current_stage``. Rows are taken in the order given: it breaks ties in time.
    ``stored``: the deals' stored changes, when the caller has read them already."""
    if changes.is_empty():
        return 0, None

    def given(col: str, dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
        return pl.col(col).cast(dtype) if col in changes.columns else pl.lit(None, dtype)

    at = pl.col("at")
    if getattr(changes.schema["at"], "time_zone", None):
        at = at.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    if stored is None:
        stored = select_frame(session, "stage_changes", _STORED, where_in=("deal_id", changes["deal_id"].cast(pl.Int64)))
    stored = stored.select(list(_STORED))
    new = changes.select(
        pl.lit(None, pl.Int64).alias("id"), pl.col("deal_id").cast(pl.Int64), pl.col("to_stage_id").cast(pl.Int64),
        at.cast(pl.Datetime("us")).alias("at"), given("lost_reason", pl.String).alias("lost_reason"), given("by", pl.String).alias("by"),
        given("from_stage_id", pl.Int64).alias("_from_given"), pl.int_range(0, pl.len(), dtype=pl.Int64).alias("_order"),
    ).join(stored.select("deal_id", "to_stage_id", "at"), on=["deal_id", "to_stage_id", "at"], how="anti", maintain_order="left")
    new = new.unique(subset=["deal_id", "to_stage_id", "at"], keep="first", maintain_order=True)
    if new.is_empty():
        return 0, stored
    both = pl.concat(
        [stored.with_columns(pl.lit(None, pl.String).alias("by"), pl.lit(None, pl.Int64).alias("_from_given"),
                             pl.lit(-1, pl.Int64).alias("_order")).select(new.columns),
         new],
    ).sort(["deal_id", "at", "_order", "id"], nulls_last=True)
    # The stage before, from the history; a deal with no earlier row keeps the stage it was known in.
    both = both.with_columns(pl.coalesce(pl.col("to_stage_id").shift(1).over("deal_id"), "_from_given").alias("from_stage_id"))
    # A new row entering the stage the deal is already in is dropped; so is one just before a
    # stored row entering the same stage (the same move at another time, e.g. an export re-read
    # in another time zone), which would otherwise turn the stored move into a move to itself.
    same_as_next_stored = (pl.col("id").shift(-1).over("deal_id").is_not_null()
                           & (pl.col("to_stage_id").shift(-1).over("deal_id") == pl.col("to_stage_id")))
    fresh = both.filter(pl.col("id").is_null() & (pl.col("from_stage_id").is_null() | (pl.col("from_stage_id") != pl.col("to_stage_id")))
                        & ~same_as_next_stored.fill_null(False))
    insert_frame(session, "stage_changes", fresh.select("deal_id", "from_stage_id", "to_stage_id", "at", "by", "lost_reason"))
    # New rows get ids above every stored one, in insertion order: that order decides ties in time.
    top = int(stored["id"].max() or 0) if stored.height else 0  # type: ignore[arg-type]
    fresh_ids = (pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + top).alias("id")
    history = pl.concat([stored, fresh.select(fresh_ids, "deal_id", "to_stage_id", "at", "lost_reason")])
    return fresh.height, history


def sync_current_stage(session: Session, deal_ids: list[int] | pl.Series, history: pl.DataFrame | None = None) -> int:
    """Set stage, status, closed_at and lost reason of each deal from its latest stage change.

    ``history`` (id, deal_id, to_stage_id, at, lost_reason) may hold the full history of some
    of the deals already; the others' is read. Only deals whose values change are written;
    returns how many."""
    ids = pl.Series("deal_id", deal_ids, dtype=pl.Int64).unique()
    if ids.is_empty():
        return 0
    if history is None:
        history = pl.DataFrame(schema=_STORED)
    missing = ids.to_frame().join(history.select("deal_id").unique(), on="deal_id", how="anti")["deal_id"]
    if missing.len():
        history = pl.concat([history.select(list(_STORED)), select_frame(session, "stage_changes", _STORED, where_in=("deal_id", missing))])
    kinds = pl.DataFrame([tuple(r) for r in session.execute(select(m.Stage.id, m.Stage.kind))],
                         schema={"to_stage_id": pl.Int64, "kind": pl.String}, orient="row")
    latest = (
        history.join(ids.to_frame(), on="deal_id", how="semi")
        .sort(["deal_id", "at", "id"]).group_by("deal_id").last()
        .join(kinds, on="to_stage_id", how="left")
        .select(
            pl.col("deal_id").alias("id"), pl.col("to_stage_id").alias("stage_id"), pl.col("kind").alias("status"),
            pl.when(pl.col("kind") != "open").then(pl.col("at")).alias("closed_at"),
            pl.when(pl.col("kind") == "lost").then(pl.col("lost_reason")).alias("lost_reason"),
        )
    )
    current = select_frame(session, "deals", _DEAL_STATE, where_in=("id", latest["id"]))
    changed = latest.join(current, on="id", how="left", suffix="_was").filter(
        pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_was")) for c in ("stage_id", "status", "closed_at", "lost_reason"))
    ).select(list(_DEAL_STATE))
    return update_frame(session, "deals", changed)
