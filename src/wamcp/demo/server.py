"""The demo WhatsApp MCP server: the lharries tool contract over stdio, SSE, streamable HTTP and WebSocket.

Built on the SDK's low-level ``Server`` rather than ``MCPServer`` because a 2.3.0 ``MCPServer`` adds
``structuredContent`` and output schemas to every tool, and in text mode we must look exactly like the real
mcp 1.6.0 server (no ``structuredContent``, ``outputSchema: null``). ``--output structured`` adds both.
Every HTTP transport binds 127.0.0.1 by default and announces itself on stderr with one machine-readable line,
``wamcp-demo-server listening on <url>`` (see :data:`READY_PREFIX`), once it accepts connections.
"""

from __future__ import annotations

import errno
import json
import re
import signal
import socket
import sqlite3
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
import mcp.types as types
import platformdirs
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.sse import SseServerTransport
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import ConfigError
from ..redact import get_logger
from .bridge import Bridge
from .data import generate_database
from .faults import RATE_LIMIT_TEXT, FaultConfig, Faults
from .pairing import PAIRING_REQUIRED_TEXT, Pairing, pairing_tools
from .stdio import InlineCalls, stdio_streams
from .tools import LHARRIES_TOOL_NAMES, STRUCTURED_OUTPUT_SCHEMA, ToolOutput, call_tool, lharries_tools, tool_error
from .websocket import WS_PATH, bearer_ok, serve_websocket

__all__ = [
    "DEFAULT_MESSAGES",
    "READY_PREFIX",
    "DemoServer",
    "DemoServerConfig",
    "Transport",
    "default_database",
    "run_demo_server",
]

log = get_logger(__name__)

Transport = Literal["stdio", "sse", "http", "websocket"]
#: Start of the readiness line on stderr; the URL follows (``stdio`` for the stdio transport).
READY_PREFIX = "wamcp-demo-server listening on "
#: Size of the default dataset: big enough to look like a year of a small shop, small enough to generate in ~0.5 s.
DEFAULT_MESSAGES = 20000
_PATHS = {"http": "/mcp", "sse": "/sse", "websocket": WS_PATH}
_PAIRING_TOOL_NAMES = frozenset({"get_connection_status", "request_pairing", "confirm_pairing"})
#: The most messages a call run on the event loop may ask for (see :func:`_bounded`).
_INLINE_LIMIT = 1000
#: The session id in the SSE endpoint event and in each POST's query string.
_SSE_SESSION_ID = re.compile(rb"session_id=([0-9a-f]{32})")


@dataclass
class DemoServerConfig:
    """Everything ``wamcp demo-server`` accepts."""

    db: Path | None = None
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = 0
    messages: int = DEFAULT_MESSAGES
    seed: int = 1
    timezone: str = "UTC"
    token: str | None = None
    output: Literal["text", "structured"] = "text"
    require_pairing: bool = False
    pairing_tools: bool = False
    media_dir: Path | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    #: stdio through the SDK's ``stdio_server`` and every call on a thread: the real server's costs per call
    sdk_stdio: bool = False
    #: streamable HTTP answers each request with one JSON body instead of an SSE stream (the SDK's two modes)
    json_response: bool = False


def default_database(messages: int = DEFAULT_MESSAGES, seed: int = 1, timezone: str = "UTC") -> Path:
    """The cached demo dataset for these parameters, generated on first use (atomically, so a killed run is
    simply redone next time)."""
    cache = Path(platformdirs.user_cache_dir("wamcp")) / "demo"
    path = cache / f"demo-{messages}-{seed}-{timezone.replace('/', '_')}.db"
    if not path.is_file():
        generate_database(path, messages=messages, seed=seed, timezone=timezone)
    return path


class DemoServer:
    """One demo server process's state: the bridge database, faults, pairing, and the SDK low-level server."""

    def __init__(self, config: DemoServerConfig, db_path: Path) -> None:
        self.config = config
        media_dir = config.media_dir or Path(platformdirs.user_cache_dir("wamcp")) / "demo-media"
        self.bridge = Bridge(db_path, media_dir=media_dir, timezone=config.timezone, seed=config.seed)
        # The sender lookups (~1 s on a 1M-message database) are built on a thread from the start, so that neither
        # the first client's handshake nor a chat listing (which shows no senders) waits for them; a call that shows
        # senders waits for the lookups' lock.
        threading.Thread(target=self._warm, name="wamcp-demo-warm", daemon=True).start()
        self.faults = Faults(config.faults)
        self.pairing = Pairing(required=config.require_pairing, seed=config.seed)
        self.structured = config.output == "structured"
        self.with_pairing_tools = config.pairing_tools or config.require_pairing
        # HTTP transports answer a rate limit with 429 before the request reaches a tool.
        self._rate_limit_in_tools = config.transport in ("stdio", "websocket")
        self._locks: weakref.WeakKeyDictionary[Any, anyio.Lock] = weakref.WeakKeyDictionary()
        # stdio serves one client: a short call runs on the event loop instead of a worker thread (the thread hop
        # cost more CPU than such a call). Network transports keep threads, so that one connection's call never
        # holds up another's.
        self._inline_short_calls = config.transport == "stdio" and not config.sdk_stdio
        self.server: Server[Any] = Server(
            "whatsapp",
            version=f"wamcp-demo {__version__}",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        # The SDK wraps every message in an OpenTelemetry span; the real server (mcp 1.6) has none, and the demo
        # never exports any, so it is pure cost per call.
        self.server.middleware = []

    def _warm(self) -> None:
        try:
            self.bridge.warm()
        except sqlite3.Error as err:  # a damaged database fails its first tool call instead, with the details
            log.debug("could not prepare the sender lookups: %s", err)

    def close(self) -> None:
        self.bridge.close()

    def tools(self) -> list[types.Tool]:
        tools = lharries_tools(self.structured)
        if self.with_pairing_tools:
            extra = pairing_tools()
            if self.structured:
                extra = [t.model_copy(update={"output_schema": STRUCTURED_OUTPUT_SCHEMA}) for t in extra]
            tools.extend(extra)
        return tools

    async def _list_tools(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tools())

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        # The SDK makes a ServerSession per request; the connection behind it is what "per connection" means.
        # It is only reachable through a private attribute, hence the fallback.
        session = getattr(ctx, "session", None)
        conn = getattr(session, "_connection", session)
        if self.config.faults.serial and conn is not None:
            lock = self._locks.get(conn)
            if lock is None:
                lock = self._locks[conn] = anyio.Lock()
            async with lock:
                return await self.call(params.name, params.arguments)
        return await self.call(params.name, params.arguments)

    async def call(self, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        """One tool call with faults and pairing applied (what every transport runs)."""
        return (await self._output(name, arguments)).to_result(self.structured)

    async def _output(self, name: str, arguments: dict[str, Any] | None) -> ToolOutput:
        decision = self.faults.before_call(name, count_rate_limit=self._rate_limit_in_tools)
        if decision.latency:
            await anyio.sleep(decision.latency)
        if decision.rate_limited:
            out = tool_error(name, f"{RATE_LIMIT_TEXT}, retry after {decision.retry_after:.1f} s")
        elif decision.error:
            out = tool_error(name, "simulated server failure (demo fault --error-rate)")
        elif name in _PAIRING_TOOL_NAMES and self.with_pairing_tools:
            out = await anyio.to_thread.run_sync(self._pairing_call, name, arguments or {})
        elif not self.pairing.connected and name in LHARRIES_TOOL_NAMES:
            out = tool_error(name, PAIRING_REQUIRED_TEXT)
        else:
            garble = self.faults.garble if self.config.faults.malformed_rate else None
            if self._inline_short_calls and _bounded(name, arguments):
                out = call_tool(self.bridge, name, arguments, garble, self.structured, self.config.faults.page_cap)
            else:
                out = await anyio.to_thread.run_sync(
                    call_tool, self.bridge, name, arguments, garble, self.structured, self.config.faults.page_cap
                )
        return out

    def inline_answer(self, name: str, arguments: dict[str, Any] | None) -> Awaitable[dict[str, Any]] | None:
        """The call's result as the SDK would write it, for :class:`~.stdio.InlineCalls` to answer itself, when it
        is a short call of a well-behaved stdio server (no faults to inject, which may sleep or serialize); None
        leaves it to the SDK."""
        if not self._inline_short_calls or self.config.faults.active or self.config.faults.serial:
            return None
        if not _bounded(name, arguments):
            return None
        return self._wire(name, arguments)

    async def _wire(self, name: str, arguments: dict[str, Any] | None) -> dict[str, Any]:
        return (await self._output(name, arguments)).wire(self.structured)

    def _pairing_call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        if name == "get_connection_status":
            chats, messages = self.bridge.counts()
            value = self.pairing.status(self.bridge.business_phone(), chats, messages)
        elif name == "request_pairing":
            phone = arguments.get("phone_number")
            value = self.pairing.request(phone if isinstance(phone, str) else None)
        else:
            code = arguments.get("code")
            if not isinstance(code, str):
                return tool_error(name, "code: a string is required")
            value = self.pairing.confirm(code)
        return ToolOutput([json.dumps(value)], value)


def _bounded(name: str, arguments: dict[str, Any] | None) -> bool:
    """A call whose cost is bounded by the page it returns, i.e. milliseconds: one chat by JID, or one page of one
    chat's messages without a text search. Anything else (listings by ``OFFSET``, searches, media) may take a
    second on a big account, and on the event loop it would hold up even the health pings, so it gets a thread."""
    if name == "get_chat":
        return True
    if name != "list_messages" or not arguments:
        return False
    limit = arguments.get("limit", 20)
    return (
        bool(arguments.get("chat_jid"))
        and not arguments.get("query")
        and isinstance(limit, int)
        and limit <= _INLINE_LIMIT
    )


# -- HTTP gate: bearer token, 429s and dropped connections -----------------------------------------------------
class _HttpGate:
    """ASGI wrapper: 401 without the bearer token; 429 + Retry-After on tool calls past the rate limit; tool calls
    whose connection the ``drop_rate`` fault drops (``sse_streams`` ends an SSE session's event stream)."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, faults: Faults, sse_streams: _SseStreams | None = None
    ) -> None:
        self.app = app
        self.token = token
        self.faults = faults
        self.sse_streams = sse_streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not bearer_ok(headers, self.token):
            await _respond(
                send,
                401,
                b'{"error": "unauthorized: missing or wrong bearer token"}',
                [(b"www-authenticate", b'Bearer realm="wamcp-demo"')],
            )
            return
        config = self.faults.config
        if scope.get("method") != "POST" or (config.rate_limit_after is None and not config.drop_rate):
            await self.app(scope, receive, send)
            return
        body, replay = await _buffer_body(receive)
        if b'"tools/call"' in body:
            retry = self.faults.check_rate_limit()
            if retry is not None:
                seconds = max(1, round(retry))
                text = json.dumps({"error": f"{RATE_LIMIT_TEXT}, retry after {seconds} s"}).encode()
                await _respond(send, 429, text, [(b"retry-after", str(seconds).encode())])
                return
            if self.faults.drop_connection():
                await self._drop(scope, send)
                return
        await self.app(scope, replay, send)

    async def _drop(self, scope: Scope, send: Send) -> None:
        if self.sse_streams is not None:
            # SSE answers on the session's event stream: ending that stream is what drops the connection.
            found = _SSE_SESSION_ID.search(scope.get("query_string", b""))
            if found is not None:
                self.sse_streams.end(found.group(1).decode())
            await _respond(send, 202, b"Accepted", [])
            return
        # Start an answer and return without finishing it: uvicorn closes the socket mid-response.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"", "more_body": True})


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _respond(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _SseStreams:
    """The open SSE event streams by session id, so a dropped-connection fault can end one."""

    def __init__(self) -> None:
        self._scopes: dict[str, anyio.CancelScope] = {}

    def add(self, session_id: str, scope: anyio.CancelScope) -> None:
        self._scopes[session_id] = scope

    def remove(self, scope: anyio.CancelScope) -> None:
        for session_id in [k for k, v in self._scopes.items() if v is scope]:
            del self._scopes[session_id]

    def end(self, session_id: str) -> None:
        scope = self._scopes.get(session_id)
        if scope is not None:
            scope.cancel()


class _SseEndpoint:
    """GET /sse: one MCP session per event stream (a raw ASGI app, so Starlette hands it the scope as is)."""

    def __init__(self, demo: DemoServer, transport: SseServerTransport, streams: _SseStreams) -> None:
        self.demo = demo
        self.transport = transport
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self.demo.server
        stream_scope = anyio.CancelScope()

        async def learn_session(message: Message) -> None:
            # The SDK keeps the session id to itself; its first event (the POST endpoint) carries it.
            if message["type"] == "http.response.body":
                found = _SSE_SESSION_ID.search(message.get("body", b""))
                if found is not None:
                    self.streams.add(found.group(1).decode(), stream_scope)
            await send(message)

        try:
            with stream_scope:
                async with self.transport.connect_sse(scope, receive, learn_session) as (read, write):
                    await server.run(read, write, server.create_initialization_options())
        finally:
            self.streams.remove(stream_scope)


def _security(host: str) -> TransportSecuritySettings | None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def build_asgi_app(demo: DemoServer) -> ASGIApp:
    """The Starlette app of the ``http`` or ``sse`` transport, behind the token/rate-limit gate."""
    config = demo.config
    streams: _SseStreams | None = None
    if config.transport == "http":
        app: ASGIApp = demo.server.streamable_http_app(
            streamable_http_path="/mcp",
            json_response=config.json_response,
            host=config.host,
            transport_security=_security(config.host),
        )
    else:
        sse = SseServerTransport("/messages/", security_settings=_security(config.host))
        streams = _SseStreams()
        app = Starlette(
            routes=[
                Route("/sse", endpoint=_SseEndpoint(demo, sse, streams), methods=["GET"]),
                Mount("/messages/", app=sse.handle_post_message),
            ]
        )
    return _HttpGate(app, token=config.token, faults=demo.faults, sse_streams=streams)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio disables Nagle's algorithm only on accepted sockets whose protocol says
    # TCP, and with it on, a response's body waited for the client's delayed ACK of its headers on every reused
    # connection: 40 ms a call (uvicorn binding host/port itself gets this right; we bind to learn a free port).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            # Also when no server holds it: a connection that ended in the last minute (TIME_WAIT) on that local
            # port blocks a listener there too, which thousands of short HTTP calls make likely.
            raise ConfigError(
                f"port {port} on {host} is in use (by another server, or by a connection that closed in the last "
                "minute)",
                hint="choose another --port, or --port 0 for a free one",
            ) from None
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def announce(url: str) -> None:
    """Print the readiness line (stderr only: stdout may be the protocol)."""
    sys.stderr.write(f"{READY_PREFIX}{url}\n")
    sys.stderr.flush()


def _url(transport: Transport, host: str, port: int) -> str:
    scheme = "ws" if transport == "websocket" else "http"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{_PATHS[transport]}"


class _AnnouncingServer(uvicorn.Server):
    """uvicorn server that prints the readiness line once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            announce(self.url)


async def _serve_uvicorn(demo: DemoServer, sock: socket.socket, url: str) -> None:
    config = uvicorn.Config(
        build_asgi_app(demo), log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    await _AnnouncingServer(config, url).serve(sockets=[sock])


async def _until_signal(body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` until it ends or SIGINT/SIGTERM arrives."""
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("signal %s: stopping", signum)
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        await body()
        tg.cancel_scope.cancel()


async def run_demo_server(config: DemoServerConfig, db_path: Path | None = None) -> None:
    """Serve until the client leaves (stdio), or until SIGINT/SIGTERM (network transports)."""
    path = db_path or config.db or default_database(config.messages, config.seed, config.timezone)
    demo = DemoServer(config, path)
    try:
        if config.transport == "stdio":

            async def stdio() -> None:
                # No readiness line on stdio: the handshake is the readiness, and the line would only clutter the
                # terminal of the client that spawned us (its stderr is ours).
                # --sdk-stdio: the SDK's transport (a worker thread per line), as mcp 1.6 servers such as lharries
                # serve, so that benchmarks pay what a real server costs per call.
                streams = stdio_server() if config.sdk_stdio else stdio_streams()
                async with streams as (read, write):
                    if not config.sdk_stdio:
                        read = InlineCalls(read, write, demo.inline_answer)
                    await demo.server.run(read, write, demo.server.create_initialization_options())

            await _until_signal(stdio)
            return
        sock = _bind(config.host, config.port)
        try:
            url = _url(config.transport, config.host, sock.getsockname()[1])
            if config.transport == "websocket":

                async def ws() -> None:
                    await serve_websocket(
                        demo.server,
                        sock,
                        token=config.token,
                        ready=lambda: announce(url),
                        drop=demo.faults.drop_connection if config.faults.drop_rate else None,
                    )

                await _until_signal(ws)
            else:
                # uvicorn owns SIGINT/SIGTERM here; after its graceful shutdown it re-raises the signal (the CLI maps
                # that to a clean exit).
                await _serve_uvicorn(demo, sock, url)
        finally:
            sock.close()
    finally:
        demo.close()
