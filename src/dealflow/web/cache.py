"""Serialised JSON responses kept while the data they came from is unchanged, with ETags.

A GET of the board or an analysis is computed once per (history generation, user scope, path,
query) and its bytes are served to every later request, validating nothing again; concurrent
requests for the same thing wait for one computation instead of each running it. The ETag is a
hash of the bytes, so a client that sends ``If-None-Match`` gets ``304 Not Modified`` whenever the
answer is the same -- also across writes that did not change it.

``stale_ok`` (slow analyses: the forecast, the backtest) answers at once with the last result for
the same question while a fresh one is computed in the background; the response then carries
``X-Dealflow-Stale: true``, and the next request after that computation gets the new one. Only
one such computation per question runs at a time: under a stream of writes the forecast is
refreshed as often as it can be computed, not once per write.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

CACHE_CONTROL = "private, no-cache"  # per user; always revalidate (cheap: 304)


@dataclass(frozen=True)
class Entry:
    generation: int
    body: bytes
    etag: str


def encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class ResponseCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()  # latest entry per question
        self._inflight: dict[tuple[Hashable, int], Future[Entry]] = {}
        self.computed = 0

    def get(self, question: Hashable, generation: int, compute: Callable[[], Any], *, stale_ok: bool = False) -> tuple[Entry, bool]:
        """The entry for ``question`` at ``generation`` (computing it once), and whether it is stale."""
        with self._lock:
            found = self._entries.get(question)
            if found is not None and found.generation == generation:
                self._entries.move_to_end(question)
                return found, False
            if stale_ok and found is not None and any(q == question for q, _ in self._inflight):
                return found, True  # one background computation per question at a time, whatever its generation
            future = self._inflight.get((question, generation))
            owner = future is None
            if owner:
                future = self._inflight[(question, generation)] = Future()
        assert future is not None
        if not owner:
            return future.result(), False
        if stale_ok and found is not None and found.generation < generation:
            threading.Thread(target=self._fill, args=(question, generation, compute, future), daemon=True,
                             name="dealflow-refresh").start()
            return found, True
        self._fill(question, generation, compute, future)
        return future.result(), False

    def _fill(self, question: Hashable, generation: int, compute: Callable[[], Any], future: Future[Entry]) -> None:
        try:
            body = encode(compute())
            entry = Entry(generation, body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
        except BaseException as exc:  # the waiting requests get the same error
            future.set_exception(exc)
            with self._lock:
                self._inflight.pop((question, generation), None)
            return
        with self._lock:
            current = self._entries.get(question)
            if current is None or current.generation <= generation:
                self._entries[question] = entry
                self._entries.move_to_end(question)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            self._inflight.pop((question, generation), None)
            self.computed += 1
        future.set_result(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def respond(request: Request, entry: Entry, stale: bool = False) -> Response:
    """200 with the cached bytes, or 304 when the client already holds them."""
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization, Cookie"}
    if stale:
        headers["X-Dealflow-Stale"] = "true"
    sent = request.headers.get("if-none-match", "")
    if sent and (sent.strip() == "*" or entry.etag in [t.strip().removeprefix("W/") for t in sent.split(",")]):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


def cached_json(request: Request, route: str, params: Hashable, compute: Callable[[], Any], *, stale_ok: bool = False) -> Response:
    """The JSON answer of ``compute`` for this user and history, from the app's response cache."""
    from dealflow.web.deps import history_version

    generation, scope = history_version(request)
    cache: ResponseCache = request.app.state.responses
    entry, stale = cache.get((route, scope, params), generation, compute, stale_ok=stale_ok)
    return respond(request, entry, stale)


class Memo:
    """A small LRU of computed objects where concurrent callers of one key wait for a single computation."""

    def __init__(self, max_entries: int = 32) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, Any] = OrderedDict()
        self._inflight: dict[Hashable, Future[Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            future = self._inflight.get(key)
            owner = future is None
            if owner:
                future = self._inflight[key] = Future()
        assert future is not None
        if not owner:
            return future.result()
        try:
            value = compute()
        except BaseException as exc:
            future.set_exception(exc)
            with self._lock:
                self._inflight.pop(key, None)
            raise
        with self._lock:
            self._done[key] = value
            while len(self._done) > self.max_entries:
                self._done.popitem(last=False)
            self._inflight.pop(key, None)
        future.set_result(value)
        return value
