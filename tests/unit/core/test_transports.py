"""Transport selection and settings from the config: paths, headers, TLS, stdio command lines, Retry-After."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import anyio
import httpx2
import pytest

from wamcp.config import MCPConnectionType, ServerConfig
from wamcp.core.transports import (
    SSETransport,
    StdioTransport,
    StreamableHTTPTransport,
    WebSocketTransport,
    create_endpoint_transports,
    create_transports,
)
from wamcp.core.transports.base import (
    _EndOfStreamTransport,
    build_headers,
    display_endpoint,
    parse_retry_after,
    resolve_url,
    tls_verify,
)
from wamcp.errors import ConfigError


@pytest.mark.parametrize(
    ("endpoint", "kind", "url"),
    [
        ("http://localhost:3000", MCPConnectionType.SSE, "http://localhost:3000/sse"),
        ("http://localhost:3000/", MCPConnectionType.STREAMABLE_HTTP, "http://localhost:3000/mcp"),
        ("https://wa.example/api/mcp", MCPConnectionType.STREAMABLE_HTTP, "https://wa.example/api/mcp"),
        ("ws://localhost:3000", MCPConnectionType.WEBSOCKET, "ws://localhost:3000/ws"),
        ("http://localhost:3000", MCPConnectionType.WEBSOCKET, "ws://localhost:3000/ws"),
        ("https://wa.example", MCPConnectionType.WEBSOCKET, "wss://wa.example/ws"),
    ],
)
def test_endpoint_without_path_gets_the_transport_convention(endpoint: str, kind: MCPConnectionType, url: str) -> None:
    assert resolve_url(endpoint, kind) == url


@pytest.mark.parametrize("endpoint", ["ws://localhost:3000", "localhost:3000", "ftp://x"])
def test_wrong_scheme_for_http_transport_is_a_config_error(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="not a valid sse URL"):
        resolve_url(endpoint, MCPConnectionType.SSE)


@pytest.mark.parametrize(
    ("endpoint", "kind", "hint"),
    [
        ("localhost:3000", MCPConnectionType.SSE, "did you mean http://localhost:3000?"),
        ("wa.example:8443/mcp", MCPConnectionType.STREAMABLE_HTTP, "did you mean http://wa.example:8443/mcp?"),
        ("localhost:3000/ws", MCPConnectionType.WEBSOCKET, "did you mean ws://localhost:3000/ws?"),
        ("whatsapp-server", MCPConnectionType.SSE, "did you mean http://whatsapp-server? (a program to start needs"),
        ("uv --directory /opt/wa run main.py", MCPConnectionType.SSE, "reads like a command line"),
        ("./server.py", MCPConnectionType.SSE, "needs connection_type stdio (--mcp-connection stdio)"),
        ("demo", MCPConnectionType.SSE, "--demo starts the embedded demo server"),
        ("ftp://x", MCPConnectionType.SSE, "use http://host:port or https://host:port"),
    ],
)
def test_an_endpoint_that_is_no_url_gets_a_hint_that_says_how_to_write_it(
    endpoint: str, kind: MCPConnectionType, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_url(endpoint, kind)

    assert hint in (caught.value.hint or "")


def test_factory_picks_transport_from_connection_type() -> None:
    def kinds(**values: object) -> list[str]:
        return [t.kind for t in create_transports(ServerConfig(**values))]  # type: ignore[arg-type]

    assert kinds(connection_type="sse") == ["sse"]
    assert kinds(connection_type="http") == ["streamable_http"]
    assert kinds(connection_type="websocket", endpoint="ws://h:1") == ["websocket"]
    assert kinds(connection_type="stdio", endpoint="python server.py") == ["stdio"]
    assert kinds(connection_type="auto") == ["streamable_http", "sse"]
    assert kinds(connection_type="auto", endpoint="wss://h") == ["websocket"]


def test_transports_are_grouped_by_endpoint_in_config_order() -> None:
    config = ServerConfig(connection_type="auto", endpoint="http://a:1", endpoints=["http://b:2", "http://c:3"])

    groups = create_endpoint_transports(config)

    assert [[(t.kind, t.endpoint) for t in group] for group in groups] == [
        [("streamable_http", f"http://{host}/mcp"), ("sse", f"http://{host}/sse")] for host in ("a:1", "b:2", "c:3")
    ]
    assert [t.endpoint for t in create_transports(config)] == [t.endpoint for group in groups for t in group]


def test_headers_carry_custom_headers_and_bearer_token() -> None:
    config = ServerConfig(auth_token="abcd-token", custom_headers={"X-Team": "bi", "authorization": "old"})

    headers = build_headers(config)

    assert headers == {"X-Team": "bi", "Authorization": "Bearer abcd-token"}
    assert "abcd-token" not in repr(config)


def test_tls_verification_is_on_by_default_and_configurable(tmp_path: Path) -> None:
    assert tls_verify(ServerConfig()) is True
    assert tls_verify(ServerConfig(verify_tls=False)) is False
    assert tls_verify(ServerConfig(verify_tls="false")) is False
    with pytest.raises(ConfigError, match="CA bundle"):
        tls_verify(ServerConfig(verify_tls=str(tmp_path / "missing.pem")))
    bundle = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        assert isinstance(tls_verify(ServerConfig(verify_tls=str(bundle))), ssl.SSLContext)


def test_stdio_command_from_fields_or_shell_split_endpoint() -> None:
    explicit = StdioTransport(ServerConfig(connection_type="stdio", command="uv", args=["run", "main.py"]))
    split = StdioTransport(ServerConfig(connection_type="stdio", endpoint="uv --directory '/opt/wa mcp' run main.py"))

    assert (explicit.command, explicit.args) == ("uv", ["run", "main.py"])
    assert (split.command, split.args) == ("uv", ["--directory", "/opt/wa mcp", "run", "main.py"])
    assert split.endpoint.startswith("uv --directory")
    with pytest.raises(ConfigError, match="not a valid command line"):
        StdioTransport(ServerConfig(connection_type="stdio", endpoint="python 'unclosed"))
    # stdio with no command and the default (URL) endpoint: a config error (exit 2), not "command not found" (exit 3)
    with pytest.raises(ConfigError, match="no command is set and the endpoint 'http://localhost:3000' is a URL") as no:
        StdioTransport(ServerConfig(connection_type="stdio"))
    assert '--mcp-endpoint "uv run main.py"' in (no.value.hint or "")  # the CLI's way to give the command


def test_endpoints_shown_without_passwords() -> None:
    assert display_endpoint("https://bob:hunter2@wa.example:8443/mcp") == "https://bob:***@wa.example:8443/mcp"
    assert display_endpoint("https://:hunter2@wa.example/mcp") == "https://wa.example/mcp"
    assert "hunter2" not in repr(SSETransport(ServerConfig(endpoint="http://u:hunter2@h:1")))
    assert (
        repr(StreamableHTTPTransport(ServerConfig(endpoint="http://h:1")))
        == "StreamableHTTPTransport('http://h:1/mcp')"
    )
    assert repr(WebSocketTransport(ServerConfig(endpoint="ws://h:1"))) == "WebSocketTransport('ws://h:1/ws')"


def test_retry_after_in_seconds_or_as_http_date() -> None:
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)

    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 55 < (parse_retry_after(in_a_minute) or 0) <= 60


class _EventStream(httpx2.AsyncByteStream):
    """A POST's SSE answer: the response event, then ``tail`` (the rest up to the end of the stream), then the end,
    or no end at all (``endless``)."""

    def __init__(self, *, tail: bytes = b"", endless: bool = False) -> None:
        self.tail = tail
        self.endless = endless
        self.read_to_end = False
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'event: message\ndata: {"jsonrpc": "2.0", "id": 1, "result": {}}\n\n'
        if self.tail:
            yield self.tail
        if self.endless:
            await anyio.sleep_forever()
        self.read_to_end = True

    async def aclose(self) -> None:
        self.closed = True


async def _read_first_event_and_close(stream: _EventStream) -> None:
    """What the SDK does with a POST's event stream: read up to the response, then close the response."""
    transport = _EndOfStreamTransport(
        httpx2.MockTransport(lambda _request: httpx2.Response(200, headers=_SSE, stream=stream))
    )
    async with (
        httpx2.AsyncClient(transport=transport) as client,
        client.stream("POST", "http://127.0.0.1:9/mcp") as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                break


_SSE = {"content-type": "text/event-stream"}


@pytest.mark.anyio
async def test_a_post_event_stream_is_read_to_its_end_before_it_is_closed() -> None:
    """So that its connection can serve the next call (see test_sequential_calls_reuse_their_connections)."""
    stream = _EventStream(tail=b": the end\n\n")
    with anyio.fail_after(5):
        await _read_first_event_and_close(stream)
    assert (stream.read_to_end, stream.closed) == (True, True)


@pytest.mark.anyio
async def test_a_post_event_stream_that_does_not_end_is_closed_after_a_short_wait() -> None:
    stream = _EventStream(endless=True)
    started = time.monotonic()
    with anyio.fail_after(5):
        await _read_first_event_and_close(stream)
    assert (stream.read_to_end, stream.closed) == (False, True)
    assert time.monotonic() - started < 2.0  # EVENT_STREAM_END_WAIT (0.02 s) plus scheduling, never a hang
