"""The deals writer, set-based: a million deals are joins and column expressions in Polars and a
few statements (store.bulk), never a Python loop over rows.

Per row, as a row-by-row upsert would: the stage named (or kept, or the pipeline's first open
stage for a new deal), status and close date from it, names resolved to ids (unknown accounts,
owners and products created), new deals inserted, changed ones updated, edits of the amount or
expected close date recorded, the stage changes the file implies appended, and product lines set.
"""
from __future__ import annotations

import json
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from dealflow.domain.names import match_name
from dealflow.domain.stages import stage_kind_from_name
from dealflow.errors import ImportFailed, RowProblem
from dealflow.ingest.batch import DEFAULT_PIPELINE, Batch, Counts, naive_col
from dealflow.ingest.fields import STAGE_DATE_PREFIX
from dealflow.ingest.history_rows import append_stage_changes
from dealflow.ingest.readers import ROW
from dealflow.ingest.upsert import resolve_names
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.bulk import Types, delete_where_in, insert_frame, select_frame, update_frame

FIELDS = ["name", "amount", "currency", "source", "created_at", "expected_close_date", "lost_reason", "true_probability"]
TRACKED = ("amount", "expected_close_date")  # a re-import that changes one leaves a field change
_STORED: Types = {"id": pl.Int64, "external_id": pl.String, "name": pl.String, "account_id": pl.Int64, "owner_id": pl.Int64,
           "pipeline_id": pl.Int64, "stage_id": pl.Int64, "status": pl.String, "amount": pl.Float64, "currency": pl.String,
           "source": pl.String, "created_at": pl.Datetime("us"), "expected_close_date": pl.Date, "closed_at": pl.Datetime("us"),
           "lost_reason": pl.String, "true_probability": pl.Float64, "attributes": pl.String}


def _default_pipeline(s: Session, b: Batch) -> str:
    """The mapping's pipeline; else the only pipeline there is; else "Sales"."""
    if "pipeline" in b.mapping.defaults:
        return str(b.mapping.defaults["pipeline"])
    names = s.scalars(select(m.Pipeline.name)).all()
    return names[0] if len(names) == 1 else DEFAULT_PIPELINE


def _canonical_stage_names(s: Session, pipeline: str, names: list[str], order: list[str]) -> dict[str, str]:
    """Spellings of one stage ("Closed Won", "closed won", "closedwon") -> the stage's name:
    the pipeline's existing stage, else the mapping's, else the first spelling in the file."""
    known = list(s.scalars(select(m.Stage.name).join(m.Pipeline).where(m.Pipeline.name == pipeline))) + order
    out: dict[str, str] = {}
    for name in names:
        hit = match_name(name, known)
        if hit is None:
            known.append(name)
            hit = name
        out[name] = hit
    return out


def _pipeline_stages(s: Session, b: Batch, pipeline: str, stages: list[str]) -> int:
    """Create the pipeline and the stages the file names; returns the pipeline's id.

    New stages are placed open first (in the file's order), then won, then lost, unless the
    mapping gives the order."""
    order = list(b.mapping.defaults.get("stages", []))
    existing = {r.name for r in s.execute(select(m.Stage.name).join(m.Pipeline).where(m.Pipeline.name == pipeline))}
    new = [x for x in dict.fromkeys(stages) if x not in existing and x not in order]
    rank = {"open": 0, "won": 1, "lost": 2}
    new.sort(key=lambda x: rank[stage_kind_from_name(x).value])
    p = crm.ensure_pipeline(s, pipeline, order + new)
    if new and existing:
        b.notes.append(f"added stage(s) to pipeline {pipeline!r}: {', '.join(new)}")
    return p.id


def _stages(s: Session, b: Batch, f: pl.DataFrame, entered: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Create what the file names. Returns (pipeline name, spelling) -> canonical stage name and
    pipeline id, and every stored stage (id, pipeline_id, name, kind)."""
    order = list(b.mapping.defaults.get("stages", []))
    named = f.select("_pipeline", "stage").drop_nulls().unique(maintain_order=True) if b.has("stage") else None
    spellings: list[tuple[str, str | None, str | None, int]] = []
    for pipe in f["_pipeline"].unique(maintain_order=True).to_list():
        names = named.filter(pl.col("_pipeline") == pipe)["stage"].to_list() if named is not None else []
        canonical = _canonical_stage_names(s, pipe, list(dict.fromkeys(entered + names)), order)
        pid = _pipeline_stages(s, b, pipe, list(canonical.values()))
        spellings += [(pipe, k, v, pid) for k, v in canonical.items()] or [(pipe, None, None, pid)]
    canon = pl.DataFrame(spellings, schema={"_pipeline": pl.String, "_spelled": pl.String, "_stage_name": pl.String,
                                            "pipeline_id": pl.Int64}, orient="row")
    stored = pl.DataFrame([tuple(r) for r in s.execute(select(m.Stage.id, m.Stage.pipeline_id, m.Stage.name, m.Stage.kind))],
                          schema={"stage_id": pl.Int64, "pipeline_id": pl.Int64, "_stage_name": pl.String, "status": pl.String}, orient="row")
    return canon, stored


def _ids(mapping: dict[str, int], column: str) -> pl.Expr:
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.Int64)


def write_deals(s: Session, b: Batch) -> Counts:
    entered = [c[len(STAGE_DATE_PREFIX):] for c in b.frame.columns if c.startswith(STAGE_DATE_PREFIX)]
    default = _default_pipeline(s, b)
    # A status column only checks the stage (ingest.runner); the stage decides the status.
    pipeline = pl.col("pipeline").fill_null(default) if b.has("pipeline") else pl.lit(default)
    f = b.frame.drop("status", strict=False).with_columns(pipeline.alias("_pipeline"), pl.int_range(0, pl.len(), dtype=pl.Int64).alias("_i"))
    canon, stages = _stages(s, b, f, entered)
    pipelines = canon.select("_pipeline", "pipeline_id").unique("_pipeline")
    accounts = resolve_names(s, m.Account, b.col("account"), create={}, fuzzy=True, notes=b.notes, label="account")
    owners = resolve_names(s, m.Owner, b.col("owner"), create={}, fuzzy=True, notes=b.notes, label="owner")
    products = resolve_names(s, m.Product, b.col("product"), create={}, fuzzy=True, notes=b.notes, label="product")
    before = select_frame(s, "deals", _STORED, where_in=("external_id", f["external_id"]))

    f = f.join(pipelines, on="_pipeline", how="left", maintain_order="left")
    if b.has("stage"):
        named = canon.join(stages.select("pipeline_id", "_stage_name", pl.col("stage_id").alias("_named")), on=["pipeline_id", "_stage_name"])
        f = f.join(named.select("_pipeline", pl.col("_spelled").alias("stage"), "_named"), on=["_pipeline", "stage"], how="left", maintain_order="left")
    else:
        f = f.with_columns(pl.lit(None, pl.Int64).alias("_named"))
    first_open = stages.filter(pl.col("status") == "open").group_by("pipeline_id").agg(pl.col("stage_id").min().alias("_first_open"))
    old = before.select(pl.all().name.prefix("_was_")).rename({"_was_external_id": "external_id"})
    f = (f.join(old, on="external_id", how="left", maintain_order="left")
         .join(first_open, on="pipeline_id", how="left", maintain_order="left")
         .with_columns(pl.coalesce("_named", "_was_stage_id", "_first_open").alias("stage_id")))
    stuck = f.filter(pl.col("stage_id").is_null())
    if stuck.height:
        raise ImportFailed([RowProblem(b.source, r, "stage", None, "needs a value: the pipeline has no open stage to start a new deal in")
                            for r in stuck[ROW].to_list()])
    f = f.join(stages.select("stage_id", "_stage_name", "status"), on="stage_id", how="left", maintain_order="left")
    rows = _deal_rows(b, f, canon, entered, accounts, owners)

    new = rows.filter(pl.col("_was_id").is_null())
    inserted = insert_frame(s, "deals", new.select(*_written(rows), pl.lit(1, pl.Int64).alias("version")))
    changed = _changed(rows.filter(pl.col("_was_id").is_not_null()))
    update_frame(s, "deals", changed.select(pl.col("_was_id").alias("id"), *[c for c in _written(rows) if c != "external_id"]))
    ids = select_frame(s, "deals", {"external_id": pl.String, "id": pl.Int64}, where_in=("external_id", new["external_id"]))
    rows = rows.join(ids.rename({"id": "_new_id"}), on="external_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("_was_id", "_new_id").alias("deal_id"))
    _record_field_changes(s, b, changed)
    _write_deal_history(s, b, rows, f, canon, stages, entered)
    if b.has("product"):
        _write_deal_products(s, rows.select("deal_id", _ids(products, "_product").alias("product_id")))
    return Counts(inserted, changed.height, rows.height - inserted - changed.height)


def _deal_rows(b: Batch, f: pl.DataFrame, canon: pl.DataFrame, entered: list[str], accounts: dict[str, int],
               owners: dict[str, int]) -> pl.DataFrame:
    """The columns to write, per row: the file's fields, ids for names, status and close date."""
    # The close is dated by the file (a close date, or the date the closing stage was entered),
    # else by what was stored; a deal first seen closed keeps no invented date.
    entered_close: Any = pl.lit(None, pl.Datetime("us"))
    for name in reversed(entered):  # the first entered column naming the stage decides, even if blank
        spelled = canon.filter(pl.col("_spelled") == name).select("_pipeline", "_stage_name")
        f = f.join(spelled.rename({"_stage_name": f"_is:{name}"}), on="_pipeline", how="left", maintain_order="left")
        entered_close = pl.when(pl.col(f"_is:{name}") == pl.col("_stage_name")).then(
            naive_col(f, STAGE_DATE_PREFIX + name)).otherwise(entered_close)
    moved = pl.col("_was_id").is_not_null() & (pl.col("_was_stage_id") != pl.col("stage_id"))
    closed = pl.coalesce(naive_col(f, "closed_at") if b.has("closed_at") else pl.lit(None, pl.Datetime("us")), entered_close,
                         pl.when(pl.col("_was_id").is_not_null() & ~moved).then(pl.col("_was_closed_at")),
                         pl.when(moved).then(pl.lit(b.now, pl.Datetime("us"))))
    lost_reason = pl.col("lost_reason") if b.has("lost_reason") else pl.col("_was_lost_reason")
    given = [naive_col(f, c) if isinstance(f.schema[c], pl.Datetime) else pl.col(c) for c in FIELDS if c in f.columns and c != "lost_reason"]
    if b.has("account"):
        given.append(_ids(accounts, "account").alias("account_id"))
    if b.has("owner"):
        given.append(_ids(owners, "owner").alias("owner_id"))
    if b.has("__attributes__"):
        given.append(pl.col("__attributes__").alias("attributes"))
    return f.select(
        "external_id", *given, "pipeline_id", "stage_id", "status",
        pl.when(pl.col("status") != "open").then(closed).alias("closed_at"),
        pl.when(pl.col("status") == "lost").then(lost_reason).alias("lost_reason"),
        "_i", ROW, pl.col("lost_reason").alias("_file_lost_reason") if b.has("lost_reason") else pl.lit(None, pl.String).alias("_file_lost_reason"),
        pl.col("^_was_.*$"), *([pl.col("product").alias("_product")] if b.has("product") else []),
    )


def _written(rows: pl.DataFrame) -> list[str]:
    return [c for c in rows.columns if not c.startswith("_") and c != ROW]


def _changed(known: pl.DataFrame) -> pl.DataFrame:
    """Stored deals whose written values differ from the stored ones (JSON attributes compared as values)."""
    columns = [c for c in _written(known) if c != "external_id"]
    plain = [c for c in columns if c != "attributes"]
    differs = pl.any_horizontal(pl.lit(False), *(pl.col(c).ne_missing(pl.col(f"_was_{c}")) for c in plain))
    if "attributes" not in columns:
        return known.filter(differs)
    text_differs = pl.col("attributes").ne_missing(pl.col("_was_attributes"))
    maybe = known.filter(~differs & text_differs)  # same values, perhaps written with other spacing or key order
    same = [json.loads(a) == (json.loads(w) if w is not None else None) for a, w in maybe.select("attributes", "_was_attributes").iter_rows()] \
        if maybe.height else []
    return pl.concat([known.filter(differs), maybe.filter(~pl.Series(same, dtype=pl.Boolean))]).sort("_i")


def _record_field_changes(s: Session, b: Batch, changed: pl.DataFrame) -> None:
    """A re-import that changes the amount or expected close date leaves a field change behind.
    Filling in a blank is not an edit anyone made at a known time: only changes count."""
    changes = []
    for name in TRACKED:
        if name not in changed.columns:
            continue
        edited = changed.filter(pl.col(f"_was_{name}").is_not_null() & pl.col(name).ne_missing(pl.col(f"_was_{name}")))
        changes += [{"deal_id": d, "field": name, "at": b.now, "by": "import", "old_value": str(was), "new_value": None if v is None else str(v)}
                    for d, v, was in edited.select("_was_id", name, f"_was_{name}").iter_rows()]
    if changes:
        insert_frame(s, "field_changes", pl.DataFrame(changes, schema={
            "deal_id": pl.Int64, "field": pl.String, "at": pl.Datetime("us"), "by": pl.String, "old_value": pl.String, "new_value": pl.String}))


def _write_deal_history(s: Session, b: Batch, rows: pl.DataFrame, f: pl.DataFrame, canon: pl.DataFrame, stages: pl.DataFrame,
                        entered: list[str]) -> None:
    """Stage changes implied by the file: 'entered:<stage>' dates, then the current stage.

    A new deal's current stage is dated by its close (closed deals) or creation (open ones);
    without a date no change is recorded. A known deal found in another stage moved between
    the two exports: the move is dated by its close if the file gives one, else by the import.
    """
    ids = rows.select("_i", "deal_id", "pipeline_id", "stage_id")
    schema = {"_i": pl.Int64, "_k": pl.Int64, "deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us"),
              "lost_reason": pl.String, "from_stage_id": pl.Int64}
    parts = []
    stage_of = canon.join(stages.select("pipeline_id", "_stage_name", "stage_id"), on=["pipeline_id", "_stage_name"])
    for k, name in enumerate(entered):
        sid = stage_of.filter(pl.col("_spelled") == name).select("pipeline_id", pl.col("stage_id").alias("to_stage_id"))
        dated = f.select("_i", naive_col(f, STAGE_DATE_PREFIX + name).alias("at")).filter(pl.col("at").is_not_null())
        parts.append(dated.join(ids, on="_i").join(sid, on="pipeline_id").select(
            "_i", pl.lit(k, pl.Int64).alias("_k"), "deal_id", "to_stage_id", "at",
            pl.lit(None, pl.String).alias("lost_reason"), pl.lit(None, pl.Int64).alias("from_stage_id")))
    seen = pl.concat(parts).select("_i", pl.col("to_stage_id").alias("stage_id"), pl.lit(True).alias("_seen")).unique() if parts else None
    current = rows if seen is None else rows.join(seen, on=["_i", "stage_id"], how="left", maintain_order="left")
    if seen is None:
        current = current.with_columns(pl.lit(None, pl.Boolean).alias("_seen"))
    known = pl.col("_was_id").is_not_null()
    created = pl.col("created_at") if "created_at" in rows.columns else pl.lit(None, pl.Datetime("us"))
    at = pl.when(known & (pl.col("status") != "open") & pl.col("closed_at").is_not_null()).then(pl.col("closed_at")) \
        .when(known).then(pl.lit(b.now, pl.Datetime("us"))) \
        .when(pl.col("status") != "open").then(pl.col("closed_at")).otherwise(created)
    moves = current.filter(pl.col("_seen").is_null() & ~(known & (pl.col("_was_stage_id") == pl.col("stage_id")))).select(
        "_i", pl.lit(len(entered), pl.Int64).alias("_k"), "deal_id", pl.col("stage_id").alias("to_stage_id"), at.alias("at"),
        pl.when(pl.col("status") == "lost").then(pl.col("_file_lost_reason")).alias("lost_reason"),
        pl.col("_was_stage_id").alias("from_stage_id"),
    ).filter(pl.col("at").is_not_null())
    out = pl.concat([p.cast(schema) for p in [*parts, moves]]).sort(["_i", "_k"])  # type: ignore[arg-type]
    append_stage_changes(s, out.drop("_i", "_k").with_columns(pl.lit("import").alias("by")))


def _write_deal_products(s: Session, wanted: pl.DataFrame) -> None:
    """Each deal's product line: kept if it is the one product named, else replaced."""
    wanted = wanted.drop_nulls("product_id")
    if wanted.is_empty():
        return
    current = select_frame(s, "deal_products", {"deal_id": pl.Int64, "product_id": pl.Int64}, where_in=("deal_id", wanted["deal_id"]))
    per_deal = current.group_by("deal_id").agg(pl.len().alias("_n"), pl.col("product_id").first().alias("_only"))
    both = wanted.join(per_deal, on="deal_id", how="left", maintain_order="left").with_columns(
        (pl.col("_n").is_not_null() & ((pl.col("_n") > 1) | (pl.col("_only") != pl.col("product_id")))).alias("_stale"))
    delete_where_in(s, "deal_products", "deal_id", both.filter("_stale")["deal_id"])
    insert_frame(s, "deal_products", both.filter(pl.col("_stale") | pl.col("_n").is_null()).select(
        "deal_id", "product_id", pl.lit(1.0).alias("quantity")))
