"""Pairing against a demo server that requires it (``--require-pairing``), over SSE, in both output modes: the
client shows the QR code, reports the account as not connected, is refused reads with the server's explanation,
and reads normally once the phone has confirmed the code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from wamcp.errors import MCPClientError
from wamcp.whatsapp import WhatsAppMCPClient

from .conftest import MODES, Demo, start_demo

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture(params=MODES)
def demo(request: pytest.FixtureRequest, demo_db: Path) -> Iterator[Demo]:
    yield from start_demo("sse", request.param, demo_db, extra_args=("--require-pairing",))


@pytest.fixture
async def client(demo: Demo) -> AsyncIterator[WhatsAppMCPClient]:
    wa = WhatsAppMCPClient(demo.config())
    assert await wa.initialize(), wa.last_error
    try:
        yield wa
    finally:
        await wa.disconnect()


async def test_pairing_shows_a_qr_code_and_unlocks_reads(client: WhatsAppMCPClient) -> None:
    before = await client.health_check()
    with pytest.raises(MCPClientError, match="authentication required"):
        await client.list_chats(limit=5)

    auth = await client.authenticate("+447700900123")
    confirmed = await client.call_tool("confirm_pairing", {"code": auth["pairing_code"]})
    after = await client.health_check()
    chats = await client.list_chats(limit=5)

    assert before["mcp_connection"] is True
    assert before["whatsapp_connection"] is False
    assert auth["status"] == "qr_required"
    assert auth["authenticated"] is False
    assert auth["qr_code"].startswith("2@")
    assert auth["tool"] == "request_pairing"
    assert "success" in confirmed["text"]
    assert after["whatsapp_connection"] is True
    assert len(chats) == 5
