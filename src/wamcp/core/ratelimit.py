"""Client-side rate limits: token buckets per operation category, a global request bucket and a server cooldown.

:class:`RateLimiter` turns the seed's ``rate_limits`` block into three token buckets (all calls per second, message
tools per minute, chat/contact tools per minute) plus a cooldown the client enters when the server says 429. The one
thing to know: every wait goes through the injected :class:`~wamcp.core.clock.Clock`, and waiters are served in
arrival order (FIFO), so a steady stream of callers cannot starve an early one.

Why our own buckets rather than ``aiolimiter`` (checked against its source): ``AsyncLimiter`` reads
``loop.time()`` and waits with ``asyncio.wait_for``, so tests cannot drive it with a fake clock and it runs on asyncio
only; it has no notion of a server-imposed cooldown; and it is not a dependency of this project. A token bucket is
thirty lines; owning it keeps limits testable in microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anyio

from wamcp.config import RateLimits
from wamcp.core.clock import Clock
from wamcp.redact import get_logger

__all__ = ["CATEGORY_CHATS", "CATEGORY_MESSAGES", "RateLimiter", "TokenBucket", "tool_category"]

_log = get_logger(__name__)

CATEGORY_MESSAGES = "messages"
CATEGORY_CHATS = "chats"

_MESSAGE_TOOLS = frozenset(
    {
        "list_messages",
        "search_messages",
        "get_message_context",
        "get_last_interaction",
        "send_message",
        "send_file",
        "send_audio_message",
        "download_media",
    }
)
_CHAT_TOOLS = frozenset(
    {
        "list_chats",
        "get_chat",
        "get_direct_chat_by_contact",
        "get_contact_chats",
        "search_contacts",
    }
)

# Floating-point refill can leave a waiter 1e-16 tokens short after sleeping exactly the computed deficit; without
# this slack it would sleep again for a femtosecond.
_EPSILON = 1e-9
# Tool names are a small, fixed set per server; the cap only protects against a caller inventing names forever.
_CATEGORY_CACHE_LIMIT = 4096


def tool_category(tool: str) -> str | None:
    """The rate-limit category of a WhatsApp MCP tool: ``"messages"``, ``"chats"``, or ``None`` (global limit only)."""
    if tool in _MESSAGE_TOOLS:
        return CATEGORY_MESSAGES
    if tool in _CHAT_TOOLS:
        return CATEGORY_CHATS
    return None


class TokenBucket:
    """A token bucket: holds at most ``capacity`` tokens, refills at ``rate`` tokens per second, starts full.

    :meth:`acquire` waits (with the clock) until enough tokens are there; concurrent waiters queue behind one lock and
    are served first come, first served. A cancelled waiter takes no tokens.
    """

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"TokenBucket rate must be a positive number of tokens per second, got {rate!r}")
        if not (capacity > 0 and math.isfinite(capacity)):
            raise ValueError(f"TokenBucket capacity must be a positive number of tokens, got {capacity!r}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock.monotonic()
        self._lock = anyio.Lock()
        self._waiters = 0

    def _check(self, tokens: float) -> None:
        if tokens < 0 or tokens > self.capacity:
            raise ValueError(
                f"cannot take {tokens!r} tokens from a bucket of capacity {self.capacity!r}: it would never fill"
            )

    def _refill(self) -> float:
        now = self._clock.monotonic()
        elapsed = now - self._updated
        if elapsed > 0:
            tokens = self._tokens + elapsed * self.rate
            # Not min(): this runs twice per rate-limited call and the builtin call is a third of its cost.
            self._tokens = tokens if tokens < self.capacity else self.capacity
            self._updated = now
        return self._tokens

    def available(self) -> float:
        """Tokens in the bucket right now."""
        return self._refill()

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if they are there and nobody is queued ahead; never waits."""
        self._check(tokens)
        if self._waiters == 0 and self._refill() + _EPSILON >= tokens:
            self._tokens -= tokens
            return True
        return False

    async def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, waiting behind earlier callers until they are there; returns the clock seconds waited."""
        self._check(tokens)
        if self._waiters == 0 and self._refill() + _EPSILON >= tokens:
            self._tokens -= tokens
            return 0.0
        start = self._clock.monotonic()
        self._waiters += 1
        try:
            async with self._lock:
                while self._refill() + _EPSILON < tokens:
                    await self._clock.sleep((tokens - self._tokens) / self.rate)
                self._tokens -= tokens
        finally:
            self._waiters -= 1
        return self._clock.monotonic() - start

    def snapshot(self) -> dict[str, float | int]:
        """Capacity, refill rate, tokens available now and callers queued."""
        return {
            "available": self._refill(),
            "capacity": self.capacity,
            "rate": self.rate,
            "waiting": self._waiters,
        }

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate!r}, capacity={self.capacity!r}, available={self._tokens:.3f})"


class RateLimiter:
    """The seed's ``rate_limits`` for one server: global and per-category buckets plus a 429 cooldown.

    * ``requests_per_second``: one bucket across all calls, rate ``requests_per_second``, capacity ``burst_limit``.
    * ``messages_per_minute`` / ``chats_per_minute``: one bucket per category, rate ``n / 60`` per second, capacity
      ``min(burst_limit, n)`` (at least 1). The cap at ``n`` keeps a burst from exceeding the per-minute quota itself:
      with ``chats_per_minute = 5`` and ``burst_limit = 10``, ten chat calls at once would be twice the quota.
    * Cooldown: :meth:`enter_cooldown` (on HTTP 429 or a rate-limit tool error) pauses every call until it ends; a
      later, longer cooldown extends it, a shorter one never cuts it short.

    ``0`` or ``None`` switches a limit off; with everything off, :meth:`acquire` returns at once without touching the
    clock. One limiter belongs to one event loop.
    """

    def __init__(
        self,
        limits: RateLimits,
        clock: Clock,
        *,
        category: Callable[[str], str | None] = tool_category,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._category = category
        burst = float(limits.burst_limit)
        self._global: TokenBucket | None = None
        if limits.requests_per_second is not None and limits.requests_per_second > 0:
            self._global = TokenBucket(limits.requests_per_second, burst, clock)
        self._buckets: dict[str, TokenBucket] = {}
        for name, per_minute in (
            (CATEGORY_MESSAGES, limits.messages_per_minute),
            (CATEGORY_CHATS, limits.chats_per_minute),
        ):
            if per_minute is not None and per_minute > 0:
                self._buckets[name] = TokenBucket(per_minute / 60.0, max(1.0, min(burst, per_minute)), clock)
        self._bucket_of: dict[str, TokenBucket | None] = {}
        self._cooldown_until: float | None = None
        self._cooldowns = 0
        self._waited_total = 0.0
        self._acquired = 0

    def _bucket_for(self, tool: str) -> TokenBucket | None:
        try:
            return self._bucket_of[tool]
        except KeyError:
            name = self._category(tool)
            bucket = self._buckets.get(name) if name is not None else None
            if len(self._bucket_of) < _CATEGORY_CACHE_LIMIT:
                self._bucket_of[tool] = bucket
            return bucket

    async def acquire(self, tool: str) -> float:
        """Wait until ``tool`` may be called: cooldown first, then its category bucket, then the global bucket.

        Returns the clock seconds waited (0.0 when nothing limited the call).
        """
        self._acquired += 1
        bucket = self._bucket_for(tool)
        # Fast path, taken by almost every call: no cooldown and tokens at hand, so no coroutine is created and
        # nothing awaits. The category token is taken first, as in the slow path.
        took_category = False
        if self._cooldown_until is None:
            took_category = bucket is None or bucket.try_acquire()
            if took_category and (self._global is None or self._global.try_acquire()):
                return 0.0
        return await self._acquire_waiting(bucket, took_category)

    async def _acquire_waiting(self, bucket: TokenBucket | None, took_category: bool) -> float:
        start = self._clock.monotonic()
        await self._wait_cooldown()
        # The slower per-minute bucket goes first so that a caller parked on it does not hold a global token (which
        # calls of another category could use) while it waits.
        if bucket is not None and not took_category:
            await bucket.acquire()
        if self._global is not None:
            await self._global.acquire()
        # A 429 seen by another caller while we queued for tokens applies to us too.
        await self._wait_cooldown()
        waited = self._clock.monotonic() - start
        if waited > 0:
            self._waited_total += waited
        return waited

    async def _wait_cooldown(self) -> None:
        while self._cooldown_until is not None:
            remaining = self._cooldown_until - self._clock.monotonic()
            if remaining <= 0:
                self._cooldown_until = None
                return
            await self._clock.sleep(remaining)

    def enter_cooldown(self, seconds: float | None = None) -> None:
        """Pause all calls for ``seconds`` (the server's Retry-After) or, when ``None``, ``limits.cooldown_period``."""
        if seconds is None:
            seconds = self.limits.cooldown_period
        if not (seconds > 0 and math.isfinite(seconds)):
            return
        until = self._clock.monotonic() + seconds
        if self._cooldown_until is None or until > self._cooldown_until:
            # Calls in flight together often hear the same "slow down" a moment apart: that is one cooldown, not
            # one per answer (a lengthening by less than a second is applied, not counted or logged again).
            current = self._cooldown_until
            known = current is not None and until - current < 1.0 and self.cooldown_remaining() > 0
            self._cooldown_until = until
            if not known:
                self._cooldowns += 1
                _log.warning("server asked us to slow down: pausing calls for %.1f s", seconds)

    def cooldown_remaining(self) -> float:
        """Seconds until calls may go out again (0.0 when not cooling down)."""
        if self._cooldown_until is None:
            return 0.0
        return max(0.0, self._cooldown_until - self._clock.monotonic())

    def snapshot(self) -> dict[str, Any]:
        """What health and metrics show: buckets (enabled ones only), cooldown, and totals."""
        buckets: dict[str, dict[str, float | int]] = {}
        if self._global is not None:
            buckets["requests"] = self._global.snapshot()
        for name, bucket in self._buckets.items():
            buckets[name] = bucket.snapshot()
        remaining = self.cooldown_remaining()
        return {
            "buckets": buckets,
            "cooldown_until": self._cooldown_until if remaining > 0 else None,
            "cooldown_remaining": remaining,
            "cooldowns": self._cooldowns,
            "acquired": self._acquired,
            "total_waited": self._waited_total,
        }

    def __repr__(self) -> str:
        names = (["requests"] if self._global else []) + list(self._buckets)
        return f"RateLimiter(buckets={names!r}, cooldown_remaining={self.cooldown_remaining():.1f})"
