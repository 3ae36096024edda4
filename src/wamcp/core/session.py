"""One live MCP session over one transport, and the one place foreign errors become ours.

:func:`open_session` enters a transport, runs the handshake (``legacy`` ``initialize`` by default, ``2026-07-28``
``server/discover``, or ``auto`` = discover then fall back) and yields a :class:`Session` whose methods may be called
from any task. The one thing a reader must know: the task that entered :func:`open_session` must be the one that
leaves it (anyio cancel scopes), so the client's supervisor owns it and callers only ever call methods on the yielded
:class:`Session`; when the peer goes away :attr:`Session.closed` is set and pending calls fail with
``MCPConnectionError``.

:func:`translate_error` maps every SDK, httpx2, websockets and OS exception (ExceptionGroups included) to the
:mod:`wamcp.errors` tree, chained, with messages that name the server, endpoint, transport and what to try.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
from mcp import ClientSession, MCPError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from .. import __version__
from ..errors import (
    ConfigError,
    MCPAuthenticationError,
    MCPClientError,
    MCPConnectionError,
    MCPHandshakeError,
    MCPProtocolError,
    MCPRateLimitError,
    MCPTimeoutError,
    MCPToolError,
)
from ..redact import get_logger, one_line, redact
from .transports.base import (
    CONNECTION_GONE_TEXTS,
    REFUSED_POST,
    HttpRefusal,
    ReceivingStream,
    Transport,
    parse_retry_after,
)

__all__ = ["Protocol", "Session", "open_session", "translate_error"]

logger = get_logger(__name__)

Protocol = Literal["legacy", "auto", "2026-07-28"]

CLIENT_INFO = types.Implementation(name="wamcp", version=__version__)
#: How long the auto mode waits for ``server/discover`` before falling back (the SDK's fixed 10 s is too long).
AUTO_DISCOVER_TIMEOUT = 3.0
#: A refusal recorded this recently (seconds) explains a generic "error response" from the SDK.
_REFUSAL_WINDOW = 30.0

#: What a streamable HTTP server (the SDK's: "Session not found") or the SDK's client ("Session terminated", for a
#: 404 without a JSON-RPC body) says when a request names a session the server does not know.
_SESSION_GONE = frozenset({"Session not found", "Session terminated"})


#: The transports whose requests need nothing from the SDK's per-request metadata (HTTP headers, resumption
#: tokens), so that :class:`_LeanCalls` may send their tool calls.
_LEAN_TRANSPORTS = frozenset({"stdio"})
#: How long a failed connect waits for a stdio server that closed its output to exit, to say how it ended.
_SERVER_END_WAIT = 0.5
#: How long a courtesy ``notifications/cancelled`` may take to write (the SDK allows its own the same order).
_CANCEL_WRITE_TIMEOUT = 1.0


class _LeanCalls:
    """``tools/call`` requests sent and answered beside the SDK's dispatcher, with none of its per-request work.

    Why not the SDK's call path: for a tool call the SDK dumps the request model, mints an OpenTelemetry span, a
    request clock, a memory-object stream pair and several anyio checkpoints, then validates the result twice (the
    protocol revision's surface check, then the result type): ~0.15 ms of CPU per call, about a third of what
    the extractor spends on a small chat read over stdio (a 1M-message text account makes ~91k such calls). Here
    a call is a future keyed by its id: :meth:`take` settles it from the read stream before the dispatcher sees
    the answer, and the result is validated once as the SDK's result type. Kept from the SDK's contract: the
    same ``MCPError`` codes for an error answer, a timeout (``REQUEST_TIMEOUT``, after a courtesy
    ``notifications/cancelled``) and a lost connection (``CONNECTION_CLOSED``), a courtesy cancel when the caller is
    cancelled, and the tool's output-schema check. Not kept: trace-context injection (no tracer is set up) and
    the 2026-07-28 revision's per-request stamping, so only sessions that completed the ``initialize`` handshake
    over a transport that sends no per-request headers (:data:`_LEAN_TRANSPORTS`) use it.

    Ids are strings (``"wamcp-1"``, …), which JSON-RPC allows and the dispatcher never mints (it counts integers),
    so an answer is never routed to the wrong waiter; a late answer to an abandoned call is dropped here.
    """

    _PREFIX = "wamcp-"

    def __init__(self, cs: ClientSession, write_stream: Any) -> None:
        self._cs = cs
        self._write = write_stream
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[types.JSONRPCResponse | types.JSONRPCError]] = {}
        self._closed = False

    def take(self, item: SessionMessage | Exception) -> bool:
        """Settle the call ``item`` answers and return True; False for anything that is not ours (the SDK's)."""
        if not isinstance(item, SessionMessage):
            return False
        message = item.message
        if not isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            return False
        ident = message.id
        if not isinstance(ident, str) or not ident.startswith(self._PREFIX):
            return False
        waiter = self._pending.pop(ident, None)
        if waiter is None:
            logger.debug("dropped a late answer to abandoned call %s", ident)
        elif not waiter.done():
            waiter.set_result(message)
        return True

    def close(self) -> None:
        """The connection is gone: every waiting call fails as the SDK's do (``CONNECTION_CLOSED``)."""
        self._closed = True
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            if not waiter.done():
                waiter.set_exception(MCPError(code=types.CONNECTION_CLOSED, message="Connection closed"))

    async def call_tool(self, tool: str, arguments: dict[str, Any] | None, seconds: float) -> types.CallToolResult:
        if self._closed:
            raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed")
        ident = f"{self._PREFIX}{next(self._ids)}"
        params: dict[str, Any] = {"name": tool}
        if arguments is not None:
            params["arguments"] = arguments
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[types.JSONRPCResponse | types.JSONRPCError] = loop.create_future()
        self._pending[ident] = waiter
        request = types.JSONRPCRequest(jsonrpc="2.0", id=ident, method="tools/call", params=params)
        written = False
        try:
            try:
                await self._write.send(SessionMessage(request))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed") from None
            written = True
            # A timer that fails the waiter rather than a cancel scope per call (anyio's costs more than the rest of
            # this method's bookkeeping).
            timer = loop.call_later(seconds, _expire, waiter) if math.isfinite(seconds) else None
            try:
                answer = await waiter
            finally:
                if timer is not None:
                    timer.cancel()
        except TimeoutError:
            await self._cancel(ident, f"timed out after {seconds:g}s", shield=False)
            raise MCPError(code=types.REQUEST_TIMEOUT, message="Request 'tools/call' timed out") from None
        except asyncio.CancelledError:
            if written:
                await self._cancel(ident, "caller cancelled", shield=True)
            raise
        finally:
            self._pending.pop(ident, None)
        if isinstance(answer, types.JSONRPCError):
            raise MCPError(code=answer.error.code, message=answer.error.message, data=answer.error.data)
        result = types.CallToolResult.model_validate(answer.result, by_name=False)
        if not result.is_error:
            await self._cs.validate_tool_result(tool, result)
        return result

    async def _cancel(self, ident: str, reason: str, *, shield: bool) -> None:
        """A courtesy ``notifications/cancelled`` so that the server stops working on ``ident``; never raises."""
        note = types.JSONRPCNotification(
            jsonrpc="2.0", method="notifications/cancelled", params={"requestId": ident, "reason": reason}
        )
        with anyio.move_on_after(_CANCEL_WRITE_TIMEOUT, shield=shield):
            try:
                await self._write.send(SessionMessage(note))
            except Exception as err:  # the connection may be gone: nothing left to cancel
                logger.debug("could not send the cancellation of %s: %s", ident, err)


def _lean_calls_fit(transport: Transport, cs: ClientSession) -> bool:
    """Whether :class:`_LeanCalls` may carry this session's tool calls: an ``initialize`` session over a transport
    without per-request metadata, on asyncio (its waiters are asyncio futures; trio keeps the SDK's path)."""
    if transport.kind not in _LEAN_TRANSPORTS or (cs.protocol_version or "") >= "2026-07-28":
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _WatchedReadStream(ReceivingStream[SessionMessage | Exception]):
    """Forwards the transport's read stream to the SDK, counts what arrives (the health check tells a slow server
    from a hung one by it), hands answers to lean calls to :attr:`lean` instead, and calls ``on_eof`` once when it
    ends (peer gone)."""

    __slots__ = ("_inner", "_on_eof", "junk", "last_junk", "lean", "received", "server")

    def __init__(self, inner: Any, on_eof: Callable[[], None], server: str = "") -> None:
        self._inner = inner
        self._on_eof = on_eof
        self.server = server
        self.received = 0
        #: Messages that are not MCP's (a stdio server's stray output, a garbled answer), and the latest of them.
        self.junk = 0
        self.last_junk = ""
        self.lean: _LeanCalls | None = None

    @property
    def last_context(self) -> Any:
        # The SDK's SSE/HTTP streams carry the sender's contextvars; the dispatcher reads them through this name.
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        while True:
            try:
                item: SessionMessage | Exception = await self._inner.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                if self.lean is not None:
                    self.lean.close()
                self._on_eof()
                raise
            self.received += 1
            if isinstance(item, Exception):
                self._note_junk(item)
            elif self.lean is not None and self.lean.take(item):
                continue
            return item

    def _note_junk(self, error: Exception) -> None:
        """Count a message that is not MCP's; the first of a session is a warning (the SDK only ignores them)."""
        self.junk += 1
        self.last_junk = _junk_excerpt(error)
        if self.junk == 1:
            logger.warning(
                "MCP server %r sent something that is not an MCP message (ignored; a stdio server must write only MCP "
                "messages to its stdout): %s",
                self.server,
                self.last_junk,
            )
        else:
            logger.debug(
                "MCP server %r: another message that is not MCP's (%d so far): %s",
                self.server,
                self.junk,
                self.last_junk,
            )

    async def aclose(self) -> None:
        await self._inner.aclose()


class Session:
    """A live, initialized session. Safe to call from many tasks at once (requests are pipelined, not serialized)."""

    def __init__(
        self, client_session: ClientSession, transport: Transport, server: str, stream: _WatchedReadStream | None = None
    ) -> None:
        self._cs = client_session
        self._stream = stream
        self.transport = transport
        self.server = server
        #: Set when the peer went away (end of stream) or a call found the connection closed.
        self.closed = anyio.Event()
        self.close_cause: BaseException | None = None
        #: Set when this client closes the session itself (``disconnect``/``close``): calls cut short say so.
        self.closed_by_client = False
        self.opened_at = time.monotonic()

    def mark_closed(self, cause: BaseException | None = None) -> None:
        if not self.closed.is_set():
            self.close_cause = cause
            self.closed.set()

    @property
    def received(self) -> int:
        """Messages received from the server so far (answers, notifications): any sign of life."""
        return self._stream.received if self._stream is not None else 0

    @property
    def protocol_version(self) -> str | None:
        return self._cs.protocol_version

    @property
    def server_info(self) -> dict[str, Any] | None:
        info = self._cs.server_info
        return info.model_dump(mode="json", exclude_none=True) if info is not None else None

    async def call_tool(self, tool: str, arguments: dict[str, Any] | None, seconds: float) -> types.CallToolResult:
        """Call ``tool`` with a ``seconds`` deadline; failures raise our errors, an ``isError`` result is returned."""
        stream = self._stream
        lean = stream.lean if stream is not None else None
        junk = stream.junk if stream is not None else 0
        try:
            if lean is not None:
                return await lean.call_tool(tool, arguments, seconds)
            return await self._cs.call_tool(tool, arguments, read_timeout_seconds=seconds)
        except Exception as err:
            mapped = await self._translate(err, tool=tool, limit=seconds)
            if isinstance(mapped, MCPTimeoutError) and stream is not None and stream.junk > junk:
                # The answer may be among what could not be read: say so, rather than only "no answer".
                mapped = MCPTimeoutError(
                    f"{mapped.message}; meanwhile it sent {stream.junk - junk} message(s) that are not MCP's "
                    f"(the latest: {stream.last_junk}), so the answer may have been garbled",
                    server=mapped.server,
                    tool=mapped.tool,
                    hint="a stdio server must write only MCP messages to its stdout (check its logging and prints); "
                    "the call is retried when the tool is idempotent",
                )
            raise mapped from err

    async def list_tools(self, seconds: float) -> list[types.Tool]:
        """Every tool the server offers (follows pagination cursors)."""
        tools: list[types.Tool] = []
        cursor: str | None = None
        try:
            with anyio.fail_after(seconds):
                while True:
                    params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                    page = await self._cs.list_tools(params=params)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        return tools
        except Exception as err:
            raise await self._translate(err, tool="tools/list", limit=seconds) from err

    async def ping(self, seconds: float) -> float:
        """Round-trip time in seconds of a ``ping`` (or ``tools/list`` where the server has no ping)."""
        started = time.perf_counter()
        try:
            with anyio.fail_after(seconds):
                try:
                    await self._cs.send_ping()
                except MCPError as err:
                    if err.code != types.METHOD_NOT_FOUND:
                        raise
                    await self._cs.list_tools()
        except Exception as err:
            raise await self._translate(err, tool="ping", limit=seconds) from err
        return time.perf_counter() - started

    async def _translate(self, err: BaseException, *, tool: str, limit: float) -> MCPClientError:
        """``err`` as one of ours; ``limit``: the call's timeout in seconds, for the message."""
        mapped = translate_error(err, server=self.server, transport=self.transport, tool=tool, timeout=limit)
        if isinstance(mapped, MCPConnectionError):
            if not self.closed_by_client and await _server_just_ended(self.transport):
                mapped = translate_error(err, server=self.server, transport=self.transport, tool=tool, timeout=limit)
            if self.closed_by_client:
                # Not the server's doing: "the server stopped or dropped us" would send the user looking there.
                mapped = MCPConnectionError(
                    f"MCP server {self.server!r}: the call to tool {tool!r} was cut short because this client "
                    "closed the connection (disconnect() or close())",
                    server=self.server,
                    tool=tool,
                    hint="let calls finish before closing the client; a new call reconnects",
                )
            self.mark_closed(mapped)
        return mapped


def _junk_excerpt(error: Exception) -> str:
    """What a message that is not MCP's held, quoted and cut short (the SDK hands it on as its validation error)."""
    shown: object = str(error)
    if isinstance(error, ValidationError):
        details = error.errors(include_url=False)
        if details:
            shown = details[0].get("input", shown)
    text = shown.decode("utf-8", "replace") if isinstance(shown, bytes) else str(shown)
    return repr(one_line(redact(text))[:120])


async def _handshake(cs: ClientSession, protocol: str, seconds: float) -> None:
    if protocol == "legacy":
        await cs.initialize()
        return
    if protocol == "2026-07-28":
        await cs.discover()
        return
    # auto: the 2026 probe first, the handshake when the server answers the probe with an error or not at all.
    try:
        with anyio.fail_after(min(AUTO_DISCOVER_TIMEOUT, seconds)):
            await cs.discover()
    except (MCPError, TimeoutError) as err:
        logger.debug("server/discover failed (%s); falling back to the initialize handshake", err)
        await cs.initialize()


@asynccontextmanager
async def open_session(
    transport: Transport,
    *,
    server: str,
    protocol: str = "legacy",
    connect_timeout: float = 10.0,
    on_ready: Callable[[Session], None] | None = None,
    on_failure: Callable[[MCPClientError], None] | None = None,
) -> AsyncIterator[Session]:
    """Connect, handshake within ``connect_timeout``, and yield the live :class:`Session`; exiting closes it.

    Errors come out already translated. ``on_failure`` is told about a failed connect *before* the transport is torn
    down (a stdio child may take seconds to stop), so a waiting caller can be answered at once; ``on_ready`` is told
    about success.
    """
    started = anyio.current_time()
    # The deadline covers the transport's own setup (a silent HTTP or WebSocket server would otherwise hold the
    # handshake open for its read timeout); it is lifted once the handshake succeeded.
    scope = anyio.CancelScope(deadline=started + connect_timeout + 0.5)
    session: Session | None = None
    try:
        with scope:
            async with transport.open() as (read_stream, write_stream):
                # What the server sends that is not MCP's (a stdio server's stray output: lharries prints database
                # errors) is counted and logged by the watched stream; the SDK's default message handler ignores it.
                watched = _WatchedReadStream(read_stream, lambda: session.mark_closed() if session else None, server)
                async with ClientSession(
                    watched,
                    write_stream,
                    read_timeout_seconds=None,
                    client_info=CLIENT_INFO,
                ) as cs:
                    session = Session(cs, transport, server, watched)
                    try:
                        remaining = max(0.05, connect_timeout - (anyio.current_time() - started))
                        with anyio.fail_after(remaining):
                            await _handshake(cs, protocol, remaining)
                    except Exception as err:
                        mapped = translate_error(
                            err, server=server, transport=transport, tool=None, timeout=connect_timeout
                        )
                        if isinstance(mapped, MCPConnectionError) and await _server_just_ended(transport):
                            mapped = translate_error(
                                err, server=server, transport=transport, tool=None, timeout=connect_timeout
                            )
                        if isinstance(mapped, MCPTimeoutError) and watched.junk:
                            # No answer, but output that is not MCP's: a program that is no MCP server, or one
                            # that logs to its stdout. Say what it sent rather than only "no answer".
                            mapped = MCPTimeoutError(
                                f"{mapped.message}; it sent {watched.junk} message(s) that are not MCP's "
                                f"(the latest: {watched.last_junk})",
                                server=server,
                                hint="is this an MCP server? a stdio server must write only MCP messages to its "
                                "stdout (check its logging and prints)",
                            )
                        if on_failure is not None:
                            on_failure(mapped)
                        _raise_translated(mapped, err)
                    scope.deadline = math.inf
                    if _lean_calls_fit(transport, cs):
                        watched.lean = _LeanCalls(cs, write_stream)
                    logger.debug(
                        "connected to %s at %s (%s), protocol %s",
                        server,
                        transport.endpoint,
                        transport.kind,
                        cs.protocol_version,
                    )
                    if on_ready is not None:
                        on_ready(session)
                    try:
                        yield session
                    finally:
                        if watched.lean is not None:
                            watched.lean.close()  # calls still waiting fail as the SDK's do when it closes
    except Exception as err:
        mapped = translate_error(err, server=server, transport=transport, tool=None, timeout=connect_timeout)
        if session is None and on_failure is not None and not isinstance(err, MCPClientError):
            on_failure(mapped)
        _raise_translated(mapped, err)
    if scope.cancelled_caught:
        # Only possible before the handshake finished: the deadline is lifted right after it.
        mapped = MCPTimeoutError(
            f"MCP server {server!r} at {transport.endpoint} ({transport.kind}) did not complete the handshake "
            f"within {connect_timeout:g} s",
            server=server,
            hint="is the server running and speaking MCP on this transport?",
        )
        if on_failure is not None:
            on_failure(mapped)
        raise mapped


async def _server_just_ended(transport: Transport) -> bool:
    """Whether the transport's server process (stdio) has ended, waiting briefly for it: a server whose output
    closed is usually exiting, and its exit status is what tells the user why (an ``import`` error, a bad path)."""
    wait = getattr(transport, "wait_ended", None)
    if wait is None or _server_ended(transport) is not None:
        return False
    return await wait(_SERVER_END_WAIT) is not None


def _server_ended(transport: Transport) -> str | None:
    """How the transport's server process ended ("exited with code 1"), for transports that run one (stdio)."""
    ended = getattr(transport, "server_ended", None)
    return ended if isinstance(ended, str) else None


def _raise_translated(mapped: MCPClientError, err: BaseException) -> None:
    """Raise ``mapped`` chained to ``err``, unless ``mapped`` already is (a leaf of) ``err``: no cause cycles."""
    if mapped is err or any(leaf is mapped for leaf in _leaves(err)):
        raise mapped.with_traceback(mapped.__traceback__) from mapped.__cause__
    raise mapped from err


def _leaves(err: BaseException) -> list[BaseException]:
    if isinstance(err, BaseExceptionGroup):
        found: list[BaseException] = []
        for inner in err.exceptions:
            found.extend(_leaves(inner))
        return found
    return [err]


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _status_of(err: BaseException) -> tuple[int, float | None] | None:
    if isinstance(err, httpx2.HTTPStatusError):
        response = err.response
        return response.status_code, parse_retry_after(response.headers.get("retry-after"))
    if isinstance(err, InvalidStatus):
        return err.response.status_code, parse_retry_after(err.response.headers.get("Retry-After"))
    return None


def _rank(err: BaseException) -> int:
    """Which leaf of an ExceptionGroup explains the failure best (lower is better)."""
    if isinstance(err, MCPClientError):
        return 0
    if _status_of(err) is not None:
        return 1
    if isinstance(err, OSError | httpx2.TransportError | InvalidHandshake | InvalidURI | ConnectionClosed):
        return 2
    if isinstance(err, MCPError) and err.code != types.CONNECTION_CLOSED:
        return 3
    if isinstance(err, asyncio.CancelledError):
        return 9
    return 4


def _recent_refusal(transport: Transport) -> HttpRefusal | None:
    refusal = transport.last_refusal
    if refusal is not None and time.monotonic() - refusal.at <= _REFUSAL_WINDOW:
        return refusal
    return None


def _from_status(
    status: int, retry_after: float | None, *, server: str, transport: Transport, tool: str | None
) -> MCPClientError:
    where = f"MCP server {server!r} at {transport.endpoint} ({transport.kind})"
    if status in {401, 403}:
        word = "401 Unauthorized" if status == 401 else "403 Forbidden"
        if getattr(transport, "sends_credentials", True):
            return MCPAuthenticationError(
                f"{where} refused our credentials: HTTP {word}",
                server=server,
                tool=tool,
                hint="check auth_token (sent as 'Authorization: Bearer …') and custom_headers",
            )
        # Nothing was sent, so nothing was refused: a server that wants a token, or (403 especially: how an HTTP
        # server answers a WebSocket upgrade on a path that takes none) the wrong endpoint or transport.
        return MCPAuthenticationError(
            f"{where} refused the connection: HTTP {word} (no credentials were sent)",
            server=server,
            tool=tool,
            hint="set auth_token if the server needs one (--auth-token, "
            "MCP_WHATSAPP_AUTH_TOKEN or the config); if it needs none, check the endpoint's path and the "
            "connection type",
        )
    if status == 429:
        wait = f"; it asked us to wait {retry_after:g} s" if retry_after is not None else ""
        return MCPRateLimitError(
            f"{where} says we are calling too fast: HTTP 429 Too Many Requests{wait}",
            server=server,
            tool=tool,
            hint="lower rate_limits or wait for the cooldown",
            retry_after=retry_after,
        )
    if status < 500 or (status == 501 and tool is None):
        # 400/404/405 while connecting: most often an MCP endpoint of the other kind (an SSE client on /mcp, a
        # streamable HTTP client on /sse) or no MCP endpoint at all, not a failing server; so is a 501 (Not
        # Implemented: a plain web server asked to POST).
        return MCPConnectionError(
            f"{where} answered HTTP {status}" + ("" if tool else " while connecting"),
            server=server,
            tool=tool,
            hint=_HANDSHAKE_HINT if tool is None else "the server refused the request; check the endpoint's path",
        )
    return MCPConnectionError(
        f"{where} answered HTTP {status}",
        server=server,
        tool=tool,
        hint="the server or a proxy in front of it is failing; check its logs",
    )


def _network_reason(err: BaseException, *, connecting: bool = False) -> tuple[str, str]:
    """A human reason and hint for a failure to reach the server, from the exception and its causes."""
    for link in _chain(err):
        if isinstance(link, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate not trusted ({link.verify_message or link.reason})",
                "point verify_tls at the server's CA bundle (or set it to false for a test server)",
            )
        if isinstance(link, ssl.SSLError):
            return (
                f"TLS handshake failed ({link.reason})",
                "check that the endpoint speaks TLS (https/wss) on that port",
            )
        if isinstance(link, socket.gaierror):
            return "the host name does not resolve", "check the host in the endpoint"
        if isinstance(link, ConnectionRefusedError):
            return "connection refused", "is the server running?"
        if isinstance(link, FileNotFoundError):
            return "command not found", "check the command (and PATH) in the server config"
        if isinstance(link, PermissionError):
            return "permission denied", "check that the command is executable"
    text = " ".join(str(link) for link in _chain(err)).lower()
    if "certificate verify failed" in text:
        return (
            "TLS certificate not trusted",
            "point verify_tls at the server's CA bundle (or set it to false for a test server)",
        )
    if any(s in text for s in ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo")):
        return "the host name does not resolve", "check the host in the endpoint"
    if "refused" in text or "all connection attempts failed" in text:
        return "connection refused", "is the server running?"
    if isinstance(err, httpx2.ConnectError | OSError):
        return f"cannot connect ({redact(str(err)) or type(err).__name__})", "is the server running?"
    return (
        f"connection lost ({redact(str(err))[:200] or type(err).__name__})",
        # While connecting there is nothing to reconnect: what was there may not be an MCP server at all.
        "is the server running, and is this its endpoint for this transport?"
        if connecting
        else "the server may have stopped; the client reconnects automatically",
    )


_HANDSHAKE_HINT = (
    "is this an MCP server's endpoint? check --mcp-endpoint (its path, e.g. /mcp or /sse) and --mcp-connection"
)


def _first_line(text: str) -> str:
    """The first line of an error text (pydantic's and the SDK's run over several), redacted and cut short."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return redact(first)[:200]


def translate_error(
    err: BaseException,
    *,
    server: str,
    transport: Transport,
    tool: str | None = None,
    timeout: float | None = None,
) -> MCPClientError:
    """The :mod:`wamcp.errors` exception for ``err`` (the caller chains it with ``raise ... from err``).

    ``tool`` is ``None`` while connecting. ExceptionGroups are searched for the most telling leaf (an HTTP status
    beats a network error beats a protocol error beats "connection closed").
    """
    leaves = [leaf for leaf in _leaves(err) if not isinstance(leaf, asyncio.CancelledError)] or [err]
    leaf = min(leaves, key=_rank)
    where = f"MCP server {server!r} at {transport.endpoint} ({transport.kind})"
    what = f"tool {tool!r}" if tool and "/" not in tool and tool != "ping" else (tool or "connecting")

    if isinstance(leaf, MCPClientError):
        return leaf
    if isinstance(leaf, ConfigError):  # pragma: no cover - ConfigError is an MCPClientError; kept for clarity
        return leaf
    status = _status_of(leaf)
    if status is not None:
        return _from_status(status[0], status[1], server=server, transport=transport, tool=tool)

    if isinstance(leaf, MCPError):
        refusal = _recent_refusal(transport)
        if leaf.code == types.REQUEST_TIMEOUT and refusal is not None and refusal.status in {401, 403, 429}:
            # A transport that only logs a refused POST (the SDK's sse_client did) lets the call run into its
            # timeout: name the real cause.
            return _from_status(refusal.status, refusal.retry_after, server=server, transport=transport, tool=tool)
        if leaf.code == types.REQUEST_TIMEOUT:
            return MCPTimeoutError(
                f"{where}: {what} got no answer within {timeout:g} s"
                if timeout is not None
                else f"{where}: {what} got no answer in time",
                server=server,
                tool=tool,
                hint="the server is slow or stuck; raise timeout or check the server",
            )
        if refusal is not None and (leaf.code == types.INTERNAL_ERROR and leaf.message == REFUSED_POST):
            return _from_status(refusal.status, refusal.retry_after, server=server, transport=transport, tool=tool)
        if leaf.code == types.INVALID_REQUEST and leaf.message in _SESSION_GONE:
            # Streamable HTTP: the server answered 404 for our session id (it restarted, or another replica
            # answered). Every later call on this connection would fail alike: it is lost, the client reconnects.
            return MCPConnectionError(
                f"{where}: the server no longer knows our session ({leaf.message}) while "
                f"{'calling ' + what if tool else 'connecting'}",
                server=server,
                tool=tool,
                hint="the server restarted or dropped the session; the client reconnects on the next call",
            )
        if leaf.code == types.CONNECTION_CLOSED and leaf.message.startswith(CONNECTION_GONE_TEXTS):
            during = "calling " + what if tool else "connecting"
            ended = _server_ended(transport)
            if ended is not None:
                return MCPConnectionError(
                    f"{where}: the server process {ended} while {during}",
                    server=server,
                    tool=tool,
                    hint=(
                        "the client starts it again on the next call"
                        if tool
                        else "its own error output, if it wrote any, is above; run the command by hand to see why "
                        "it stops"
                    ),
                )
            return MCPConnectionError(
                f"{where}: connection closed while {during}"
                + (f" ({redact(leaf.message)})" if leaf.message != "Connection closed" else ""),
                server=server,
                tool=tool,
                hint=(
                    "the server stopped or dropped us; the client reconnects on the next call"
                    if tool
                    else "the server closed the connection during the MCP handshake; is it an MCP server on this "
                    "transport?"
                ),
            )
        if tool is None:
            return MCPHandshakeError(
                f"{where} did not complete the MCP handshake: {_first_line(leaf.message)} (code {leaf.code})",
                server=server,
                hint=_HANDSHAKE_HINT,
            )
        return MCPToolError(
            f"{where}: {what} failed: {one_line(leaf.message)} (code {leaf.code})",
            server=server,
            tool=tool,
            text=leaf.message,
        )
    if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
        phase = f"{what}" if tool else "connecting"
        limit = f" within {timeout:g} s" if timeout is not None else ""
        return MCPTimeoutError(
            f"{where}: {phase} got no answer{limit}",
            server=server,
            tool=tool,
            hint="is the server running and answering? raise timeout/connect_timeout if it is just slow",
        )
    if isinstance(leaf, httpx2.SSEError) and tool is None:
        # e.g. an HTML page where the event stream should be: not an MCP endpoint, not a lost connection.
        return MCPHandshakeError(
            f"{where} did not complete the MCP handshake: {_first_line(str(leaf))}", server=server, hint=_HANDSHAKE_HINT
        )
    if isinstance(leaf, OSError | httpx2.TransportError | InvalidHandshake | InvalidURI | ConnectionClosed):
        reason, hint = _network_reason(leaf, connecting=tool is None)
        if reason == "command not found":
            command = getattr(transport, "command", None) or getattr(leaf, "filename", None) or transport.endpoint
            return MCPConnectionError(
                f"cannot start MCP server {server!r}: command {command!r} not found ({transport.kind})",
                server=server,
                hint=hint,
            )
        if tool is None:
            return MCPConnectionError(f"cannot reach {where}: {reason}", server=server, hint=hint)
        return MCPConnectionError(f"{where}: {what}: {reason}", server=server, tool=tool, hint=hint)
    if isinstance(leaf, ValidationError | RuntimeError | ValueError):
        if tool is None:
            return MCPHandshakeError(
                f"{where} did not complete the MCP handshake: its answer is not MCP's ({_first_line(str(leaf))})",
                server=server,
                hint=_HANDSHAKE_HINT,
            )
        return MCPProtocolError(
            f"{where} sent an answer we cannot use ({what}): {one_line(redact(str(leaf)))[:300]}",
            server=server,
            tool=tool,
            hint="the server may speak a different MCP version; try protocol 'legacy'",
        )
    return MCPConnectionError(
        f"{where}: {what} failed: {type(leaf).__name__}: {one_line(redact(str(leaf)))[:300]}",
        server=server,
        tool=tool,
    )
