"""Our legacy SSE client transport against scripted HTTP answers (httpx's mock transport): what a refused POST
does to its call and the connection, and event streams that misbehave before the session starts."""

from __future__ import annotations

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from wamcp.core.transports.sse import _post, _streams

pytestmark = pytest.mark.anyio

_ENDPOINT_EVENT = "event: endpoint\ndata: /messages/?session_id=abc\n\n"


def _request() -> SessionMessage:
    return SessionMessage(types.JSONRPCRequest(jsonrpc="2.0", id=7, method="tools/call", params={"name": "echo"}))


async def _post_answered(status: int) -> tuple[types.JSONRPCError, bool]:
    """POST a request to a server answering ``status``: the error its call gets, and whether the answers ended."""
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda request: httpx2.Response(status)))
    answers, received = anyio.create_memory_object_stream[SessionMessage | Exception](1)
    async with client, received:
        with anyio.fail_after(5):
            await _post(client, "http://127.0.0.1:1/messages/?session_id=abc", _request(), answers)
            item = await received.receive()
            try:
                await received.receive()
            except anyio.EndOfStream:
                ended = True
            except anyio.WouldBlock:  # pragma: no cover - receive() waits instead
                ended = False
    assert isinstance(item, SessionMessage)
    assert isinstance(item.message, types.JSONRPCError)
    return item.message, ended


async def _post_answered_open(status: int) -> types.JSONRPCError:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda request: httpx2.Response(status)))
    answers, received = anyio.create_memory_object_stream[SessionMessage | Exception](1)
    async with client, received, answers:
        await _post(client, "http://127.0.0.1:1/messages/", _request(), answers)
        item = received.receive_nowait()
        with pytest.raises(anyio.WouldBlock):  # the connection goes on: nothing more, and not the end
            received.receive_nowait()
    assert isinstance(item, SessionMessage)
    assert isinstance(item.message, types.JSONRPCError)
    return item.message


async def test_a_post_answered_404_fails_its_call_and_ends_the_connection() -> None:
    # The server no longer knows the session the endpoint names (it restarted; another worker answered): every
    # later POST would get the same, so the session must see its connection end and connect again.
    error, ended = await _post_answered(404)
    assert error.id == 7
    assert error.error.code == types.CONNECTION_CLOSED
    assert "no longer knows this session" in error.error.message
    assert ended


@pytest.mark.parametrize("status", [400, 405, 413])
async def test_a_post_refused_with_another_status_names_it_and_the_connection_goes_on(status: int) -> None:
    error = await _post_answered_open(status)
    assert error.id == 7
    assert f"HTTP {status}" in error.error.message


@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
async def test_a_post_refused_with_a_recorded_status_gets_the_error_the_session_maps_with_that_status(
    status: int,
) -> None:
    error = await _post_answered_open(status)
    assert (error.id, error.error.code, error.error.message) == (
        7,
        types.INTERNAL_ERROR,
        "Server returned an error response",
    )


def _event_stream(body: str) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, text=body)

    return httpx2.MockTransport(answer)


async def test_a_stream_that_ends_before_its_endpoint_event_says_so() -> None:
    client = httpx2.AsyncClient(transport=_event_stream(": a comment\n\n"))
    async with client:
        ended_early = pytest.RaisesExc(httpx2.RemoteProtocolError, match="ended before its endpoint event")
        with anyio.fail_after(5), pytest.RaisesGroup(ended_early, flatten_subgroups=True):
            async with _streams("http://127.0.0.1:1/sse", client):
                pass  # pragma: no cover - never entered


async def test_a_message_before_the_endpoint_event_does_not_stall_the_connect() -> None:
    # Nothing was asked yet, and nobody reads the answers before the session starts: the stray message is dropped
    # (it made the connect wait for its whole timeout).
    stray = '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}'
    client = httpx2.AsyncClient(transport=_event_stream(f"event: message\ndata: {stray}\n\n{_ENDPOINT_EVENT}"))
    async with client:
        with anyio.fail_after(5):
            async with _streams("http://127.0.0.1:1/sse", client) as (read_stream, _write_stream):
                with pytest.raises(anyio.EndOfStream):  # the scripted stream ends after the endpoint event
                    await read_stream.receive()
