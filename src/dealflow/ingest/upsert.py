"""Bulk upserts keyed by external id, and lookups that turn names into ids.

All set-based: one SELECT per chunk of keys, one executemany INSERT and UPDATE.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dealflow.domain.names import match_name, normalize_name
from dealflow.store.bulk import bulk_insert, bulk_update

CHUNK = 900  # keeps IN (...) lists under SQLite's variable limit on old builds


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def existing_rows(session: Session, model: type, keys: Sequence[str], columns: Iterable[str]) -> dict[str, dict[str, Any]]:
    cols = ["id", "external_id", *[c for c in columns if c not in ("id", "external_id")]]
    out: dict[str, dict[str, Any]] = {}
    table = model.__table__  # type: ignore[attr-defined]
    for part in chunks(list(keys)):
        for row in session.execute(select(*[table.c[c] for c in cols]).where(table.c.external_id.in_(part))):
            out[row.external_id] = dict(row._mapping)
    return out


def upsert(session: Session, model: type, rows: list[dict[str, Any]]) -> tuple[int, int, int, dict[str, int], dict[str, dict[str, Any]]]:
    """Insert new rows, update changed ones. Returns inserted, updated, unchanged, ids, old values."""
    if not rows:
        return 0, 0, 0, {}, {}
    columns = {k for r in rows for k in r}
    old = existing_rows(session, model, [r["external_id"] for r in rows], columns)
    inserts, updates = [], []
    for row in rows:
        before = old.get(row["external_id"])
        if before is None:
            inserts.append(row)
        else:
            changed = {k: v for k, v in row.items() if before.get(k) != v}
            if changed:
                updates.append({"id": before["id"], **changed})
    bulk_insert(session, model, inserts)
    if updates:
        # executemany UPDATE needs the same keys in every row: group by key set.
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for u in updates:
            groups.setdefault(frozenset(u), []).append(u)
        for group in groups.values():
            bulk_update(session, model, group)
    ids = {k: v["id"] for k, v in existing_rows(session, model, [r["external_id"] for r in rows], []).items()}
    return len(inserts), len(updates), len(rows) - len(inserts) - len(updates), ids, old


def resolve_names(
    session: Session,
    model: type,
    names: Iterable[str | None],
    *,
    create: dict[str, Any] | None = None,
    fuzzy: bool = False,
    notes: list[str] | None = None,
    label: str = "",
) -> dict[str, int]:
    """Map names (or external ids) to ids; unknown ones are created when ``create`` is given.

    With ``fuzzy``, a name differing from a known one only in spaces or case is matched to it.
    """
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    known = {r.name: r.id for r in session.execute(select(model.id, model.name))}  # type: ignore[attr-defined]
    by_ext = {r.external_id: r.id for r in session.execute(select(model.id, model.external_id))}  # type: ignore[attr-defined]
    out: dict[str, int] = {}
    missing = []
    for name in wanted:
        if name in by_ext:
            out[name] = by_ext[name]
        elif name in known:
            out[name] = known[name]
        elif fuzzy and (hit := match_name(name, known)) is not None:
            out[name] = known[hit]
            if notes is not None:
                notes.append(f"{label} {name!r} matched to the known {label} {hit!r}")
        else:
            missing.append(name)
    if missing and create is not None:
        # With fuzzy matching, "Acme", "ACME" and "acme" in one file become one new record.
        first: dict[str, str] = {}
        for n in missing:
            first.setdefault(normalize_name(n) if fuzzy else n, n)
        names = list(first.values())
        session.execute(insert(model), [{"external_id": n, "name": n, **create} for n in names])
        created = {r.external_id: r.id for r in session.execute(select(model.id, model.external_id).where(model.external_id.in_(names)))}  # type: ignore[attr-defined]
        for n in missing:
            out[n] = created[first[normalize_name(n) if fuzzy else n]]
        missing = names
        if notes is not None and label:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            notes.append(f"created {len(missing)} new {label}(s): {shown}")
    return out
