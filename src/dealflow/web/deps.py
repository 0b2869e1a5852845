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
                self.loads += 1
            return self._history

    def invalidate(self) -> None:
        with self._lock:
            self._history = None


def get_history(request: Request) -> History:
    cached = getattr(request.state, "history", None)
    if cached is None:
        cached = request.app.state.history.get()
        request.state.history = cached
    return cached  # type: ignore[no-any-return]


def changed(request: Request) -> None:
    """Call after any write so the next read rebuilds the history."""
    request.app.state.history.invalidate()
    request.state.history = None
