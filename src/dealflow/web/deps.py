"""Shared request dependencies: the store, a session, and the cached ``History``.

``load_history`` reads every table, so the app keeps one copy and rebuilds it only when the
data changed: a write through the app drops it at once, and a cheap fingerprint query
(row counts, highest ids, summed deal versions) catches writes from elsewhere (the CLI, imports).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

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


class HistoryCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._history: History | None = None
        self._scoped: dict[Any, History] = {}
        self.loads = 0

    def fingerprint(self) -> tuple[Any, ...]:
        with self.store.engine.connect() as conn:
            return tuple(conn.execute(select(
                select(func.count(m.Deal.id)).scalar_subquery(),
                select(func.coalesce(func.sum(m.Deal.version), 0)).scalar_subquery(),
                select(func.max(m.Deal.id)).scalar_subquery(),
                select(func.max(m.StageChange.id)).scalar_subquery(),
                select(func.max(m.FieldChange.id)).scalar_subquery(),
                select(func.max(m.Activity.id)).scalar_subquery(),
                select(func.count(m.Lead.id)).scalar_subquery(),
                select(func.count(m.Product.id)).scalar_subquery(),
                select(func.count(m.Stage.id)).scalar_subquery(),
                select(func.count(m.Owner.id)).scalar_subquery(),
            )).one())

    def get(self) -> History:
        from dealflow.store.frames import load_history

        with self._lock:
            key = self.fingerprint()
            if self._history is None or key != self._key:
                self._history = load_history(self.store)
                self._key = key
                self._scoped = {}
                self.loads += 1
            return self._history

    def get_scoped(self, scope: Any) -> History:
        """The history as ``scope`` may see it, the same object for as long as the data is unchanged
        (so results cached per history stay cached per scope)."""
        full = self.get()
        if scope is None or (scope.read_owners is None and scope.unowned):
            return full
        with self._lock:
            if self._history is not full:
                return full.scoped(scope)
            found = self._scoped.get(scope)
            if found is None:
                if len(self._scoped) > 64:
                    self._scoped.clear()
                found = self._scoped[scope] = full.scoped(scope)
            return found

    def invalidate(self) -> None:
        with self._lock:
            self._history = None
            self._scoped = {}


def get_history(request: Request) -> History:
    """The history the signed-in user may see: every analysis, dashboard, board and export reads this.
    Without a signed-in user (no route serves one) it is empty of deals rather than complete."""
    cached = getattr(request.state, "history", None)
    if cached is None:
        from dealflow.domain.access import Scope

        access = getattr(request.state, "user", None)
        scope = access.deal_scope if access is not None else Scope(frozenset(), frozenset(), False)
        cached = request.app.state.history.get_scoped(scope)
        request.state.history = cached
    return cached  # type: ignore[no-any-return]


def get_full_history(request: Request) -> History:
    """Every deal, whoever asks: only for figures computed per deal and then filtered by the caller."""
    return request.app.state.history.get()  # type: ignore[no-any-return]


def changed(request: Request) -> None:
    """Call after any write so the next read rebuilds the history."""
    request.app.state.history.invalidate()
    request.state.history = None
