"""Our WebSocket transport: TLS settings, garbage frames and a peer that hangs up."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from websockets.asyncio.server import ServerConnection, serve

from wamcp.config import ServerConfig
from wamcp.core.session import _WatchedReadStream
from wamcp.core.transports import WebSocketTransport
from wamcp.core.transports.websocket import _ssl_for

pytestmark = pytest.mark.anyio


def test_wss_verifies_certificates_unless_told_not_to() -> None:
    assert _ssl_for("ws://h:1/ws", ServerConfig(endpoint="ws://h:1")) is None
    strict = _ssl_for("wss://h:1/ws", ServerConfig(endpoint="wss://h:1"))
    lax = _ssl_for("wss://h:1/ws", ServerConfig(endpoint="wss://h:1", verify_tls=False))

    assert strict is not None
    assert strict.verify_mode == ssl.CERT_REQUIRED
    assert strict.check_hostname is True
    assert lax is not None
    assert lax.verify_mode == ssl.CERT_NONE


@asynccontextmanager
async def one_shot_server(frames: list[str]) -> AsyncIterator[int]:
    """A WebSocket server that sends ``frames`` to each client and hangs up."""

    async def handler(ws: ServerConnection) -> None:
        for frame in frames:
            await ws.send(frame)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield port


async def test_garbage_frames_are_handed_over_as_errors_then_hang_up_is_end_of_stream() -> None:
    frames = ["this is not json", '{"jsonrpc": "2.0", "method": "notifications/initialized"}']
    async with one_shot_server(frames) as port:
        transport = WebSocketTransport(ServerConfig(endpoint=f"ws://127.0.0.1:{port}", connection_type="websocket"))
        received: list[object] = []
        with anyio.fail_after(5):
            async with transport.open() as (read_stream, _write_stream):
                async for item in read_stream:
                    received.append(item)

    assert isinstance(received[0], Exception)
    assert type(received[1]).__name__ == "SessionMessage"
    assert len(received) == 2


async def test_the_session_warns_once_about_frames_that_are_not_mcp(caplog: pytest.LogCaptureFixture) -> None:
    # The session's read side (not a transport) notes what is not MCP's, so WebSocket garbage is named as stdio's is.
    frames = ["this is not json", "nor is +15551234567", '{"jsonrpc": "2.0", "method": "notifications/initialized"}']
    async with one_shot_server(frames) as port:
        transport = WebSocketTransport(ServerConfig(endpoint=f"ws://127.0.0.1:{port}", connection_type="websocket"))
        with anyio.fail_after(5):
            async with transport.open() as (read_stream, _write_stream):
                watched = _WatchedReadStream(read_stream, lambda: None, "ws-test")
                received = [item async for item in watched]

    assert type(received[2]).__name__ == "SessionMessage"
    assert watched.junk == 2
    assert "nor is" in watched.last_junk
    assert "15551234567" not in watched.last_junk  # phone numbers are redacted in what is quoted
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "'ws-test' sent something that is not an MCP message" in warnings[0]
    assert "this is not json" in warnings[0]
