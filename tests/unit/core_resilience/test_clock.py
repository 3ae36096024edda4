"""The clocks: FakeClock moves virtual time without waiting; SystemClock is real time."""

from __future__ import annotations

import time

import anyio
import pytest

from wamcp.core.resilience import Clock, FakeClock, SystemClock


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    assert isinstance(FakeClock(), Clock)
    assert isinstance(SystemClock(), Clock)


@pytest.mark.anyio
async def test_fake_sleep_advances_time_and_records_without_waiting() -> None:
    clock = FakeClock(start=100.0)
    started = time.perf_counter()
    await clock.sleep(3600.0)
    await clock.sleep(0.5)
    assert time.perf_counter() - started < 0.5
    assert clock.monotonic() == pytest.approx(3700.5)
    assert clock.sleeps == [3600.0, 0.5]
    assert clock.slept == pytest.approx(3600.5)


@pytest.mark.anyio
async def test_fake_sleep_treats_negative_durations_as_zero() -> None:
    clock = FakeClock()
    await clock.sleep(-2.0)
    assert clock.monotonic() == 0.0
    assert clock.sleeps == [0.0]


def test_fake_advance_moves_time_and_refuses_to_go_back() -> None:
    clock = FakeClock()
    clock.advance(2.5)
    assert clock.monotonic() == 2.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1.0)
    assert "now=2.5" in repr(clock)


@pytest.mark.anyio
async def test_concurrent_fake_sleeps_overlap_instead_of_adding_up() -> None:
    clock = FakeClock()
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(clock.sleep, 1.0)
    assert clock.monotonic() == pytest.approx(1.0)
    assert len(clock.sleeps) == 5


@pytest.mark.anyio
async def test_fake_sleep_is_a_cancellation_point() -> None:
    clock = FakeClock()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await clock.sleep(10.0)
    assert scope.cancelled_caught
    assert clock.monotonic() == 0.0


@pytest.mark.anyio
async def test_system_clock_reads_time_monotonic_and_clamps_negative_sleeps() -> None:
    clock = SystemClock()
    before = time.monotonic()
    reading = clock.monotonic()
    await clock.sleep(0)
    await clock.sleep(-1.0)  # clamps instead of raising
    assert before <= reading <= clock.monotonic() <= time.monotonic()
    assert repr(clock) == "SystemClock()"
