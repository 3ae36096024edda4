"""One WhatsApp client used from several event loops in turn, as the seed's migration path does: sync calls (the
facade's loop thread), then ``asyncio.run`` three times, then sync calls again, in a fresh ``python -W error``
subprocess against a demo server. Bounded by a subprocess timeout (and ``asyncio.wait_for`` inside), so a deadlock
fails the test instead of hanging the suite; for stdio, the script also counts its live server processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import wamcp

from .conftest import Demo, start_demo

pytestmark = pytest.mark.integration

SCRIPT_TIMEOUT = 90.0
SCRIPT = """
import asyncio, json, os
from pathlib import Path

from mcp_utils import cleanup_mcp_connections, use_mcp_tool
from whatsapp_mcp_client import get_whatsapp_mcp_client


def server_processes():
    # Live children of this process: the stdio servers the client started (none for network transports).
    mine = str(os.getpid())
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        count += fields[1] == mine and fields[0] != "Z"
    return count


async def one_run():
    client = get_whatsapp_mcp_client()
    health = await asyncio.wait_for(client.health_check(), 20)
    chats = await asyncio.wait_for(client.list_chats(limit=2), 20)
    return [health["mcp_connection"], len(chats), server_processes()]


if os.environ.get("ASYNC_ONLY"):
    print(json.dumps([asyncio.run(one_run()) for _ in range(3)]))
    raise SystemExit(0)

report = {"sync_before": len(use_mcp_tool("whatsapp", "list_chats", {"limit": 3}, timeout=20))}
report["runs"] = [asyncio.run(one_run()) for _ in range(3)]
report["sync_after"] = len(use_mcp_tool("whatsapp", "list_chats", {"limit": 3}, timeout=20))
report["servers_after_sync"] = server_processes()
cleanup_mcp_connections()
report["servers_after_cleanup"] = server_processes()
print(json.dumps(report))
"""


@pytest.fixture(scope="module", params=["stdio", "sse", "streamable_http", "websocket"])
def demo(request: pytest.FixtureRequest, demo_db: Path) -> Iterator[Demo]:
    yield from start_demo(request.param, "lharries", demo_db)


def _env() -> dict[str, str]:
    # The script imports the seed's shims and wamcp from this checkout (not whatever the venv points at).
    src = Path(wamcp.__file__).resolve().parents[1]
    root = src.parent
    assert (root / "mcp_utils.py").is_file()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MCP_", "PYTHON"))}
    return {**env, "PYTHONPATH": os.pathsep.join([str(src), str(root)])}


def _run_script(demo: Demo, directory: Path, **env: str) -> subprocess.CompletedProcess[str]:
    demo.write_config(directory)
    path = directory / "loops.py"
    path.write_text(SCRIPT, encoding="utf-8")
    try:
        run = subprocess.run(
            [sys.executable, "-W", "error", str(path)],
            cwd=directory,
            env={**_env(), **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(
            f"the script hung: no answer within {SCRIPT_TIMEOUT} s\nstdout:\n{err.stdout!r}\nstderr:\n{err.stderr!r}"
        )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    return run


def test_one_client_works_from_three_successive_asyncio_runs(demo: Demo, tmp_path: Path) -> None:
    runs = json.loads(_run_script(demo, tmp_path, ASYNC_ONLY="1").stdout)

    assert runs == [[True, 2, 1 if demo.transport == "stdio" else 0]] * 3


def test_one_client_works_from_the_sync_facade_then_asyncio_run_then_sync_again(demo: Demo, tmp_path: Path) -> None:
    report = json.loads(_run_script(demo, tmp_path).stdout)

    stdio_servers = 1 if demo.transport == "stdio" else 0  # the current connection's process only, never the old ones
    assert report["sync_before"] == 3
    assert report["runs"] == [[True, 2, stdio_servers]] * 3
    assert report["sync_after"] == 3
    assert report["servers_after_sync"] == stdio_servers
    assert report["servers_after_cleanup"] == 0
