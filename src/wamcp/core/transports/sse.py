"""SSE transport (the older HTTP+SSE MCP wire): a GET event stream for answers, POSTs for requests.

Ours, on the SDK's HTTP helpers (``sse_within_origin``, ``request_within_origin``: same-origin redirects) and our HTTP
client, so headers, TLS and refusal recording match the streamable-HTTP transport. The SDK's ``sse_client`` was used
until it turned out to cap one event at 1 MB with no way to raise it: a page of long messages (sent as text and again
as structured content) then failed as a lost connection, on every retry. What differs from it, besides no cap:

- a plain successful answer is read without the SDK's validation against every message shape (:mod:`.answers`);
- a POST the server refuses (401/403/429, 5xx) or that cannot be sent fails its own request at once, as over
  streamable HTTP (:attr:`last_refusal` names the status), instead of ending the writer, so that the call ran into
  its timeout and every later call of the connection did too.

Messages are posted one at a time, in order, until ``notifications/initialized`` has reached the server, and
concurrently after that (the SDK posts every message one at a time, so concurrent calls waited for each other's POST).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2
import mcp_types as types
from anyio.abc import TaskGroup, TaskStatus
from mcp.client._transport import TransportStreams
from mcp.shared._context_streams import ContextSendStream, create_context_streams
from mcp.shared._httpx_utils import request_within_origin, sse_within_origin
from mcp.shared.message import SessionMessage

from ...config import MCPConnectionType
from .answers import plain_response
from .base import REFUSED_POST, HttpTransport, http_client

__all__ = ["SSETransport"]

logger = logging.getLogger(__name__)

_INITIALIZED = "notifications/initialized"
#: Why a POST answered 404 ends the connection.
_UNKNOWN_SESSION = "the server no longer knows this session (HTTP 404)"


class SSETransport(HttpTransport):
    """Connects to ``<endpoint>`` (default path ``/sse``) with the configured headers and TLS settings."""

    kind = "sse"
    connection_type = MCPConnectionType.SSE

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        async with http_client(self._config, self._refusals) as client, _streams(self.url, client) as streams:
            yield streams


@asynccontextmanager
async def _streams(url: str, client: httpx2.AsyncClient) -> AsyncIterator[TransportStreams]:
    """The session's two streams over one GET event stream (answers) and a POST per outgoing message."""
    async with sse_within_origin(client, url, max_event_size=None) as events:
        events.response.raise_for_status()
        read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
        write_stream, write_reader = create_context_streams[SessionMessage](0)

        async def read(task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
            started = False
            async with read_writer:
                try:
                    async for event in events:
                        if event.event == "endpoint" and not started:
                            task_status.started(_endpoint(url, event.data))
                            started = True
                        elif event.event == "message" and event.data and started:  # empty data: a keep-alive
                            # (before the endpoint event nothing was asked, and nobody reads yet: dropped)
                            await read_writer.send(_message(event.data))
                    if not started:
                        raise httpx2.RemoteProtocolError("the event stream ended before its endpoint event")
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass  # the session is closing
                except Exception as exc:
                    if not started:
                        raise  # no session yet: connecting fails with it
                    # The stream broke mid-session: the session learns why, then sees the end of the stream.
                    logger.debug("SSE stream ended: %r", exc)
                    with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                        await read_writer.send(exc)

        async def write(endpoint: str) -> None:
            # Each POST in the sender's context (its tracing span). Until ``notifications/initialized`` has been
            # posted they go one at a time, in order (the server must have it before the first request); after that
            # concurrently, so calls in flight are not held to one POST round trip each (the SDK's client posts
            # every message one at a time).
            initialized = False

            def spawn(group: TaskGroup, item: SessionMessage) -> None:
                sender = write_reader.last_context
                if sender is None:
                    group.start_soon(_post, client, endpoint, item, read_writer)
                else:
                    sender.run(group.start_soon, _post, client, endpoint, item, read_writer)

            async with write_reader, write_stream, anyio.create_task_group() as posts:
                async for item in write_reader:
                    if initialized:
                        spawn(posts, item)
                        continue
                    async with anyio.create_task_group() as one:
                        spawn(one, item)
                    message = item.message
                    initialized = isinstance(message, types.JSONRPCNotification) and message.method == _INITIALIZED

        # Every stream end is closed here too, for when the connect fails before a task that owns it starts.
        async with read_writer, read_stream, write_stream, write_reader, anyio.create_task_group() as tasks:
            endpoint = await tasks.start(read)
            tasks.start_soon(write, endpoint)
            try:
                yield read_stream, write_stream
            finally:
                tasks.cancel_scope.cancel()
        # As the SDK does after a cancelled task group: resyncs coverage's tracer on Python 3.11 (a no-op otherwise).
        await anyio.lowlevel.cancel_shielded_checkpoint()


def _endpoint(url: str, data: str) -> str:
    """Where to POST, from the stream's ``endpoint`` event: only on the stream's own origin (as the SDK insists)."""
    endpoint = urljoin(url, data)
    if urlsplit(endpoint)[:2] != urlsplit(url)[:2]:
        raise ValueError(f"Endpoint origin does not match connection origin: {endpoint}")
    return endpoint


def _message(data: str) -> SessionMessage | Exception:
    message = plain_response(data)
    if message is not None:
        return SessionMessage(message)
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(data, by_name=False))
    except Exception as exc:
        return exc


async def _post(
    client: httpx2.AsyncClient,
    endpoint: str,
    item: SessionMessage,
    answers: ContextSendStream[SessionMessage | Exception],
) -> None:
    """POST one message; when that fails, a request gets its error answer now instead of waiting for its timeout."""
    message = item.message
    try:
        response = await request_within_origin(
            client, "POST", endpoint, json=message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        )
        response.raise_for_status()
        return
    except httpx2.HTTPStatusError as exc:
        status = exc.response.status_code
        if status == 404:
            # The server no longer knows the session the endpoint names (it restarted, or another worker answered):
            # this connection is of no more use, so the session must see it end and connect again.
            error = types.ErrorData(code=types.CONNECTION_CLOSED, message=_UNKNOWN_SESSION)
        elif status in {401, 403, 429} or status >= 500:
            error = types.ErrorData(code=types.INTERNAL_ERROR, message=REFUSED_POST)  # the recorded status names it
        else:
            error = types.ErrorData(code=types.INTERNAL_ERROR, message=f"the server refused the message: HTTP {status}")
    except httpx2.HTTPError as exc:
        error = types.ErrorData(code=types.CONNECTION_CLOSED, message=f"the POST failed: {exc}")
    with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
        if isinstance(message, types.JSONRPCRequest):
            await answers.send(SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error)))
        if error.message == _UNKNOWN_SESSION:
            await answers.aclose()  # end of stream: the session is lost, the client connects again
