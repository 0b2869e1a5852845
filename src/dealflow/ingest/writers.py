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

from dealflow.errors import ImportFailed, RowProblem
from dealflow.ingest.fields import STAGE_DATE_PREFIX
from dealflow.ingest.history_rows import append_stage_changes, sync_current_stage
from dealflow.ingest.mapping import Mapping
from dealflow.ingest.readers import ROW
from dealflow.ingest.upsert import chunks, resolve_names, upsert
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.bulk import bulk_insert

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


def _external_ids(batch: Batch, fallback: str = "name") -> list[str]:
    ids = batch.col("external_id")
    return [i if i is not None else f for i, f in zip(ids, batch.col(fallback))]


def _attributes(batch: Batch) -> list[dict[str, Any] | None]:
    if "__attributes__" not in batch.frame.columns:
        return [None] * batch.frame.height
    return [json.loads(a) if a else None for a in batch.frame["__attributes__"].to_list()]


def _result(counts: tuple[int, int, int, Any, Any]) -> Counts:
    return Counts(*counts[:3])


# -- simple records ----------------------------------------------------------------------

def write_products(s: Session, b: Batch) -> Counts:
    rows = _records(b, ["name", "family", "list_price"])
    for row, ext in zip(rows, _external_ids(b)):
        row["external_id"] = ext
    return _result(upsert(s, m.Product, rows))


def write_owners(s: Session, b: Batch) -> Counts:
    team_names = sorted({t for t in b.col("team") if t})
    known = {r.name: r.id for r in s.execute(select(m.Team.id, m.Team.name))}
    regions = dict(zip(b.col("team"), b.col("region")))
    managers = dict(zip(b.col("team"), b.col("manager")))
    new = [{"name": t, "region": regions.get(t), "manager": managers.get(t) or (t if b.has("team") and not b.has("manager") else None)}
           for t in team_names if t not in known]
    if new:
        s.execute(insert(m.Team), new)
        b.notes.append(f"created {len(new)} team(s): {', '.join(t['name'] for t in new)}")
    teams = {r.name: r.id for r in s.execute(select(m.Team.id, m.Team.name))}
    rows = _records(b, ["name", "email"])
    for row, ext, team in zip(rows, _external_ids(b), b.col("team")):
        row["external_id"] = ext
        if b.has("team"):
            row["team_id"] = teams.get(team) if team else None
    return _result(upsert(s, m.Owner, rows))


def write_accounts(s: Session, b: Batch) -> Counts:
    rows = _records(b, ["name", "sector", "country", "employees", "revenue", "year_established"])
    for row, ext, attrs in zip(rows, _external_ids(b), _attributes(b)):
        row["external_id"] = ext
        if attrs is not None:
            row["attributes"] = attrs
    counts = upsert(s, m.Account, rows)
    if b.has("parent"):
        parents = resolve_names(s, m.Account, b.col("parent"))
        ids = counts[3]
        links = [{"id": ids[e], "parent_id": parents.get(p)} for e, p in zip(_external_ids(b), b.col("parent")) if p]
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
    for row, ext, acc in zip(rows, _external_ids(b), b.col("account")):
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

def _pipeline_stages(s: Session, b: Batch, pipeline: str) -> dict[str, int]:
    """Create the pipeline and any stage the file names; returns stage name -> id."""
    order = list(b.mapping.defaults.get("stages", []))
    entered = [c[len(STAGE_DATE_PREFIX):] for c in b.frame.columns if c.startswith(STAGE_DATE_PREFIX)]
    seen = [x for x in b.col("stage") if x]
    wanted = list(dict.fromkeys(order + entered + seen))
    existing = {r.name for r in s.execute(select(m.Stage.name).join(m.Pipeline).where(m.Pipeline.name == pipeline))}
    added = [x for x in wanted if x not in existing and x not in order]
    p = crm.ensure_pipeline(s, pipeline, wanted)
    if added and existing:
        b.notes.append(f"added stage(s) to pipeline {pipeline!r}: {', '.join(added)}")
    return {r.name: r.id for r in s.execute(select(m.Stage.name, m.Stage.id).where(m.Stage.pipeline_id == p.id))} | {"__pipeline_id__": p.id}


def write_deals(s: Session, b: Batch) -> Counts:
    # Rewrite values the mapping says are aliases (e.g. product GTXPro -> GTX Pro).
    pipeline_names = [x or b.mapping.defaults.get("pipeline", DEFAULT_PIPELINE) for x in b.col("pipeline")]
    stage_ids: dict[str, dict[str, int]] = {}
    for name in dict.fromkeys(pipeline_names):
        sub = Batch(b.frame.filter(pl.Series(pipeline_names) == name), b.mapping, b.source, b.now, b.notes)
        stage_ids[name] = _pipeline_stages(s, sub, name)
    kinds = {r.id: r.kind for r in s.execute(select(m.Stage.id, m.Stage.kind))}
    accounts = resolve_names(s, m.Account, b.col("account"), create={}, notes=b.notes, label="account")
    owners = resolve_names(s, m.Owner, b.col("owner"), create={}, notes=b.notes, label="owner")
    products = resolve_names(s, m.Product, b.col("product"), create={}, fuzzy=True, notes=b.notes, label="product")

    external = b.col("external_id")
    existing = {r.external_id: r for r in _existing_deals(s, external)}
    problems: list[RowProblem] = []
    rows = _records(b, ["name", "amount", "currency", "source", "created_at", "expected_close_date", "lost_reason"])
    columns = zip(external, pipeline_names, b.col("stage"), b.col("account"), b.col("owner"), _attributes(b),
                  _naive(b.col("closed_at")), b.col(ROW))
    for row, (ext, pipe, stage, account, owner, attrs, closed, line) in zip(rows, columns):
        row["external_id"] = ext
        if b.has("account"):
            row["account_id"] = accounts.get(account) if account else None
        if b.has("owner"):
            row["owner_id"] = owners.get(owner) if owner else None
        if attrs is not None:
            row["attributes"] = attrs
        before = existing.get(ext)
        if stage is not None:
            stage_id = stage_ids[pipe][stage]
        elif before is not None:
            stage_id = before.stage_id
        else:  # a new deal with no stage starts in the pipeline's first open stage
            opens = [sid for n, sid in stage_ids[pipe].items() if n != "__pipeline_id__" and kinds[sid] == "open"]
            if not opens:
                problems.append(RowProblem(b.source, line, "stage", None, "is empty and the pipeline has no open stage to start in"))
                continue
            stage_id = min(opens)
        row["pipeline_id"] = stage_ids[pipe]["__pipeline_id__"]
        row["stage_id"] = stage_id
        row["status"] = kinds[stage_id]
        row["closed_at"] = (closed or (before.closed_at if before else None) or b.now) if kinds[stage_id] != "open" else None
        if kinds[stage_id] != "lost":
            row["lost_reason"] = None
    if problems:
        raise ImportFailed(problems)
    inserted, updated, unchanged, ids, old = upsert(s, m.Deal, rows)
    _record_field_changes(s, rows, old, ids, b.now)
    _write_deal_history(s, b, rows, ids, existing)
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


def _write_deal_history(s: Session, b: Batch, rows: list[dict[str, Any]], ids: dict[str, int], existing: dict[str, Any]) -> None:
    """Stage changes implied by the file: 'entered:<stage>' dates, then the current stage.

    The current stage is dated by the close date for closed deals and by the creation date
    for open ones; a deal seen again in another stage with no date moved at import time.
    """
    stage_of = {(r.pipeline_id, r.name): r.id for r in s.execute(select(m.Stage.id, m.Stage.name, m.Stage.pipeline_id))}
    lost_stages = set(s.scalars(select(m.Stage.id).where(m.Stage.kind == "lost")))
    entered = {c: _naive(b.col(c)) for c in b.frame.columns if c.startswith(STAGE_DATE_PREFIX)}
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        deal_id = ids[row["external_id"]]
        seen = set()
        for col, dates in entered.items():
            if dates[i] is not None:
                sid = stage_of[(row["pipeline_id"], col[len(STAGE_DATE_PREFIX):])]
                out.append({"deal_id": deal_id, "to_stage_id": sid, "at": dates[i]})
                seen.add(sid)
        before = existing.get(row["external_id"])
        if row["stage_id"] in seen or (before is not None and before.stage_id == row["stage_id"]):
            continue
        at = row["closed_at"] if row["status"] != "open" else row.get("created_at")
        if at is None and before is not None:
            at = b.now
        if at is not None:
            reason = row.get("lost_reason") if row["stage_id"] in lost_stages else None
            out.append({"deal_id": deal_id, "to_stage_id": row["stage_id"], "at": at, "lost_reason": reason})
    frame = pl.DataFrame(out, schema={"deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us"), "lost_reason": pl.String})
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

def _deal_ids(s: Session, b: Batch, column: str = "deal") -> dict[str, int]:
    """Deal external ids -> ids; every unknown id is a problem naming its row."""
    refs = b.col(column)
    found: dict[str, int] = {}
    for part in chunks(sorted({r for r in refs if r})):
        found |= {r.external_id: r.id for r in s.execute(select(m.Deal.external_id, m.Deal.id).where(m.Deal.external_id.in_(part)))}
    problems = [RowProblem(b.source, row, column, ref,
                           "is not a known deal; import the deals first")
                for row, ref in zip(b.col(ROW), refs) if ref and ref not in found]
    if problems:
        raise ImportFailed(problems)
    return found


def write_stage_history(s: Session, b: Batch) -> Counts:
    deals = _deal_ids(s, b)
    pipelines = dict(s.execute(select(m.Deal.id, m.Deal.pipeline_id).where(m.Deal.id.in_(list(deals.values())))).all()) if len(deals) < 30000 else \
        dict(s.execute(select(m.Deal.id, m.Deal.pipeline_id)).all())
    needed: dict[int, list[str]] = {}
    for ref, stage in zip(b.col("deal"), b.col("stage")):
        needed.setdefault(pipelines[deals[ref]], []).append(stage)
    stage_ids: dict[tuple[int, str], int] = {}
    for pid, names in needed.items():
        pname = s.scalar(select(m.Pipeline.name).where(m.Pipeline.id == pid))
        crm.ensure_pipeline(s, pname, list(dict.fromkeys(names)))  # type: ignore[arg-type]
        stage_ids |= {(pid, r.name): r.id for r in s.execute(select(m.Stage.id, m.Stage.name).where(m.Stage.pipeline_id == pid))}
    frame = pl.DataFrame({
        "deal_id": [deals[r] for r in b.col("deal")],
        "to_stage_id": [stage_ids[(pipelines[deals[r]], st)] for r, st in zip(b.col("deal"), b.col("stage"))],
        "at": _naive(b.col("at")),
        "by": b.col("by"),
        "lost_reason": b.col("lost_reason"),
    }, schema={"deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us"), "by": pl.String, "lost_reason": pl.String})
    inserted = append_stage_changes(s, frame.sort("at", maintain_order=True))
    sync_current_stage(s, sorted(set(deals.values())))
    return Counts(inserted, 0, b.frame.height - inserted)


def write_activities(s: Session, b: Batch) -> Counts:
    deals = _deal_ids(s, b) if b.has("deal") else {}
    leads: dict[str, int] = {}
    if b.has("lead"):
        for part in chunks(sorted({r for r in b.col("lead") if r})):
            leads |= {r.external_id: r.id for r in s.execute(select(m.Lead.external_id, m.Lead.id).where(m.Lead.external_id.in_(part)))}
    owners = resolve_names(s, m.Owner, b.col("owner"), create={}, notes=b.notes, label="owner")
    rows = _records(b, ["kind", "subject", "at", "ended_at", "outcome"])
    problems = []
    refs = zip(b.col("deal"), b.col("lead"), b.col("owner"), b.col("external_id"), b.col(ROW))
    for row, (deal_ref, lead_ref, owner, ext, line) in zip(rows, refs):
        row["deal_id"] = deals.get(deal_ref) if deal_ref else None
        row["lead_id"] = leads.get(lead_ref) if lead_ref else None
        if row["deal_id"] is None and row["lead_id"] is None:
            problems.append(RowProblem(b.source, line, "lead" if lead_ref else "deal", lead_ref,
                                       "names no known deal or lead; an activity belongs to one"))
        if b.has("owner"):
            row["owner_id"] = owners.get(owner) if owner else None
        row["external_id"] = ext or f"{deal_ref or lead_ref}|{row['kind']}|{row['at'].isoformat()}"
    if problems:
        raise ImportFailed(problems)
    return _result(upsert(s, m.Activity, rows))


WRITERS: dict[str, Callable[[Session, Batch], Counts]] = {
    "accounts": write_accounts,
    "contacts": write_contacts,
    "products": write_products,
    "owners": write_owners,
    "deals": write_deals,
    "leads": write_leads,
    "stage_history": write_stage_history,
    "activities": write_activities,
}
