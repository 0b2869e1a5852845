"""Shared request dependencies: the store, a session, and the cached ``History``.

``load_history`` reads every table, so the app keeps one copy (``HistoryCache``) and refreshes it
only when the data changed: a cheap fingerprint query (row counts, highest ids, summed deal
versions) on every read catches writes from anywhere (the app, the CLI, imports), and a change
to a few deals re-reads just those deals and merges them in.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dealflow.history import History
from dealflow.store import models as m
from dealflow.store.db import Store


def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.store.session() as session:
        yield session


def _stages_digest(conn: Any) -> str:
    """Stages and pipelines as they are (a few dozen rows): a renamed stage or a new probability
    changes no count, yet every report must see it."""
    import hashlib

    rows = conn.execute(select(m.Stage.id, m.Stage.pipeline_id, m.Stage.name, m.Stage.position, m.Stage.kind,
                               m.Stage.probability).order_by(m.Stage.id)).all()
    names = conn.execute(select(m.Pipeline.id, m.Pipeline.name).order_by(m.Pipeline.id)).all()
    return hashlib.sha256(repr((rows, names)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Held:
    """One loaded history with what it was built from: swapped as a whole, so readers need no lock."""

    key: tuple[Any, ...]  # the fingerprint, taken before reading
    versions: pl.DataFrame  # id, version of every deal, taken before reading
    history: History
    generation: int


class HistoryCache:
    """The app's one ``History``, kept current.

    Every read compares a cheap fingerprint with the one the history was built from (counted only
    when the store's revision token moved). When only deal-keyed rows changed (moves, edits, new or
    deleted deals, activities on deals -- through the app or from another process), only those
    deals are read again (``load_history(deal_ids=...)``) and merged into the frames held; anything else (stages, owners, products, accounts, leads,
    rates) or a large change reloads everything. One refresh runs at a time; readers of an
    unchanged history take no lock. ``generation`` goes up with every new history: caches key on it.
    """

    DELTA_LIMIT = 2000  # more changed deals than this: a full reload costs about the same

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()  # guards _pending, _full and _scoped
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._check = threading.Condition()  # one fingerprint query at a time, shared by its waiters
        self._checking = False
        self._checked: tuple[Any, ...] | None = None
        self._checked_at = float("-inf")
        self._by_revision: tuple[str, tuple[Any, ...]] | None = None
        self._held: _Held | None = None
        self._pending: set[int] = set()
        self._full = False
        self._scoped: dict[Any, History] = {}
        self._scoped_for: History | None = None
        self.loads = 0  # histories built (full or merged)
        self.merges = 0  # of which merged from the changed deals only

    def fingerprint(self) -> tuple[Any, ...]:
        """The data's fingerprint as of now: a check started after this call began, shared by every
        concurrent caller (20 readers cost one query, not 20), so no write committed before the call
        is missed."""
        import time

        arrived = time.monotonic()
        with self._check:
            while True:
                if self._checked_at >= arrived and self._checked is not None:
                    return self._checked
                if not self._checking:
                    self._checking = True
                    break
                self._check.wait()
        started = time.monotonic()
        try:
            value = self._query_fingerprint()
        finally:
            with self._check:
                self._checking = False
                self._check.notify_all()
        with self._check:
            if started >= self._checked_at:
                self._checked, self._checked_at = value, started
        return value

    def _query_fingerprint(self) -> tuple[Any, ...]:
        """The fingerprint; when the store's revision token (one row, changed by a trigger on every
        write: ``dealflow.store.revision``) is the one seen with the last fingerprint, that one."""
        try:
            from dealflow.store.revision import revision

            token: str | None = revision(self.store)  # read first: a write after it changes it again
        except Exception:  # noqa: BLE001 - a store without the revision row: always count
            token = None
        last = self._by_revision
        if token is not None and last is not None and last[0] == token:
            return last[1]
        value = self._count_fingerprint()
        self._by_revision = (token, value) if token is not None else None
        return value

    def _count_fingerprint(self) -> tuple[Any, ...]:
        counts = [m.Lead.id, m.Product.id, m.Stage.id, m.Owner.id, m.Account.id]
        rates = getattr(m, "ExchangeRate", None)
        if rates is not None:
            counts.append(rates.id)
        with self.store.engine.connect() as conn:
            deals = conn.execute(select(func.count(m.Deal.id), func.coalesce(func.sum(m.Deal.version), 0))).one()  # one scan
            return (*deals, *conn.execute(select(
                select(func.max(m.Deal.id)).scalar_subquery(),
                select(func.max(m.StageChange.id)).scalar_subquery(),
                select(func.max(m.FieldChange.id)).scalar_subquery(),
                select(func.max(m.Activity.id)).scalar_subquery(),
                *(select(func.count(c)).scalar_subquery() for c in counts),
                # an edited rate changes no count: its sum does (a full reload)
                *([select(func.coalesce(func.sum(rates.rate), 0.0)).scalar_subquery()] if rates is not None else []),
            )).one(), _stages_digest(conn))

    def get(self) -> History:
        return self.current().history

    def _fresh(self, held: _Held | None, key: tuple[Any, ...]) -> bool:
        return held is not None and held.key == key and not self._pending and not self._full

    def current(self) -> _Held:
        """The held history if the data is unchanged, else a refreshed one."""
        held = self._held
        if self._fresh(held, self.fingerprint()):
            return held  # type: ignore[return-value]
        with self._refresh_lock:
            held = self._held  # another request may have refreshed it while this one waited
            key = self.fingerprint()
            if self._fresh(held, key):
                return held  # type: ignore[return-value]
            with self._lock:
                pending, self._pending = self._pending, set()
                full, self._full = self._full, False
            versions = self._versions()
            history = None
            if held is not None and not full:
                try:
                    history = self._merged(held, key, versions, pending)
                except Exception:  # noqa: BLE001 - a merge that cannot be done is a full reload, never a wrong history
                    history = None
            if history is None:
                history = self._load_full()
            else:
                self.merges += 1
            self.loads += 1
            self._held = _Held(key, versions, history, held.generation + 1 if held else 1)
            return self._held

    def _versions(self) -> pl.DataFrame:
        from dealflow.store.frames import _frame

        return _frame(self.store, select(m.Deal.id, m.Deal.version).where(m.Deal.deleted_at.is_(None)),
                      {"id": pl.Int64, "version": pl.Int64})

    def _load_full(self) -> History:
        from dealflow.store.frames import load_history

        return load_history(self.store)

    def _merged(self, held: _Held, key: tuple[Any, ...], versions: pl.DataFrame, pending: set[int]) -> History | None:
        """The held history with the changed deals read again; None when a full reload is needed."""
        from dealflow.store.frames import load_history

        if held.key[6:] != key[6:]:
            return None  # leads, products, stages, owners, accounts or rates changed
        changed = set(pending)
        with self.store.engine.connect() as conn:
            for model, at in ((m.StageChange, 3), (m.FieldChange, 4), (m.Activity, 5)):
                if key[at] != held.key[at]:
                    since = held.key[at] if held.key[at] is not None else 0
                    rows = conn.execute(select(model.deal_id).where(model.id > since)).scalars().all()
                    if any(r is None for r in rows):
                        return None  # an activity on a lead
                    changed.update(int(r) for r in rows if r is not None)
        # New, edited (version bumped), deleted and restored deals.
        diff = versions.join(held.versions, on="id", how="full", coalesce=True, suffix="_held").filter(
            pl.col("version").ne_missing(pl.col("version_held")))
        changed.update(diff["id"].to_list())
        if not changed or len(changed) > self.DELTA_LIMIT:
            return None
        return merge_deals(held.history, load_history(self.store, deal_ids=changed), changed)

    def get_scoped(self, scope: Any) -> History:
        """The history as ``scope`` may see it, the same object for as long as the data is unchanged
        (so results cached per history stay cached per scope)."""
        return self.scoped(self.current(), scope)

    def scoped(self, held: _Held, scope: Any) -> History:
        full = held.history
        if scope is None or (scope.read_owners is None and scope.unowned):
            return full
        with self._lock:
            if self._scoped_for is not full:
                self._scoped, self._scoped_for = {}, full
            found = self._scoped.get(scope)
        if found is None:
            found = full.scoped(scope)
            with self._lock:
                if self._scoped_for is full:
                    if len(self._scoped) > 64:
                        self._scoped.clear()
                    found = self._scoped.setdefault(scope, found)
        return found

    def note(self, deal_ids: Iterable[int]) -> None:
        """These deals were written through the app: the next read merges them in."""
        with self._lock:
            self._pending.update(deal_ids)

    def invalidate(self) -> None:
        """Something other than deals changed: the next read reloads everything."""
        with self._lock:
            self._full = True


def merge_deals(held: History, part: History, deal_ids: set[int]) -> History:
    """``held`` with the rows of ``deal_ids`` replaced by ``part``'s (a history read for those deals
    only), in the order ``load_history`` gives; every other frame is ``part``'s (read whole)."""
    ids = pl.Series("ids", sorted(deal_ids), dtype=pl.Int64)

    def swap(old: pl.DataFrame, new: pl.DataFrame, column: str, order: list[str]) -> pl.DataFrame:
        kept = old.filter(~pl.col(column).is_in(ids.implode()) | pl.col(column).is_null())
        return pl.concat([kept, new.select(old.columns)]).sort(order, maintain_order=True)

    return replace(
        part,
        deals=swap(held.deals, part.deals, "id", ["id"]),
        deal_products=swap(held.deal_products, part.deal_products, "deal_id", ["deal_id"]),
        stage_changes=swap(held.stage_changes, part.stage_changes, "deal_id", ["deal_id", "at", "id"]),
        field_changes=swap(held.field_changes, part.field_changes, "deal_id", ["deal_id", "at", "id"]),
        activities=swap(held.activities, part.activities, "deal_id", ["deal_id", "at", "id"]),
    )


def _held(request: Request) -> _Held:
    """The history state for this request, looked up once so that every part of a response reads
    the same data."""
    held = getattr(request.state, "held", None)
    if held is None:
        held = request.state.held = request.app.state.history.current()
    return held  # type: ignore[no-any-return]


def _scope(request: Request) -> Any:
    from dealflow.domain.access import Scope

    access = getattr(request.state, "user", None)
    return access.deal_scope if access is not None else Scope(frozenset(), frozenset(), False)


def get_history(request: Request) -> History:
    """The history the signed-in user may see: every analysis, dashboard, board and export reads this.
    Without a signed-in user (no route serves one) it is empty of deals rather than complete."""
    cached = getattr(request.state, "history", None)
    if cached is None:
        cached = request.state.history = request.app.state.history.scoped(_held(request), _scope(request))
    return cached  # type: ignore[no-any-return]


def get_full_history(request: Request) -> History:
    """Every deal, whoever asks: only for figures computed per deal and then filtered by the caller."""
    return _held(request).history


def history_version(request: Request) -> tuple[int, Any]:
    """What a response computed from ``get_history`` depends on: the history's generation and the
    user's scope (cache keys)."""
    return _held(request).generation, _scope(request)


def changed(request: Request, deal_ids: Iterable[int] | None = None) -> None:
    """Call after any write. ``deal_ids``: only these deals changed (their rows are read again on the
    next read); without it everything is reloaded."""
    if deal_ids is None:
        request.app.state.history.invalidate()
    else:
        request.app.state.history.note(deal_ids)
    request.state.history = None
    request.state.held = None
