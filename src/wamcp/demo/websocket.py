"""Our own MCP-over-WebSocket server side (the SDK has none since 2.0): one JSON-RPC message per text frame.

Built on ``websockets``' asyncio server with subprotocol ``mcp`` at path ``/ws``; each connection gets a pair of
memory streams that feed the SDK low-level server's ``run(read, write, init_options)`` (MCP_SDK_NOTES.md §3).
A closed socket ends the session quietly: ``ConnectionClosed`` is caught inside the pump tasks so it never turns the
task group into a cancellation storm.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

import anyio
import mcp.types as types
import pydantic
from mcp.server.lowlevel import Server
from mcp.shared.message import SessionMessage
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ..redact import get_logger

__all__ = ["WS_PATH", "serve_websocket"]

log = get_logger(__name__)

WS_PATH = "/ws"
_MCP = Subprotocol("mcp")


def _unauthorized(connection: ServerConnection, message: str) -> Response:
    response = connection.respond(HTTPStatus.UNAUTHORIZED, message + "\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="wamcp-demo"'
    return response


def bearer_ok(headers: Headers | Any, token: str | None) -> bool:
    """True when no token is required or ``Authorization: Bearer <token>`` matches (constant-time)."""
    if token is None:
        return True
    value = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, given = str(value).partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def _pump(server: Server[Any], ws: ServerConnection, drop: Callable[[], bool] | None = None) -> None:
    read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_in, write_out = anyio.create_memory_object_stream[SessionMessage](0)

    async def from_socket() -> None:
        async with read_in:
            try:
                async for frame in ws:
                    text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                    if drop is not None and '"tools/call"' in text and drop():
                        ws.transport.abort()  # the demo's dropped-connection fault: no close frame, no answer
                        return
                    try:
                        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                    except pydantic.ValidationError as err:
                        await read_in.send(err)
                        continue
                    await read_in.send(SessionMessage(message))
            except ConnectionClosed:
                log.debug("websocket client went away")

    async def to_socket() -> None:
        async with write_out:
            try:
                async for item in write_out:
                    await ws.send(item.message.model_dump_json(by_alias=True, exclude_unset=True))
            except ConnectionClosed:
                log.debug("websocket closed while sending")

    async with anyio.create_task_group() as tg:
        tg.start_soon(from_socket)
        tg.start_soon(to_socket)
        async with read_out, write_in:
            await server.run(read_out, write_in, server.create_initialization_options())
        tg.cancel_scope.cancel()


async def serve_websocket(
    server: Server[Any],
    sock: socket.socket,
    *,
    token: str | None,
    ready: Callable[[], Awaitable[None] | None],
    drop: Callable[[], bool] | None = None,
) -> None:
    """Serve MCP on ``ws://<sock>/ws`` until cancelled; ``drop()`` true for a tool call aborts its connection."""

    def check(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] != WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"MCP WebSocket endpoint is {WS_PATH}\n")
        if not bearer_ok(request.headers, token):
            return _unauthorized(connection, "missing or wrong bearer token")
        return None

    def pick_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        # Speak "mcp" when offered, but do not turn away clients that offer no subprotocol at all.
        return _MCP if _MCP in offered else None

    async def handler(ws: ServerConnection) -> None:
        await _pump(server, ws, drop)

    async with serve(handler, sock=sock, select_subprotocol=pick_subprotocol, process_request=check) as ws_server:
        result = ready()
        if result is not None:
            await result
        try:
            await anyio.sleep_forever()
        finally:
            ws_server.close()
