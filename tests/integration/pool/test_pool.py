"""Connection pools (``max_connections``) against real servers: one process per stdio connection, calls spread by
least load over HTTP and WebSocket sessions, ``max_concurrency`` per session, a dead connection avoided and healed."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from wamcp.core import MCPClient, MCPConnectionError

from ..core.conftest import Servers, Target, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 - polling client status, bounded by the deadline
            await anyio.sleep(0.01)


def sessions(client: MCPClient, name: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client.status(name)["sessions"]
    return result


async def test_a_stdio_pool_runs_one_server_process_per_connection(servers: Servers) -> None:
    target = servers.target("stdio")
    config = target.config(max_connections=3)
    async with MCPClient() as client:
        client.add_server(config)
        assert await client.connect(config.name)
        # Equal load: the slots take turns, so three calls in a row land on three processes.
        pids = [int((await client.execute_tool(config.name, "pid"))["text"]) for _ in range(3)]
        status = client.status(config.name)

    assert len(set(pids)) == 3
    assert os.getpid() not in pids
    assert status["state"] == "connected"
    assert status["max_connections"] == 3
    assert [s["slot"] for s in status["sessions"]] == [0, 1, 2]
    assert all(s["state"] == "connected" and s["generation"] == 1 for s in status["sessions"])
    assert status["generation"] == 3


async def test_concurrent_calls_spread_over_the_sessions(network_target: Target) -> None:
    config = network_target.config(max_connections=4)
    async with MCPClient() as client, anyio.create_task_group() as tg:
        client.add_server(config)
        await client.connect(config.name)
        for _ in range(4):
            tg.start_soon(client.execute_tool, config.name, "slow", {"seconds": 1.0})
        await wait_for(lambda: client.status(config.name)["in_flight"] == 4)
        spread = [s["in_flight"] for s in sessions(client, config.name)]
        endpoints = {s["endpoint"] for s in sessions(client, config.name)}

    assert spread == [1, 1, 1, 1]
    assert len(endpoints) == 1  # four sessions with the one configured endpoint


async def test_each_session_runs_at_most_max_concurrency_calls(servers: Servers) -> None:
    target = servers.target("streamable_http")
    config = target.config(max_connections=2, max_concurrency=1)
    peaks: list[list[int]] = []
    waiting_seen = 0
    results: list[str] = []

    async def call(index: int) -> None:
        result = await client.execute_tool(config.name, "echo", {"text": f"#{index}"})
        results.append(result["text"])

    async with MCPClient() as client:
        client.add_server(config)
        await client.connect(config.name)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(client.execute_tool, config.name, "slow", {"seconds": 0.4})
            for index in range(3):
                tg.start_soon(call, index)
            with anyio.fail_after(10):
                while client.status(config.name)["in_flight"] or not peaks:
                    now = sessions(client, config.name)
                    peaks.append([s["in_flight"] for s in now])
                    waiting_seen = max(waiting_seen, sum(s["waiting"] for s in now))
                    await anyio.sleep(0.01)

    assert max(max(row) for row in peaks) == 1
    assert max(sum(row) for row in peaks) == 2
    assert waiting_seen >= 3  # six calls, two sessions of one: the rest queue at their session's gate
    assert sorted(results) == ["#0", "#1", "#2"]


async def test_a_killed_connection_is_avoided_and_restarted(servers: Servers) -> None:
    target = servers.target("stdio")
    config = target.config(max_connections=2, retry_delay=0.05)
    async with MCPClient() as client:
        client.add_server(config, idempotent=lambda _tool: True)
        await client.connect(config.name)
        first = [int((await client.execute_tool(config.name, "pid"))["text"]) for _ in range(2)]
        os.kill(first[0], signal.SIGKILL)
        answers = [(await client.execute_tool(config.name, "echo", {"text": str(i)}))["text"] for i in range(10)]
        await wait_for(
            lambda: (
                all(s["state"] == "connected" for s in sessions(client, config.name))
                and client.status(config.name)["generation"] == 3
            )
        )
        after = {int((await client.execute_tool(config.name, "pid"))["text"]) for _ in range(2)}
        assert await client.health_check(config.name)

    assert answers == [str(i) for i in range(10)]
    assert len(set(first)) == 2
    assert first[1] in after
    assert first[0] not in after
    assert len(after) == 2


async def test_a_pool_with_no_reachable_server_raises_and_one_up_is_enough(servers: Servers) -> None:
    target = servers.target("streamable_http")
    async with MCPClient() as client:
        dead = target.config(name="dead", endpoint=f"http://127.0.0.1:{free_port()}", max_connections=3)
        client.add_server(dead)
        with pytest.raises(MCPConnectionError, match=r"127\.0\.0\.1"):
            await client.connect("dead")
        assert client.status("dead")["state"] == "failed"
        assert [s["state"] for s in sessions(client, "dead")] == ["failed"] * 3

        client.add_server(target.config(max_connections=2))
        assert await client.connect(target.config().name)
        result = await client.execute_tool(target.config().name, "echo", {"text": "pooled"})
        await client.disconnect(target.config().name)
        assert [s["state"] for s in sessions(client, target.config().name)] == ["disconnected"] * 2
        again = await client.execute_tool(target.config().name, "echo", {"text": "reconnected"})

    assert result["text"] == "pooled"
    assert again["text"] == "reconnected"
