"""A stdio server started early (before the client's imports) is taken over by the transport, or stopped.

Real child processes, each test bounded; see wamcp.stdio_process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.stdio import get_default_environment

from wamcp import stdio_process
from wamcp.config import ServerConfig
from wamcp.core.transports import StdioTransport
from wamcp.stdio_process import claim, safe_environment, started_early, started_early_for

from .processes import alive

pytestmark = pytest.mark.integration

# Appends its pid to starts.txt and says it on stdout (a JSON-RPC notification), then reads its input to the end
# (or ignores it, with "stubborn" in argv).
_SERVER = """\
import json, os, signal, sys, time
with open("starts.txt", "a") as f:
    f.write(f"{os.getpid()}\\n")
print(json.dumps({"jsonrpc": "2.0", "method": "pid", "params": {"pid": os.getpid()}}), flush=True)
if "stubborn" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
sys.stdin.read()
"""


def _starts(tmp_path: Path, at_least: int = 1) -> list[int]:
    path = tmp_path / "starts.txt"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and len(lines := path.read_text().split()) >= at_least:
            return [int(pid) for pid in lines]
        time.sleep(0.02)
    raise AssertionError(f"the server did not start {at_least} time(s) within 10 s")


async def _said_pid(read: Any) -> int:
    message = await read.receive()
    pid: int = message.message.params["pid"]
    return pid


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerConfig:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "server.py"
    script.write_text(_SERVER)
    return ServerConfig(connection_type="stdio", command=sys.executable, args=[str(script)], env={"WA": "1"})


def test_the_safe_environment_is_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", "() { echo function; }")  # a shell function is never passed on
    monkeypatch.setenv("TERM", "xterm-test")
    monkeypatch.setenv("WAMCP_TEST_PARENT_SECRET", "not-for-the-server")
    assert safe_environment() == get_default_environment()
    assert safe_environment()["TERM"] == "xterm-test"
    assert "SHELL" not in safe_environment()


@pytest.mark.anyio
async def test_the_transport_takes_over_the_early_server(server: ServerConfig, tmp_path: Path) -> None:
    with started_early_for(server):
        [early] = _starts(tmp_path)  # running before any connection
        with anyio.fail_after(10):
            async with StdioTransport(server).open() as (read, _):
                first = await _said_pid(read)
            # A second connection spawns its own: the early process is handed over once.
            async with StdioTransport(server).open() as (read, _):
                second = await _said_pid(read)
    assert first == early
    assert second != early
    assert _starts(tmp_path) == [early, second]
    assert not alive(early)
    assert not alive(second)


def test_an_early_server_nobody_takes_is_stopped_when_the_block_ends(server: ServerConfig, tmp_path: Path) -> None:
    with started_early_for(server):
        [early] = _starts(tmp_path)
        assert alive(early)
    assert not alive(early)
    assert claim(server.command or "", list(server.args), server.env, None) is None


@pytest.mark.anyio
async def test_other_parameters_do_not_take_the_early_server(server: ServerConfig, tmp_path: Path) -> None:
    other = server.model_copy(update={"env": {"WA": "2"}})
    with started_early_for(server):
        [early] = _starts(tmp_path)
        with anyio.fail_after(10):
            async with StdioTransport(other).open() as (read, _):
                assert await _said_pid(read) != early
        assert alive(early)  # still waiting for its own connection
    assert not alive(early)


def test_a_stubborn_early_server_is_terminated_then_killed(
    server: ServerConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stdio_process, "_STOP_GRACE", 0.3)
    stubborn = server.model_copy(update={"args": [*server.args, "stubborn"]})
    started = time.monotonic()
    with started_early_for(stubborn):
        [early] = _starts(tmp_path)
    assert not alive(early)
    assert time.monotonic() - started < 5


def test_an_early_start_that_fails_changes_nothing(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-server")
    with started_early(missing, [], None, None):
        assert claim(missing, [], None, None) is None


def test_only_stdio_servers_start_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spawned: list[str] = []
    monkeypatch.setattr(stdio_process, "spawn", lambda command, *rest: spawned.append(command))
    with started_early_for(ServerConfig(connection_type="sse", endpoint="http://127.0.0.1:9/sse")):
        pass
    with started_early_for(ServerConfig(connection_type="stdio", endpoint="python 'unclosed")):
        pass  # not a command line: the connection reports it, in its own words
    assert spawned == []


def test_an_early_server_gets_the_safe_environment_and_its_own_variables(server: ServerConfig, tmp_path: Path) -> None:
    script = tmp_path / "env_server.py"
    script.write_text('import json, os, sys\nopen("env.json", "w").write(json.dumps(dict(os.environ)))\n')
    config = server.model_copy(update={"args": [str(script)]})
    with started_early_for(config):
        deadline = time.monotonic() + 10
        while not (tmp_path / "env.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    env = json.loads((tmp_path / "env.json").read_text())
    env.pop("LC_CTYPE", None)  # set by the child interpreter itself under the C locale (PEP 538)
    assert env == safe_environment() | {"WA": "1"}
    assert env["PATH"] == os.environ["PATH"]
