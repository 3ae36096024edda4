"""A chat listing larger than what the SDK's HTTP transports accept in one message (1 MiB) still comes back whole:
both profiles keep each ``list_chats`` answer under their byte budget, whatever page size is asked for."""

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
            listed = [chat.jid async for chat in client.iter_chats(page_size=10_000)]
        finally:
            await client.disconnect()
    assert len(listed) == len(set(listed))
    assert set(listed) == expected
    assert len(expected) > 10_000
