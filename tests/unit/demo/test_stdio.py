"""The demo server over stdio: short calls run on the event loop, no worker-thread hop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wamcp.demo.server import DemoServer, DemoServerConfig, Transport, _bounded

from .golden import FIXTURE_DB

pytestmark = pytest.mark.anyio


def test_only_calls_bounded_by_their_page_run_on_the_event_loop() -> None:
    jid = "33606900592@s.whatsapp.net"
    assert _bounded("get_chat", {"chat_jid": jid})
    assert _bounded("list_messages", {"chat_jid": jid, "limit": 500, "before": "2025-01-01 00:00:00"})
    assert not _bounded("list_messages", {"chat_jid": jid, "query": "invoice"})  # a text search scans
    assert not _bounded("list_messages", {"limit": 20})  # across every chat
    assert not _bounded("list_messages", {"chat_jid": jid, "limit": 100_000})
    assert not _bounded("list_chats", {"limit": 20})  # pages by OFFSET


async def test_short_calls_over_stdio_need_no_worker_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hops: list[str] = []

    async def no_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(args[1])  # the tool name (call_tool's second argument)
        return func(*args)

    monkeypatch.setattr("wamcp.demo.server.anyio.to_thread.run_sync", no_thread)
    jid = "33606900592@s.whatsapp.net"
    cases: list[tuple[Transport, list[str]]] = [("stdio", ["list_chats"]), ("websocket", ["get_chat", "list_chats"])]
    for transport, expected in cases:
        hops.clear()
        demo = DemoServer(DemoServerConfig(transport=transport, media_dir=tmp_path), FIXTURE_DB)
        try:
            chat = await demo.call("get_chat", {"chat_jid": jid})
            listing = await demo.call("list_chats", {"limit": 5})
        finally:
            demo.close()
        assert not chat.is_error
        assert not listing.is_error
        assert hops == expected, transport
