"""A chat listing of several megabytes comes back whole, in pages that both profiles keep under their byte budget
(1 MiB) whatever page size is asked for, with the next page asked for ahead as the extractor does, on every
transport alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wamcp.demo.data import generate_database
from wamcp.demo.launch import DemoServerProcess
from wamcp.whatsapp import WhatsAppMCPClient

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
            listed = [chat.jid async for chat in client.iter_chats(page_size=10_000, pages_ahead=1)]
        finally:
            await client.disconnect()
    assert len(listed) == len(set(listed))
    assert set(listed) == expected
    assert len(expected) > 10_000


@pytest.mark.parametrize("mode", ["lharries", "structured"])
async def test_the_network_transports_list_in_as_few_pages_as_stdio(many_chats: Path, mode: str) -> None:
    # The network transports used to keep listing answers under 512 KiB (the SDK's 1 MiB cap on a message) and
    # to ask for no page ahead: on an OFFSET-paged server that is twice the pages and rows skipped over.
    with sqlite3.connect(many_chats) as conn:
        expected = {jid for (jid,) in conn.execute("SELECT jid FROM chats")}
    extra = ["--output", "structured"] if mode == "structured" else []
    calls: dict[str, int] = {}
    with DemoServerProcess(transport="http", db=many_chats, extra_args=extra) as server:
        for transport in ("stdio", "streamable_http"):
            url = server.url if transport == "streamable_http" else None
            client = WhatsAppMCPClient(Demo(transport=transport, mode=mode, db=many_chats, url=url).config())
            try:
                assert await client.initialize(), client.last_error
                listed = [chat.jid async for chat in client.iter_chats(page_size=10_000, pages_ahead=1)]
                calls[transport] = _listing_calls(client)
            finally:
                await client.disconnect()
            assert len(listed) == len(set(listed))
            assert set(listed) == expected
    assert calls["streamable_http"] == calls["stdio"], calls


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
