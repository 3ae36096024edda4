"""Per-server and per-tool call metrics: counts, errors by type, retries, reconnections, rate-limit waits, latency.

The one thing to know: latency is kept in a fixed log-spaced histogram (16 buckets per doubling, 1 µs to ~71 min),
so memory per tool is constant however many calls are recorded, and percentiles are estimates: a reported p50/p95/p99
is within about 2.2 % of the true sample percentile (the half-width of a bucket on a log scale), clamped to the
observed min and max. The mean and max are exact. Recording costs one ``log2``, two dict look-ups and a lock.

Writers are the client's event loop; readers (``snapshot``) may be other threads, hence the lock.
"""

from __future__ import annotations

import math
import threading
from typing import Any

__all__ = ["Metrics"]

_LOWEST = 1e-6  # seconds: the top of the underflow bucket
_PER_OCTAVE = 16
_OCTAVES = 32  # 1 µs * 2 ** 32 ≈ 4295 s; slower calls land in the overflow bucket (their max is still exact)
_BUCKETS = _OCTAVES * _PER_OCTAVE + 2  # + underflow (index 0) and overflow (last index)
_OVERFLOW = _BUCKETS - 1
_QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
_log2 = math.log2


def _bucket_midpoint(index: int) -> float:
    # Geometric middle of [LOWEST * 2**((i-1)/16), LOWEST * 2**(i/16)): the estimate that halves the worst-case
    # relative error on a log scale.
    return float(_LOWEST * 2.0 ** ((index - 0.5) / _PER_OCTAVE))


class _Latency:
    __slots__ = ("counts", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = 0.0

    def merge(self, other: _Latency) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def copy(self) -> _Latency:
        clone = _Latency()
        clone.counts = self.counts.copy()
        clone.total, clone.minimum, clone.maximum = self.total, self.minimum, self.maximum
        return clone

    def summary(self) -> dict[str, float | None]:
        count = sum(self.counts)
        if count == 0:
            return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
        result: dict[str, float | None] = {}
        for name, q in _QUANTILES:
            result[name] = self._quantile(q, count)
        result["mean"] = self.total / count
        result["max"] = self.maximum
        return result

    def _quantile(self, q: float, count: int) -> float:
        rank = max(1, math.ceil(q * count))  # nearest-rank definition
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                if index == 0:
                    return self.minimum
                if index == _OVERFLOW:
                    return self.maximum
                return min(self.maximum, max(self.minimum, _bucket_midpoint(index)))
        return self.maximum  # pragma: no cover - counts always sum to count


class _ToolStats:
    __slots__ = ("calls", "errors", "latency", "rate_limit_wait", "rate_limited", "retries")

    def __init__(self) -> None:
        self.calls = 0
        self.errors: dict[str, int] = {}
        self.retries = 0
        self.rate_limit_wait = 0.0
        self.rate_limited = 0
        self.latency = _Latency()


class _ServerStats:
    __slots__ = ("rate_limit_wait", "rate_limited", "reconnections", "tools")

    def __init__(self) -> None:
        self.tools: dict[str, _ToolStats] = {}
        self.reconnections = 0
        # Waits not attributed to one tool are kept here; the server total adds the tools' own.
        self.rate_limit_wait = 0.0
        self.rate_limited = 0


class Metrics:
    """Counters and latency histograms per server and tool; :meth:`snapshot` returns plain dicts.

    ``snapshot()`` shape::

        {server: {"calls", "errors": {ErrorType: n}, "retries", "reconnections", "rate_limited", "rate_limit_wait",
                  "latency": {"p50", "p95", "p99", "mean", "max"},
                  "tools": {tool: {"calls", "errors", "retries", "rate_limited", "rate_limit_wait", "latency"}}}}

    Latency values are seconds, ``None`` before the first call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, _ServerStats] = {}

    def _tool(self, server: str, tool: str) -> _ToolStats:
        # Caller holds the lock.
        stats = self._servers.get(server)
        if stats is None:
            stats = self._servers[server] = _ServerStats()
        tool_stats = stats.tools.get(tool)
        if tool_stats is None:
            tool_stats = stats.tools[tool] = _ToolStats()
        return tool_stats

    def record_call(self, server: str, tool: str, duration: float, error: str | None = None) -> None:
        """One finished call (successful or not) and how long it took; ``error`` is the exception's class name."""
        # Bucket index inline: a helper function call would be a tenth of this method's cost.
        if duration < _LOWEST:
            index = 0
            if duration < 0:
                duration = 0.0
        else:
            index = int(_log2(duration / _LOWEST) * _PER_OCTAVE) + 1
            if index > _OVERFLOW:
                index = _OVERFLOW
        lock = self._lock
        # acquire/release instead of ``with``: this runs for every call and the context-manager protocol doubles
        # the cost of taking the lock.
        lock.acquire()
        try:
            try:
                stats = self._servers[server].tools[tool]
            except KeyError:
                stats = self._tool(server, tool)
            stats.calls += 1
            latency = stats.latency
            latency.counts[index] += 1
            latency.total += duration
            if duration > latency.maximum:
                latency.maximum = duration
            if duration < latency.minimum:
                latency.minimum = duration
            if error is not None:
                stats.errors[error] = stats.errors.get(error, 0) + 1
        finally:
            lock.release()

    def record_retry(self, server: str, tool: str) -> None:
        """A call of ``tool`` is being retried."""
        with self._lock:
            self._tool(server, tool).retries += 1

    def record_reconnect(self, server: str) -> None:
        """The supervisor re-established the session with ``server``."""
        with self._lock:
            stats = self._servers.get(server)
            if stats is None:
                stats = self._servers[server] = _ServerStats()
            stats.reconnections += 1

    def record_rate_limited(self, server: str, waited: float, tool: str | None = None) -> None:
        """A call waited ``waited`` s for client-side limits or a cooldown; attributed to ``tool`` when given."""
        with self._lock:
            if tool is not None:
                tool_stats = self._tool(server, tool)
                tool_stats.rate_limit_wait += waited
                tool_stats.rate_limited += 1
                return
            stats = self._servers.get(server)
            if stats is None:
                stats = self._servers[server] = _ServerStats()
            stats.rate_limit_wait += waited
            stats.rate_limited += 1

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._servers.clear()

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter, safe to call from any thread and to serialise as JSON."""
        with self._lock:
            copied = [
                (
                    name,
                    server.reconnections,
                    server.rate_limit_wait,
                    server.rate_limited,
                    [
                        (
                            tool,
                            t.calls,
                            dict(t.errors),
                            t.retries,
                            t.rate_limit_wait,
                            t.rate_limited,
                            t.latency.copy(),
                        )
                        for tool, t in server.tools.items()
                    ],
                )
                for name, server in self._servers.items()
            ]
        # Percentiles are computed outside the lock so a reader never stalls the event loop's recording.
        result: dict[str, Any] = {}
        for name, reconnections, server_wait, server_limited, tools in copied:
            merged = _Latency()
            errors: dict[str, int] = {}
            calls = retries = 0
            rate_limit_wait = server_wait
            rate_limited = server_limited
            tool_dicts: dict[str, Any] = {}
            for tool, t_calls, t_errors, t_retries, t_wait, t_limited, t_latency in tools:
                calls += t_calls
                retries += t_retries
                rate_limit_wait += t_wait
                rate_limited += t_limited
                for kind, n in t_errors.items():
                    errors[kind] = errors.get(kind, 0) + n
                merged.merge(t_latency)
                tool_dicts[tool] = {
                    "calls": t_calls,
                    "errors": t_errors,
                    "retries": t_retries,
                    "rate_limited": t_limited,
                    "rate_limit_wait": t_wait,
                    "latency": t_latency.summary(),
                }
            result[name] = {
                "calls": calls,
                "errors": errors,
                "retries": retries,
                "reconnections": reconnections,
                "rate_limited": rate_limited,
                "rate_limit_wait": rate_limit_wait,
                "latency": merged.summary(),
                "tools": tool_dicts,
            }
        return result
