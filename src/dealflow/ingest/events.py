"""Event logs: one row per event (case id, activity, timestamp, resource, lifecycle).

The mapping file's ``[activities]`` table says what each activity means::

    A_SUBMITTED = { stage = "Submitted" }                # the deal entered a stage
    A_DECLINED  = { stage = "Lost", reason = "declined" } # an outcome, with its lost reason
    "W_*"       = { activity = "*" }                      # an activity; "*" keeps the event's name as its kind

Patterns use shell wildcards; the first exact name wins over patterns. Unmapped events are
counted and skipped. Work items with START/COMPLETE lifecycles become one activity each,
from the START to the COMPLETE that follows it.
"""
from __future__ import annotations

import fnmatch
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.errors import DealflowError
from dealflow.ingest.history_rows import append_changes, sync_current_stage
from dealflow.ingest.batch import DEFAULT_PIPELINE, Batch, Counts
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.bulk import insert_frame, select_frame
from dealflow.ingest.readers import ROW


def _spec_for(activity: str, table: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if activity in table:
        return table[activity]
    for pattern, spec in table.items():
        if fnmatch.fnmatchcase(activity, pattern):
            return spec
    return None


def write_events(s: Session, b: Batch) -> Counts:
    table = b.mapping.activities
    if not table:
        raise DealflowError(
            f"{b.source}: an event log needs a mapping file with an [activities] table saying which "
            "activities are stage changes, outcomes or activities (see examples/bpi2012/events.toml)"
        )
    ev = b.frame.sort(["case_id", "timestamp", ROW])
    names = ev["activity"].unique().to_list()
    specs = {n: _spec_for(n, table) for n in names}
    stage_of = {n: sp["stage"] for n, sp in specs.items() if sp and "stage" in sp}
    reason_of = {n: sp.get("reason") for n, sp in specs.items() if sp and "stage" in sp}
    kind_of = {n: (n if sp["activity"] == "*" else sp["activity"]) for n, sp in specs.items() if sp and "activity" in sp}
    skipped = [n for n, sp in specs.items() if sp is None]
    if skipped:
        count = ev.filter(pl.col("activity").is_in(skipped)).height
        b.notes.append(f"{count:,} event(s) of {len(skipped)} unmapped activit(ies) skipped: {', '.join(sorted(skipped)[:6])}{' ...' if len(skipped) > 6 else ''}")

    pipeline_name = b.mapping.defaults.get("pipeline", DEFAULT_PIPELINE)
    order = list(b.mapping.defaults.get("stages", [])) or list(dict.fromkeys(stage_of.values()))
    pipeline = crm.ensure_pipeline(s, pipeline_name, list(dict.fromkeys(order + list(stage_of.values()))))
    stage_ids = {r.name: r.id for r in s.execute(select(m.Stage.name, m.Stage.id).where(m.Stage.pipeline_id == pipeline.id))}
    kinds = {r.id: r.kind for r in s.execute(select(m.Stage.id, m.Stage.kind))}

    # Deals: one per case, created at its first event, unless already known.
    cases = ev.group_by("case_id", maintain_order=True).agg(pl.col("timestamp").min().alias("first"))
    stages = ev.filter(pl.col("activity").is_in(list(stage_of))).with_columns(
        pl.col("activity").replace_strict(stage_of, return_dtype=pl.String).alias("stage"),
        pl.col("activity").replace_strict(reason_of, return_dtype=pl.String, default=None).alias("reason"),
    )
    first_stage = stages.group_by("case_id", maintain_order=True).agg(pl.col("stage").first())
    cases = cases.join(first_stage, on="case_id", how="left")
    start = next(n for n in order if kinds[stage_ids[n]] == "open")
    known = select_frame(s, "deals", {"external_id": pl.String, "id": pl.Int64}, where_in=("external_id", cases["case_id"]))
    new = cases.join(known.rename({"external_id": "case_id"}), on="case_id", how="anti", maintain_order="left")
    stage = pl.col("stage").fill_null(start).replace_strict(stage_ids, return_dtype=pl.Int64)
    inserted = insert_frame(s, "deals", new.select(
        pl.col("case_id").alias("external_id"), pl.lit(pipeline.id, pl.Int64).alias("pipeline_id"), stage.alias("stage_id"),
        stage.replace_strict(kinds, return_dtype=pl.String).alias("status"), pl.col("first").dt.replace_time_zone(None).alias("created_at"),
        pl.lit(1, pl.Int64).alias("version"),
    ))
    ids = select_frame(s, "deals", {"external_id": pl.String, "id": pl.Int64}, where_in=("external_id", cases["case_id"]))
    ids = ids.rename({"external_id": "case_id", "id": "deal_id"})

    changes = stages.join(ids, on="case_id", how="left", maintain_order="left").select(
        "deal_id",
        pl.col("stage").replace_strict(stage_ids, return_dtype=pl.Int64).alias("to_stage_id"),
        pl.col("timestamp").dt.replace_time_zone(None).alias("at"),
        pl.col("resource").alias("by") if "resource" in stages.columns else pl.lit(None, pl.String).alias("by"),
        pl.col("reason").alias("lost_reason"),
    )
    n_changes, history = append_changes(s, changes)
    sync_current_stage(s, ids["deal_id"], history)

    n_activities = _write_work_items(s, ev.filter(pl.col("activity").is_in(list(kind_of))), kind_of, ids)
    b.notes.append(f"{ids.height:,} deal(s) ({inserted:,} new), {n_changes:,} new stage change(s), {n_activities:,} new activit(ies)")
    return Counts(inserted, 0, ids.height - inserted)


def _write_work_items(s: Session, ev: pl.DataFrame, kind_of: dict[str, str], deal_ids: pl.DataFrame) -> int:
    if ev.is_empty():
        return 0
    if "lifecycle" not in ev.columns:
        ev = ev.with_columns(pl.lit("COMPLETE").alias("lifecycle"))
    ev = ev.with_columns(pl.col("lifecycle").str.to_uppercase().fill_null("COMPLETE")).filter(pl.col("lifecycle") != "SCHEDULE")
    ev = ev.sort(["case_id", "activity", "timestamp", ROW])
    grp = ["case_id", "activity"]
    ev = ev.with_columns(
        pl.col("lifecycle").shift(-1).over(grp).alias("_next"),
        pl.col("timestamp").shift(-1).over(grp).alias("_next_at"),
        pl.col("lifecycle").shift(1).over(grp).alias("_prev"),
    )
    # A START and the COMPLETE right after it are one item; a COMPLETE on its own is an item too.
    items = ev.filter(
        (pl.col("lifecycle") == "START") | ((pl.col("lifecycle") == "COMPLETE") & (pl.col("_prev") != "START").fill_null(True))
    ).with_columns(
        pl.when((pl.col("lifecycle") == "START") & (pl.col("_next") == "COMPLETE")).then(pl.col("_next_at"))
        .when(pl.col("lifecycle") == "COMPLETE").then(pl.col("timestamp"))
        .otherwise(None).alias("ended_at"),
    )
    items = items.join(deal_ids, on="case_id", how="left", maintain_order="left").with_columns(
        pl.col("activity").replace_strict(kind_of, return_dtype=pl.String).alias("kind"),
        pl.col("timestamp").dt.replace_time_zone(None).alias("at"),
        pl.col("ended_at").dt.replace_time_zone(None),
        pl.when(pl.col("ended_at").is_null()).then(pl.lit("started")).otherwise(pl.lit("completed")).alias("outcome"),
    ).with_columns(pl.int_range(0, pl.len()).over(["case_id", "activity", "timestamp"]).alias("_n"))
    items = items.with_columns(
        pl.concat_str([pl.col("case_id"), pl.col("activity"), pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"), pl.col("_n").cast(pl.String)], separator="|").alias("external_id"),
        (pl.col("resource") if "resource" in items.columns else pl.lit(None, pl.String)).alias("resource"),
    )
    rows = items.select("external_id", "deal_id", "kind", "at", "ended_at", "outcome", "resource")
    stored = select_frame(s, "activities", {"external_id": pl.String}, where_in=("external_id", rows["external_id"]))
    return insert_frame(s, "activities", rows.join(stored, on="external_id", how="anti", maintain_order="left"))
