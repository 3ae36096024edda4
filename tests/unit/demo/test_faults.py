"""The demo server's latency-spike and dropped-connection knobs, and the ``demo fault: <kind>`` log line that lets a
test count injected faults in the stderr of a server it killed. (Over the wire: tests/chaos/test_fault_knobs.py.)"""

from __future__ import annotations

import logging

import pytest

from wamcp.demo.faults import FAULT_LOG_PREFIX, FaultConfig, Faults


def decisions(config: FaultConfig, calls: int = 200) -> list[float]:
    faults = Faults(config)
    return [faults.before_call("list_messages", count_rate_limit=False).latency for _ in range(calls)]


def test_latency_spikes_hit_a_share_of_calls_on_top_of_the_base_latency() -> None:
    latencies = decisions(FaultConfig(latency_ms=5, spike_rate=0.25, spike_ms=300, seed=4))
    assert set(latencies) == {0.005, 0.305}
    assert 25 <= latencies.count(0.305) <= 75
    assert latencies == decisions(FaultConfig(latency_ms=5, spike_rate=0.25, spike_ms=300, seed=4))  # per seed
    assert latencies != decisions(FaultConfig(latency_ms=5, spike_rate=0.25, spike_ms=300, seed=5))
    assert FaultConfig(spike_rate=0.1, spike_ms=100).active
    assert not FaultConfig(spike_rate=0.1, spike_ms=0).active


def test_drop_connection_is_a_seeded_share_of_calls() -> None:
    def drops(seed: int) -> list[bool]:
        faults = Faults(FaultConfig(drop_rate=0.2, seed=seed))
        return [faults.drop_connection() for _ in range(200)]

    assert drops(9) == drops(9)
    assert 20 <= sum(drops(9)) <= 60
    assert not any(Faults(FaultConfig()).drop_connection() for _ in range(50))
    assert all(Faults(FaultConfig(drop_rate=1.0)).drop_connection() for _ in range(50))
    assert FaultConfig(drop_rate=0.1).active


def test_every_injected_fault_is_logged_once_with_its_kind(caplog: pytest.LogCaptureFixture) -> None:
    faults = Faults(FaultConfig(error_rate=1.0, spike_rate=1.0, spike_ms=1, rate_limit_after=1, drop_rate=1.0))
    with caplog.at_level(logging.WARNING, logger="wamcp.demo.faults"):
        faults.before_call("get_chat", count_rate_limit=True)  # error + spike (the first call is within the limit)
        faults.before_call("get_chat", count_rate_limit=True)  # error + spike + rate limit
        faults.drop_connection()
        Faults(FaultConfig(malformed_rate=1.0)).garble("[2025-01-01 00:00:00] Chat: A From: B: hi\n")
    kinds = [r.getMessage().removeprefix(FAULT_LOG_PREFIX) for r in caplog.records]
    assert sorted(kinds) == sorted(["error", "spike", "error", "spike", "rate_limit", "drop", "malformed"])
