"""Transport pieces run in-process (so coverage sees them): WebSocket server, HTTP gate, CLI, launcher, cache."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

import wamcp.demo
from tests.integration.demo.wsclient import ws_transport
from wamcp.demo.__main__ import app
from wamcp.demo.faults import FaultConfig, Faults
from wamcp.demo.launch import DemoServerProcess, demo_server_command, stdio_parameters
from wamcp.demo.server import DemoServer, DemoServerConfig, _HttpGate, _url, build_asgi_app, default_database
from wamcp.demo.websocket import serve_websocket

from .golden import FIXTURE_DB


def test_public_api_is_pinned() -> None:
    assert wamcp.demo.__all__ == [
        "READY_PREFIX",
        "DemoServer",
        "DemoServerConfig",
        "DemoServerProcess",
        "FaultConfig",
        "GenerationResult",
        "default_database",
        "demo_server_command",
        "generate_database",
        "run_demo_server",
        "stdio_parameters",
        "truth_path_for",
    ]


@pytest.fixture
async def ws_url(tmp_path: Path) -> AsyncIterator[str]:
    demo = DemoServer(DemoServerConfig(transport="websocket", media_dir=tmp_path), FIXTURE_DB)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    url = f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"
    ready = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: serve_websocket(demo.server, sock, token="tok", ready=ready.set))
            await ready.wait()
            yield url
            tg.cancel_scope.cancel()
    finally:
        demo.close()
        sock.close()


@pytest.mark.anyio
async def test_websocket_server_in_process(ws_url: str) -> None:
    with anyio.fail_after(20):
        async with Client(ws_transport(ws_url, {"Authorization": "Bearer tok"}), mode="legacy") as client:
            result = await client.call_tool("list_chats", {"limit": 2})
            assert len(result.content) == 2
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        with pytest.raises(InvalidStatus) as wrong_path:
            async with connect(ws_url.replace("/ws", "/nope")):
                pass  # pragma: no cover
        assert wrong_path.value.response.status_code == 404
        with pytest.raises(InvalidStatus) as no_token:
            async with connect(ws_url):
                pass  # pragma: no cover
        assert no_token.value.response.status_code == 401
        # A garbage frame is reported to the session, which keeps serving.
        async with connect(ws_url, additional_headers={"Authorization": "Bearer tok"}) as raw:
            await raw.send("not json")
            await raw.send(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}')
            reply = json.loads(await raw.recv())
            assert reply["id"] == 1


async def _ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.mark.anyio
async def test_http_gate_checks_token_and_rate_limit() -> None:
    faults = Faults(FaultConfig(rate_limit_after=1, retry_after=2.0))
    gate = _HttpGate(_ok_app, token="tok", faults=faults)
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}})
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gate), base_url="http://t") as http:
        assert (await http.post("/mcp", content=call)).status_code == 401
        auth = {"Authorization": "Bearer tok"}
        first = await http.post("/mcp", content=call, headers=auth)
        assert first.status_code == 200
        assert first.text == call
        assert (await http.post("/mcp", content="{}", headers=auth)).status_code == 200  # not a tool call
        limited = await http.post("/mcp", content=call, headers=auth)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2"
        assert (await http.get("/mcp", headers=auth)).status_code == 200


def test_asgi_apps_build_for_http_and_sse(tmp_path: Path) -> None:
    for transport in ("http", "sse"):
        demo = DemoServer(DemoServerConfig(transport=transport, host="0.0.0.0", media_dir=tmp_path), FIXTURE_DB)  # type: ignore[arg-type]
        try:
            assert isinstance(build_asgi_app(demo), _HttpGate)
        finally:
            demo.close()
    assert _url("websocket", "::1", 5) == "ws://[::1]:5/ws"


def test_default_database_is_generated_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = default_database(800, 1, "Europe/Paris")
    stamp = first.stat().st_mtime_ns
    assert default_database(800, 1, "Europe/Paris") == first
    assert first.stat().st_mtime_ns == stamp
    assert first.name == "demo-800-1-Europe_Paris.db"


def test_cli_help_and_demo_data(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in ("demo-server", "demo-data"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, result.output
    assert "--rate-limit-after" in runner.invoke(app, ["demo-server", "--help"]).output
    out = tmp_path / "x.db"
    result = runner.invoke(
        app, ["demo-data", "--out", str(out), "--messages", "900", "--seed", "4", "--timezone", "Asia/Tokyo"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "x.db.truth.json").read_text(encoding="utf-8"))["messages"] == 900
    assert runner.invoke(app, ["demo-data", "--out", str(out), "--timezone", "Mars/Base"]).exit_code == 2
    assert runner.invoke(app, ["demo-data", "--out", str(out), "--messages", "0"]).exit_code == 2
    # An existing file is kept unless --force says otherwise, and a missing directory is not made up.
    (tmp_path / "x.db-wal").write_bytes(b"stale journal")
    refused = runner.invoke(app, ["demo-data", "--out", str(out), "--messages", "50"])
    assert refused.exit_code == 2
    assert "--force" in refused.output
    assert json.loads((tmp_path / "x.db.truth.json").read_text(encoding="utf-8"))["messages"] == 900
    replaced = runner.invoke(app, ["demo-data", "--out", str(out), "--messages", "50", "--force"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((tmp_path / "x.db.truth.json").read_text(encoding="utf-8"))["messages"] == 50
    assert not (tmp_path / "x.db-wal").exists()
    missing = runner.invoke(app, ["demo-data", "--out", str(tmp_path / "nope" / "y.db"), "--messages", "50"])
    assert missing.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--transport", "carrier-pigeon"],
        ["--output", "xml"],
        ["--error-rate", "2"],
        ["--db", "/nonexistent/messages.db"],
        ["--timezone", "Nowhere/Town"],
    ],
)
def test_cli_demo_server_rejects_bad_options(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["demo-server", *args])
    assert result.exit_code == 2, result.output


def test_launcher_commands_and_failures(tmp_path: Path) -> None:
    argv = demo_server_command(
        transport="sse", db=Path("x.db"), messages=10, seed=3, token="t", extra_args=["--serial"]
    )
    assert argv[1:] == ["-m", "wamcp.demo", "demo-server", "--transport", "sse", "--port", "0", "--db", "x.db",
                        "--messages", "10", "--seed", "3", "--token", "t", "--serial"]  # fmt: skip
    params = stdio_parameters(db=Path("x.db"))
    assert "--port" not in params.args
    with pytest.raises(ValueError, match="stdio"):
        DemoServerProcess(transport="stdio")
    broken = DemoServerProcess(transport="http", db=tmp_path / "missing.db", ready_timeout=30)
    with pytest.raises(RuntimeError, match="did not become ready"):
        broken.start()
    assert broken.stop() == 2


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_run_demo_server_in_process_until_cancelled(
    transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wamcp.demo import server as server_module

    urls: list[str] = []
    ready = anyio.Event()

    def capture(url: str) -> None:
        urls.append(url)
        ready.set()

    monkeypatch.setattr(server_module, "announce", capture)
    config = DemoServerConfig(transport=transport, db=FIXTURE_DB, media_dir=tmp_path)  # type: ignore[arg-type]
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(server_module.run_demo_server, config)
            await ready.wait()
            transport_cm = ws_transport(urls[0]) if transport == "websocket" else urls[0]
            async with Client(transport_cm, mode="legacy") as client:
                assert len((await client.call_tool("list_chats", {"limit": 2})).content) == 2
            tg.cancel_scope.cancel()
