"""Ground truth: the client, over the real core MCPClient and the in-memory demo server, reads back exactly the
bridge database the demo serves (tricky content, duplicate and colon-holding names, a DST zone), in both output
modes and by both walks."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wamcp.config import ServerConfig, WhatsAppConfig
from wamcp.core import MCPClient, MemoryTransport
from wamcp.whatsapp import WhatsAppMCPClient

demo_data = pytest.importorskip("wamcp.demo.data")
demo_server = pytest.importorskip("wamcp.demo.server")

pytestmark = pytest.mark.anyio
ZONE = "Europe/London"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "bridge.db"
    demo_data.generate_database(path, messages=3000, seed=11, timezone=ZONE)
    return path


def truth(db: Path) -> Counter[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT chat_jid, content, is_from_me, timestamp FROM messages").fetchall()
    return Counter(
        (jid, content or "", bool(mine), datetime.fromisoformat(ts).astimezone(UTC).isoformat())
        for jid, content, mine, ts in rows
    )


@contextlib.asynccontextmanager
async def _client(db: Path, media: Path, output: str) -> AsyncIterator[WhatsAppMCPClient]:
    """A connected client over the real core MCPClient and the in-memory demo server in ``output`` mode."""
    config = demo_server.DemoServerConfig(db=db, timezone=ZONE, output=output, media_dir=media)
    demo = demo_server.DemoServer(config, db)
    settings = WhatsAppConfig(
        server=ServerConfig(name="demo", connection_type="stdio", endpoint="memory"), server_timezone=ZONE
    )
    mcp = MCPClient()
    mcp.add_server(settings.server, transport=MemoryTransport(demo.server))
    client = WhatsAppMCPClient(settings, mcp_client=mcp)
    try:
        assert await client.initialize()
        yield client
    finally:
        await client.disconnect()
        await mcp.close()
        demo.close()


@pytest.mark.parametrize("parallel", [1, 3])
@pytest.mark.parametrize("output", ["text", "structured"])
async def test_every_message_comes_back_exactly(demo_db: Path, tmp_path: Path, output: str, parallel: int) -> None:
    async with _client(demo_db, tmp_path, output) as client:
        assert client.profile.name == ("lharries" if output == "text" else "structured")
        chats = [chat async for chat in client.iter_chats()]
        per_chat: Counter[tuple[Any, ...]] = Counter()
        ids: set[tuple[str | None, str]] = set()
        for chat in chats:
            async for m in client.iter_messages(chat.jid, page_size=40):
                per_chat[(m.chat_jid, m.content, m.is_from_me, m.timestamp.isoformat())] += 1
                ids.add((m.chat_jid, m.id))
        expected = truth(demo_db)
        assert per_chat == expected
        assert len(ids) == sum(expected.values())
        everything = Counter(
            [
                (m.chat_jid, m.content, m.is_from_me, m.timestamp.isoformat())
                async for m in client.iter_all_messages(parallel=parallel)
            ]
        )
        assert everything == expected
        assert client.stats.bad_lines == 0
        assert client.stats.bad_rows == 0


@pytest.mark.parametrize("parallel", [1, 4])
async def test_structured_servers_are_read_in_one_walk_across_chats(
    demo_db: Path, tmp_path: Path, parallel: int
) -> None:
    """A JSON server that lists across chats with a ``before`` bound is read page after page, whatever the number of
    chats; small pages cut many seconds in two, and every message still comes back exactly once, also when the walk
    is split into concurrent spans of time."""
    async with _client(demo_db, tmp_path, "structured") as client:
        chats = [chat async for chat in client.iter_chats(page_size=1000)]
        assert client.profile.cross_chat_jids(chats) == {c.jid for c in chats}
        calls_before = client.stats.calls
        got = [m async for m in client.iter_all_messages(page_size=16, chats=chats, parallel=parallel)]
        expected = truth(demo_db)
        assert Counter((m.chat_jid, m.content, m.is_from_me, m.timestamp.isoformat()) for m in got) == expected
        assert len({(m.chat_jid, m.id) for m in got}) == len(got)
        calls = client.stats.calls - calls_before
        total = sum(expected.values())
        assert calls < total / 16 * 1.5 < len(chats) * 2  # pages of 16 across chats, not a walk per chat
