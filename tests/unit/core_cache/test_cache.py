"""ResponseCache on its own: keys, TTL on the injected clock, LRU bound, writes clearing it, copies handed out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from wamcp.core import FakeClock
from wamcp.core.cache import ResponseCache, cache_key

pytestmark = pytest.mark.anyio


class Server:
    """Counts fetches and answers with the call's number, so a test sees whether the server was asked."""

    def __init__(self) -> None:
        self.fetches = 0

    def fetch(self, tool: str = "list_chats") -> Any:
        async def run() -> dict[str, Any]:
            self.fetches += 1
            return {"tool": tool, "structured_content": {"items": [{"n": self.fetches}]}, "duration": 0.5}

        return run


def test_key_is_canonical_json_of_the_arguments() -> None:
    assert cache_key("t", {"a": 1, "b": [2, {"c": 3, "d": 4}]}) == cache_key("t", {"b": [2, {"d": 4, "c": 3}], "a": 1})
    assert cache_key("t", None) == cache_key("t", {}) == ("t", "{}")
    assert cache_key("t", {"a": 1}) != cache_key("u", {"a": 1})
    assert cache_key("t", {"a": 1}) != cache_key("t", {"a": "1"})
    assert cache_key("t", {"q": "é"}) == ("t", '{"q":"é"}')
    assert cache_key("t", {"when": datetime(2025, 1, 1, tzinfo=UTC)}) is None
    assert cache_key("t", {"x": float("nan")}) is None


async def test_a_repeated_read_is_served_from_the_cache_until_its_ttl() -> None:
    clock, server = FakeClock(), Server()
    cache = ResponseCache(30.0, 8, clock)
    first = await cache.call("list_chats", {"limit": 5}, server.fetch(), read_only=True)
    again = await cache.call("list_chats", {"limit": 5}, server.fetch(), read_only=True)
    assert server.fetches == 1
    assert again["structured_content"] == first["structured_content"]
    assert again["duration"] < 0.5  # the lookup's own time, not the original call's
    clock.advance(29.9)
    await cache.call("list_chats", {"limit": 5}, server.fetch(), read_only=True)
    assert server.fetches == 1
    clock.advance(0.1)
    expired = await cache.call("list_chats", {"limit": 5}, server.fetch(), read_only=True)
    assert server.fetches == 2
    assert expired["structured_content"] == {"items": [{"n": 2}]}
    stats = cache.stats()
    assert stats["hits"] == 2
    assert stats["misses"] == 2
    assert stats["expired"] == 1
    assert stats["tools"] == {"list_chats": {"hits": 2, "misses": 2}}


async def test_other_arguments_or_tools_are_other_entries() -> None:
    server = Server()
    cache = ResponseCache(30.0, 8, FakeClock())
    await cache.call("list_chats", {"limit": 5}, server.fetch(), read_only=True)
    await cache.call("list_chats", {"limit": 6}, server.fetch(), read_only=True)
    await cache.call("list_messages", {"limit": 5}, server.fetch(), read_only=True)
    await cache.call("list_chats", {"limit": 5}, server.fetch(), read_only=True)
    assert server.fetches == 3
    assert cache.stats()["entries"] == 3


async def test_the_size_is_bounded_and_the_least_recently_used_goes_first() -> None:
    server = Server()
    cache = ResponseCache(30.0, 2, FakeClock())
    for page in (0, 1):
        await cache.call("list_chats", {"page": page}, server.fetch(), read_only=True)
    await cache.call("list_chats", {"page": 0}, server.fetch(), read_only=True)  # page 0 is now the most recent
    await cache.call("list_chats", {"page": 2}, server.fetch(), read_only=True)  # evicts page 1
    assert server.fetches == 3
    await cache.call("list_chats", {"page": 0}, server.fetch(), read_only=True)
    assert server.fetches == 3
    await cache.call("list_chats", {"page": 1}, server.fetch(), read_only=True)
    assert server.fetches == 4
    stats = cache.stats()
    assert stats["entries"] == 2
    assert stats["evictions"] == 2


async def test_a_write_clears_the_cache_and_is_never_cached() -> None:
    server = Server()
    cache = ResponseCache(30.0, 8, FakeClock())
    await cache.call("list_chats", {}, server.fetch(), read_only=True)
    await cache.call("send_message", {"text": "hi"}, server.fetch("send_message"), read_only=False)
    await cache.call("send_message", {"text": "hi"}, server.fetch("send_message"), read_only=False)
    assert server.fetches == 3
    await cache.call("list_chats", {}, server.fetch(), read_only=True)
    assert server.fetches == 4
    stats = cache.stats()
    assert stats["invalidations"] == 2
    assert stats["hits"] == 0
    assert "send_message" not in stats["tools"]


async def test_a_failed_write_clears_the_cache_too() -> None:
    server = Server()
    cache = ResponseCache(30.0, 8, FakeClock())
    await cache.call("list_chats", {}, server.fetch(), read_only=True)

    async def failing() -> dict[str, Any]:
        raise RuntimeError("timed out after the server may have acted")

    with pytest.raises(RuntimeError):
        await cache.call("send_message", {}, failing, read_only=False)
    await cache.call("list_chats", {}, server.fetch(), read_only=True)
    assert server.fetches == 2


async def test_a_read_that_overlaps_a_write_is_not_stored() -> None:
    server = Server()
    cache = ResponseCache(30.0, 8, FakeClock())
    read_started, write_done = anyio.Event(), anyio.Event()

    async def slow_read() -> dict[str, Any]:
        read_started.set()
        await write_done.wait()
        return {"structured_content": "from before the write", "duration": 0.0}

    async def write() -> dict[str, Any]:
        return {"structured_content": "sent", "duration": 0.0}

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: cache.call("list_chats", {}, slow_read, read_only=True))
            await read_started.wait()
            await cache.call("send_message", {}, write, read_only=False)
            write_done.set()
    fresh = await cache.call("list_chats", {}, server.fetch(), read_only=True)
    assert fresh["structured_content"] == {"items": [{"n": 1}]}


async def test_a_read_that_starts_during_a_write_is_not_stored() -> None:
    server = Server()
    cache = ResponseCache(30.0, 8, FakeClock())
    write_started, release = anyio.Event(), anyio.Event()

    async def slow_write() -> dict[str, Any]:
        write_started.set()
        await release.wait()
        return {"duration": 0.0}

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: cache.call("send_message", {}, slow_write, read_only=False))
            await write_started.wait()
            await cache.call("list_chats", {}, server.fetch(), read_only=True)
            release.set()
    await cache.call("list_chats", {}, server.fetch(), read_only=True)
    assert server.fetches == 2


async def test_errors_are_not_cached() -> None:
    cache = ResponseCache(30.0, 8, FakeClock())
    attempts = 0

    async def failing() -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        raise LookupError("no such chat")

    for _ in range(2):
        with pytest.raises(LookupError):
            await cache.call("get_chat", {"jid": "x"}, failing, read_only=True)
    assert attempts == 2
    assert cache.stats()["entries"] == 0


async def test_uncacheable_arguments_and_use_cache_false_bypass_it() -> None:
    server = Server()
    cache = ResponseCache(30.0, 8, FakeClock())
    odd = {"since": datetime(2025, 1, 1, tzinfo=UTC)}
    await cache.call("list_messages", odd, server.fetch(), read_only=True)
    await cache.call("list_messages", odd, server.fetch(), read_only=True)
    await cache.call("list_chats", {}, server.fetch(), read_only=True)
    fresh = await cache.call("list_chats", {}, server.fetch(), read_only=True, use_cache=False)
    assert server.fetches == 4
    assert fresh["structured_content"] == {"items": [{"n": 4}]}
    assert (await cache.call("list_chats", {}, server.fetch(), read_only=True))["structured_content"] == {
        "items": [{"n": 3}]
    }
    assert cache.stats()["bypassed"] == 3


async def test_callers_get_copies_they_may_edit() -> None:
    server = Server()
    cache = ResponseCache(30.0, 8, FakeClock())
    first = await cache.call("list_chats", {}, server.fetch(), read_only=True)
    first["structured_content"]["items"].append("edited by the first caller")
    second = await cache.call("list_chats", {}, server.fetch(), read_only=True)
    second["structured_content"]["items"][0]["n"] = 99
    third = await cache.call("list_chats", {}, server.fetch(), read_only=True)
    assert third["structured_content"] == {"items": [{"n": 1}]}


def test_clear_and_validation() -> None:
    cache = ResponseCache(1.0, 1, FakeClock())
    cache.clear()
    assert cache.stats() == {
        "ttl": 1.0,
        "max_entries": 1,
        "entries": 0,
        "hits": 0,
        "misses": 0,
        "expired": 0,
        "evictions": 0,
        "invalidations": 0,
        "bypassed": 0,
        "tools": {},
    }
    with pytest.raises(ValueError, match="ttl must be > 0"):
        ResponseCache(0, 1, FakeClock())
    with pytest.raises(ValueError, match="max_entries must be >= 1"):
        ResponseCache(1.0, 0, FakeClock())
