"""A test MCP server on the current SDK (``MCPServer``), servable over stdio, SSE, streamable HTTP and WebSocket.

Run: ``python tests/servers/current_server.py --transport {stdio,sse,http,websocket} [--port N] [--token T]
[--status-code 401|403|429] [--silent] [--latency-ms MS]``. Tools: ``echo``, ``slow``, ``stopped``, ``fail``,
``rate_limited``, ``counter``, ``request_id``, ``pid``. The one thing to know: the WebSocket side is written here
(the SDK has none): one JSON-RPC message per text frame, subprotocol ``mcp``, fed into the SDK's low-level
``Server.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import ssl
import sys
from http import HTTPStatus
from typing import Any

import anyio
import mcp_types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

STATE = {"counter": 0, "latency": 0.0, "post_latency": 0.0, "stopped": 0}
#: A duplicate of the real stdout pipe (stdio transport only): the SDK points fd 1 elsewhere while serving.
JUNK: dict[str, int | None] = {"fd": None}


def build_server() -> MCPServer:
    server = MCPServer("wamcp-test-server", log_level="WARNING")

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text unchanged."""
        if STATE["latency"]:
            await anyio.sleep(STATE["latency"])
        return text

    @server.tool()
    async def big(size: int) -> str:
        """A text of ``size`` characters: a small request with a large answer."""
        return "".join(chr(ord("a") + i % 26) for i in range(size))

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            STATE["stopped"] += 1  # the client cancelled the call (notifications/cancelled)
            raise
        return f"slept {seconds}"

    @server.tool()
    async def stopped() -> int:
        """How many ``slow`` calls were cancelled before they finished (per server process)."""
        return int(STATE["stopped"])

    @server.tool()
    async def request_id(ctx: Context) -> str:
        """The JSON-RPC id of this request, as the client sent it."""
        return ctx.request_id

    @server.tool()
    async def fail() -> str:
        """Always fails with a tool error."""
        raise ToolError("boom: this tool always fails")

    @server.tool()
    async def rate_limited() -> str:
        """Always says we are too fast."""
        raise ToolError("rate limit exceeded, try again later")

    @server.tool()
    async def counter() -> int:
        """Count calls (per server process)."""
        STATE["counter"] += 1
        return int(STATE["counter"])

    @server.tool()
    async def junk(text: str) -> str:
        """Print a non-JSON line onto the protocol pipe first (as lharries' server does on database errors)."""
        if JUNK["fd"] is not None:
            os.write(JUNK["fd"], b"sqlite3.OperationalError: no such column: x\n")
        return text

    @server.tool()
    async def garbled(seconds: float) -> str:
        """Write a broken answer onto the protocol pipe, then take ``seconds`` before the real one (a garbled reply)."""
        if JUNK["fd"] is not None:
            os.write(JUNK["fd"], b'{"jsonrpc": "2.0", "id": 7, "resu\xff\n')
        await anyio.sleep(seconds)
        return "late"

    @server.tool()
    async def pid() -> int:
        """This server's process id."""
        return os.getpid()

    return server


def guard(app: Any, token: str | None, status: int | None, calls_before_refusing: int | None = None) -> Any:
    """ASGI wrapper: answer every HTTP request with ``status``, or 401 without ``Authorization: Bearer <token>``.

    With ``calls_before_refusing`` N, only ``tools/call`` POSTs after the N-th are answered with ``status``.
    """
    calls = {"seen": 0}

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and STATE["post_latency"]:
            await anyio.sleep(STATE["post_latency"])  # as a distant server: each POST takes a round trip
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
            refuse = status if calls_before_refusing is None else None
            if calls_before_refusing is not None and scope["method"] == "POST":
                body = b""
                more = True
                while more:
                    message = await receive()
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
                if b'"tools/call"' in body:
                    calls["seen"] += 1
                    if calls["seen"] > calls_before_refusing:
                        refuse = status
                replayed = {"done": False}
                upstream = receive

                async def replay() -> dict[str, Any]:
                    if not replayed["done"]:
                        replayed["done"] = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    result: dict[str, Any] = await upstream()
                    return result

                receive = replay
            if refuse is None and token is not None and headers.get("authorization") != f"Bearer {token}":
                refuse = 401
            if refuse is not None:
                extra = [(b"retry-after", b"7")] if refuse == 429 else []
                await send(
                    {
                        "type": "http.response.start",
                        "status": refuse,
                        "headers": [(b"content-type", b"text/plain"), *extra],
                    }
                )
                await send({"type": "http.response.body", "body": HTTPStatus(refuse).phrase.encode()})
                return
        await app(scope, receive, send)

    return asgi


async def serve_silent(port: int) -> None:
    """Accept TCP connections and never answer (a hung server)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def serve_websocket(
    server: MCPServer, port: int, token: str | None, status: int | None, tls: ssl.SSLContext | None = None
) -> None:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed
    from websockets.http11 import Request, Response
    from websockets.typing import Subprotocol

    lowlevel = server._lowlevel_server

    def check(connection: ServerConnection, request: Request) -> Response | None:
        refuse = status
        if refuse is None and token is not None and request.headers.get("Authorization") != f"Bearer {token}":
            refuse = 401
        if refuse is None:
            return None
        response = connection.respond(HTTPStatus(refuse), HTTPStatus(refuse).phrase)
        if refuse == 429:
            response.headers["Retry-After"] = "7"
        return response

    async def handler(ws: ServerConnection) -> None:
        read_sink, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, write_source = anyio.create_memory_object_stream[SessionMessage](0)

        async def pump_in() -> None:
            async with read_sink:
                try:
                    async for frame in ws:
                        text = frame if isinstance(frame, str) else frame.decode()
                        try:
                            message = mcp_types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                        except ValidationError as err:
                            await read_sink.send(err)
                            continue
                        await read_sink.send(SessionMessage(message))
                except ConnectionClosed:
                    pass

        async def pump_out() -> None:
            async with write_source:
                try:
                    async for item in write_source:
                        await ws.send(item.message.model_dump_json(by_alias=True, exclude_unset=True))
                except ConnectionClosed:
                    pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump_in)
            tg.start_soon(pump_out)
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()

    async with serve(
        handler, "127.0.0.1", port, subprotocols=[Subprotocol("mcp")], process_request=check, ssl=tls
    ) as ws_server:
        await ws_server.serve_forever()


def serve_http(
    server: MCPServer,
    kind: str,
    port: int,
    token: str | None,
    status: int | None,
    cert: str | None = None,
    key: str | None = None,
    calls_before_refusing: int | None = None,
    json_response: bool = False,
) -> None:
    import uvicorn

    app = server.sse_app() if kind == "sse" else server.streamable_http_app(json_response=json_response)
    config = uvicorn.Config(
        guard(app, token, status, calls_before_refusing),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ssl_certfile=cert,
        ssl_keyfile=key,
    )
    uvicorn.Server(config).run()


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def serve_stdio_silent() -> None:
    # Read requests, answer none; exit when the client closes stdin (as a hung-but-alive server would not).
    for _line in sys.stdin:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", default="stdio", choices=["stdio", "sse", "http", "websocket"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    parser.add_argument("--status-code", type=int, choices=[401, 403, 429, 500])
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--post-latency-ms", type=float, default=0.0, help="HTTP: delay every POST this long")
    parser.add_argument("--refuse-calls-after", type=int, help="answer --status-code only to tools/call POSTs after N")
    parser.add_argument("--tls-cert", help="serve https/wss with this certificate (PEM)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM)")
    parser.add_argument("--json-response", action="store_true", help="streamable HTTP: answer POSTs with JSON, not SSE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    STATE["latency"] = args.latency_ms / 1000.0
    STATE["post_latency"] = args.post_latency_ms / 1000.0
    if args.silent:
        if args.transport == "stdio":
            serve_stdio_silent()
        else:
            asyncio.run(serve_silent(args.port))
        return
    server = build_server()
    if args.transport == "stdio":
        JUNK["fd"] = os.dup(1)
        server.run("stdio")
    elif args.transport == "websocket":
        asyncio.run(serve_websocket(server, args.port, args.token, args.status_code, tls_context(args)))
    else:
        serve_http(
            server,
            args.transport,
            args.port,
            args.token,
            args.status_code,
            args.tls_cert,
            args.tls_key,
            args.refuse_calls_after,
            args.json_response,
        )


if __name__ == "__main__":
    main()
