"""MCPClient with ``cache_ttl``: what a user sees in results, status() and metrics(), on the in-memory transport."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from pydantic import ValidationError

from wamcp.config import ServerConfig
from wamcp.core import FakeClock, MCPClient, MemoryTransport

pytestmark = pytest.mark.anyio


class Counting:
    """An in-process server whose read tool answers with how many times the server was asked."""

    def __init__(self) -> None:
        self.server = MCPServer("cache-test-server", log_level="WARNING")
        self.reads = 0
        self.sent: list[str] = []
        counting = self

        @self.server.tool()
        async def list_chats(limit: int = 20) -> str:
            counting.reads += 1
            return f"read {counting.reads} limit {limit}"

        @self.server.tool()
        async def send_message(text: str) -> str:
            counting.sent.append(text)
            return "sent"

        self.transport = MemoryTransport(self.server)


def client_for(counting: Counting, clock: FakeClock, **overrides: Any) -> MCPClient:
    values: dict[str, Any] = {
        "name": "mem",
        "endpoint": "memory://test",
        "connection_type": "stdio",
        "command": "unused",
        "timeout": 2.0,
        "connect_timeout": 2.0,
        "health_check_interval": 0,
    }
    values.update(overrides)
    client = MCPClient(clock=clock)
    client.add_server(
        ServerConfig(**values), idempotent=lambda tool: tool == "list_chats", transport=counting.transport
    )
    return client


async def test_reads_are_answered_from_the_cache_and_counted() -> None:
    counting, clock = Counting(), FakeClock()
    async with client_for(counting, clock, cache_ttl=60.0) as client:
        first = await client.execute_tool("mem", "list_chats", {"limit": 5})
        second = await client.execute_tool("mem", "list_chats", {"limit": 5})
        other = await client.execute_tool("mem", "list_chats", {"limit": 6})
        status = client.status("mem")
        metrics = client.metrics()

    assert first["text"] == second["text"] == "read 1 limit 5"
    assert other["text"] == "read 2 limit 6"
    assert set(second) == set(first)
    assert counting.reads == 2
    for cache in (status["cache"], metrics["mem"]["cache"]):
        assert cache["hits"] == 1
        assert cache["misses"] == 2
        assert cache["entries"] == 2
        assert cache["ttl"] == 60.0
        assert cache["max_entries"] == 1024
        assert cache["tools"] == {"list_chats": {"hits": 1, "misses": 2}}
    # A hit never reaches the server, so it is not a call.
    assert metrics["mem"]["tools"]["list_chats"]["calls"] == 2


async def test_entries_expire_on_the_injected_clock() -> None:
    counting, clock = Counting(), FakeClock()
    async with client_for(counting, clock, cache_ttl=10.0) as client:
        await client.execute_tool("mem", "list_chats", {})
        clock.advance(9.0)
        await client.execute_tool("mem", "list_chats", {})
        clock.advance(1.0)
        fresh = await client.execute_tool("mem", "list_chats", {})
        stats = client.status("mem")["cache"]

    assert fresh["text"] == "read 2 limit 20"
    assert stats["expired"] == 1


async def test_a_write_reaches_the_server_every_time_and_clears_its_cache() -> None:
    counting, clock = Counting(), FakeClock()
    async with client_for(counting, clock, cache_ttl=60.0) as client:
        await client.execute_tool("mem", "list_chats", {})
        await client.execute_tool("mem", "send_message", {"text": "hi"})
        await client.execute_tool("mem", "send_message", {"text": "hi"})
        after = await client.execute_tool("mem", "list_chats", {})
        stats = client.metrics()["mem"]["cache"]

    assert counting.sent == ["hi", "hi"]
    assert after["text"] == "read 2 limit 20"
    assert stats["invalidations"] == 2
    assert stats["hits"] == 0


async def test_the_per_call_overrides_decide_what_is_cached() -> None:
    counting, clock = Counting(), FakeClock()
    async with client_for(counting, clock, cache_ttl=60.0) as client:
        await client.execute_tool("mem", "list_chats", {})
        fresh = await client.execute_tool("mem", "list_chats", {}, use_cache=False)
        cached = await client.execute_tool("mem", "list_chats", {})
        # A caller that says a read is not idempotent treats it as a write: not cached, and the cache is cleared.
        await client.execute_tool("mem", "list_chats", {}, idempotent=False)
        after = await client.execute_tool("mem", "list_chats", {})

    assert fresh["text"] == "read 2 limit 20"
    assert cached["text"] == "read 1 limit 20"
    assert after["text"] == "read 4 limit 20"


async def test_the_cache_is_off_by_default_and_bounded_when_on() -> None:
    counting, clock = Counting(), FakeClock()
    async with client_for(counting, clock) as client:
        await client.execute_tool("mem", "list_chats", {})
        await client.execute_tool("mem", "list_chats", {})
        assert client.status("mem")["cache"] is None
        assert "cache" not in client.metrics()["mem"]
    assert counting.reads == 2

    async with client_for(counting, clock, cache_ttl=60.0, cache_max_entries=2) as client:
        for limit in (1, 2, 3, 1):
            await client.execute_tool("mem", "list_chats", {"limit": limit})
        stats = client.status("mem")["cache"]
    assert stats["entries"] == 2
    assert stats["evictions"] == 2
    assert counting.reads == 2 + 4


def test_config_validates_the_cache_keys() -> None:
    config = ServerConfig()
    assert config.cache_ttl == 0.0
    assert config.cache_max_entries == 1024
    with pytest.raises(ValidationError, match="cache_ttl"):
        ServerConfig(cache_ttl=-1)
    with pytest.raises(ValidationError, match="cache_max_entries"):
        ServerConfig(cache_max_entries=0)
