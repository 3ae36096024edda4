"""One MCPClient called from several event loops in turn: successive ``asyncio.run`` calls, and a loop running in
another thread (the sync facade's) whose connections must be closed there. Plain functions, not anyio tests: each
test drives its own loops, every wait bounded."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from wamcp.core import MCPClient
from wamcp.core.sync import SyncRunner
from wamcp.errors import MCPClientError, MCPConnectionError

from .test_client import Harness


def make_client(harness: Harness) -> MCPClient:
    client = MCPClient()
    client.add_server(harness.config(), transport=harness.transport)
    return client


async def echo(client: MCPClient, text: str) -> str:
    result = await asyncio.wait_for(client.execute_tool("mem", "echo", {"text": text}), 5)
    return str(result["text"])


async def supervisors() -> int:
    return sum(1 for task in asyncio.all_tasks() if task.get_name().startswith("wamcp-supervisor"))


def test_a_client_works_from_successive_asyncio_runs() -> None:
    client = make_client(Harness())

    answers = [asyncio.run(echo(client, f"run {n}")) for n in range(3)]
    asyncio.run(client.close())

    assert answers == ["run 0", "run 1", "run 2"]
    assert client.status("mem")["generation"] == 3


def test_moving_off_a_loop_in_another_thread_closes_its_connections_there() -> None:
    client = make_client(Harness())
    runner = SyncRunner("test-loops")
    try:
        assert runner.run(echo(client, "sync"), timeout=5) == "sync"
        assert runner.run(supervisors(), timeout=5) == 1

        assert asyncio.run(echo(client, "async")) == "async"

        assert runner.run(supervisors(), timeout=5) == 0  # closed on its own loop, not left behind
        assert runner.run(echo(client, "sync again"), timeout=5) == "sync again"
        runner.run(client.close(), timeout=10)
    finally:
        runner.stop()


def test_a_call_in_flight_on_the_old_loop_fails_with_a_client_error() -> None:
    client = make_client(Harness())
    runner = SyncRunner("test-loops")
    outcome: dict[str, Any] = {}
    try:
        runner.run(echo(client, "warm up"), timeout=5)

        def slow_call() -> None:
            try:
                runner.run(client.execute_tool("mem", "slow", {"seconds": 3.0}, idempotent=True), timeout=10)
            except BaseException as err:  # handed to the test
                outcome["error"] = err

        caller = threading.Thread(target=slow_call)
        caller.start()

        async def other_loop() -> str:
            status = client.status
            while status("mem")["in_flight"] == 0:  # noqa: ASYNC110 - the other thread's call has not started yet
                await asyncio.sleep(0.01)
            return await echo(client, "takeover")

        assert asyncio.run(asyncio.wait_for(other_loop(), 5)) == "takeover"
        caller.join(10)
        assert not caller.is_alive()
        error = outcome["error"]
        assert isinstance(error, MCPClientError)
        assert isinstance(error, MCPConnectionError) or "another event loop" in str(error)
        asyncio.run(client.close())
    finally:
        runner.stop()


def test_closing_from_another_loop_leaves_nothing_running() -> None:
    client = make_client(Harness())
    runner = SyncRunner("test-loops")
    try:
        runner.run(echo(client, "sync"), timeout=5)
        asyncio.run(client.close())
        assert runner.run(supervisors(), timeout=5) == 0
        assert client.status("mem")["state"] == "disconnected"
    finally:
        runner.stop()
