"""A chat listing larger than what the SDK's HTTP transports accept in one message (1 MiB) still comes back whole:
both profiles keep each ``list_chats`` answer under their byte budget, whatever page size is asked for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wamcp.demo.data import generate_database
from wamcp.demo.launch import DemoServerProcess
from wamcp.whatsapp import WhatsAppMCPClient
from wamcp.whatsapp.profiles.base import CHAT_PAGE_BYTES
from wamcp.whatsapp.profiles.lharries import LharriesProfile
from wamcp.whatsapp.profiles.structured import StructuredProfile

from .conftest import Demo

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(scope="module")
def many_chats(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("many-chats") / "bridge.db"
    generate_database(path, messages=100_000, seed=3, timezone="UTC")  # ~11,000 chats: ~2.8 MB of listing
    return path


@pytest.mark.parametrize(
    ("transport", "mode"), [("streamable_http", "lharries"), ("sse", "lharries"), ("sse", "structured")]
)
async def test_listing_thousands_of_chats_over_http_transports(many_chats: Path, transport: str, mode: str) -> None:
    with sqlite3.connect(many_chats) as conn:
        expected = {jid for (jid,) in conn.execute("SELECT jid FROM chats")}
    flag = {"streamable_http": "http", "sse": "sse"}[transport]
    extra = ["--output", "structured"] if mode == "structured" else []
    with DemoServerProcess(transport=flag, db=many_chats, extra_args=extra) as server:
        demo = Demo(transport=transport, mode=mode, db=many_chats, url=server.url)
        client = WhatsAppMCPClient(demo.config())
        try:
            assert await client.initialize(), client.last_error
            listed = [chat.jid async for chat in client.iter_chats(page_size=10_000)]
        finally:
            await client.disconnect()
    assert len(listed) == len(set(listed))
    assert set(listed) == expected
    assert len(expected) > 10_000


@pytest.mark.parametrize("mode", ["lharries", "structured"])
async def test_over_stdio_the_same_listing_takes_fewer_larger_pages(many_chats: Path, mode: str) -> None:
    # stdio has no message size limit, so pages grow past the network budget (fewer OFFSET skips on the server)
    with sqlite3.connect(many_chats) as conn:
        expected = {jid for (jid,) in conn.execute("SELECT jid FROM chats")}
    client = WhatsAppMCPClient(Demo(transport="stdio", mode=mode, db=many_chats).config())
    calls: list[int] = []
    try:
        assert await client.initialize(), client.last_error
        for budget in (None, CHAT_PAGE_BYTES):  # as configured for stdio, then as over HTTP
            profile = client.profile
            assert isinstance(profile, LharriesProfile | StructuredProfile)
            if budget is not None:
                profile.chat_page_bytes = budget
            before = _listing_calls(client)
            listed = [chat.jid async for chat in client.iter_chats(page_size=10_000)]
            calls.append(_listing_calls(client) - before)
            assert len(listed) == len(set(listed))
            assert set(listed) == expected
    finally:
        await client.disconnect()
    assert calls[0] < calls[1], calls


def _listing_calls(client: WhatsAppMCPClient) -> int:
    server = client._mcp.metrics().get(client.config.server.name, {})  # no entry before the first tool call
    return int(server.get("tools", {}).get("list_chats", {}).get("calls", 0))


@pytest.mark.parametrize("mode", ["lharries", "structured"])
async def test_a_listing_by_activity_comes_newest_first_and_can_be_left_early(
    many_chats: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    # What the extractor's runs between full listings do: read the newest chats with the next page asked for
    # ahead, then stop. Leaving must close the pages' tasks in this task (else asyncio logs a task that exited a
    # cancel scope in another task), and the session must stay usable.
    with sqlite3.connect(many_chats) as conn:
        newest = [jid for (jid,) in conn.execute("SELECT jid FROM chats ORDER BY last_message_time DESC LIMIT 150")]
    client = WhatsAppMCPClient(Demo(transport="stdio", mode=mode, db=many_chats).config())
    try:
        assert await client.initialize(), client.last_error
        listing = client.iter_chats(page_size=10_000, pages_ahead=1, by_activity=True)
        seen = []
        async for chat in listing:
            seen.append(chat)
            if len(seen) == 150:
                break
        await listing.aclose()
        times = [chat.last_message_time for chat in seen]
        assert times == sorted(times, reverse=True)  # type: ignore[type-var]
        assert {chat.jid for chat in seen} == set(newest)
        assert len([chat async for chat in client.iter_chats(page_size=10_000)]) > 10_000
    finally:
        await client.disconnect()
    assert "Task exception was never retrieved" not in caplog.text
    assert "cancel scope" not in caplog.text
