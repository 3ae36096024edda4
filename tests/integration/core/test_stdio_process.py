"""The stdio transport's server process: environment, and a clean stop however the server behaves.

Real child processes; each test is bounded. A process counts as gone once it is reaped or a zombie (in a container
nothing may reap orphans, so a killed grandchild can stay a zombie).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from wamcp.config import ServerConfig
from wamcp.core.transports import StdioTransport

from .processes import alive

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _server(tmp_path: Path, body: str) -> StdioTransport:
    """A stdio "server" running ``body``; it first records its pid (and ``child``'s, if it starts one)."""
    script = tmp_path / "server.py"
    script.write_text(
        textwrap.dedent(
            """\
            import json, os, signal, subprocess, sys, time
            pids = {"server": os.getpid()}
            """
        )
        + textwrap.dedent(body)
    )
    return StdioTransport(ServerConfig(connection_type="stdio", command=sys.executable, args=[str(script)]))


async def _pids(tmp_path: Path) -> dict[str, int]:
    path = tmp_path / "pids.json"
    with anyio.fail_after(10):
        while not path.exists():  # noqa: ASYNC110 - polling another process's file
            await anyio.sleep(0.02)
    pids: dict[str, int] = json.loads(path.read_text())
    return pids


_RECORD = 'open("pids.json.tmp", "w").write(json.dumps(pids)); os.replace("pids.json.tmp", "pids.json")\n'


async def test_a_server_that_exits_at_end_of_input_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    transport = _server(tmp_path, _RECORD + "sys.stdin.read()\n")
    with anyio.fail_after(10):
        async with transport.open():
            pids = await _pids(tmp_path)
            started = time.monotonic()
    assert time.monotonic() - started < 1.5  # no 2 s grace: it exited as soon as its input ended
    assert not alive(pids["server"])


async def test_a_server_that_ignores_end_of_input_is_stopped_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    body = 'pids["child"] = subprocess.Popen(["sleep", "60"]).pid\n' + _RECORD + "sys.stdin.read()\ntime.sleep(60)\n"
    transport = _server(tmp_path, body)
    with anyio.fail_after(15):
        async with transport.open():
            pids = await _pids(tmp_path)
            assert alive(pids["server"])
            assert alive(pids["child"])
    assert not alive(pids["server"])
    with anyio.fail_after(5):  # SIGTERM reached the whole group, the grandchild included
        while alive(pids["child"]):  # noqa: ASYNC110 - polling another process
            await anyio.sleep(0.02)


async def test_a_server_that_ignores_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    body = "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + _RECORD + "sys.stdin.read()\ntime.sleep(60)\n"
    transport = _server(tmp_path, body)
    with anyio.fail_after(15):
        async with transport.open():
            pids = await _pids(tmp_path)
    assert not alive(pids["server"])


async def test_a_cancelled_caller_leaves_no_server_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    transport = _server(tmp_path, _RECORD + "time.sleep(60)\n")  # does not even read its input
    pids: dict[str, int] = {}
    with anyio.fail_after(15):
        with anyio.move_on_after(0.1) as scope:
            async with transport.open():
                pids.update(await _pids(tmp_path))
                await anyio.sleep(60)
    assert scope.cancelled_caught
    assert not alive(pids["server"])


async def test_the_server_gets_the_safe_default_environment_and_its_own_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAMCP_TEST_PARENT_SECRET", "not-for-the-server")
    script = tmp_path / "server.py"
    script.write_text(
        'import json, os, sys\nopen("env.json", "w").write(json.dumps(dict(os.environ)))\nsys.stdin.read()\n'
    )
    config = ServerConfig(
        connection_type="stdio", command=sys.executable, args=[str(script)], env={"WA_TOKEN": "t"}, cwd=str(tmp_path)
    )
    with anyio.fail_after(10):
        async with StdioTransport(config).open():
            while not (tmp_path / "env.json").exists():  # noqa: ASYNC110 - polling another process's file
                await anyio.sleep(0.02)
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["WA_TOKEN"] == "t"
    assert env["PATH"] == os.environ["PATH"]
    assert "WAMCP_TEST_PARENT_SECRET" not in env


async def test_a_server_that_cannot_be_started_raises_at_open(tmp_path: Path) -> None:
    transport = StdioTransport(ServerConfig(connection_type="stdio", command=str(tmp_path / "no-such-server")))
    with pytest.raises(FileNotFoundError):
        async with transport.open():
            pass
