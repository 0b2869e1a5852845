"""One writer per import kind: typed rows in, upserted records out (inside the caller's transaction)."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from dealflow.errors import DealflowError, ImportFailed, RowProblem
from dealflow.ingest.batch import Batch, Counts, naive_col
from dealflow.ingest.deals import write_deals
from dealflow.ingest.history_repair import repair_listed_changes
from dealflow.ingest.history_rows import append_changes, stored_changes, sync_current_stage
from dealflow.ingest.readers import ROW
from dealflow.ingest.upsert import resolve_names, upsert
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.bulk import any_stored, bulk_insert, drop_staged, insert_frame, select_frame, stage_frame, upsert_staged


def _naive(values: list[Any]) -> list[Any]:
    return [v.replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v for v in values]


def _records(batch: Batch, names: list[str]) -> list[dict[str, Any]]:
    """Row dicts holding only the fields the file actually maps (others are left as stored)."""
    present = [n for n in names if batch.has(n)]
    cols = {n: _naive(batch.col(n)) for n in present}
    return [{n: cols[n][i] for n in present} for i in range(batch.frame.height)]


def _attributes(batch: Batch) -> list[dict[str, Any] | None]:
    if "__attributes__" not in batch.frame.columns:
        return [None] * batch.frame.height
    return [json.loads(a) if a else None for a in batch.frame["__attributes__"].to_list()]


def _result(counts: tuple[int, int, int, Any, Any]) -> Counts:
    return Counts(*counts[:3])


# -- simple records ----------------------------------------------------------------------

def write_products(s: Session, b: Batch) -> Counts:
    rows = _records(b, ["name", "family", "list_price"])
    for row, ext in zip(rows, b.col("external_id")):
        row["external_id"] = ext
    return _result(upsert(s, m.Product, rows))


def write_owners(s: Session, b: Batch) -> Counts:
    team_names = sorted({t for t in b.col("team") if t})
    known = {r.name: r.id for r in s.execute(select(m.Team.id, m.Team.name))}
    regions = dict(zip(b.col("team"), b.col("region")))
    managers = dict(zip(b.col("team"), b.col("manager")))
    new = [{"name": t, "region": regions.get(t), "manager": managers.get(t)} for t in team_names if t not in known]
    if new:
        s.execute(insert(m.Team), new)
        b.notes.append(f"created {len(new)} team(s): {', '.join(t['name'] for t in new)}")
    teams = {r.name: r.id for r in s.execute(select(m.Team.id, m.Team.name))}
    rows = _records(b, ["name", "email"])
    for row, ext, team in zip(rows, b.col("external_id"), b.col("team")):
        row["external_id"] = ext
        if b.has("team"):
            row["team_id"] = teams.get(team) if team else None
    return _result(upsert(s, m.Owner, rows))


def write_accounts(s: Session, b: Batch) -> Counts:
    rows = _records(b, ["name", "sector", "country", "employees", "revenue", "year_established"])
    for row, ext, attrs in zip(rows, b.col("external_id"), _attributes(b)):
        row["external_id"] = ext
        if attrs is not None:
            row["attributes"] = attrs
    counts = upsert(s, m.Account, rows)
    if b.has("parent"):
        parents = resolve_names(s, m.Account, b.col("parent"))
        ids = counts[3]
        links = [{"id": ids[e], "parent_id": parents.get(p)} for e, p in zip(b.col("external_id"), b.col("parent")) if p]
        missing = sorted({p for p in b.col("parent") if p and p not in parents})
        if missing:
            b.notes.append(f"parent account(s) not found, left blank: {', '.join(missing[:5])}")
        links = [link for link in links if link["parent_id"] is not None]
        if links:
            s.execute(update(m.Account), links)
    return _result(counts)


def write_contacts(s: Session, b: Batch) -> Counts:
    accounts = resolve_names(s, m.Account, b.col("account"), create={}, notes=b.notes, label="account")
    rows = _records(b, ["name", "email", "phone", "title"])
    for row, ext, acc in zip(rows, b.col("external_id"), b.col("account")):
        row["external_id"] = ext
        if b.has("account"):
            row["account_id"] = accounts.get(acc) if acc else None
    return _result(upsert(s, m.Contact, rows))


def write_leads(s: Session, b: Batch) -> Counts:
    owners = resolve_names(s, m.Owner, b.col("owner"), create={}, notes=b.notes, label="owner")
    accounts = resolve_names(s, m.Account, b.col("account"), create={}, notes=b.notes, label="account")
    rows = _records(b, ["name", "email", "source", "campaign", "segment", "status", "created_at", "contacted_at",
                        "qualified_at", "converted", "converted_at", "lost_reason"])
    for row, ext, owner, acc, attrs in zip(rows, b.col("external_id"), b.col("owner"), b.col("account"), _attributes(b)):
        row["external_id"] = ext
        if b.has("owner"):
            row["owner_id"] = owners.get(owner) if owner else None
        if b.has("account"):
            row["account_id"] = accounts.get(acc) if acc else None
        if attrs is not None:
            row["attributes"] = attrs
    return _result(upsert(s, m.Lead, rows))


# -- histories -----------------------------------------------------------------------------
# Millions of rows: references are resolved by joins against one frame of stored ids, new rows
# found by anti-joins, and rows written from frames (store.bulk), never per-row Python.

def _unknown_references(s: Session, frame: pl.DataFrame, column_of: dict[str, str], source: str) -> list[RowProblem]:
    """Rows naming a deal (or lead) that is not stored: checked before anything is written,
    so that --skip-invalid can set those rows aside like any other invalid row."""
    problems = []
    for field_name, table, what in (("deal", "deals", "deal"), ("lead", "leads", "lead")):
        if field_name not in frame.columns:
            continue
        known = select_frame(s, table, {"external_id": pl.String}, where_in=("external_id", frame[field_name]))
        bad = frame.select(ROW, field_name).filter(pl.col(field_name).is_not_null()).join(
            known.rename({"external_id": field_name}), on=field_name, how="anti", maintain_order="left")
        problems += [RowProblem(source, row, column_of[field_name], ref, f"is not a known {what}; import the {what}s first")
                     for row, ref in bad.iter_rows()]
    return problems


def _activity_references(s: Session, frame: pl.DataFrame, column_of: dict[str, str], source: str) -> list[RowProblem]:
    refs = [c for c in ("deal", "lead") if c in frame.columns]
    if not refs:
        raise DealflowError(f"{source}: no column names the deal or lead of each activity; map one with --map COLUMN=deal")
    orphans = frame.filter(pl.all_horizontal(pl.col(c).is_null() for c in refs))[ROW].to_list()
    problems = [RowProblem(source, row, column_of[refs[0]], None, "needs a value: an activity belongs to a deal or a lead") for row in orphans]
    return problems + _unknown_references(s, frame, column_of, source)


REFERENCE_CHECKS = {"stage_history": _unknown_references, "activities": _activity_references}


def _text(b: Batch, name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String) if b.has(name) else pl.lit(None, pl.String).alias(name)


def _with_ids(s: Session, frame: pl.DataFrame, ref: str, table: str, alias: str, extra: dict[str, Any] | None = None) -> pl.DataFrame:
    """Add ``alias``: the id of the ``table`` row that column ``ref`` names (null if none), by a
    join against one frame of the stored ids."""
    if ref not in frame.columns:
        return frame.with_columns(pl.lit(None, pl.Int64).alias(alias))
    cols = {"external_id": pl.String, "id": pl.Int64} | (extra or {})
    known = select_frame(s, table, cols, where_in=("external_id", frame[ref])).rename({"external_id": ref, "id": alias})
    return frame.join(known, on=ref, how="left", maintain_order="left")


def write_stage_history(s: Session, b: Batch) -> Counts:
    rows = _with_ids(s, b.frame, "deal", "deals", "deal_id", {"pipeline_id": pl.Int64})
    unknown = rows.filter(pl.col("deal_id").is_null())
    if unknown.height:  # checked before the write; only a deal deleted meanwhile gets here
        raise ImportFailed([RowProblem(b.source, r, "deal", v, "is not a known deal; import the deals first")
                            for r, v in unknown.select(ROW, "deal").iter_rows()])
    # Each pipeline gets the stages its deals name, in the order the file first names them.
    wanted = rows.select("pipeline_id", "stage").unique(maintain_order=True)
    stage_ids = []
    for (pid,), names in wanted.group_by("pipeline_id", maintain_order=True):
        pname = s.scalar(select(m.Pipeline.name).where(m.Pipeline.id == pid))
        crm.ensure_pipeline(s, pname, names["stage"].to_list())  # type: ignore[arg-type]
        stage_ids += [(pid, r.name, r.id) for r in s.execute(select(m.Stage.id, m.Stage.name).where(m.Stage.pipeline_id == pid))]
    stages = pl.DataFrame(stage_ids, schema={"pipeline_id": pl.Int64, "stage": pl.String, "to_stage_id": pl.Int64}, orient="row")
    frame = rows.join(stages, on=["pipeline_id", "stage"], how="left", maintain_order="left").select(
        "deal_id", "to_stage_id", naive_col(b.frame, "at"), _text(b, "by"), _text(b, "lost_reason"))
    # Ties in time keep the file's order (stable sort).
    frame = frame.sort("at", maintain_order=True)
    stored = stored_changes(s, frame["deal_id"])  # read once: for the anti-join and the repair
    inserted, history = append_changes(s, frame, stored)
    if history is not None:  # the file's by/lost reason win, and moves link to the ones before
        history = repair_listed_changes(s, stored, history, frame, [c for c in ("by", "lost_reason") if b.has(c)])
    sync_current_stage(s, frame["deal_id"], history)
    return Counts(inserted, 0, b.frame.height - inserted)


def _iso(at: pl.Expr) -> pl.Expr:
    """Python's ``datetime.isoformat()`` of a naive datetime: microseconds only when not zero."""
    return pl.when(at.dt.microsecond() == 0).then(at.dt.strftime("%Y-%m-%dT%H:%M:%S")).otherwise(at.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f"))


def write_activities(s: Session, b: Batch) -> Counts:
    at = naive_col(b.frame, "at")
    ref = pl.coalesce([pl.col(c) for c in ("deal", "lead") if b.has(c)])
    generated = pl.concat_str([ref, pl.col("kind"), _iso(at)], separator="|")
    f = _with_ids(s, _with_ids(s, b.frame, "deal", "deals", "deal_id"), "lead", "leads", "lead_id")
    orphan = f.filter(pl.col("deal_id").is_null() & pl.col("lead_id").is_null())
    if orphan.height:
        lead = pl.col("lead") if b.has("lead") else pl.lit(None, pl.String)
        raise ImportFailed([RowProblem(b.source, r, "lead" if v else "deal", v, "names no known deal or lead; an activity belongs to one")
                            for r, v in orphan.select(ROW, lead).iter_rows()])
    given = b.has("external_id") and b.frame["external_id"].null_count() == 0  # then no id needs generating
    columns: list[pl.Expr] = [
        pl.col("external_id") if given else
        (pl.coalesce(pl.col("external_id"), generated) if b.has("external_id") else generated).alias("external_id"),
        pl.col("deal_id"), pl.col("lead_id"), pl.col("kind"), at,
    ]
    columns += [pl.col(c) for c in ("subject", "outcome", "resource") if b.has(c)]
    if b.has("ended_at"):
        columns.append(naive_col(b.frame, "ended_at"))
    if b.has("owner"):
        owners = resolve_names(s, m.Owner, b.frame["owner"].unique().to_list(), create={}, notes=b.notes, label="owner")
        columns.append(pl.col("owner").replace_strict(owners, default=None, return_dtype=pl.Int64).alias("owner_id"))
    # An id given twice: the last row wins, as it would row by row. (Ids the file gives are unique
    # already: the runner refuses or sets aside a repeated one.)
    rows = f.select(columns)
    if not given:
        rows = rows.unique(subset=["external_id"], keep="last", maintain_order=True)
    if not any_stored(s, "activities", "external_id", rows["external_id"]):
        inserted, updated = insert_frame(s, "activities", rows), 0  # a first import: nothing to compare
    else:  # the database compares stored and given values; nothing is read back
        stage_frame(s, "_activity_rows", rows)
        inserted, updated = upsert_staged(s, "activities", "_activity_rows", "external_id", rows.columns[1:])
        drop_staged(s, "_activity_rows")
    return Counts(inserted, updated, b.frame.height - inserted - updated)


# -- exchange rates ------------------------------------------------------------------------

def write_rates(s: Session, b: Batch) -> Counts:
    """Upsert rates keyed by (currency, valid_from): a changed rate is updated, an equal one left alone."""
    rows = [{"currency": c.strip().upper(), "valid_from": d, "rate": r} for c, d, r in zip(b.col("currency"), b.col("valid_from"), b.col("rate"))]
    stored = {(r.currency, r.valid_from): (r.id, r.rate) for r in s.execute(select(m.ExchangeRate.id, m.ExchangeRate.currency,
                                                                                   m.ExchangeRate.valid_from, m.ExchangeRate.rate))}
    new = [r for r in rows if (r["currency"], r["valid_from"]) not in stored]
    changed = [{"id": stored[k][0], "rate": r["rate"]} for r in rows if (k := (r["currency"], r["valid_from"])) in stored and stored[k][1] != r["rate"]]
    if new:
        bulk_insert(s, m.ExchangeRate, new)
    if changed:
        s.execute(update(m.ExchangeRate), changed)
    return Counts(len(new), len(changed), len(rows) - len(new) - len(changed))


WRITERS: dict[str, Callable[[Session, Batch], Counts]] = {
    "accounts": write_accounts,
    "contacts": write_contacts,
    "products": write_products,
    "owners": write_owners,
    "deals": write_deals,
    "leads": write_leads,
    "stage_history": write_stage_history,
    "activities": write_activities,
    "rates": write_rates,
}
