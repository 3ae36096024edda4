"""Pool healing, in process (memory transport, fake clock): a connection whose supervisor gave up is restarted by
a later call, no more often than every few seconds, while the other connections carry the calls."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from mcp.server.mcpserver import MCPServer

from wamcp.config import ServerConfig
from wamcp.core import FakeClock, MCPClient, MemoryTransport

pytestmark = pytest.mark.anyio


async def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 - polling client status, bounded by the deadline
            await anyio.sleep(0.005)


async def test_a_failed_connection_is_restarted_by_a_later_call() -> None:
    server = MCPServer("pool-heal-server", log_level="WARNING")

    @server.tool()
    async def echo(text: str) -> str:
        return text

    transport = MemoryTransport(server)
    transport.fail_opens = [ConnectionRefusedError(111, "Connection refused")]
    clock = FakeClock()
    config = ServerConfig(
        name="mem",
        endpoint="memory://test",
        connection_type="stdio",
        command="unused",
        timeout=2.0,
        connect_timeout=2.0,
        health_check_interval=0,
        max_connections=2,
    )
    async with MCPClient(clock=clock) as client:
        client.add_server(config, transport=transport)
        assert await client.connect("mem")
        states = sorted(s["state"] for s in client.status("mem")["sessions"])
        assert states == ["connected", "failed"]
        assert client.status("mem")["state"] == "connected"
        for i in range(3):
            assert (await client.execute_tool("mem", "echo", {"text": str(i)}))["text"] == str(i)
        assert transport.opens == 2  # not restarted before the heal interval
        clock.advance(5.0)
        await client.execute_tool("mem", "echo", {"text": "heal"})
        await wait_for(lambda: all(s["state"] == "connected" for s in client.status("mem")["sessions"]))
        assert transport.opens == 3
        assert await client.health_check("mem")
