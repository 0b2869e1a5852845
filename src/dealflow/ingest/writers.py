"""One writer per import kind: typed rows in, upserted records out (inside the caller's transaction)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from dealflow.errors import DealflowError, ImportFailed, RowProblem
from dealflow.domain.names import match_name
from dealflow.domain.stages import stage_kind_from_name
from dealflow.ingest.fields import STAGE_DATE_PREFIX
from dealflow.ingest.history_rows import append_changes, append_stage_changes, sync_current_stage
from dealflow.ingest.mapping import Mapping
from dealflow.ingest.readers import ROW
from dealflow.ingest.upsert import chunks, resolve_names, upsert
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.bulk import any_stored, bulk_insert, drop_staged, insert_frame, select_frame, stage_frame, upsert_staged

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


# -- deals ---------------------------------------------------------------------------------

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


def _pipeline_stages(s: Session, b: Batch, pipeline: str, stages: list[str]) -> dict[str, int]:
    """Create the pipeline and the stages the file names; returns stage name -> id.

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
    return {r.name: r.id for r in s.execute(select(m.Stage.name, m.Stage.id).where(m.Stage.pipeline_id == p.id))} | {"__pipeline_id__": p.id}


def _entered(b: Batch) -> dict[str, list[Any]]:
    """'entered:<stage>' columns: stage name -> the instants deals entered it."""
    return {c[len(STAGE_DATE_PREFIX):]: _naive(b.col(c)) for c in b.frame.columns if c.startswith(STAGE_DATE_PREFIX)}


def write_deals(s: Session, b: Batch) -> Counts:
    default = _default_pipeline(s, b)
    pipeline_names = [x or default for x in b.col("pipeline")]
    order = list(b.mapping.defaults.get("stages", []))
    entered = _entered(b)
    raw_stages = b.col("stage")
    stage_ids: dict[str, dict[str, int]] = {}
    canonical: dict[tuple[str, str], str] = {}
    for name in dict.fromkeys(pipeline_names):
        names = [x for x, p in zip(raw_stages, pipeline_names) if x and p == name]
        spelled = _canonical_stage_names(s, name, list(dict.fromkeys(list(entered) + names)), order)
        canonical |= {(name, k): v for k, v in spelled.items()}
        stage_ids[name] = _pipeline_stages(s, b, name, list(spelled.values()))
    kinds = {r.id: r.kind for r in s.execute(select(m.Stage.id, m.Stage.kind))}
    accounts = resolve_names(s, m.Account, b.col("account"), create={}, fuzzy=True, notes=b.notes, label="account")
    owners = resolve_names(s, m.Owner, b.col("owner"), create={}, fuzzy=True, notes=b.notes, label="owner")
    products = resolve_names(s, m.Product, b.col("product"), create={}, fuzzy=True, notes=b.notes, label="product")

    external = b.col("external_id")
    existing = {r.external_id: r for r in _existing_deals(s, external)}
    problems: list[RowProblem] = []
    rows = _records(b, ["name", "amount", "currency", "source", "created_at", "expected_close_date", "lost_reason", "true_probability"])
    columns = zip(external, pipeline_names, raw_stages, b.col("account"), b.col("owner"), _attributes(b),
                  _naive(b.col("closed_at")), b.col(ROW), range(len(rows)))
    for row, (ext, pipe, stage, account, owner, attrs, closed, line, i) in zip(rows, columns):
        row["external_id"] = ext
        if b.has("account"):
            row["account_id"] = accounts.get(account) if account else None
        if b.has("owner"):
            row["owner_id"] = owners.get(owner) if owner else None
        if attrs is not None:
            row["attributes"] = attrs
        before = existing.get(ext)
        if stage is not None:
            stage_name = canonical[(pipe, stage)]
            stage_id = stage_ids[pipe][stage_name]
        elif before is not None:
            stage_id = before.stage_id
        else:  # a new deal with no stage starts in the pipeline's first open stage
            opens = [sid for n, sid in stage_ids[pipe].items() if n != "__pipeline_id__" and kinds[sid] == "open"]
            if not opens:
                problems.append(RowProblem(b.source, line, "stage", None, "needs a value: the pipeline has no open stage to start a new deal in"))
                continue
            stage_id = min(opens)
        row["pipeline_id"] = stage_ids[pipe]["__pipeline_id__"]
        row["stage_id"] = stage_id
        row["status"] = kinds[stage_id]
        if kinds[stage_id] == "open":
            row["closed_at"] = None
        else:
            # The close is dated by the file (a close date, or the date the closing stage was
            # entered), else by what was stored; a deal first seen closed keeps no invented date.
            stage_name = next(n for n, sid in stage_ids[pipe].items() if sid == stage_id)
            entered_close = next((dates[i] for n, dates in entered.items() if canonical.get((pipe, n)) == stage_name), None)
            moved_now = before is not None and before.stage_id != stage_id
            row["closed_at"] = closed or entered_close or (before.closed_at if before and not moved_now else None) or (b.now if moved_now else None)
        if kinds[stage_id] != "lost":
            row["lost_reason"] = None
    if problems:
        raise ImportFailed(problems)
    inserted, updated, unchanged, ids, old = upsert(s, m.Deal, rows)
    _record_field_changes(s, rows, old, ids, b.now)
    _write_deal_history(s, b, rows, ids, existing, {k: v for (p, k), v in canonical.items()})
    if b.has("product"):
        _write_deal_products(s, ids, external, [products.get(p) if p else None for p in b.col("product")])
    return Counts(inserted, updated, unchanged)


def _existing_deals(s: Session, external: list[str]) -> list[Any]:
    out = []
    for part in chunks(list(dict.fromkeys(external))):
        out += s.execute(select(m.Deal.id, m.Deal.external_id, m.Deal.stage_id, m.Deal.closed_at).where(m.Deal.external_id.in_(part))).all()
    return out


def _record_field_changes(s: Session, rows: list[dict[str, Any]], old: dict[str, dict[str, Any]], ids: dict[str, int], now: datetime) -> None:
    """A re-import that changes the amount or expected close date leaves a field change behind."""
    changes = []
    for row in rows:
        before = old.get(row["external_id"])
        if before is None:
            continue
        for field_name in ("amount", "expected_close_date"):
            # Filling in a blank is not an edit anyone made at a known time: only changes count.
            if field_name in row and before.get(field_name) is not None and before.get(field_name) != row[field_name]:
                changes.append({
                    "deal_id": ids[row["external_id"]], "field": field_name, "at": now, "by": "import",
                    "old_value": None if before[field_name] is None else str(before[field_name]),
                    "new_value": None if row[field_name] is None else str(row[field_name]),
                })
    if changes:
        bulk_insert(s, m.FieldChange, changes)


def _write_deal_history(s: Session, b: Batch, rows: list[dict[str, Any]], ids: dict[str, int], existing: dict[str, Any],
                        canonical: dict[str, str]) -> None:
    """Stage changes implied by the file: 'entered:<stage>' dates, then the current stage.

    A new deal's current stage is dated by its close (closed deals) or creation (open ones);
    without a date no change is recorded. A known deal found in another stage moved between
    the two exports: the move is dated by its close if the file gives one, else by the import.
    """
    stage_of = {(r.pipeline_id, r.name): r.id for r in s.execute(select(m.Stage.id, m.Stage.name, m.Stage.pipeline_id))}
    lost_stages = set(s.scalars(select(m.Stage.id).where(m.Stage.kind == "lost")))
    entered = _entered(b)
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        deal_id = ids[row["external_id"]]
        before = existing.get(row["external_id"])
        seen = set()
        for stage, dates in entered.items():
            if dates[i] is not None:
                sid = stage_of[(row["pipeline_id"], canonical.get(stage, stage))]
                out.append({"deal_id": deal_id, "to_stage_id": sid, "at": dates[i], "from_stage_id": None})
                seen.add(sid)
        if row["stage_id"] in seen or (before is not None and before.stage_id == row["stage_id"]):
            continue
        if before is None:
            at = row["closed_at"] if row["status"] != "open" else row.get("created_at")
        else:
            at = row["closed_at"] if row["status"] != "open" and row["closed_at"] else b.now
        if at is not None:
            reason = row.get("lost_reason") if row["stage_id"] in lost_stages else None
            out.append({"deal_id": deal_id, "to_stage_id": row["stage_id"], "at": at, "lost_reason": reason,
                        "from_stage_id": before.stage_id if before is not None else None})
    frame = pl.DataFrame(out, schema={"deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us"),
                                      "lost_reason": pl.String, "from_stage_id": pl.Int64})
    append_stage_changes(s, frame.with_columns(pl.lit("import").alias("by")))


def _write_deal_products(s: Session, ids: dict[str, int], external: list[str], product_ids: list[int | None]) -> None:
    wanted = {ids[e]: p for e, p in zip(external, product_ids) if p is not None}
    if not wanted:
        return
    current: dict[int, set[int]] = {}
    for part in chunks(list(wanted)):
        for r in s.execute(select(m.DealProduct.deal_id, m.DealProduct.product_id).where(m.DealProduct.deal_id.in_(part))):
            current.setdefault(r.deal_id, set()).add(r.product_id)
    stale = [d for d, p in wanted.items() if d in current and current[d] != {p}]
    for part in chunks(stale):
        s.execute(delete(m.DealProduct).where(m.DealProduct.deal_id.in_(part)))
    new = [{"deal_id": d, "product_id": p, "quantity": 1.0} for d, p in wanted.items() if d in stale or d not in current]
    if new:
        bulk_insert(s, m.DealProduct, new)


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


def _naive_col(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A datetime column as naive UTC microseconds (what the store keeps)."""
    col = pl.col(name)
    if getattr(frame.schema[name], "time_zone", None):
        col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return col.cast(pl.Datetime("us")).alias(name)


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
        "deal_id", "to_stage_id", _naive_col(b.frame, "at"), _text(b, "by"), _text(b, "lost_reason"))
    # Ties in time keep the file's order (stable sort).
    inserted, history = append_changes(s, frame.sort("at", maintain_order=True))
    sync_current_stage(s, frame["deal_id"], history)
    return Counts(inserted, 0, b.frame.height - inserted)


def _iso(at: pl.Expr) -> pl.Expr:
    """Python's ``datetime.isoformat()`` of a naive datetime: microseconds only when not zero."""
    return pl.when(at.dt.microsecond() == 0).then(at.dt.strftime("%Y-%m-%dT%H:%M:%S")).otherwise(at.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f"))


def write_activities(s: Session, b: Batch) -> Counts:
    at = _naive_col(b.frame, "at")
    ref = pl.coalesce([pl.col(c) for c in ("deal", "lead") if b.has(c)])
    generated = pl.concat_str([ref, pl.col("kind"), _iso(at)], separator="|")
    f = _with_ids(s, _with_ids(s, b.frame, "deal", "deals", "deal_id"), "lead", "leads", "lead_id")
    orphan = f.filter(pl.col("deal_id").is_null() & pl.col("lead_id").is_null())
    if orphan.height:
        lead = pl.col("lead") if b.has("lead") else pl.lit(None, pl.String)
        raise ImportFailed([RowProblem(b.source, r, "lead" if v else "deal", v, "names no known deal or lead; an activity belongs to one")
                            for r, v in orphan.select(ROW, lead).iter_rows()])
    columns: list[pl.Expr] = [
        (pl.coalesce(pl.col("external_id"), generated) if b.has("external_id") else generated).alias("external_id"),
        pl.col("deal_id"), pl.col("lead_id"), pl.col("kind"), at,
    ]
    columns += [pl.col(c) for c in ("subject", "outcome", "resource") if b.has(c)]
    if b.has("ended_at"):
        columns.append(_naive_col(b.frame, "ended_at"))
    if b.has("owner"):
        owners = resolve_names(s, m.Owner, b.frame["owner"].unique().to_list(), create={}, notes=b.notes, label="owner")
        columns.append(pl.col("owner").replace_strict(owners, default=None, return_dtype=pl.Int64).alias("owner_id"))
    # An id given twice: the last row wins, as it would row by row.
    rows = f.select(columns).unique(subset=["external_id"], keep="last", maintain_order=True)
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
