"""The transport seam: what the session needs from a way of reaching an MCP server, and the factory from config.

A transport is a recipe, not a connection: :meth:`Transport.open` returns a fresh async context manager each time it
is entered, yielding the SDK's ``(read_stream, write_stream)`` pair, so the supervisor can reconnect by opening again.
The one thing a reader must know: HTTP transports also remember the last HTTP refusal they saw (401/403/429 with its
``Retry-After``) in :attr:`Transport.last_refusal`, because the SDK turns such answers into a generic JSON-RPC error and
the status would otherwise be lost before our error mapping sees it.
"""

from __future__ import annotations

import email.utils
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2
from mcp.client._transport import TransportStreams

from ...config import MCPConnectionType, ServerConfig
from ...errors import ConfigError
from ...redact import redact

__all__ = [
    "CONNECTION_GONE_TEXTS",
    "DEFAULT_PATHS",
    "REFUSED_POST",
    "ClosingStream",
    "HttpRefusal",
    "HttpTransport",
    "ReceivingStream",
    "Transport",
    "TransportStreams",
    "build_headers",
    "create_endpoint_transports",
    "create_transports",
    "display_endpoint",
    "parse_retry_after",
    "resolve_url",
    "sends_credentials",
    "tls_verify",
]

#: The conventional path of each HTTP-ish transport, used when the endpoint has none (``http://localhost:3000``).
DEFAULT_PATHS: dict[MCPConnectionType, str] = {
    MCPConnectionType.SSE: "/sse",
    MCPConnectionType.STREAMABLE_HTTP: "/mcp",
    MCPConnectionType.WEBSOCKET: "/ws",
}


_Item = TypeVar("_Item")


class ClosingStream:
    """``async with`` for the SDK's stream protocols: leaving the block closes the stream (:meth:`aclose`)."""

    __slots__ = ()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class ReceivingStream(ClosingStream, Generic[_Item]):
    """... and ``async for``: iterating receives until the end of the stream (:meth:`receive`)."""

    __slots__ = ()

    async def receive(self) -> _Item:
        raise NotImplementedError

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Item:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


@dataclass(frozen=True)
class HttpRefusal:
    """An HTTP answer that refused us: the status and, for 429/503, how long the server asked us to wait."""

    status: int
    retry_after: float | None = None
    at: float = 0.0


@runtime_checkable
class Transport(Protocol):
    """How to reach one MCP server; :meth:`open` may be entered many times (once per connection generation)."""

    @property
    def kind(self) -> str:
        """``stdio``, ``sse``, ``streamable_http``, ``websocket`` or ``memory``."""
        ...

    @property
    def endpoint(self) -> str:
        """Where the server is, safe to print (credentials redacted)."""
        ...

    @property
    def last_refusal(self) -> HttpRefusal | None:
        """The last 401/403/429/5xx answer seen on this transport, if any."""
        ...

    def open(self) -> AbstractAsyncContextManager[TransportStreams]:
        """A fresh connection: enter it to get the stream pair, exit it to close the connection."""
        ...


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: either delta-seconds or an HTTP date; ``None`` when absent or garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def display_endpoint(endpoint: str) -> str:
    """The endpoint with any userinfo password and registered secret masked, for messages and ``status()``."""
    parts = urlsplit(endpoint)
    if parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:***@{host}" if parts.username else host
        endpoint = urlunsplit(parts._replace(netloc=netloc))
    return redact(endpoint, phones=False)


def resolve_url(endpoint: str, kind: MCPConnectionType) -> str:
    """The URL to dial for ``kind``: the endpoint as given, or with the transport's conventional path added.

    A ``ws(s)://`` endpoint used with an HTTP transport (or the reverse) is a configuration error, named as such.
    """
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    if kind is MCPConnectionType.WEBSOCKET:
        allowed = {"ws", "wss"}
        if scheme in {"http", "https"}:
            # A seed-style http endpoint with connection_type websocket: same host, WebSocket scheme.
            parts = parts._replace(scheme="wss" if scheme == "https" else "ws")
            scheme = parts.scheme
    else:
        allowed = {"http", "https"}
    if scheme not in allowed or not parts.netloc:
        raise ConfigError(
            f"endpoint {display_endpoint(endpoint)!r} is not a valid {kind.value} URL",
            hint=_url_hint(endpoint, allowed),
        )
    if parts.path in {"", "/"}:
        parts = parts._replace(path=DEFAULT_PATHS[kind])
    return urlunsplit(parts)


#: ``host:port`` or ``host`` with an optional path: an address written without its scheme.
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?(/\S*)?")


def _url_hint(endpoint: str, allowed: set[str]) -> str:
    """How to write the endpoint: the scheme it lacks, or stdio for what reads like a command line."""
    text = endpoint.strip()
    stdio = "connection_type stdio (--mcp-connection stdio)"
    if text == "demo":
        return "--demo starts the embedded demo server"
    address = _BARE_ADDRESS.fullmatch(text) if "://" not in text and not text.startswith(("/", ".")) else None
    if address is not None:
        guess = f"did you mean {min(allowed)}://{display_endpoint(text)}?"
        return guess if address[1] else f"{guess} (a program to start needs {stdio})"
    if "://" not in text and (any(c.isspace() for c in text) or text.startswith(("/", ".", "~"))):
        return f"this reads like a command line: a server started as a program needs {stdio}"
    return f"use {' or '.join(sorted(s + '://host:port' for s in allowed))}"


def build_headers(config: ServerConfig) -> dict[str, str]:
    """``custom_headers`` plus ``Authorization: Bearer <token>`` when a token is configured (the token wins)."""
    headers = dict(config.custom_headers)
    token = config.token()
    if token:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {token}"
    return headers


def sends_credentials(config: ServerConfig) -> bool:
    """Whether requests carry an ``Authorization`` header (a token, or one set in ``custom_headers``)."""
    return any(name.lower() == "authorization" for name in build_headers(config))


def tls_verify(config: ServerConfig) -> bool | ssl.SSLContext:
    """Certificate checking for https/wss: on by default, off with ``verify_tls: false``, or a CA bundle path."""
    if config.verify_tls is False:
        return False
    if isinstance(config.verify_tls, str) and config.verify_tls.lower() not in {"true", "1", "yes"}:
        if config.verify_tls.lower() in {"false", "0", "no"}:
            return False
        try:
            return ssl.create_default_context(cafile=config.verify_tls)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(
                f"verify_tls: cannot load CA bundle {config.verify_tls!r}: {err}",
                hint="point verify_tls at a PEM file, or set it to true/false",
            ) from err
    return True


def http_client(
    config: ServerConfig, refusals: _RefusalRecorder, *, reuse_event_stream_connections: bool = False
) -> httpx2.AsyncClient:
    """One configured HTTP client: headers, TLS, timeouts, and a hook that remembers refusals (the caller owns it).
    ``reuse_event_stream_connections``: see :class:`_EndOfStreamTransport` (streamable HTTP)."""
    # Reads can legitimately idle for long on SSE streams; request deadlines are enforced by the session instead.
    timeout = httpx2.Timeout(config.connect_timeout, read=max(300.0, config.timeout), write=config.timeout)
    verify = tls_verify(config)
    transport = (
        _EndOfStreamTransport(httpx2.AsyncHTTPTransport(verify=verify)) if reuse_event_stream_connections else None
    )
    return httpx2.AsyncClient(
        headers=build_headers(config),
        timeout=timeout,
        verify=verify,
        transport=transport,
        event_hooks={"response": [refusals.on_response]},
    )


#: The error text the SDK's streamable HTTP client answers a refused POST with (the status is lost); our SSE transport
#: answers with the same, so the session maps both with the status the HTTP client recorded.
REFUSED_POST = "Server returned an error response"

#: How a transport (the SDK's or ours) tells a waiting call that its connection is gone: the JSON-RPC error code
#: CONNECTION_CLOSED (-32000) with one of these texts. The code alone does not tell: -32000 is also the generic
#: "server error" that servers send with their own text, which is a failed call on a live connection.
CONNECTION_GONE_TEXTS = (
    "Connection closed",  # the SDK's session and dispatcher
    "SSE stream failed",  # the SDK's streamable HTTP client, then ": <cause>"
    "SSE stream ended",  # ditto: "… without a response", "… and reconnection attempts were exhausted"
    "the POST failed",  # our legacy SSE transport, then ": <cause>"
    "the server no longer knows this session",  # ditto, a POST answered 404
)

#: How long closing a POST's event stream waits for the server's end of stream (normally already on its way).
EVENT_STREAM_END_WAIT = 0.02
#: Closing reads at most this much of the rest of a POST's event stream; more means the stream is not ending.
_EVENT_STREAM_END_BYTES = 64 * 1024


class _EndOfStreamTransport(httpx2.AsyncBaseTransport):
    """Lets a POST answered by an event stream give its connection back to the pool.

    The SDK's streamable HTTP client closes each POST's SSE answer as soon as the JSON-RPC response has arrived,
    before the server's end of stream, and httpx can only reuse a connection whose response was read to the end: so
    every call opened a new TCP connection (client and server set one up and tear it down per call, and each left a
    socket in TIME_WAIT). Closing such a stream here first reads what is left of it, for at most
    :data:`EVENT_STREAM_END_WAIT` seconds (the server ends it right after the response); a stream that does not end
    in time is closed as before. No hook of the SDK or of httpx does this, hence the wrapper.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        event_stream = response.headers.get("content-type", "").startswith("text/event-stream")
        if request.method == "POST" and event_stream and isinstance(response.stream, httpx2.AsyncByteStream):
            response.stream = _ReadToEndOnClose(response.stream)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _ReadToEndOnClose(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            yield part

    async def aclose(self) -> None:
        try:
            read = 0
            with anyio.move_on_after(EVENT_STREAM_END_WAIT):
                async for part in self._inner:
                    read += len(part)
                    if read > _EVENT_STREAM_END_BYTES:
                        break
        except (httpx2.HTTPError, httpx2.StreamError, anyio.ClosedResourceError):
            pass  # the connection is not reusable then; closing below discards it as before
        finally:
            await self._inner.aclose()


class _RefusalRecorder:
    """Remembers the last HTTP refusal a transport's client received (see the module docstring for why)."""

    def __init__(self) -> None:
        self.last: HttpRefusal | None = None

    async def on_response(self, response: httpx2.Response) -> None:
        status = response.status_code
        if status in {401, 403, 429} or status >= 500:
            self.last = HttpRefusal(
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                at=time.monotonic(),
            )


class HttpTransport:
    """What the SSE and streamable-HTTP transports share: the URL for their kind, the endpoint shown to people,
    and the recorder of the last HTTP refusal. Subclasses set ``kind``/``connection_type`` and implement ``_open``."""

    kind = "http"
    connection_type = MCPConnectionType.STREAMABLE_HTTP

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self.url = resolve_url(config.endpoint, self.connection_type)
        self._refusals = _RefusalRecorder()

    @property
    def endpoint(self) -> str:
        return display_endpoint(self.url)

    @property
    def sends_credentials(self) -> bool:
        return sends_credentials(self._config)

    @property
    def last_refusal(self) -> HttpRefusal | None:
        return self._refusals.last

    def open(self) -> AbstractAsyncContextManager[TransportStreams]:
        self._refusals.last = None
        return self._open()

    def _open(self) -> AbstractAsyncContextManager[TransportStreams]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"


def create_endpoint_transports(config: ServerConfig) -> list[list[Transport]]:
    """The transports to try for ``config``, grouped by endpoint: ``endpoint`` first, then each of ``endpoints``
    (failover and load balancing); per endpoint one transport, or for ``auto`` streamable HTTP then SSE."""
    groups: list[list[Transport]] = []
    for endpoint in [config.endpoint, *config.endpoints]:
        one = config if endpoint == config.endpoint else config.model_copy(update={"endpoint": endpoint})
        groups.append(_transports_for(one))
    return groups


def create_transports(config: ServerConfig) -> list[Transport]:
    """Every transport of :func:`create_endpoint_transports` in order, as one flat list."""
    return [transport for group in create_endpoint_transports(config) for transport in group]


def _transports_for(config: ServerConfig) -> list[Transport]:
    from .sse import SSETransport
    from .stdio import StdioTransport
    from .streamable_http import StreamableHTTPTransport
    from .websocket import WebSocketTransport

    kind = config.connection_type
    if kind is MCPConnectionType.STDIO:
        return [StdioTransport(config)]
    if kind is MCPConnectionType.SSE:
        return [SSETransport(config)]
    if kind is MCPConnectionType.STREAMABLE_HTTP:
        return [StreamableHTTPTransport(config)]
    if kind is MCPConnectionType.WEBSOCKET:
        return [WebSocketTransport(config)]
    scheme = urlsplit(config.endpoint).scheme.lower()
    if scheme in {"ws", "wss"}:
        return [WebSocketTransport(config)]
    return [StreamableHTTPTransport(config), SSETransport(config)]
