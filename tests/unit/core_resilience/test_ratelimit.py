"""Token buckets and the seed's rate limits, driven by a fake clock so minutes of waiting take microseconds."""

from __future__ import annotations

import logging

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamcp.config import RateLimits
from wamcp.core.resilience import FakeClock, RateLimiter, TokenBucket, tool_category

SEED_LIMITS = RateLimits(
    messages_per_minute=60, chats_per_minute=30, requests_per_second=2, burst_limit=10, cooldown_period=300
)


@pytest.mark.parametrize(
    "tool",
    [
        "list_messages",
        "search_messages",
        "get_message_context",
        "get_last_interaction",
        "send_message",
        "send_file",
        "send_audio_message",
        "download_media",
    ],
)
def test_message_tools_fall_under_messages_per_minute(tool: str) -> None:
    assert tool_category(tool) == "messages"


@pytest.mark.parametrize(
    "tool", ["list_chats", "get_chat", "get_direct_chat_by_contact", "get_contact_chats", "search_contacts"]
)
def test_chat_and_contact_tools_fall_under_chats_per_minute(tool: str) -> None:
    assert tool_category(tool) == "chats"


@pytest.mark.parametrize("tool", ["get_status", "ping", "", "LIST_CHATS"])
def test_other_tools_have_only_the_global_limit(tool: str) -> None:
    assert tool_category(tool) is None


@pytest.mark.anyio
async def test_burst_of_ten_passes_at_once_and_the_eleventh_waits_half_a_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, capacity=10, clock=clock)
    waits = [await bucket.acquire() for _ in range(10)]
    assert waits == [0.0] * 10
    assert clock.monotonic() == 0.0
    assert await bucket.acquire() == pytest.approx(0.5)
    assert clock.monotonic() == pytest.approx(0.5)


@pytest.mark.anyio
async def test_bucket_refills_with_time_but_never_above_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, capacity=3, clock=clock)
    for _ in range(3):
        assert bucket.try_acquire()
    assert not bucket.try_acquire()
    assert bucket.available() == pytest.approx(0.0)
    clock.advance(1.5)
    assert bucket.available() == pytest.approx(1.5)
    clock.advance(3600)
    assert bucket.available() == pytest.approx(3.0)


@pytest.mark.anyio
async def test_long_run_rate_matches_the_configured_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5.0, capacity=5, clock=clock)
    for _ in range(105):
        await bucket.acquire()
    # 5 from the initial burst, then 100 more at 5 per second.
    assert clock.monotonic() == pytest.approx(20.0)


@pytest.mark.anyio
async def test_fractional_and_multi_token_acquires() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, capacity=4, clock=clock)
    assert await bucket.acquire(4) == 0.0
    assert await bucket.acquire(2.5) == pytest.approx(2.5)
    assert await bucket.acquire(0) == 0.0


def test_bucket_rejects_impossible_configurations_and_requests() -> None:
    clock = FakeClock()
    for rate, capacity in [(0, 1), (-1, 1), (float("inf"), 1), (1, 0), (1, float("nan"))]:
        with pytest.raises(ValueError, match="TokenBucket"):
            TokenBucket(rate=rate, capacity=capacity, clock=clock)
    bucket = TokenBucket(rate=1, capacity=2, clock=clock)
    with pytest.raises(ValueError, match="never fill"):
        bucket.try_acquire(3)
    with pytest.raises(ValueError, match="cannot take"):
        bucket.try_acquire(-1)


@pytest.mark.anyio
async def test_acquiring_more_than_capacity_fails_instead_of_hanging() -> None:
    bucket = TokenBucket(rate=1, capacity=2, clock=FakeClock())
    with pytest.raises(ValueError, match="capacity"):
        await bucket.acquire(3)


@pytest.mark.anyio
async def test_concurrent_waiters_are_served_in_arrival_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, capacity=1, clock=clock)
    await bucket.acquire()  # empty the bucket so everybody queues
    order: list[int] = []

    async def caller(i: int) -> None:
        await bucket.acquire()
        order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(caller, i)
            await anyio.lowlevel.checkpoint()  # let caller i queue before i + 1 arrives
    assert order == list(range(20))
    # One token per second for 20 callers: the last is served 20 s in, no earlier.
    assert clock.monotonic() == pytest.approx(20.0)


@pytest.mark.anyio
async def test_try_acquire_does_not_jump_the_queue() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, capacity=2, clock=clock)
    await bucket.acquire(2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(bucket.acquire, 2.0)
        await anyio.lowlevel.checkpoint()
        clock.advance(1.0)  # one token is there, but a waiter asked first
        assert bucket.snapshot()["waiting"] == 1
        assert not bucket.try_acquire(1)
    assert bucket.snapshot()["waiting"] == 0


@pytest.mark.anyio
async def test_cancelled_waiter_takes_no_tokens() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, capacity=1, clock=clock)
    await bucket.acquire()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await bucket.acquire()
    assert scope.cancelled_caught
    assert bucket.snapshot()["waiting"] == 0
    clock.advance(1.0)
    assert bucket.try_acquire()
    assert "capacity=1.0" in repr(bucket)


@pytest.mark.anyio
async def test_seed_defaults_make_30_list_chats_take_at_least_40_seconds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(SEED_LIMITS, clock)
    for _ in range(30):
        await limiter.acquire("list_chats")
    # chats bucket: capacity min(10, 30) = 10 at once, then 20 more at 30/min = 0.5/s -> 40 s.
    assert clock.monotonic() >= 40.0 - 1e-6
    assert clock.monotonic() == pytest.approx(40.0)
    assert limiter.snapshot()["total_waited"] == pytest.approx(40.0, rel=0.01)


@pytest.mark.anyio
async def test_seed_defaults_cap_all_calls_at_two_per_second_after_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(SEED_LIMITS, clock)
    waits = [await limiter.acquire("get_status") for _ in range(11)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.5)


@pytest.mark.anyio
async def test_per_minute_quota_smaller_than_burst_limits_the_burst() -> None:
    clock = FakeClock()
    limits = RateLimits(messages_per_minute=5, chats_per_minute=0, requests_per_second=0, burst_limit=10)
    limiter = RateLimiter(limits, clock)
    for _ in range(5):
        assert await limiter.acquire("send_message") == 0.0
    # The 6th message in the first minute must wait for a refill: 1 token at 5/min = 12 s.
    assert await limiter.acquire("send_message") == pytest.approx(12.0)


@pytest.mark.anyio
async def test_categories_have_separate_buckets() -> None:
    clock = FakeClock()
    limits = RateLimits(messages_per_minute=60, chats_per_minute=30, requests_per_second=None, burst_limit=10)
    limiter = RateLimiter(limits, clock)
    for _ in range(10):
        await limiter.acquire("list_chats")
    # Chats are exhausted; messages still have their own full burst.
    for _ in range(10):
        assert await limiter.acquire("list_messages") == 0.0
    assert clock.monotonic() == 0.0
    assert await limiter.acquire("get_chat") == pytest.approx(2.0)


@pytest.mark.anyio
async def test_disabled_limits_never_wait_or_read_the_clock() -> None:
    class NoClock(FakeClock):
        def monotonic(self) -> float:
            raise AssertionError("the clock must not be read when every limit is off")

    limiter = RateLimiter(RateLimits.disabled(), NoClock())
    for tool in ["list_chats", "send_message", "anything"] * 100:
        assert await limiter.acquire(tool) == 0.0
    assert limiter.snapshot()["buckets"] == {}
    assert limiter.snapshot()["acquired"] == 300


@pytest.mark.anyio
async def test_rate_limit_response_with_retry_after_7_makes_the_next_call_wait_7_seconds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits.disabled(), clock)
    limiter.enter_cooldown(7.0)
    assert limiter.cooldown_remaining() == pytest.approx(7.0)
    assert limiter.snapshot()["cooldown_until"] == pytest.approx(7.0)
    waited = await limiter.acquire("list_chats")
    assert waited >= 7.0
    assert clock.monotonic() == pytest.approx(7.0)
    assert limiter.cooldown_remaining() == 0.0
    assert limiter.snapshot()["cooldown_until"] is None
    # After the cooldown, calls flow freely again.
    assert await limiter.acquire("list_chats") == 0.0


@pytest.mark.anyio
async def test_cooldown_defaults_to_cooldown_period_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    limiter = RateLimiter(SEED_LIMITS, clock)
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        limiter.enter_cooldown()
    assert limiter.cooldown_remaining() == pytest.approx(300.0)
    assert "pausing calls for 300.0 s" in caplog.text
    assert await limiter.acquire("send_message") >= 300.0
    assert limiter.snapshot()["cooldowns"] == 1


@pytest.mark.anyio
async def test_shorter_cooldown_never_cuts_a_longer_one_short() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits.disabled(), clock)
    limiter.enter_cooldown(60)
    limiter.enter_cooldown(5)
    assert limiter.cooldown_remaining() == pytest.approx(60)
    limiter.enter_cooldown(90)
    assert limiter.cooldown_remaining() == pytest.approx(90)
    assert limiter.snapshot()["cooldowns"] == 2


@pytest.mark.anyio
async def test_the_same_slow_down_heard_by_calls_in_flight_together_is_one_cooldown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimits.disabled(), clock)
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        for _ in range(3):  # three answers saying "retry after 600 s", a few milliseconds apart
            limiter.enter_cooldown(600)
            clock.advance(0.004)
    assert limiter.snapshot()["cooldowns"] == 1
    assert caplog.text.count("pausing calls") == 1
    assert limiter.cooldown_remaining() == pytest.approx(600 - 0.004)  # the latest answer's end applies


def test_zero_or_invalid_cooldowns_are_ignored() -> None:
    limiter = RateLimiter(RateLimits(cooldown_period=0), FakeClock())
    limiter.enter_cooldown()
    limiter.enter_cooldown(0)
    limiter.enter_cooldown(-3)
    limiter.enter_cooldown(float("nan"))
    assert limiter.cooldown_remaining() == 0.0
    assert limiter.snapshot()["cooldowns"] == 0


@pytest.mark.anyio
async def test_cooldown_that_starts_while_a_call_queues_for_tokens_applies_to_it() -> None:
    clock = FakeClock()
    limits = RateLimits(messages_per_minute=0, chats_per_minute=0, requests_per_second=1, burst_limit=1)
    limiter = RateLimiter(limits, clock)
    await limiter.acquire("list_chats")  # bucket now empty
    result: list[float] = []

    async def queued_call() -> None:
        result.append(await limiter.acquire("list_chats"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(queued_call)
        await anyio.lowlevel.checkpoint()  # it is now sleeping for its token
        limiter.enter_cooldown(30)  # another caller got a 429
    assert result[0] >= 30.0
    assert clock.monotonic() == pytest.approx(30.0)


@pytest.mark.anyio
async def test_custom_category_function_and_unknown_categories() -> None:
    clock = FakeClock()
    limits = RateLimits(messages_per_minute=60, chats_per_minute=0, requests_per_second=0, burst_limit=1)
    limiter = RateLimiter(limits, clock, category=lambda tool: "messages" if tool.startswith("msg_") else "media")
    assert await limiter.acquire("msg_read") == 0.0
    assert await limiter.acquire("msg_read") == pytest.approx(1.0)
    # "media" has no configured bucket: only global limits (off here) apply.
    assert await limiter.acquire("fetch_media") == 0.0


@pytest.mark.anyio
async def test_snapshot_reports_usage_of_each_enabled_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(SEED_LIMITS, clock)
    for _ in range(3):
        await limiter.acquire("list_messages")
    snap = limiter.snapshot()
    assert set(snap["buckets"]) == {"requests", "messages", "chats"}
    assert snap["buckets"]["requests"]["available"] == pytest.approx(7.0)
    assert snap["buckets"]["messages"]["available"] == pytest.approx(7.0)
    assert snap["buckets"]["messages"]["capacity"] == 10.0
    assert snap["buckets"]["messages"]["rate"] == pytest.approx(1.0)
    assert snap["buckets"]["chats"]["available"] == pytest.approx(10.0)
    assert snap["cooldown_remaining"] == 0.0
    assert snap["acquired"] == 3
    assert "requests" in repr(limiter)


def test_tiny_per_minute_quota_still_admits_one_call() -> None:
    limits = RateLimits(messages_per_minute=0.5, chats_per_minute=0, requests_per_second=0, burst_limit=10)
    limiter = RateLimiter(limits, FakeClock())
    assert limiter.snapshot()["buckets"]["messages"]["capacity"] == 1.0


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=50),
    capacity=st.integers(min_value=1, max_value=20),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=5), st.integers(min_value=0, max_value=15)), min_size=1, max_size=25
    ),
)
def test_no_window_ever_grants_more_than_capacity_plus_rate_times_its_length(
    rate: float, capacity: int, steps: list[tuple[float, int]]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, capacity=capacity, clock=clock)
    granted: list[float] = []
    for pause, attempts in steps:
        clock.advance(pause)
        granted.extend(clock.monotonic() for _ in range(attempts) if bucket.try_acquire())
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            in_window = j - i + 1
            assert in_window <= capacity + rate * (granted[j] - start) + 1e-6
