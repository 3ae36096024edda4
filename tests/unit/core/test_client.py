"""MCPClient's logic on the in-memory transport with an injected clock: fast, no processes, no real backoff sleeps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from wamcp.config import RateLimits, ServerConfig
from wamcp.core import (
    ConfigError,
    FakeClock,
    MCPClient,
    MCPConnectionError,
    MCPRateLimitError,
    MCPTimeoutError,
    MCPToolError,
    MemoryTransport,
)

pytestmark = pytest.mark.anyio


class Harness:
    """An in-process server with fault knobs, its memory transport, and a client on a fake clock."""

    def __init__(self) -> None:
        self.server = MCPServer("memory-test-server", log_level="WARNING")
        self.transport = MemoryTransport(self.server)
        self.drops_left = 0
        self.active = 0
        self.peak = 0
        server, harness = self.server, self

        @server.tool()
        async def echo(text: str) -> str:
            return text

        @server.tool()
        async def slow(seconds: float) -> str:
            await anyio.sleep(seconds)
            return "done"

        @server.tool()
        async def fail() -> str:
            raise ToolError("no such chat: 123@g.us")

        @server.tool()
        async def fail_verbosely() -> str:
            raise ToolError(
                "2 validation errors for arguments\nchat_jid\n  Field required\nlimit\n  Input should be int"
            )

        @server.tool()
        async def rate_limited() -> str:
            raise ToolError("Too Many Requests")

        @server.tool()
        async def flaky(text: str) -> str:
            if harness.drops_left > 0:
                harness.drops_left -= 1
                harness.transport.drop()
                await anyio.sleep(5)
            return text

        @server.tool()
        async def track() -> int:
            harness.active += 1
            harness.peak = max(harness.peak, harness.active)
            await anyio.sleep(0.05)
            harness.active -= 1
            return harness.peak

    def config(self, **overrides: Any) -> ServerConfig:
        values: dict[str, Any] = {
            "name": "mem",
            "endpoint": "memory://test",
            "connection_type": "stdio",
            "command": "unused",
            "timeout": 2.0,
            "connect_timeout": 2.0,
            "max_retries": 3,
            "retry_delay": 0.5,
            "health_check_interval": 0,
        }
        values.update(overrides)
        return ServerConfig(**values)


@pytest.fixture
def harness() -> Harness:
    return Harness()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(
    harness: Harness,
    clock: FakeClock,
    *,
    rate_limits: RateLimits | None = None,
    idempotent: Callable[[str], bool] | None = None,
    **overrides: Any,
) -> MCPClient:
    client = MCPClient(clock=clock)
    client.add_server(
        harness.config(**overrides), rate_limits=rate_limits, idempotent=idempotent, transport=harness.transport
    )
    return client


async def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 - polling client state, bounded by the deadline
            await anyio.sleep(0.005)


async def test_execute_tool_connects_on_first_use_and_returns_the_documented_shape(
    harness: Harness, clock: FakeClock
) -> None:
    async with make_client(harness, clock) as client:
        assert client.status("mem")["state"] == "disconnected"
        result = await client.execute_tool("mem", "echo", {"text": "hi"})
        status = client.status("mem")

    assert set(result) == {"server", "tool", "content", "structured_content", "text", "is_error", "duration"}
    assert result["content"] == [{"type": "text", "text": "hi"}]
    assert result["text"] == "hi"
    assert status["state"] == "connected"
    assert status["endpoint"] == "memory://memory"
    assert status["transport"] == "memory"
    assert isinstance(status["connected_since"], float)


async def test_tool_error_is_raised_with_server_text_and_never_retried(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock, idempotent=lambda _tool: True) as client:
        with pytest.raises(MCPToolError) as caught:
            await client.execute_tool("mem", "fail")
        metrics = client.metrics()

    assert "no such chat" in caught.value.text
    assert caught.value.server == "mem"
    assert metrics["mem"]["tools"]["fail"]["retries"] == 0
    assert metrics["mem"]["tools"]["fail"]["errors"] == {"MCPToolError": 1}
    assert clock.sleeps == []


async def test_a_multi_line_tool_error_is_one_line_and_keeps_the_whole_text(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        with pytest.raises(MCPToolError) as caught:
            await client.execute_tool("mem", "fail_verbosely")

    assert "\n" not in str(caught.value)
    assert "2 validation errors for arguments chat_jid Field required limit Input should be int" in str(caught.value)
    assert caught.value.text.count("\n") == 4  # the server's own text, whole


async def test_lost_connection_fails_pending_call_and_next_call_reconnects(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        await client.connect("mem")
        errors: list[Exception] = []

        async def pending() -> None:
            try:
                await client.execute_tool("mem", "slow", {"seconds": 10})
            except MCPConnectionError as err:
                errors.append(err)

        with anyio.fail_after(3):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pending)
                await wait_for(lambda: client.status("mem")["in_flight"] == 1)
                harness.transport.drop()
        result = await client.execute_tool("mem", "echo", {"text": "again"})
        status = client.status("mem")
        metrics = client.metrics()

    assert len(errors) == 1
    assert "connection closed" in str(errors[0])
    assert result["text"] == "again"
    assert status["generation"] == 2
    assert metrics["mem"]["reconnections"] == 1


async def test_idempotent_call_is_retried_after_connection_loss(harness: Harness, clock: FakeClock) -> None:
    harness.drops_left = 1
    async with make_client(harness, clock) as client:
        result = await client.execute_tool("mem", "flaky", {"text": "read-only"}, idempotent=True)
        metrics = client.metrics()
        status = client.status("mem")

    assert result["text"] == "read-only"
    assert metrics["mem"]["tools"]["flaky"]["retries"] == 1
    assert status["generation"] == 2
    assert clock.sleeps, "the retry backoff must wait on the injected clock"


async def test_a_pool_retries_a_call_whose_connection_was_lost_without_backing_off(
    harness: Harness, clock: FakeClock
) -> None:
    harness.drops_left = 1
    async with make_client(harness, clock, max_connections=2, retry_delay=5.0) as client:
        await client.connect("mem")
        result = await client.execute_tool("mem", "flaky", {"text": "read-only"}, idempotent=True)
        metrics = client.metrics()

    assert result["text"] == "read-only"
    assert metrics["mem"]["tools"]["flaky"]["retries"] == 1
    # The retry goes at once (the reconnects still back off, on the same clock).
    assert 0.0 in clock.sleeps


async def test_server_idempotent_callable_decides_when_call_does_not_say(harness: Harness, clock: FakeClock) -> None:
    harness.drops_left = 1
    async with make_client(harness, clock, idempotent=lambda tool: tool == "flaky") as client:
        result = await client.execute_tool("mem", "flaky", {"text": "ok"})

    assert result["text"] == "ok"


async def test_non_idempotent_call_is_not_retried(harness: Harness, clock: FakeClock) -> None:
    harness.drops_left = 1
    async with make_client(harness, clock) as client:
        with pytest.raises(MCPConnectionError):
            await client.execute_tool("mem", "flaky", {"text": "send_message"})
        metrics = client.metrics()

    assert metrics["mem"]["tools"]["flaky"]["retries"] == 0
    assert metrics["mem"]["tools"]["flaky"]["errors"] == {"MCPConnectionError": 1}


async def test_config_idempotent_tools_are_retried(harness: Harness, clock: FakeClock) -> None:
    harness.drops_left = 1
    client = MCPClient(clock=clock)
    client.add_server(harness.config(idempotent_tools=["flaky"]), transport=harness.transport)
    async with client:
        result = await client.execute_tool("mem", "flaky", {"text": "listed"})

    assert result["text"] == "listed"


async def test_failed_first_connect_raises_and_a_later_connect_tries_again(harness: Harness, clock: FakeClock) -> None:
    harness.transport.fail_opens = [ConnectionRefusedError(111, "Connection refused")]
    async with make_client(harness, clock) as client:
        with pytest.raises(MCPConnectionError, match="connection refused") as caught:
            await client.connect("mem")
        failed = client.status("mem")
        assert await client.connect("mem") is True
        status = client.status("mem")

    assert "memory://memory" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert failed["state"] == "failed"
    assert "connection refused" in failed["last_error"]
    assert status["state"] == "connected"
    assert status["generation"] == 1


async def test_gives_up_after_max_retries_then_next_call_starts_over(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock, max_retries=3) as client:
        await client.connect("mem")
        # The session dies at once, which counts as the first failure (a crash-looping server), then two refusals.
        harness.transport.fail_opens = [ConnectionRefusedError(111, "Connection refused")] * 2
        harness.transport.drop()
        await wait_for(lambda: client.status("mem")["state"] == "failed")
        failed = client.status("mem")
        opens_when_failed = harness.transport.opens
        result = await client.execute_tool("mem", "echo", {"text": "recovered"})
        status = client.status("mem")

    assert opens_when_failed == 1 + 2
    assert "connection refused" in failed["last_error"]
    assert len(clock.sleeps) == 2  # backoff before each reconnect attempt, on the injected clock
    assert all(0 <= delay <= 30 for delay in clock.sleeps)
    assert result["text"] == "recovered"
    assert status["state"] == "connected"
    assert status["generation"] == 2


async def test_calls_wait_for_reconnection_instead_of_failing(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        await client.connect("mem")
        harness.transport.fail_opens = [ConnectionRefusedError(111, "Connection refused")]
        harness.transport.drop()
        # A call racing the loss itself may fail (it cannot know); once the loss is seen, calls wait for the next one.
        await wait_for(lambda: client.status("mem")["state"] != "connected" or client.status("mem")["generation"] > 1)
        result = await client.execute_tool("mem", "echo", {"text": "queued"})
        status = client.status("mem")

    assert result["text"] == "queued"
    assert status["generation"] == 2


async def test_client_rate_limits_wait_on_the_injected_clock(harness: Harness, clock: FakeClock) -> None:
    limits = RateLimits(requests_per_second=1, burst_limit=1, messages_per_minute=0, chats_per_minute=0)
    async with make_client(harness, clock, rate_limits=limits) as client:
        started = time.monotonic()
        for i in range(3):
            await client.execute_tool("mem", "echo", {"text": str(i)})
        real_elapsed = time.monotonic() - started
        metrics = client.metrics()
        status = client.status("mem")

    assert sum(clock.sleeps) == pytest.approx(2.0, abs=0.01)
    assert real_elapsed < 1.0
    assert metrics["mem"]["tools"]["echo"]["rate_limited"] == 2
    assert status["rate_limit"]["buckets"]["requests"]


async def test_rate_limit_tool_error_cools_down_until_clock_passes(harness: Harness, clock: FakeClock) -> None:
    limits = RateLimits.disabled()
    limits.cooldown_period = 60
    async with make_client(harness, clock, rate_limits=limits) as client:
        with pytest.raises(MCPRateLimitError, match="Too Many Requests"):
            await client.execute_tool("mem", "rate_limited")
        status = client.status("mem")
        with pytest.raises(MCPRateLimitError, match="cooling down"):
            await client.execute_tool("mem", "echo", {"text": "too soon"}, timeout=1)
        clock.advance(61)
        result = await client.execute_tool("mem", "echo", {"text": "later"})

    assert status["cooldown_until"] is not None
    assert status["rate_limit"]["cooldown_remaining"] == pytest.approx(60)
    assert result["text"] == "later"


class _TickingClock(FakeClock):
    """Virtual time that moves a millisecond at every reading, as real time does between two of them."""

    def monotonic(self) -> float:
        self.advance(0.001)
        return super().monotonic()


async def test_calls_refused_during_a_cooldown_do_not_start_another(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    limits = RateLimits.disabled()
    limits.cooldown_period = 60
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        async with make_client(harness, _TickingClock(), rate_limits=limits) as client:
            with pytest.raises(MCPRateLimitError, match="Too Many Requests"):
                await client.execute_tool("mem", "rate_limited")
            for _ in range(5):
                with pytest.raises(MCPRateLimitError, match="cooling down"):
                    await client.execute_tool("mem", "echo", {"text": "too soon"}, timeout=1)
            status = client.status("mem")

    assert status["rate_limit"]["cooldowns"] == 1
    assert status["rate_limit"]["cooldown_remaining"] < 60
    assert len([r for r in caplog.records if "slow down: pausing" in r.getMessage()]) == 1


async def test_short_cooldown_is_waited_out_on_the_clock(harness: Harness, clock: FakeClock) -> None:
    limits = RateLimits.disabled()
    limits.cooldown_period = 1.5
    async with make_client(harness, clock, rate_limits=limits) as client:
        with pytest.raises(MCPRateLimitError):
            await client.execute_tool("mem", "rate_limited")
        result = await client.execute_tool("mem", "echo", {"text": "after cooldown"})

    assert result["text"] == "after cooldown"
    assert sum(clock.sleeps) == pytest.approx(1.5)


async def test_pipelined_calls_are_bounded_by_max_concurrency(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock, max_concurrency=2) as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(6):
                    tg.start_soon(client.execute_tool, "mem", "track")

    assert harness.peak == 2


async def test_calls_run_concurrently_not_serialized(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        await client.connect("mem")
        started = time.monotonic()
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(client.execute_tool, "mem", "slow", {"seconds": 0.2})
        elapsed = time.monotonic() - started

    assert elapsed < 1.0  # ten 0.2 s calls in parallel, not 2 s in a row


async def test_call_timeout_raises_timeout_error(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        with pytest.raises(MCPTimeoutError, match="slow"):
            await client.execute_tool("mem", "slow", {"seconds": 5}, timeout=0.2)
        with pytest.raises(ConfigError, match="timeout"):
            await client.execute_tool("mem", "echo", {"text": "x"}, timeout=0)


async def test_session_older_than_session_timeout_is_renewed(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock, session_timeout=0.1) as client:
        await client.connect("mem")
        await wait_for(lambda: client.status("mem")["generation"] >= 2)
        result = await client.execute_tool("mem", "echo", {"text": "fresh"})

    assert result["text"] == "fresh"


async def test_a_call_issued_while_the_session_drains_waits_for_the_new_session(
    harness: Harness, clock: FakeClock
) -> None:
    finished: dict[str, tuple[float, int]] = {}  # tool -> (when it returned, the generation then)
    async with make_client(harness, clock, session_timeout=0.2, idempotent=lambda tool: False) as client:
        await client.connect("mem")

        async def call(tool: str, arguments: dict[str, Any]) -> None:
            await client.execute_tool("mem", tool, arguments)
            finished[tool] = (time.monotonic(), client.status("mem")["generation"])

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "slow", {"seconds": 0.6})
            await wait_for(lambda: client.status("mem")["sessions"][0]["draining"])
            tg.start_soon(call, "echo", {"text": "after the renewal"})

    assert finished["slow"][1] == 1  # finished on the session it started on
    assert finished["echo"][1] >= 2  # the new call went to the renewed session...
    assert finished["echo"][0] >= finished["slow"][0]  # ...which opened once the old one's call had finished


async def test_a_pools_connections_renew_their_sessions_at_different_times(
    harness: Harness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wamcp.core.client")
    async with make_client(harness, clock, session_timeout=0.2, max_connections=2) as client:
        await client.connect("mem")
        await wait_for(lambda: all(s["generation"] >= 2 for s in client.status("mem")["sessions"]))
        result = await client.execute_tool("mem", "echo", {"text": "pooled"})

    renewals = {r.getMessage() for r in caplog.records if "renewing" in r.getMessage()}
    # Opened together, they would renew together and leave no connection taking calls meanwhile.
    assert {"session with mem is older than 0.2 s: renewing", "session with mem is older than 0.21 s: renewing"} <= (
        renewals
    )
    assert result["text"] == "pooled"


async def test_health_monitor_measures_latency_and_reconnects_a_silent_server(
    harness: Harness, clock: FakeClock
) -> None:
    async with make_client(harness, clock, health_check_interval=0.05, timeout=0.3, connect_timeout=0.3) as client:
        await client.connect("mem")
        await wait_for(lambda: client.status("mem")["latency"] is not None)
        harness.transport.swallow = True
        await wait_for(lambda: client.status("mem")["state"] != "connected" or client.status("mem")["generation"] > 1)
        harness.transport.swallow = False
        await wait_for(lambda: client.status("mem")["generation"] >= 2)
        result = await client.execute_tool("mem", "echo", {"text": "healthy again"})

    assert result["text"] == "healthy again"


async def test_health_check_reports_false_for_a_silent_server(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock, timeout=0.2) as client:
        await client.connect("mem")
        assert await client.health_check("mem") is True
        harness.transport.swallow = True
        healthy = await client.health_check("mem")
        status = client.status("mem")

    assert healthy is False
    assert status["last_error"] is not None


async def test_disconnect_then_use_again(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        await client.execute_tool("mem", "echo", {"text": "1"})
        await client.disconnect("mem")
        disconnected = client.status("mem")
        result = await client.execute_tool("mem", "echo", {"text": "2"})

    assert disconnected["state"] == "disconnected"
    assert disconnected["connected_since"] is None
    assert result["text"] == "2"
    assert harness.transport.opens == 2


async def test_unknown_server_and_duplicate_registration_are_config_errors(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        with pytest.raises(ConfigError, match="unknown MCP server 'nope'"):
            await client.execute_tool("nope", "echo")
        await client.connect("mem")
        with pytest.raises(ConfigError, match="already registered"):
            client.add_server(harness.config(), transport=harness.transport)
        assert client.servers == ["mem"]
        assert "mem=connected" in repr(client)


@pytest.mark.parametrize(("protocol", "version"), [("auto", "2026-07-28"), ("2026-07-28", "2026-07-28")])
async def test_protocol_choice_is_honoured(harness: Harness, clock: FakeClock, protocol: str, version: str) -> None:
    async with make_client(harness, clock, protocol=protocol) as client:
        await client.execute_tool("mem", "echo", {"text": "x"})
        status = client.status("mem")

    assert status["protocol_version"] == version


async def test_list_tools_returns_plain_dicts(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        tools = await client.list_tools("mem")

    names = {tool["name"] for tool in tools}
    assert {"echo", "slow", "fail", "flaky"} <= names
    assert all(set(tool) == {"name", "description", "inputSchema", "outputSchema"} for tool in tools)


async def test_call_stuck_in_a_write_fails_soon_after_its_timeout(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock) as client:
        await client.connect("mem")
        harness.transport.stall = True
        started = time.monotonic()
        with pytest.raises((MCPConnectionError, MCPTimeoutError)):
            await client.execute_tool("mem", "echo", {"text": "never written"}, timeout=0.3)
        elapsed = time.monotonic() - started
        harness.transport.stall = False
        result = await client.execute_tool("mem", "echo", {"text": "reconnected"})
        status = client.status("mem")

    assert elapsed < 0.3 + 1.0 + 0.6  # timeout + backstop slack + one watchdog tick
    assert result["text"] == "reconnected"
    assert status["generation"] == 2


async def test_calls_fail_with_the_cause_while_the_server_stays_down(harness: Harness, clock: FakeClock) -> None:
    async with make_client(harness, clock, max_retries=3) as client:
        await client.connect("mem")
        harness.transport.fail_opens = [ConnectionRefusedError(111, "Connection refused")] * 10
        harness.transport.drop()
        await wait_for(lambda: client.status("mem")["state"] != "connected")
        started = time.monotonic()
        with pytest.raises(MCPConnectionError, match="connection refused"):
            await client.execute_tool("mem", "echo", {"text": "x"})
        elapsed = time.monotonic() - started
        status = client.status("mem")

    assert elapsed < 1.0
    assert status["state"] == "failed"


async def test_health_check_falls_back_to_listing_tools_where_ping_is_gone(harness: Harness, clock: FakeClock) -> None:
    # The 2026-07-28 protocol has no ping: the health check lists tools instead.
    async with make_client(harness, clock, protocol="2026-07-28") as client:
        await client.connect("mem")
        healthy = await client.health_check("mem")
        latency = client.status("mem")["latency"]

    assert healthy is True
    assert latency is not None
