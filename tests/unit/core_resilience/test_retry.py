"""RetryPolicy and is_transient: backoff shape, attempt and time caps, Retry-After, and what is never retried."""

from __future__ import annotations

import random
from collections.abc import Callable

import anyio
import pytest

from wamcp.config import RateLimits, ServerConfig
from wamcp.core.resilience import FakeClock, RateLimiter, RetryPolicy, is_transient
from wamcp.errors import (
    ConfigError,
    MCPAuthenticationError,
    MCPClientError,
    MCPConnectionError,
    MCPProtocolError,
    MCPRateLimitError,
    MCPTimeoutError,
    MCPToolError,
)


class Flaky:
    """An operation that raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        MCPConnectionError("dropped"),
        MCPTimeoutError("slow"),
        MCPRateLimitError("429", retry_after=3),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_connection_loss_timeouts_and_rate_limits_are_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        MCPToolError("bad jid", text="invalid JID"),
        MCPAuthenticationError("401"),
        ConfigError("bad key"),
        MCPProtocolError("garbled"),
        MCPClientError("generic"),
        ValueError("bug"),
        KeyboardInterrupt(),
    ],
)
def test_tool_auth_config_and_unknown_errors_are_not_transient(error: BaseException) -> None:
    assert not is_transient(error)


def test_from_config_uses_max_retries_plus_one_attempts_and_retry_delay() -> None:
    policy = RetryPolicy.from_config(ServerConfig(max_retries=5, retry_delay=2.0))
    assert policy.max_attempts == 6
    assert policy.base_delay == 2.0
    assert policy.max_delay == 30.0
    assert RetryPolicy.from_config(ServerConfig(max_retries=0, retry_delay=45.0)).max_delay == 45.0


def test_backoff_grows_exponentially_up_to_max_delay_with_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=2.0, max_delay=30.0)
    rng = random.Random(1234)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (9, 30.0), (10_000, 30.0)]:
        samples = [policy.backoff(attempt, rng) for _ in range(2000)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: spread over the whole range, not clustered near the ceiling.
        assert min(samples) < 0.05 * ceiling
        assert max(samples) > 0.95 * ceiling
        assert sum(samples) / len(samples) == pytest.approx(ceiling / 2, rel=0.1)


def test_backoff_is_reproducible_with_a_seeded_rng_and_rejects_attempt_zero() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=1.0)
    assert policy.backoff(2, random.Random(7)) == policy.backoff(2, random.Random(7))
    assert 0.0 <= policy.backoff(1) <= 1.0
    with pytest.raises(ValueError, match="start at 1"):
        policy.backoff(0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0, "base_delay": 1.0},
        {"max_attempts": 1, "base_delay": -1.0},
        {"max_attempts": 1, "base_delay": float("inf")},
        {"max_attempts": 1, "base_delay": 1.0, "max_delay": -1.0},
        {"max_attempts": 1, "base_delay": 1.0, "total_timeout": 0.0},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_transient_failures_are_retried_until_success() -> None:
    clock = FakeClock()
    op = Flaky(MCPConnectionError("down"), MCPTimeoutError("slow"))
    seen: list[tuple[int, str, float]] = []
    policy = RetryPolicy(max_attempts=3, base_delay=1.0)
    result = await policy.call(
        op,
        retryable=is_transient,
        clock=clock,
        on_retry=lambda n, err, delay: seen.append((n, type(err).__name__, delay)),
        rng=random.Random(0),
    )
    assert result == "ok"
    assert op.calls == 3
    assert [(n, name) for n, name, _ in seen] == [(1, "MCPConnectionError"), (2, "MCPTimeoutError")]
    assert clock.sleeps == [delay for _, _, delay in seen]
    assert 0 <= clock.sleeps[0] <= 1.0
    assert 0 <= clock.sleeps[1] <= 2.0


@pytest.mark.anyio
async def test_retry_at_once_skips_only_the_first_wait() -> None:
    clock = FakeClock()
    op = Flaky(MCPConnectionError("lost"), MCPConnectionError("lost again"))
    policy = RetryPolicy(max_attempts=3, base_delay=1.0)
    moved: list[BaseException] = []

    def elsewhere(error: BaseException) -> bool:
        moved.append(error)
        return True

    result = await policy.call(op, retryable=is_transient, clock=clock, rng=random.Random(0), retry_at_once=elsewhere)
    assert result == "ok"
    assert [str(error) for error in moved] == ["lost"]  # asked about the first failure only
    assert clock.sleeps[0] == 0.0
    assert 0 < clock.sleeps[1] <= 2.0


@pytest.mark.anyio
async def test_retry_at_once_still_waits_out_a_retry_after() -> None:
    clock = FakeClock()
    op = Flaky(MCPRateLimitError("429", retry_after=3))
    policy = RetryPolicy(max_attempts=2, base_delay=1.0)
    await policy.call(op, retryable=is_transient, clock=clock, retry_at_once=lambda _error: True)
    assert clock.sleeps == [3.0]


@pytest.mark.anyio
async def test_gives_up_after_max_attempts_and_raises_the_last_error_unchanged() -> None:
    clock = FakeClock()
    last = MCPConnectionError("third")
    op = Flaky(MCPConnectionError("first"), MCPConnectionError("second"), last, MCPConnectionError("unused"))
    with pytest.raises(MCPConnectionError) as info:
        await RetryPolicy(max_attempts=3, base_delay=0.5).call(op, retryable=is_transient, clock=clock)
    assert info.value is last
    assert op.calls == 3
    assert len(clock.sleeps) == 2


@pytest.mark.anyio
async def test_tool_errors_are_raised_at_once_without_retrying() -> None:
    clock = FakeClock()
    op = Flaky(MCPToolError("no such chat", text="chat not found"))
    with pytest.raises(MCPToolError, match="no such chat"):
        await RetryPolicy(max_attempts=5, base_delay=1.0).call(op, retryable=is_transient, clock=clock)
    assert op.calls == 1
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_retry_after_from_a_429_is_waited_in_full_even_above_max_delay() -> None:
    clock = FakeClock()
    op = Flaky(MCPRateLimitError("429", retry_after=7.0))
    policy = RetryPolicy(max_attempts=2, base_delay=0.1, max_delay=1.0)
    assert await policy.call(op, retryable=is_transient, clock=clock) == "ok"
    assert clock.sleeps[0] >= 7.0
    assert clock.monotonic() >= 7.0


@pytest.mark.anyio
async def test_429_without_retry_after_uses_normal_backoff() -> None:
    clock = FakeClock()
    op = Flaky(MCPRateLimitError("429"))
    await RetryPolicy(max_attempts=2, base_delay=0.1).call(op, retryable=is_transient, clock=clock)
    assert 0.0 <= clock.sleeps[0] <= 0.1


@pytest.mark.anyio
async def test_total_timeout_stops_before_sleeping_past_the_budget() -> None:
    clock = FakeClock()
    op = Flaky(MCPRateLimitError("429", retry_after=20.0))
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, total_timeout=10.0)
    with pytest.raises(MCPRateLimitError):
        await policy.call(op, retryable=is_transient, clock=clock)
    assert op.calls == 1
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_total_timeout_counts_time_spent_inside_attempts() -> None:
    clock = FakeClock()
    calls = 0

    async def slow_failure() -> str:
        nonlocal calls
        calls += 1
        await clock.sleep(4.0)  # each attempt takes 4 s of clock time
        raise MCPTimeoutError("no answer")

    policy = RetryPolicy(max_attempts=100, base_delay=0.0, total_timeout=10.0)
    with pytest.raises(MCPTimeoutError):
        await policy.call(slow_failure, retryable=is_transient, clock=clock)
    # Attempts end at 4, 8, 12 s: the third overruns the budget, so no fourth starts.
    assert calls == 3
    assert clock.monotonic() <= 12.0 + 1e-9


@pytest.mark.anyio
async def test_single_attempt_policy_calls_once() -> None:
    op = Flaky(MCPConnectionError("down"))
    with pytest.raises(MCPConnectionError):
        await RetryPolicy(max_attempts=1, base_delay=1.0).call(op, retryable=is_transient, clock=FakeClock())
    assert op.calls == 1


@pytest.mark.anyio
async def test_custom_retryable_predicate_is_respected() -> None:
    op = Flaky(ValueError("flaky parse"), ValueError("again"))
    only_value_errors: Callable[[BaseException], bool] = lambda e: isinstance(e, ValueError)  # noqa: E731
    result = await RetryPolicy(max_attempts=3, base_delay=0.0).call(op, retryable=only_value_errors, clock=FakeClock())
    assert result == "ok"
    assert op.calls == 3


@pytest.mark.anyio
async def test_cancellation_is_never_retried() -> None:
    clock = FakeClock()
    calls = 0
    scope = anyio.CancelScope()

    async def cancelled_while_waiting() -> str:
        nonlocal calls
        calls += 1
        scope.cancel()  # as a caller's timeout would, while the request is in flight
        await anyio.sleep_forever()
        return "never"

    policy = RetryPolicy(max_attempts=5, base_delay=0.0)
    with scope:
        await policy.call(cancelled_while_waiting, retryable=lambda e: True, clock=clock)
    assert scope.cancelled_caught
    assert calls == 1
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_retry_sleeps_are_cancellable() -> None:
    clock = FakeClock()
    op = Flaky(*[MCPConnectionError("down")] * 10)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await RetryPolicy(max_attempts=10, base_delay=1.0).call(op, retryable=is_transient, clock=clock)
    assert scope.cancelled_caught
    assert op.calls <= 1


@pytest.mark.anyio
async def test_client_flow_429_enters_cooldown_and_the_retry_goes_out_after_it() -> None:
    # How the client composes the pieces: acquire before each attempt, enter cooldown on 429, retry transient errors.
    clock = FakeClock()
    limiter = RateLimiter(RateLimits(), clock)
    sent_at: list[float] = []

    async def call_tool() -> str:
        await limiter.acquire("list_messages")
        sent_at.append(clock.monotonic())
        if len(sent_at) == 1:
            error = MCPRateLimitError("429 Too Many Requests", retry_after=7.0)
            limiter.enter_cooldown(error.retry_after)
            raise error
        return "page"

    policy = RetryPolicy.from_config(ServerConfig())
    assert await policy.call(call_tool, retryable=is_transient, clock=clock) == "page"
    assert len(sent_at) == 2
    assert sent_at[1] - sent_at[0] >= 7.0
