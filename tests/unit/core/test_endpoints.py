"""Several endpoints for one server, in process (one memory transport per endpoint): pool slots spread across them,
a lost endpoint is taken out and probed back in, and ``status()`` shows each endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

import wamcp.core.client as client_module
from wamcp.config import ServerConfig
from wamcp.core import MCPClient, MCPConnectionError, MemoryTransport

pytestmark = pytest.mark.anyio

REFUSED = ConnectionRefusedError(111, "Connection refused")


class Endpoint:
    """One in-memory server standing for one endpoint; ``where`` answers its name, ``slow`` sleeps first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        server = MCPServer(f"endpoint-{name}", log_level="WARNING")
        self.transport = MemoryTransport(server, name=name)

        @server.tool()
        async def where() -> str:
            self.calls += 1
            return name

        @server.tool()
        async def slow(seconds: float) -> str:
            self.calls += 1
            await anyio.sleep(seconds)
            return name

    def go_down(self) -> None:
        """Cut its connections and refuse new ones until :meth:`come_back`."""
        self.transport.fail_opens = [REFUSED] * 10_000
        self.transport.drop()

    def come_back(self) -> None:
        self.transport.fail_opens = []


def config(**overrides: Any) -> ServerConfig:
    values: dict[str, Any] = {
        "name": "mem",
        "endpoint": "memory://a",
        "connection_type": "stdio",
        "command": "unused",
        "timeout": 2.0,
        "connect_timeout": 2.0,
        "max_retries": 3,
        "retry_delay": 0.01,
        "health_check_interval": 0.05,
        "idempotent_tools": ["where"],
    }
    values.update(overrides)
    return ServerConfig(**values)


async def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 - polling client status, bounded by the deadline
            await anyio.sleep(0.005)


def on(client: MCPClient) -> list[str]:
    """The endpoint each connection is on, by slot."""
    return [s["endpoint"] for s in client.status("mem")["sessions"]]


def test_the_ping_timeout_follows_the_health_interval_between_one_and_five_seconds() -> None:
    def timeout(interval: float, call_timeout: float = 60.0) -> float:
        return client_module._ping_timeout(config(health_check_interval=interval, timeout=call_timeout))

    assert timeout(30.0) == 5.0  # the default interval keeps the old 5 s
    assert timeout(2.0) == 2.0  # a hung server is found within interval + ping = 2 intervals
    assert timeout(0.05) == 1.0  # floor: a busy server may take a second
    assert timeout(3.0, call_timeout=1.5) == 1.5  # never longer than a call may take
    assert timeout(0) == 5.0  # monitor off: health_check() by hand


async def test_pool_slots_spread_over_the_endpoints_and_status_shows_each() -> None:
    a, b = Endpoint("a"), Endpoint("b")
    before = time.time()
    async with MCPClient() as client:
        client.add_server(config(max_connections=4), transport=[a.transport, b.transport])
        await client.connect("mem")
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(client.execute_tool, "mem", "slow", {"seconds": 0.05})
        status = client.status("mem")

    assert [s["preferred_endpoint"] for s in status["sessions"]] == ["memory://a", "memory://b"] * 2
    assert [s["endpoint"] for s in status["sessions"]] == ["memory://a", "memory://b"] * 2
    assert (a.calls, b.calls) == (4, 4)  # least loaded: the eight concurrent calls split evenly
    assert [e["endpoint"] for e in status["endpoints"]] == ["memory://a", "memory://b"]
    for shown in status["endpoints"]:
        assert set(shown) == {"endpoint", "state", "connections", "last_error", "last_checked"}
        assert shown["state"] == "up"
        assert shown["connections"] == 2
        assert shown["last_error"] is None
        assert before <= shown["last_checked"] <= time.time()
    # The existing keys stay as they were.
    assert status["endpoint"] == "memory://a"
    assert status["max_connections"] == 4


async def test_a_single_connection_keeps_the_others_as_standby() -> None:
    a, b = Endpoint("a"), Endpoint("b")
    async with MCPClient() as client:
        client.add_server(config(), transport=[a.transport, b.transport])
        answers = {(await client.execute_tool("mem", "where"))["text"] for _ in range(3)}
        endpoints = client.status("mem")["endpoints"]

    assert answers == {"a"}
    assert b.transport.opens == 0
    assert [(e["state"], e["connections"], e["last_checked"]) for e in endpoints[1:]] == [("unknown", 0, None)]


async def test_a_lost_endpoint_is_taken_out_and_its_calls_move_to_the_other(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="wamcp")
    a, b = Endpoint("a"), Endpoint("b")
    async with MCPClient() as client:
        client.add_server(config(max_connections=2), transport=[a.transport, b.transport])
        await client.connect("mem")
        a.go_down()
        answers = [(await client.execute_tool("mem", "where"))["text"] for _ in range(6)]
        await wait_for(lambda: on(client) == ["memory://b", "memory://b"])
        await wait_for(lambda: "refused" in (client.status("mem")["endpoints"][0]["last_error"] or ""))
        endpoints = client.status("mem")["endpoints"]

    assert set(answers) == {"b"}
    assert endpoints[0]["state"] == "down"
    assert endpoints[0]["connections"] == 0
    assert "connection refused" in endpoints[0]["last_error"]  # what the latest probe of it met
    assert (endpoints[1]["state"], endpoints[1]["connections"]) == ("up", 2)
    assert "endpoint memory://a is out of rotation" in caplog.text


@pytest.mark.parametrize("interval", [0.05, 0.0])
async def test_a_connection_moves_back_once_its_endpoint_answers_without_failing_calls_in_flight(
    interval: float, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="wamcp")
    # With the health monitor off (interval 0) the probe still runs, at its own slower pace.
    monkeypatch.setattr(client_module, "_PROBE_INTERVAL_WITHOUT_MONITOR", 0.05)
    a, b = Endpoint("a"), Endpoint("b")
    async with MCPClient() as client:
        client.add_server(config(health_check_interval=interval), transport=[a.transport, b.transport])
        await client.connect("mem")
        a.go_down()
        await wait_for(lambda: on(client) == ["memory://b"])
        async with anyio.create_task_group() as tg:
            results: list[str] = []

            async def call_slow() -> None:
                # Not idempotent: a failure here would reach the caller.
                results.append((await client.execute_tool("mem", "slow", {"seconds": 0.4}))["text"])

            tg.start_soon(call_slow)
            await wait_for(lambda: client.status("mem")["in_flight"] == 1)
            a.come_back()
            # The probe finds "a" again; the connection takes no new call while its slow call runs on "b".
            await wait_for(lambda: client.status("mem")["sessions"][0]["draining"])
            during = await client.execute_tool("mem", "where")
        status = client.status("mem")

    assert results == ["b"]
    assert during["text"] == "a"  # waited for the move instead of starting on the old connection
    assert status["sessions"][0]["endpoint"] == "memory://a"
    assert status["endpoints"][0]["state"] == "up"
    assert "endpoint memory://a is back in rotation" in caplog.text
    assert "connection 1 of 1 goes back to memory://a once its 1 calls in flight finish" in caplog.text


async def test_a_failed_probe_leaves_the_connection_where_it_is() -> None:
    a, b = Endpoint("a"), Endpoint("b")
    async with MCPClient() as client:
        client.add_server(config(), transport=[a.transport, b.transport])
        await client.connect("mem")
        a.go_down()
        await wait_for(lambda: on(client) == ["memory://b"])
        opens = a.transport.opens
        await wait_for(lambda: a.transport.opens >= opens + 3)  # probed every interval, refused every time
        status = client.status("mem")
        answer = await client.execute_tool("mem", "where")

    assert answer["text"] == "b"
    assert status["sessions"][0]["generation"] == 2  # the probes did not disturb the session on "b"
    assert status["endpoints"][0]["state"] == "down"


async def test_a_ping_answered_late_while_calls_flow_is_not_a_dead_server() -> None:
    a = Endpoint("a")
    a.transport.swallow_methods = {"ping"}  # pings never get through; calls do
    async with MCPClient() as client:
        client.add_server(config(health_check_interval=0.05), transport=a.transport)
        await client.connect("mem")
        with anyio.move_on_after(1.3):  # longer than the ping timeout (1 s)
            while True:
                await client.execute_tool("mem", "slow", {"seconds": 0.05})
        kept = client.status("mem")["generation"]
        # Silence: now the same late ping means a hung server.
        await wait_for(lambda: client.status("mem")["generation"] == 2, seconds=3.0)

    assert kept == 1


async def test_a_connection_lost_while_moving_back_still_goes_to_its_preferred_endpoint() -> None:
    a, b = Endpoint("a"), Endpoint("b")
    async with MCPClient() as client:
        client.add_server(config(), transport=[a.transport, b.transport])
        await client.connect("mem")
        a.go_down()
        await wait_for(lambda: on(client) == ["memory://b"])
        async with anyio.create_task_group() as tg:

            async def call_slow() -> None:
                with pytest.raises(MCPConnectionError):
                    await client.execute_tool("mem", "slow", {"seconds": 2.0})

            tg.start_soon(call_slow)
            await wait_for(lambda: client.status("mem")["in_flight"] == 1)
            a.come_back()
            await wait_for(lambda: client.status("mem")["sessions"][0]["draining"])
            b.go_down()  # the old connection dies before its call finished
        await wait_for(lambda: on(client) == ["memory://a"])
        answer = await client.execute_tool("mem", "where")

    assert answer["text"] == "a"
