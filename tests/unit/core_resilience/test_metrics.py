"""Metrics: what a user reads from client.metrics() after a run, percentile accuracy, memory and thread safety."""

from __future__ import annotations

import json
import random
import sys
import threading

import pytest

from wamcp.core.metrics import Metrics


def exact_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-int(q * 1_000_000) * len(ordered) // 1_000_000))  # ceil(q * n) without float surprises
    return ordered[rank - 1]


def test_empty_metrics_snapshot_is_empty() -> None:
    assert Metrics().snapshot() == {}


def test_snapshot_counts_calls_errors_retries_and_reconnections_per_server_and_tool() -> None:
    metrics = Metrics()
    metrics.record_call("wa", "list_chats", 0.010)
    metrics.record_call("wa", "list_chats", 0.030, error="MCPTimeoutError")
    metrics.record_call("wa", "send_message", 0.020, error="MCPToolError")
    metrics.record_call("other", "list_chats", 0.5)
    metrics.record_retry("wa", "list_chats")
    metrics.record_reconnect("wa")
    metrics.record_reconnect("wa")
    metrics.record_reconnect("fresh")  # a server with no calls yet still shows up

    snap = metrics.snapshot()
    wa = snap["wa"]
    assert wa["calls"] == 3
    assert wa["errors"] == {"MCPTimeoutError": 1, "MCPToolError": 1}
    assert wa["retries"] == 1
    assert wa["reconnections"] == 2
    assert wa["latency"]["mean"] == pytest.approx(0.020)
    assert wa["latency"]["max"] == pytest.approx(0.030)
    assert set(wa["tools"]) == {"list_chats", "send_message"}
    chats = wa["tools"]["list_chats"]
    assert chats["calls"] == 2
    assert chats["errors"] == {"MCPTimeoutError": 1}
    assert chats["retries"] == 1
    assert "reconnections" not in chats
    assert chats["latency"]["mean"] == pytest.approx(0.020)
    assert snap["other"]["calls"] == 1
    assert snap["fresh"]["reconnections"] == 1
    assert snap["fresh"]["calls"] == 0
    assert snap["fresh"]["latency"] == {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    json.dumps(snap)  # plain data, ready for the CLI and kpis.json


def test_rate_limit_waits_add_up_per_server_and_per_tool() -> None:
    metrics = Metrics()
    metrics.record_rate_limited("wa", 2.5)
    metrics.record_rate_limited("wa", 0.5, tool="list_chats")
    metrics.record_rate_limited("wa", 1.0, tool="list_chats")
    wa = metrics.snapshot()["wa"]
    assert wa["rate_limit_wait"] == pytest.approx(4.0)
    assert wa["rate_limited"] == 3
    assert wa["tools"]["list_chats"]["rate_limit_wait"] == pytest.approx(1.5)
    assert wa["tools"]["list_chats"]["rate_limited"] == 2
    assert wa["tools"]["list_chats"]["calls"] == 0


@pytest.mark.parametrize("distribution", ["lognormal", "uniform", "bimodal"])
def test_percentiles_are_within_three_percent_of_the_exact_values(distribution: str) -> None:
    rng = random.Random(42)
    if distribution == "lognormal":
        values = [rng.lognormvariate(-4.0, 1.0) for _ in range(20_000)]
    elif distribution == "uniform":
        values = [rng.uniform(0.001, 2.0) for _ in range(20_000)]
    else:
        values = [rng.gauss(0.002, 0.0002) if rng.random() < 0.9 else rng.gauss(1.5, 0.1) for _ in range(20_000)]
    metrics = Metrics()
    for value in values:
        metrics.record_call("wa", "list_messages", value)
    latency = metrics.snapshot()["wa"]["latency"]
    for name, q in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)]:
        assert latency[name] == pytest.approx(exact_percentile(values, q), rel=0.03), name
    assert latency["mean"] == pytest.approx(sum(values) / len(values))
    assert latency["max"] == max(values)


def test_single_call_percentiles_equal_the_call_and_extremes_are_clamped() -> None:
    metrics = Metrics()
    metrics.record_call("wa", "a", 0.0123)
    metrics.record_call("wa", "tiny", 1e-9)  # below the histogram floor
    metrics.record_call("wa", "negative", -0.5)  # a clock glitch must not corrupt the histogram
    metrics.record_call("wa", "huge", 10_000.0)  # above the histogram ceiling
    tools = metrics.snapshot()["wa"]["tools"]
    assert tools["a"]["latency"]["p50"] == 0.0123
    assert tools["a"]["latency"]["p99"] == 0.0123
    assert tools["tiny"]["latency"]["p50"] == 1e-9
    assert tools["negative"]["latency"]["p50"] == 0.0
    assert tools["huge"]["latency"]["p95"] == 10_000.0


def test_memory_does_not_grow_with_the_number_of_calls() -> None:
    metrics = Metrics()
    rng = random.Random(1)
    for _ in range(1_000):
        metrics.record_call("wa", "list_messages", rng.lognormvariate(-4, 2))
    stats = metrics._servers["wa"].tools["list_messages"]  # white-box size check
    size_before = sys.getsizeof(stats.latency.counts)
    for _ in range(50_000):
        metrics.record_call("wa", "list_messages", rng.lognormvariate(-4, 2))
    assert sys.getsizeof(stats.latency.counts) == size_before
    assert metrics.snapshot()["wa"]["calls"] == 51_000


def test_reset_forgets_everything() -> None:
    metrics = Metrics()
    metrics.record_call("wa", "list_chats", 0.1)
    metrics.reset()
    assert metrics.snapshot() == {}


def test_concurrent_writers_and_readers_lose_no_counts() -> None:
    metrics = Metrics()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        for i in range(2_000):
            metrics.record_call(
                "wa", f"tool{n % 3}", 0.001 * (i % 7 + 1), error="MCPTimeoutError" if i % 10 == 0 else None
            )
            metrics.record_retry("wa", f"tool{n % 3}")

    def reader() -> None:
        try:
            for _ in range(100):
                snap = metrics.snapshot()
                if "wa" in snap:
                    assert snap["wa"]["calls"] == sum(t["calls"] for t in snap["wa"]["tools"].values())
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in readers + writers:
        t.start()
    for t in readers + writers:
        t.join(timeout=30)
    assert not errors
    wa = metrics.snapshot()["wa"]
    assert wa["calls"] == 12_000
    assert wa["retries"] == 12_000
    assert wa["errors"] == {"MCPTimeoutError": 1_200}
