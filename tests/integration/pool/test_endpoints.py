"""Several endpoints for one server against real servers: a pool spreads its connections over them, a killed endpoint's
calls move to the other without an error to the caller, a restarted one is taken back without failing calls in
flight, and a hung (SIGSTOPped) one is left within about two health-check intervals."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from wamcp.core import MCPClient

from ..core.conftest import ServerProcess, Servers

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX signals"),
]


async def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 - polling client status, bounded by the deadline
            await anyio.sleep(0.01)


def pid_of(process: ServerProcess | None) -> int:
    assert process is not None
    assert process.proc is not None
    return process.proc.pid


async def concurrent_pids(client: MCPClient, name: str, calls: int) -> list[int]:
    """``calls`` concurrent ``pid`` calls: which server process answered each."""
    answers: list[int] = []

    async def one() -> None:
        answers.append(int((await client.execute_tool(name, "pid"))["text"]))

    async with anyio.create_task_group() as tg:
        for _ in range(calls):
            tg.start_soon(one)
    return answers


def endpoints(client: MCPClient, name: str) -> list[tuple[str, int]]:
    return [(e["state"], e["connections"]) for e in client.status(name)["endpoints"]]


def on_first(client: MCPClient, name: str, endpoint: str) -> bool:
    """Whether connection 1 (which prefers the first endpoint) is connected to ``endpoint``."""
    first: dict[str, Any] = client.status(name)["sessions"][0]
    return first["state"] == "connected" and first["endpoint"].startswith(endpoint)


async def test_two_endpoints_share_the_calls_and_a_killed_one_moves_them_all_to_the_other(servers: Servers) -> None:
    a, b = servers.target("streamable_http"), servers.target("streamable_http")
    pid_a, pid_b = pid_of(a.process), pid_of(b.process)
    config = a.config(endpoints=[b.endpoint], max_connections=2)
    async with MCPClient() as client:
        client.add_server(config, idempotent=lambda tool: tool == "pid")
        await client.connect(config.name)
        shared = Counter(await concurrent_pids(client, config.name, 20))
        before = endpoints(client, config.name)
        assert a.process is not None
        a.process.kill()
        # Half of these start on the dead endpoint's connection; each is retried on the other, none fails.
        after = Counter(await concurrent_pids(client, config.name, 20))
        await wait_for(lambda: endpoints(client, config.name) == [("down", 0), ("up", 2)])
        later = Counter(await concurrent_pids(client, config.name, 20))

    assert shared == {pid_a: 10, pid_b: 10}
    assert before == [("up", 1), ("up", 1)]
    assert after == {pid_b: 20}
    assert later == {pid_b: 20}


async def test_a_restarted_endpoint_is_taken_back_without_failing_calls_in_flight(servers: Servers) -> None:
    a, b = servers.target("streamable_http"), servers.target("streamable_http")
    config = a.config(endpoints=[b.endpoint], max_connections=2, health_check_interval=0.2)
    errors: list[BaseException] = []
    answered = 0
    async with MCPClient() as client:
        client.add_server(config)  # nothing idempotent: a call failed by the switch would reach the caller
        await client.connect(config.name)
        assert a.process is not None
        a.process.kill()
        await wait_for(lambda: endpoints(client, config.name) == [("down", 0), ("up", 2)])
        a.process.start()  # the same port again

        async def caller() -> None:
            nonlocal answered
            while True:
                try:
                    await client.execute_tool(config.name, "slow", {"seconds": 0.1})
                except Exception as err:  # counted: the test asserts there are none
                    errors.append(err)
                answered += 1

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(caller)
            # Probed every 0.2 s: back within a few intervals (the drain waits for the 0.1 s calls in flight).
            await wait_for(lambda: on_first(client, config.name, a.endpoint), seconds=5.0)
            await anyio.sleep(0.3)  # calls keep going on the new connection
            tg.cancel_scope.cancel()
        status = client.status(config.name)
        pids = set(await concurrent_pids(client, config.name, 10))

    assert errors == []
    assert answered > 10
    assert [(e["state"], e["connections"]) for e in status["endpoints"]] == [("up", 1), ("up", 1)]
    assert pids == {pid_of(a.process), pid_of(b.process)}


@pytest.mark.parametrize("transport", ["streamable_http", "websocket"])
async def test_a_hung_endpoint_is_left_within_two_health_intervals(transport: str, servers: Servers) -> None:
    interval = 1.0
    a, b = servers.target(transport), servers.target(transport)
    pid_a, pid_b = pid_of(a.process), pid_of(b.process)
    config = a.config(endpoints=[b.endpoint], health_check_interval=interval, timeout=10.0)
    async with MCPClient() as client:
        client.add_server(config, idempotent=lambda tool: tool == "pid")
        assert int((await client.execute_tool(config.name, "pid"))["text"]) == pid_a
        os.kill(pid_a, signal.SIGSTOP)  # hangs with its connections open: only the health check can tell
        try:
            started = time.perf_counter()
            # Sent to the hung server, failed when the health check gives up on it, retried on the other endpoint.
            answer = int((await client.execute_tool(config.name, "pid"))["text"])
            elapsed = time.perf_counter() - started
            down = endpoints(client, config.name)
        finally:
            os.kill(pid_a, signal.SIGCONT)
        await wait_for(lambda: on_first(client, config.name, a.endpoint))
        back = int((await client.execute_tool(config.name, "pid"))["text"])

    assert answer == pid_b
    # Detection takes up to one interval of waiting plus a ping timeout of one interval; then a quick reconnect.
    assert elapsed < 2 * interval + 1.0
    assert down == [("down", 0), ("up", 1)]
    assert back == pid_a
