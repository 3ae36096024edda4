"""Every foreign exception becomes one of ours at the session boundary, with a message a user can act on."""

from __future__ import annotations

import socket
from typing import Any

import httpx2
import pytest
from mcp import MCPError
from mcp_types import CONNECTION_CLOSED, INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, REQUEST_TIMEOUT
from pydantic import BaseModel, ValidationError
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus, InvalidURI
from websockets.http11 import Response

from wamcp.config import ServerConfig
from wamcp.core.session import translate_error
from wamcp.core.transports import SSETransport, StdioTransport, StreamableHTTPTransport, WebSocketTransport
from wamcp.core.transports.base import HttpRefusal
from wamcp.errors import (
    MCPAuthenticationError,
    MCPClientError,
    MCPConnectionError,
    MCPHandshakeError,
    MCPProtocolError,
    MCPRateLimitError,
    MCPTimeoutError,
    MCPToolError,
)
from wamcp.stdio_process import exit_description

HTTP = StreamableHTTPTransport(ServerConfig(endpoint="http://127.0.0.1:3000", connection_type="streamable_http"))


def http_status(status: int, retry_after: str | None = None) -> httpx2.HTTPStatusError:
    request = httpx2.Request("GET", "http://127.0.0.1:3000/sse")
    headers = {"retry-after": retry_after} if retry_after else {}
    response = httpx2.Response(status, headers=headers, request=request)
    return httpx2.HTTPStatusError("refused", request=request, response=response)


def ws_status(status: int, retry_after: str | None = None) -> InvalidStatus:
    headers = Headers({"Retry-After": retry_after} if retry_after else {})
    return InvalidStatus(Response(status, "x", headers, b""))


def connect_error(cause: BaseException) -> httpx2.ConnectError:
    try:
        raise httpx2.ConnectError(str(cause)) from cause
    except httpx2.ConnectError as err:
        return err


def validation_error() -> ValidationError:
    class Model(BaseModel):
        n: int

    try:
        Model.model_validate({"n": "x"})
    except ValidationError as err:
        return err
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("error", "expected", "words"),
    [
        (http_status(401), MCPAuthenticationError, ["401 Unauthorized", "auth_token"]),
        (http_status(403), MCPAuthenticationError, ["403 Forbidden"]),
        (http_status(429, "12"), MCPRateLimitError, ["429", "12 s"]),
        (http_status(502), MCPConnectionError, ["HTTP 502"]),
        (ws_status(401), MCPAuthenticationError, ["401"]),
        (ws_status(429, "3"), MCPRateLimitError, ["3 s"]),
        (connect_error(ConnectionRefusedError(111, "refused")), MCPConnectionError, ["connection refused"]),
        (connect_error(socket.gaierror(-2, "Name or service not known")), MCPConnectionError, ["does not resolve"]),
        (httpx2.ConnectError("All connection attempts failed"), MCPConnectionError, ["is the server running?"]),
        (httpx2.ConnectError("[Errno -3] Temporary failure in name resolution"), MCPConnectionError, ["resolve"]),
        (httpx2.ConnectError("something odd"), MCPConnectionError, ["cannot connect"]),
        (httpx2.ReadTimeout("slow"), MCPTimeoutError, ["no answer"]),
        (TimeoutError(), MCPTimeoutError, ["no answer"]),
        (httpx2.RemoteProtocolError("Server disconnected"), MCPConnectionError, ["connection lost"]),
        (ConnectionClosedError(None, None), MCPConnectionError, ["connection lost"]),
        (InvalidURI("ws://x y", "bad"), MCPConnectionError, ["127.0.0.1:3000"]),
        (PermissionError(13, "denied"), MCPConnectionError, ["permission denied"]),
        (MCPError(code=REQUEST_TIMEOUT, message="timed out"), MCPTimeoutError, ["within 5 s"]),
        (MCPError(code=CONNECTION_CLOSED, message="Connection closed"), MCPConnectionError, ["connection closed"]),
        (MCPError(code=METHOD_NOT_FOUND, message="Not Found"), MCPHandshakeError, ["handshake", "--mcp-endpoint"]),
        (validation_error(), MCPHandshakeError, ["handshake", "not MCP's"]),
        (
            httpx2.SSEError("Expected response with content type 'text/event-stream', got 'text/html'."),
            MCPHandshakeError,
            ["handshake", "text/html", "--mcp-endpoint"],
        ),
        (KeyError("weird"), MCPConnectionError, ["KeyError"]),
    ],
)
def test_foreign_errors_map_to_our_tree_while_connecting(
    error: BaseException, expected: type[MCPClientError], words: list[str]
) -> None:
    mapped = translate_error(error, server="wa", transport=HTTP, timeout=5.0)

    assert type(mapped) is expected
    text = str(mapped)
    for word in words:
        assert word in text
    assert "'wa'" in text or mapped.server == "wa"


def test_exception_groups_are_searched_for_the_most_telling_leaf() -> None:
    group = ExceptionGroup(
        "outer",
        [
            ExceptionGroup("inner", [MCPError(code=CONNECTION_CLOSED, message="Connection closed")]),
            http_status(401),
        ],
    )

    mapped = translate_error(group, server="wa", transport=HTTP)

    assert isinstance(mapped, MCPAuthenticationError)


def test_call_errors_name_the_tool() -> None:
    timeout = translate_error(
        MCPError(code=REQUEST_TIMEOUT, message="t"), server="wa", transport=HTTP, tool="list_chats", timeout=2.0
    )
    refused = translate_error(
        MCPError(code=INVALID_PARAMS, message="bad chat_jid"), server="wa", transport=HTTP, tool="x"
    )
    lost = translate_error(connect_error(ConnectionRefusedError()), server="wa", transport=HTTP, tool="list_chats")

    assert isinstance(timeout, MCPTimeoutError)
    assert "tool 'list_chats'" in str(timeout)
    assert "2 s" in str(timeout)
    assert isinstance(refused, MCPToolError)
    assert refused.text == "bad chat_jid"
    assert isinstance(lost, MCPConnectionError)
    assert lost.tool == "list_chats"


def test_generic_sdk_http_error_is_explained_by_the_recorded_status() -> None:
    transport = SSETransport(ServerConfig(endpoint="http://127.0.0.1:3000"))
    transport._refusals.last = HttpRefusal(status=429, retry_after=9.0, at=__import__("time").monotonic())

    mapped = translate_error(
        MCPError(code=INTERNAL_ERROR, message="Server returned an error response"), server="wa", transport=transport
    )

    assert isinstance(mapped, MCPRateLimitError)
    assert mapped.retry_after == 9.0


def test_missing_stdio_command_is_named() -> None:
    transport = StdioTransport(ServerConfig(endpoint="uvx whatsapp-mcp", connection_type="stdio"))

    mapped = translate_error(FileNotFoundError(2, "No such file", "uvx"), server="wa", transport=transport)

    assert isinstance(mapped, MCPConnectionError)
    assert "command 'uvx' not found" in str(mapped)


def test_our_own_errors_pass_through_unchanged() -> None:
    ours = MCPToolError("x", text="y")

    assert translate_error(ExceptionGroup("g", [ours]), server="wa", transport=HTTP) is ours


def test_secrets_in_foreign_messages_are_redacted() -> None:
    ServerConfig(auth_token="very-secret-token-123")  # registers the secret
    error = httpx2.RemoteProtocolError("bad header Authorization: Bearer very-secret-token-123")

    mapped = translate_error(error, server="wa", transport=HTTP, tool="t")

    assert "very-secret-token-123" not in str(mapped)


def test_sse_call_timeout_after_a_refused_post_names_the_refusal() -> None:
    transport = SSETransport(ServerConfig(endpoint="http://127.0.0.1:3000"))
    transport._refusals.last = HttpRefusal(status=401, at=__import__("time").monotonic())

    mapped = translate_error(MCPError(code=REQUEST_TIMEOUT, message="t"), server="wa", transport=transport, tool="x")

    assert isinstance(mapped, MCPAuthenticationError)


@pytest.mark.parametrize(
    ("settings", "hint"),
    [
        ({}, "(no credentials were sent) — set auth_token"),
        ({"auth_token": "s3cret"}, "check auth_token (sent as 'Authorization: Bearer …')"),
        ({"custom_headers": {"authorization": "Basic dXNlcjpwYXNz"}}, "check auth_token (sent as"),
    ],
)
@pytest.mark.parametrize("kind", ["streamable_http", "websocket"])
def test_a_refusal_hint_says_whether_credentials_were_sent(settings: dict[str, Any], hint: str, kind: str) -> None:
    config = ServerConfig(endpoint="http://127.0.0.1:3000", connection_type=kind, **settings)
    transport = StreamableHTTPTransport(config) if kind == "streamable_http" else WebSocketTransport(config)
    error = http_status(401) if kind == "streamable_http" else ws_status(401)

    mapped = translate_error(error, server="wa", transport=transport, timeout=5.0)

    assert isinstance(mapped, MCPAuthenticationError)
    assert hint in str(mapped)
    assert "s3cret" not in str(mapped)
    # Refused credentials only when some were sent; otherwise the endpoint or transport may be what is wrong.
    assert ("refused our credentials" in str(mapped)) == bool(settings)
    assert ("check the endpoint's path and the connection type" in str(mapped)) == (not settings)


@pytest.mark.parametrize("status", [400, 404, 405])
def test_a_client_error_status_while_connecting_points_at_the_endpoint_not_at_a_failing_server(status: int) -> None:
    # An SSE client on a streamable HTTP endpoint gets 400/405, the reverse 404/405: the endpoint or the connection
    # type is wrong. It said "the server or a proxy in front of it is failing; check its logs".
    mapped = translate_error(http_status(status), server="wa", transport=HTTP)

    assert isinstance(mapped, MCPConnectionError)
    assert f"HTTP {status} while connecting" in str(mapped)
    assert "--mcp-endpoint" in (mapped.hint or "")
    assert "failing" not in (mapped.hint or "")


def test_a_session_the_server_no_longer_knows_is_a_lost_connection_not_a_tool_error() -> None:
    for text in ("Session not found", "Session terminated"):
        mapped = translate_error(MCPError(code=-32600, message=text), server="wa", transport=HTTP, tool="list_chats")

        assert isinstance(mapped, MCPConnectionError)
        assert "no longer knows our session" in str(mapped)


def test_a_server_error_with_the_generic_code_is_a_tool_error_not_a_lost_connection() -> None:
    # -32000 is JSON-RPC's generic "server error", which servers send with their own text; the SDK uses the same code
    # for "Connection closed". Taken for a lost connection, a healthy session was dropped and the call retried.
    mapped = translate_error(MCPError(code=CONNECTION_CLOSED, message="boom"), server="wa", transport=HTTP, tool="x")

    assert isinstance(mapped, MCPToolError)
    assert mapped.text == "boom"


@pytest.mark.parametrize(
    "text",
    [
        "Connection closed",
        "SSE stream failed: peer closed connection",
        "SSE stream ended without a response",
        "the POST failed: ConnectError",
        "the server no longer knows this session (HTTP 404)",
    ],
)
def test_what_the_transports_say_when_a_connection_goes_is_a_lost_connection(text: str) -> None:
    mapped = translate_error(MCPError(code=CONNECTION_CLOSED, message=text), server="wa", transport=HTTP, tool="x")

    assert isinstance(mapped, MCPConnectionError)


def test_an_answer_of_the_wrong_shape_is_a_one_line_protocol_error() -> None:
    mapped = translate_error(validation_error(), server="wa", transport=HTTP, tool="list_chats")

    assert isinstance(mapped, MCPProtocolError)
    assert "\n" not in str(mapped)
    assert "tool 'list_chats'" in str(mapped)


class _EndedStdio(StdioTransport):
    """A stdio transport whose server has ended as ``ended`` says (None: still running)."""

    def __init__(self, ended: str | None) -> None:
        super().__init__(ServerConfig(connection_type="stdio", command="wa-server", args=["--db", "x.db"]))
        self._ended = ended

    @property
    def server_ended(self) -> str | None:
        return self._ended


@pytest.mark.parametrize(
    ("tool", "words"),
    [
        (None, ["the server process exited with code 2 while connecting", "run the command by hand"]),
        ("list_chats", ["the server process exited with code 2 while calling tool 'list_chats'", "starts it again"]),
    ],
)
def test_a_closed_connection_to_a_stdio_server_that_ended_says_how_it_ended(tool: str | None, words: list[str]) -> None:
    closed = MCPError(code=CONNECTION_CLOSED, message="Connection closed")

    mapped = translate_error(closed, server="wa", transport=_EndedStdio("exited with code 2"), tool=tool)

    assert type(mapped) is MCPConnectionError
    for word in words:
        assert word in str(mapped)
    assert "wa-server --db x.db" in str(mapped)


def test_a_closed_connection_to_a_running_server_while_connecting_asks_whether_it_speaks_mcp() -> None:
    closed = MCPError(code=CONNECTION_CLOSED, message="Connection closed")

    connecting = translate_error(closed, server="wa", transport=_EndedStdio(None))
    calling = translate_error(closed, server="wa", transport=_EndedStdio(None), tool="list_chats")

    assert "connection closed while connecting" in str(connecting)
    assert "is it an MCP server on this transport?" in str(connecting)
    assert "connection closed while calling tool 'list_chats'" in str(calling)
    assert "reconnects on the next call" in str(calling)


@pytest.mark.parametrize(
    ("returncode", "words"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-9, "was killed by SIGKILL"),
        (-15, "was killed by SIGTERM"),
    ],
)
def test_a_stdio_servers_exit_status_in_words(returncode: int, words: str) -> None:
    assert exit_description(returncode) == words


def test_an_unknown_signal_number_is_named_by_its_number() -> None:
    assert exit_description(-250) == "was killed by signal 250"


def test_a_plain_web_server_answering_501_while_connecting_is_no_mcp_endpoint_but_a_failing_server_later() -> None:
    """`python -m http.server` answers a POST with 501 Not Implemented: while connecting, that is the wrong URL."""
    connecting = translate_error(http_status(501), server="wa", transport=HTTP)
    calling = translate_error(http_status(501), server="wa", transport=HTTP, tool="list_chats")

    assert "answered HTTP 501 while connecting" in str(connecting)
    assert "is this an MCP server's endpoint?" in str(connecting)
    assert "is this an MCP server's endpoint?" not in str(calling)
    assert "failing" in str(calling)


def test_a_connection_lost_while_connecting_does_not_promise_a_reconnect() -> None:
    lost = httpx2.RemoteProtocolError("Server disconnected")

    connecting = translate_error(lost, server="wa", transport=HTTP)
    calling = translate_error(lost, server="wa", transport=HTTP, tool="list_chats")

    assert "reconnect" not in str(connecting)
    assert "is this its endpoint for this transport?" in str(connecting)
    assert "the client reconnects automatically" in str(calling)
