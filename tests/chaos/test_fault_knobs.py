"""The dropped-connection knob over the wire: each network transport drops the connection of a tool call (no answer)
and the client sees a lost connection at once, not a timeout; ``--spike-rate``/``--spike-ms`` are accepted."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from wamcp.config import ServerConfig
from wamcp.core import MCPClient, MCPConnectionError
from wamcp.demo import DemoServerProcess, generate_database

from .driver import TRANSPORTS

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("knobs") / "messages.db"
    generate_database(path, messages=200, seed=2)
    return path


# Each transport drops differently (HTTP cuts the response, SSE ends the event stream, WebSocket aborts the socket);
# the chaos rounds drop connections on all three. Here SSE by default, all three with WAMCP_CHAOS_ALL_TRANSPORTS=1.
KNOB_TRANSPORTS = list(TRANSPORTS) if os.environ.get("WAMCP_CHAOS_ALL_TRANSPORTS") else ["sse"]


@pytest.mark.parametrize("transport", KNOB_TRANSPORTS)
async def test_a_dropped_connection_fails_the_call_at_once(transport: str, account: Path) -> None:
    knobs = ["--drop-rate", "1", "--spike-rate", "0", "--spike-ms", "50"]
    with DemoServerProcess(transport=TRANSPORTS[transport], db=account, extra_args=knobs) as server:
        config = ServerConfig(name="demo", endpoint=server.url, connection_type=transport, max_retries=0, timeout=30.0)
        async with MCPClient() as client:
            client.add_server(config)
            await client.connect("demo")
            started = time.monotonic()
            with anyio.fail_after(20), pytest.raises(MCPConnectionError):
                await client.execute_tool("demo", "list_chats", {"limit": 5})
            waited = time.monotonic() - started
        server.stop()
        log = "\n".join(server.stderr_lines)
    assert "demo fault: drop" in log
    assert waited < config.timeout  # the drop is seen as a lost connection, not waited out
