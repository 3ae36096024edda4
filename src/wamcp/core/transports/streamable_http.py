"""Streamable HTTP transport (the current MCP HTTP wire): every request is a POST answered by JSON or an SSE stream.

Built on the SDK's streamable HTTP client with an injected ``httpx2.AsyncClient`` (the SDK takes no headers or TLS
options), which this transport creates and closes per connection. Two things to know:

- The SDK answers a 401/403/429 POST with a generic "Server returned an error response", so :attr:`last_refusal`
  keeps the real status for the session's error mapping.
- Answers are read by :class:`_PlainAnswers`, the SDK's transport with one change: a plain successful answer skips
  the SDK's validation against every JSON-RPC message shape (:mod:`.answers`), and an SSE answer is no longer
  formatted whole for a debug line nobody sees. Both were most of the client's CPU for the HTTP part of a
  large extraction (1M messages: ~9 s of ~53 s in ``validate_json``, and in SSE mode as much again for the debug
  line's text). Everything else (sessions, protocol headers, cancellation, resumption, redirects, the GET stream,
  DELETE on close) is the SDK's own code, which is why this subclasses rather than replaces it; the SDK version is
  pinned to a minor series (``mcp>=2.3,<2.4``), and the shared transport tests run through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import httpx2
import mcp.client.streamable_http as sdk
from httpx2 import ServerSentEvent
from mcp.client._transport import TransportStreams
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types import RequestId

from ...config import MCPConnectionType
from .answers import plain_response
from .base import HttpTransport, http_client

__all__ = ["StreamableHTTPTransport"]


class StreamableHTTPTransport(HttpTransport):
    """Connects to ``<endpoint>`` (default path ``/mcp``) with the configured headers and TLS settings."""

    kind = "streamable_http"
    connection_type = MCPConnectionType.STREAMABLE_HTTP

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        # We own the client's lifecycle: the SDK only closes clients it created itself.
        async with (
            http_client(self._config, self._refusals, reuse_event_stream_connections=True) as client,
            _streams(self.url, client) as streams,
        ):
            yield streams


class _PlainAnswers(sdk.StreamableHTTPTransport):
    """The SDK's streamable HTTP client transport, reading plain successful answers without re-validating them."""

    async def _handle_json_response(
        self, response: httpx2.Response, read_stream_writer: sdk.StreamWriter, *, request_id: RequestId
    ) -> None:
        try:
            content = await response.aread()  # kept by the response: the SDK's path below reads it again for free
        except httpx2.StreamError:
            content = None
        message = plain_response(content) if content is not None else None
        if message is None:
            await super()._handle_json_response(response, read_stream_writer, request_id=request_id)
            return
        await read_stream_writer.send(SessionMessage(message))

    async def _handle_sse_event(
        self,
        sse: ServerSentEvent,
        read_stream_writer: sdk.StreamWriter,
        original_request_id: RequestId | None = None,
        resumption_callback: Callable[[str], Awaitable[None]] | None = None,
    ) -> bool:
        message = plain_response(sse.data, request_id=original_request_id) if sse.event == "message" else None
        if message is None:
            return await super()._handle_sse_event(sse, read_stream_writer, original_request_id, resumption_callback)
        try:
            await read_stream_writer.send(SessionMessage(message))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The caller went away mid-answer (a cancelled call): what the SDK does then, it does again.
            return await super()._handle_sse_event(sse, read_stream_writer, original_request_id, resumption_callback)
        if sse.id and resumption_callback:
            await resumption_callback(sse.id)
        return True


@asynccontextmanager
async def _streams(url: str, client: httpx2.AsyncClient) -> AsyncIterator[TransportStreams]:
    """What the SDK's ``streamable_http_client`` yields, with :class:`_PlainAnswers` as its transport (the SDK's
    function builds its own and has no parameter for another): the session's two streams, a task posting each
    outgoing message, the GET stream once the session starts it, and the session's DELETE on the way out."""
    # No cap on one SSE event (the SDK's default is 1 MB): a page of long messages, sent both as text and as
    # structured content, passes that, and a JSON answer, a stdio line or a WebSocket frame has no cap either.
    transport = _PlainAnswers(url, max_sse_event_size=None)
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)
    async with read_writer, read_stream, write_stream, write_reader, anyio.create_task_group() as tasks:

        def start_get_stream() -> None:
            tasks.start_soon(transport.handle_get_stream, client, read_writer)

        post = transport.post_writer
        tasks.start_soon(post, client, write_reader, read_writer, write_stream, start_get_stream, tasks)
        try:
            yield read_stream, write_stream
        finally:
            if transport.session_id:
                await transport.terminate_session(client)
            tasks.cancel_scope.cancel()
    # As the SDK's function does: one shielded checkpoint after a cancelled task group, which only resyncs coverage's
    # tracer on Python 3.11 (a behavioural no-op).
    await anyio.lowlevel.cancel_shielded_checkpoint()
