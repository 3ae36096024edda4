"""Opt-in TTL cache of read-only tool results, one per server, bounded in size (least recently used goes first).

The one thing a reader must know: a cached answer must never outlive a write the caller has seen finish. Any call that
is not idempotent (``send_message``, pairing, unknown tools) clears the server's cache when it starts *and* when it
ends, and bumps an epoch: a read that was in flight across a write, or that started while one was running, returns
its answer to its caller but does not store it, since the server may have answered from before the write.

Entries are keyed by tool name and the canonical JSON of the arguments (sorted keys, no whitespace), so ``{"a": 1,
"b": 2}`` and ``{"b": 2, "a": 1}`` share an entry and ``None`` equals ``{}``. Arguments that are not JSON (a
``datetime``, a set) bypass the cache. Expiry reads the client's injectable clock, so tests advance a ``FakeClock``
instead of waiting. Results are JSON-shaped dicts; the cache keeps its own copy and hands out copies, so a caller
that edits a result cannot change what the next caller gets.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from .clock import Clock

__all__ = ["ResponseCache", "cache_key"]

ToolResultDict = dict[str, Any]


def cache_key(tool: str, arguments: dict[str, Any] | None) -> tuple[str, str] | None:
    """``(tool, canonical JSON of the arguments)``, or ``None`` when the arguments are not plain JSON."""
    try:
        encoded = json.dumps(
            arguments or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError):
        return None
    return (tool, encoded)


def _clone(value: Any) -> Any:
    # Results are JSON-shaped (dicts, lists, scalars); this is several times cheaper than copy.deepcopy, which
    # memoizes every object it meets.
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


class _Entry:
    __slots__ = ("expires_at", "result")

    def __init__(self, result: ToolResultDict, expires_at: float) -> None:
        self.result = result
        self.expires_at = expires_at


class ResponseCache:
    """The cache of one server: ``ttl`` seconds per entry (> 0), at most ``max_entries`` entries.

    :meth:`call` is the whole interface the client needs; :meth:`stats` feeds ``status()`` and ``metrics()``.
    """

    def __init__(self, ttl: float, max_entries: int, clock: Clock) -> None:
        if ttl <= 0:
            raise ValueError(f"cache ttl must be > 0 seconds, got {ttl!r}")
        if max_entries < 1:
            raise ValueError(f"cache max_entries must be >= 1, got {max_entries!r}")
        self.ttl = float(ttl)
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._epoch = 0
        self._writes_in_flight = 0
        # The loop mutates, other threads may read stats(): a lock keeps the snapshot consistent.
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._expired = 0
        self._evictions = 0
        self._invalidations = 0
        self._bypassed = 0
        self._by_tool: dict[str, list[int]] = {}  # tool -> [hits, misses]

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any] | None,
        fetch: Callable[[], Awaitable[ToolResultDict]],
        *,
        read_only: bool,
        use_cache: bool = True,
    ) -> ToolResultDict:
        """The result of ``fetch()`` for this call, served from or stored in the cache when allowed.

        ``read_only=False`` (a write) always reaches the server and clears the cache around it. ``use_cache=False``
        makes a read skip the cache both ways (a fresh answer, not stored).
        """
        if not read_only:
            self._begin_write()
            try:
                return await fetch()
            finally:
                self._end_write()
        key = cache_key(tool, arguments) if use_cache else None
        if key is None:
            with self._lock:
                self._bypassed += 1
            return await fetch()
        started = time.perf_counter()
        cached = self._lookup(key)
        if cached is not None:
            cached["duration"] = time.perf_counter() - started
            return cached
        epoch = self._epoch
        result = await fetch()
        self._store(key, result, epoch)
        return result

    def _lookup(self, key: tuple[str, str]) -> ToolResultDict | None:
        with self._lock:
            counts = self._by_tool.get(key[0])
            if counts is None:
                counts = self._by_tool[key[0]] = [0, 0]
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at <= self._clock.monotonic():
                del self._entries[key]
                self._expired += 1
                entry = None
            if entry is None:
                self._misses += 1
                counts[1] += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            counts[0] += 1
            result = entry.result
        clone: ToolResultDict = _clone(result)
        return clone

    def _store(self, key: tuple[str, str], result: ToolResultDict, epoch: int) -> None:
        copy = _clone(result)
        with self._lock:
            if epoch != self._epoch or self._writes_in_flight:
                return  # a write started or finished meanwhile: this answer may predate it
            self._entries[key] = _Entry(copy, self._clock.monotonic() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self._evictions += 1

    def _begin_write(self) -> None:
        with self._lock:
            self._writes_in_flight += 1
            self._invalidations += 1
            self._clear_locked()

    def _end_write(self) -> None:
        with self._lock:
            self._writes_in_flight -= 1
            self._clear_locked()

    def _clear_locked(self) -> None:
        self._epoch += 1
        self._entries.clear()

    def clear(self) -> None:
        """Forget every entry (counters are kept)."""
        with self._lock:
            self._clear_locked()

    def stats(self) -> dict[str, Any]:
        """Counters for ``status()``/``metrics()``: ``hits``, ``misses`` (``expired`` among them), ``evictions``, …"""
        with self._lock:
            return {
                "ttl": self.ttl,
                "max_entries": self.max_entries,
                "entries": len(self._entries),
                "hits": self._hits,
                "misses": self._misses,
                "expired": self._expired,
                "evictions": self._evictions,
                "invalidations": self._invalidations,
                "bypassed": self._bypassed,
                "tools": {tool: {"hits": hits, "misses": misses} for tool, (hits, misses) in self._by_tool.items()},
            }
