"""WebSocket transport (ours: the SDK 2.x has none): one JSON-RPC message per text frame, subprotocol ``mcp``.

Two pump tasks move frames between the socket and the anyio stream pair the SDK session expects. The one thing to
know: a closed socket must end the pumps quietly and close the read side (EOF), never escape from a pump, because an
exception in the pump task group would cancel the supervisor that hosts the connection instead of failing the pending
requests with "Connection closed".
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import mcp_types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ...config import MCPConnectionType, ServerConfig
from ...redact import get_logger
from .answers import plain_response
from .base import HttpRefusal, build_headers, display_endpoint, resolve_url, sends_credentials, tls_verify

__all__ = ["SUBPROTOCOL", "WebSocketTransport"]

logger = get_logger(__name__)
# The websockets library logs the handshake headers (Authorization included) at DEBUG on the logger it is given; a
# logger of ours carries the redaction filter, so the token never reaches a handler.
_wire_logger = get_logger(f"{__name__}.wire")

SUBPROTOCOL = Subprotocol("mcp")


def _ssl_for(url: str, config: ServerConfig) -> ssl.SSLContext | None:
    if not url.startswith("wss:"):
        return None
    verify = tls_verify(config)
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify:
        return ssl.create_default_context()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _pump_in(ws: ClientConnection, sink: MemoryObjectSendStream[SessionMessage | Exception]) -> None:
    async with sink:
        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
                # Most frames are plain answers: read without the SDK's validation against every message shape.
                message: mcp_types.JSONRPCMessage | None = plain_response(text)
                if message is None:
                    try:
                        message = mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                    except ValidationError as err:
                        # Handed to the session as a value (it logs and carries on), like the SDK's own transports.
                        await sink.send(err)
                        continue
                await sink.send(SessionMessage(message))
        except ConnectionClosed as err:
            logger.debug("websocket closed by the server: %s", err)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass


async def _pump_out(
    ws: ClientConnection,
    source: MemoryObjectReceiveStream[SessionMessage],
    sink: MemoryObjectSendStream[SessionMessage | Exception],
) -> None:
    async with source:
        try:
            async for session_message in source:
                await ws.send(session_message.message.model_dump_json(by_alias=True, exclude_unset=True))
        except ConnectionClosed as err:
            logger.debug("websocket closed while sending: %s", err)
        # The socket is unusable: EOF the read side so pending requests fail now instead of timing out.
        await sink.aclose()


class WebSocketTransport:
    """Connects to ``ws(s)://host:port/ws`` (default path) with headers, TLS and subprotocol ``mcp``."""

    kind = "websocket"
    last_refusal: HttpRefusal | None = None

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self.url = resolve_url(config.endpoint, MCPConnectionType.WEBSOCKET)

    @property
    def endpoint(self) -> str:
        return display_endpoint(self.url)

    @property
    def sends_credentials(self) -> bool:
        return sends_credentials(self._config)

    def open(self) -> AbstractAsyncContextManager[TransportStreams]:
        return self._open()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        options: dict[str, Any] = {}
        context = _ssl_for(self.url, self._config)
        if context is not None:
            options["ssl"] = context
        async with connect(
            self.url,
            subprotocols=[SUBPROTOCOL],
            additional_headers=build_headers(self._config),
            open_timeout=self._config.connect_timeout,
            # Liveness is the health monitor's job; the library's own pings would only add a second opinion.
            ping_interval=None,
            close_timeout=1.0,
            max_size=None,
            proxy=None,
            logger=_wire_logger,
            **options,
        ) as ws:
            if ws.subprotocol != SUBPROTOCOL:
                logger.debug("server at %s did not confirm subprotocol mcp (got %r)", self.endpoint, ws.subprotocol)
            read_sink, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            write_stream, write_source = anyio.create_memory_object_stream[SessionMessage](0)
            async with anyio.create_task_group() as tg, read_stream, write_stream:
                tg.start_soon(_pump_in, ws, read_sink)
                tg.start_soon(_pump_out, ws, write_source, read_sink)
                try:
                    yield read_stream, write_stream
                finally:
                    tg.cancel_scope.cancel()

    def __repr__(self) -> str:
        return f"WebSocketTransport({self.endpoint!r})"
