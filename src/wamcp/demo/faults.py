"""Fault knobs of the demo server: latency and its spikes, tool errors, rate limiting, crashes, malformed lines,
dropped connections, serial handling.

All random choices come from one ``random.Random(seed)`` drawn in call order, so a given sequence of calls meets the
same faults on every run. Call numbers are counted across all connections of the process. Every injected fault is
logged as one ``demo fault: <kind>`` warning (:data:`FAULT_LOG_PREFIX`), so a test that kills the process can still
count what it injected from its stderr.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass

from ..redact import get_logger

__all__ = ["FAULT_LOG_PREFIX", "RATE_LIMIT_TEXT", "FaultConfig", "FaultDecision", "Faults"]

log = get_logger(__name__)

#: The phrase clients look for in a rate-limit tool error (stdio and WebSocket have no HTTP status to carry it).
RATE_LIMIT_TEXT = "rate limit exceeded"
#: Start of the warning logged for each injected fault; the kind follows (error, rate_limit, spike, drop, malformed).
FAULT_LOG_PREFIX = "demo fault: "


def _injected(kind: str) -> None:
    log.warning("%s%s", FAULT_LOG_PREFIX, kind)


@dataclass(frozen=True)
class FaultConfig:
    """What to break. Zero/None everywhere means a well-behaved server."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_after: int | None = None
    retry_after: float = 1.0
    crash_after: int | None = None
    malformed_rate: float = 0.0
    #: share of tool calls delayed by an extra ``spike_ms`` (a latency spike on top of ``latency_ms``)
    spike_rate: float = 0.0
    spike_ms: float = 0.0
    #: share of tool calls whose connection the server drops instead of answering
    drop_rate: float = 0.0
    serial: bool = False
    #: list_messages and list_chats answer at most this many rows whatever the limit asked, undeclared in the schema
    page_cap: int | None = None
    seed: int = 1

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms
            or self.error_rate
            or self.rate_limit_after is not None
            or self.crash_after is not None
            or self.malformed_rate
            or (self.spike_rate and self.spike_ms)
            or self.drop_rate
        )


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one tool call."""

    latency: float = 0.0
    error: bool = False
    rate_limited: bool = False
    retry_after: float = 0.0


class Faults:
    """Stateful fault injector shared by every connection of one server process."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self.calls = 0
        self._window_calls = 0
        self._limited_until = 0.0

    def check_rate_limit(self) -> float | None:
        """Count one call against the limit; return the Retry-After seconds when it is refused.

        ``rate_limit_after`` calls are allowed, then every call is refused for ``retry_after`` seconds, after which the
        next ``rate_limit_after`` are allowed again: a client that honours Retry-After recovers.
        """
        limit = self.config.rate_limit_after
        if limit is None:
            return None
        with self._lock:
            refused = self._refuse(limit, time.monotonic())
        if refused is not None:
            _injected("rate_limit")
        return refused

    def _refuse(self, limit: int, now: float) -> float | None:
        """The rate-limit window's verdict on one more call (hold the lock): Retry-After seconds, or None."""
        if now < self._limited_until:
            return max(self._limited_until - now, 0.001)
        if self._limited_until:
            self._limited_until = 0.0
            self._window_calls = 0
        self._window_calls += 1
        if self._window_calls > limit:
            self._limited_until = now + self.config.retry_after
            return self.config.retry_after
        return None

    def before_call(self, tool: str, *, count_rate_limit: bool) -> FaultDecision:
        """Decide the fate of the next tool call (crashes the process when ``crash_after`` is reached)."""
        with self._lock:
            self.calls += 1
            calls = self.calls
            error = bool(self.config.error_rate) and self._rng.random() < self.config.error_rate
            spike = bool(self.config.spike_rate) and self._rng.random() < self.config.spike_rate
        crash_after = self.config.crash_after
        if crash_after is not None and calls > crash_after:
            log.warning("crash-after %d reached on call %d (%s): exiting abruptly", crash_after, calls, tool)
            # Abrupt on purpose: no clean shutdown, no response, exactly like a crashed server.
            os._exit(70)
        if error:
            _injected("error")
        if spike:
            _injected("spike")
        retry = self.check_rate_limit() if count_rate_limit else None
        return FaultDecision(
            latency=(self.config.latency_ms + (self.config.spike_ms if spike else 0.0)) / 1000.0,
            error=error,
            rate_limited=retry is not None,
            retry_after=retry or 0.0,
        )

    def drop_connection(self) -> bool:
        """Whether to drop the connection a tool call arrived on, instead of answering it (``drop_rate``).

        The transports act on it: HTTP cuts the response short and closes the socket, SSE ends the event stream,
        WebSocket aborts the socket; stdio has no connection to drop.
        """
        rate = self.config.drop_rate
        if not rate:
            return False
        with self._lock:
            hit = self._rng.random() < rate
        if hit:
            _injected("drop")
        return hit

    def garble(self, line: str) -> str:
        """Damage a ``list_messages`` line with probability ``malformed_rate`` (deterministic per seed)."""
        rate = self.config.malformed_rate
        if not rate:
            return line
        with self._lock:
            hit = self._rng.random() < rate
            kind = self._rng.randrange(3)
        if not hit:
            return line
        _injected("malformed")
        if kind == 0:  # header cut short: no "From:" part
            return line[: max(1, line.find(" From: "))] + "\n"
        if kind == 1:  # stray non-message line before the real one
            return "\ufffd\x00garbled-bridge-output {{ \n" + line
        return line.replace("] Chat: ", " Chat ", 1).replace("[", "", 1)  # timestamp brackets lost
