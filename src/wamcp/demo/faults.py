"""Fault knobs of the demo server: latency, tool errors, rate limiting, crashes, malformed lines, serial handling.

All random choices come from one ``random.Random(seed)`` drawn in call order, so a given sequence of calls meets the
same faults on every run. Call numbers are counted across all connections of the process.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass

from ..redact import get_logger

__all__ = ["RATE_LIMIT_TEXT", "FaultConfig", "FaultDecision", "Faults"]

log = get_logger(__name__)

#: The phrase clients look for in a rate-limit tool error (stdio and WebSocket have no HTTP status to carry it).
RATE_LIMIT_TEXT = "rate limit exceeded"


@dataclass(frozen=True)
class FaultConfig:
    """What to break. Zero/None everywhere means a well-behaved server."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_after: int | None = None
    retry_after: float = 1.0
    crash_after: int | None = None
    malformed_rate: float = 0.0
    serial: bool = False
    seed: int = 1

    @property
    def active(self) -> bool:
        return bool(
            self.latency_ms
            or self.error_rate
            or self.rate_limit_after is not None
            or self.crash_after is not None
            or self.malformed_rate
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
            now = time.monotonic()
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
        crash_after = self.config.crash_after
        if crash_after is not None and calls > crash_after:
            log.warning("crash-after %d reached on call %d (%s): exiting abruptly", crash_after, calls, tool)
            # Abrupt on purpose: no clean shutdown, no response, exactly like a crashed server.
            os._exit(70)
        retry = self.check_rate_limit() if count_rate_limit else None
        return FaultDecision(
            latency=self.config.latency_ms / 1000.0,
            error=error,
            rate_limited=retry is not None,
            retry_after=retry or 0.0,
        )

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
        if kind == 0:  # header cut short: no "From:" part
            return line[: max(1, line.find(" From: "))] + "\n"
        if kind == 1:  # stray non-message line before the real one
            return "\ufffd\x00garbled-bridge-output {{ \n" + line
        return line.replace("] Chat: ", " Chat ", 1).replace("[", "", 1)  # timestamp brackets lost
