"""The demo server as a subprocess on every transport, with a real SDK client (legacy handshake, like lharries)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.unit.demo.golden import FIXTURE_DB, block_differences, probe_calls
from wamcp.demo.launch import DemoServerProcess, stdio_parameters

from .wsclient import ws_transport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOOLS_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_chats", "arguments": {}}}


async def _golden(client: Client, calls: list[dict[str, Any]]) -> None:
    for call in calls:
        result = await client.call_tool(call["tool"], call["arguments"])
        assert block_differences(call, result) == [], call["n"]


@pytest.mark.anyio
async def test_stdio_reproduces_every_probed_call() -> None:
    with anyio.fail_after(40):
        async with Client(stdio_parameters(db=FIXTURE_DB), mode="legacy", read_timeout_seconds=20) as client:
            assert client.protocol_version == "2025-11-25"
            assert len((await client.list_tools()).tools) == 12
            await _golden(client, probe_calls())


@pytest.mark.anyio
async def test_streamable_http_serves_the_contract() -> None:
    with DemoServerProcess(transport="http", db=FIXTURE_DB) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/mcp"
        with anyio.fail_after(30):
            async with Client(server.url, mode="legacy") as client:
                await _golden(client, probe_calls())
        assert server.stop() == 0


@pytest.mark.anyio
async def test_streamable_http_with_json_responses_serves_the_contract() -> None:
    """``--json-response``: each POST is answered with one ``application/json`` body, not an SSE stream."""
    with DemoServerProcess(transport="http", db=FIXTURE_DB, extra_args=["--json-response"]) as server:
        initialize = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "probe", "version": "1"},
            },
        }
        async with httpx2.AsyncClient(timeout=20) as http:
            answer = await http.post(
                server.url, json=initialize, headers={"Accept": "application/json, text/event-stream"}
            )
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json()["result"]["serverInfo"]["name"]
        with anyio.fail_after(30):
            async with Client(server.url, mode="legacy") as client:
                await _golden(client, probe_calls())


def test_json_response_is_refused_off_http() -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "wamcp.demo", "demo-server", "--transport", "sse", "--json-response"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["error: --json-response is for --transport http only, not sse"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--db", "RANDOM"], "is not a WhatsApp bridge database"),  # was served as an empty account: runs "completed"
        (["--crash-after", "-1"], "--crash-after counts tool calls"),
        (["--page-cap", "0"], "--page-cap counts rows (messages or chats): 1 or more, got 0"),
    ],
)
def test_a_bad_database_or_knob_is_refused_at_start(tmp_path: Path, args: list[str], says: str) -> None:
    import subprocess
    import sys

    random_bytes = tmp_path / "random.db"
    random_bytes.write_bytes(bytes(range(256)) * 20)
    argv = [str(random_bytes) if a == "RANDOM" else a for a in args]
    run = subprocess.run(
        [sys.executable, "-m", "wamcp.demo", "demo-server", "--transport", "http", "--port", "0", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert says in run.stderr


@pytest.mark.anyio
async def test_sse_serves_the_contract() -> None:
    with DemoServerProcess(transport="sse", db=FIXTURE_DB) as server:
        assert server.url.endswith("/sse")
        with anyio.fail_after(30):
            async with Client(sse_client(server.url), mode="legacy") as client:
                await _golden(client, probe_calls()[:10])


@pytest.mark.anyio
async def test_websocket_serves_the_contract_and_stops_on_sigterm() -> None:
    with DemoServerProcess(transport="websocket", db=FIXTURE_DB) as server:
        assert server.url == f"ws://127.0.0.1:{server.port}/ws"
        with anyio.fail_after(30):
            async with Client(ws_transport(server.url), mode="legacy") as client:
                await _golden(client, probe_calls())
        assert server.stop() == 0


@pytest.mark.anyio
async def test_token_is_required_on_http_sse_and_websocket() -> None:
    with DemoServerProcess(transport="http", db=FIXTURE_DB, token="s3cret-token") as server:
        async with httpx2.AsyncClient(timeout=10) as http:
            denied = await http.post(server.url, json=TOOLS_CALL)
            assert denied.status_code == 401
            wrong = await http.post(server.url, json=TOOLS_CALL, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        async with (
            httpx2.AsyncClient(headers=auth, timeout=10) as http,
            Client(streamable_http_client(server.url, http_client=http), mode="legacy") as client,
        ):
            assert len((await client.call_tool("list_chats", {"limit": 2})).content) == 2
    with DemoServerProcess(transport="sse", db=FIXTURE_DB, token="s3cret-token") as server:
        async with httpx2.AsyncClient(timeout=10) as http:
            assert (await http.get(server.url)).status_code == 401
        async with Client(sse_client(server.url, headers=auth), mode="legacy") as client:
            assert len((await client.call_tool("list_chats", {"limit": 1})).content) == 1
    with DemoServerProcess(transport="websocket", db=FIXTURE_DB, token="s3cret-token") as server:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.url, subprotocols=[]):
                pass  # pragma: no cover
        assert refused.value.response.status_code == 401
        async with Client(ws_transport(server.url, auth), mode="legacy") as client:
            assert len((await client.call_tool("list_chats", {"limit": 1})).content) == 1


@pytest.mark.anyio
async def test_http_rate_limit_answers_429_with_retry_after() -> None:
    extra = ["--rate-limit-after", "2", "--retry-after", "3"]
    with DemoServerProcess(transport="http", db=FIXTURE_DB, extra_args=extra) as server:
        async with Client(server.url, mode="legacy") as client:
            await client.call_tool("list_chats", {"limit": 1})
            await client.call_tool("list_chats", {"limit": 1})
        async with httpx2.AsyncClient(timeout=10) as http:
            limited = await http.post(
                server.url, json=TOOLS_CALL, headers={"Accept": "application/json, text/event-stream"}
            )
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "3"
        assert "rate limit exceeded" in limited.json()["error"]


@pytest.mark.anyio
async def test_stdio_rate_limit_and_crash_after() -> None:
    params = stdio_parameters(db=FIXTURE_DB, extra_args=["--rate-limit-after", "1", "--crash-after", "2"])
    with anyio.fail_after(30):
        async with Client(params, mode="legacy", read_timeout_seconds=10) as client:
            assert not (await client.call_tool("list_chats", {"limit": 1})).is_error
            limited = await client.call_tool("list_chats", {"limit": 1})
            assert limited.is_error
            assert "rate limit exceeded" in limited.content[0].text  # type: ignore[union-attr]
            with pytest.raises(MCPError) as crashed:
                await client.call_tool("list_chats", {"limit": 1})
            assert crashed.value.code == types.CONNECTION_CLOSED


@pytest.mark.anyio
async def test_generates_and_caches_default_dataset_without_db(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    with DemoServerProcess(transport="http", messages=1500, seed=2, env=env) as server:
        async with Client(server.url, mode="legacy") as client:
            chats = await client.call_tool("list_chats", {"limit": 3})
            assert len(chats.content) == 3
            assert "Acme" not in json.dumps([c.model_dump() for c in chats.content])
    cached = list((tmp_path / "cache" / "wamcp" / "demo").glob("*.db"))
    assert [p.name for p in cached] == ["demo-1500-2-UTC.db"]


def test_wamcp_cli_registers_the_demo_commands() -> None:
    """One run of the real ``wamcp`` entry point (it loads every layer, so keep it to one)."""
    import subprocess
    import sys

    wamcp = Path(sys.executable).with_name("wamcp")
    bad = subprocess.run([str(wamcp), "demo-server", "--transport", "x"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "unknown transport" in bad.stderr


def test_a_port_in_use_is_one_line_that_says_what_to_do() -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "wamcp.demo", "demo-server", "--transport", "http", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use (by another server, or by a connection"
        " that closed in the last minute) — choose another --port, or --port 0 for a free one"
    ]
