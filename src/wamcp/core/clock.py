"""Clocks that rate limiting, retries and health checks read and sleep with.

Everything in the core that waits takes a :class:`Clock` instead of calling ``time`` or ``anyio.sleep`` directly, so
tests substitute :class:`FakeClock` and run minutes of backoff and cooldown in microseconds. The one thing to know:
``FakeClock.sleep`` does not block; it moves virtual time forward and yields once to the event loop.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A monotonic time source in seconds and a way to wait on it."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time: :func:`time.monotonic` and :func:`anyio.sleep` (so it works under asyncio and trio alike)."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """Virtual time for tests: ``sleep`` returns at once after moving time forward; ``advance`` moves it by hand.

    Every sleep is recorded in :attr:`sleeps`. Concurrent sleepers are not serialised: a sleep that starts at virtual
    time ``t`` ends with the clock at ``max(now, t + seconds)``, so two tasks that both sleep 1 s from ``t = 0`` leave
    the clock at 1 s, not 2 s. This is not an event scheduler (a short sleep does not wake before a long one that
    started earlier), which is enough for code that waits for a computed deadline and then re-checks.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, float(seconds))
        self.sleeps.append(seconds)
        wake_at = self._now + seconds
        # One checkpoint keeps sleep a cancellation point and lets other tasks run, as a real sleep would.
        await anyio.lowlevel.checkpoint()
        if wake_at > self._now:
            self._now = wake_at

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` without sleeping (negative values are refused: time is monotonic)."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance: time cannot go backwards (got {seconds!r} s)")
        self._now += seconds

    @property
    def slept(self) -> float:
        """Total seconds requested through :meth:`sleep` so far."""
        return sum(self.sleeps)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, sleeps={len(self.sleeps)})"
