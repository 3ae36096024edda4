"""The seed's usage snippets run as written, in a fresh ``python -W error`` subprocess, against demo servers.

Only where the server is changes: the synchronous snippet finds it through ``MCP_WHATSAPP_*`` environment variables,
the others through an ``mcp_config.json`` in the script's working directory (no client-side rate limits, as for any
local server: with the seed's defaults the async snippet's ~100 calls take ~40 s). In the async snippet the endpoint
literal ``http://localhost:3000`` becomes the demo's URL, and on WebSocket / streamable HTTP the
``MCPConnectionType.SSE`` literal becomes that transport's member. The health snippet awaits at top level, which a
script cannot: its one ``await`` is wrapped in ``asyncio.run(...)``. The snippets never clean up, so every run also
checks that the interpreter exits promptly with nothing on stderr.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wamcp.demo.launch import DemoServerProcess

from .conftest import NETWORK_TRANSPORTS, Demo
from .seed_snippets import ADVANCED_USAGE_ASYNC, BASIC_USAGE_SYNC, HEALTH_STATUS

pytestmark = pytest.mark.integration

TOKEN = "your-token"  # the async snippet's literal auth_token; the demo servers require it
SNIPPET_TIMEOUT = 60.0
_SERVER_FLAG = {"sse": "sse", "streamable_http": "http", "websocket": "websocket"}
_MEMBER = {"sse": "SSE", "streamable_http": "STREAMABLE_HTTP", "websocket": "WEBSOCKET"}
# The basic snippet prints nothing; these lines, appended after it, show what a user would look at.
_BASIC_EPILOGUE = """
import json
print("chats:", len(chats))
print("first chat:", json.dumps(chats[0], ensure_ascii=False))
print("messages:", json.dumps(messages))
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def snippet_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MCP_", "PYTHON"))}
    return {**env, **extra}


def start(script: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    path = cwd / "snippet.py"
    path.write_text(script, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-W", "error", str(path)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def finish(process: subprocess.Popen[str]) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=SNIPPET_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"snippet did not exit within {SNIPPET_TIMEOUT} s\nstdout:\n{stdout}\nstderr:\n{stderr}")
    return Run(process.returncode, stdout, stderr)


def advanced_script(demo: Demo, *, phone: str | None = None) -> str:
    assert demo.url is not None
    script = ADVANCED_USAGE_ASYNC.replace('endpoint="http://localhost:3000"', f'endpoint="{demo.url}"')
    script = script.replace("MCPConnectionType.SSE", f"MCPConnectionType.{_MEMBER[demo.transport]}")
    if phone is not None:
        script = script.replace('"+1234567890"', f'"{phone}"')
    return script


def health_script() -> str:
    # A script cannot await at top level: the one await is wrapped in asyncio.run(...), nothing else changes.
    awaited = "health = await client.health_check()"
    assert awaited in HEALTH_STATUS
    return "import asyncio\n" + HEALTH_STATUS.replace(awaited, "health = asyncio.run(client.health_check())")


def newest_chat_sizes(db: Path, count: int, cap: int) -> Counter[int]:
    """How many messages ``get_chat_messages(limit=cap)`` finds in each of the ``count`` most recently active chats."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT c.jid, (SELECT COUNT(*) FROM messages m WHERE m.chat_jid = c.jid) FROM chats c "
            "ORDER BY c.last_message_time DESC LIMIT ?",
            (count,),
        ).fetchall()
    return Counter(min(size, cap) for _, size in rows)


@pytest.fixture(scope="module", params=NETWORK_TRANSPORTS)
def demo(request: pytest.FixtureRequest, demo_db: Path) -> Iterator[Demo]:
    transport = request.param
    with DemoServerProcess(transport=_SERVER_FLAG[transport], db=demo_db, token=TOKEN) as server:
        yield Demo(transport, "lharries", demo_db, url=server.url)


def test_seed_snippets_run_as_written(demo: Demo, tmp_path: Path) -> None:
    assert demo.url is not None
    basic_dir, config_dir, health_dir = (tmp_path / name for name in ("basic", "async", "health"))
    for directory in (basic_dir, config_dir, health_dir):
        directory.mkdir()
    demo.write_config(config_dir, auth_token=TOKEN)
    demo.write_config(health_dir, auth_token=TOKEN)
    env_config = {
        "MCP_WHATSAPP_ENDPOINT": demo.url,
        "MCP_WHATSAPP_CONNECTION_TYPE": demo.transport,
        "MCP_WHATSAPP_AUTH_TOKEN": TOKEN,
    }
    # The three scripts run at once: they are independent processes, and this keeps the suite quick.
    processes = [
        start(BASIC_USAGE_SYNC + _BASIC_EPILOGUE, basic_dir, snippet_env(**env_config)),
        start(advanced_script(demo, phone="+447700900123"), config_dir, snippet_env()),
        start(health_script(), health_dir, snippet_env()),
    ]
    basic, advanced, health = (finish(process) for process in processes)

    for run in (basic, advanced, health):
        assert run.returncode == 0, run.stderr
        assert run.stderr == ""
    assert "chats: 50" in basic.stdout
    assert '"jid": "' in basic.stdout
    assert "messages: []" in basic.stdout  # 1234567890@c.us is no chat of the demo account
    lines = advanced.stdout.splitlines()
    counts = [re.fullmatch(r"Chat .+: (\d+) messages", line) for line in lines]
    assert all(counts), advanced.stdout
    assert Counter(int(match[1]) for match in counts if match) == newest_chat_sizes(demo.db, 50, 100)
    assert re.search(r"^MCP Connection: (True|False)$", health.stdout, re.M), health.stdout
    assert re.search(r"^WhatsApp Status: \S+$", health.stdout, re.M), health.stdout


@pytest.mark.parametrize("demo", ["sse"], indirect=True)
def test_async_snippet_authenticates_with_the_seeds_example_number(demo: Demo, tmp_path: Path) -> None:
    demo.write_config(tmp_path, auth_token=TOKEN)

    run = finish(start(advanced_script(demo), tmp_path, snippet_env()))

    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert len(re.findall(r"^Chat .+: \d+ messages$", run.stdout, re.M)) == 50


@pytest.mark.parametrize("demo", ["sse"], indirect=True)
def test_health_snippet_reports_a_running_server_as_connected(demo: Demo, tmp_path: Path) -> None:
    demo.write_config(tmp_path, auth_token=TOKEN)

    run = finish(start(health_script(), tmp_path, snippet_env()))

    assert run.returncode == 0, run.stderr
    assert "MCP Connection: True" in run.stdout


def test_async_snippet_prints_the_qr_code_when_the_server_needs_pairing(demo_db: Path, tmp_path: Path) -> None:
    with DemoServerProcess(transport="sse", db=demo_db, token=TOKEN, extra_args=["--require-pairing"]) as server:
        demo = Demo("sse", "lharries", demo_db, url=server.url)
        demo.write_config(tmp_path, auth_token=TOKEN)

        run = finish(start(advanced_script(demo, phone="+447700900123"), tmp_path, snippet_env()))

    assert re.search(r"^Scan QR code: 2@\S+$", run.stdout, re.M), run.stdout + run.stderr
    # Nobody scans the code in a test, so the next read is refused with the server's own explanation.
    assert run.returncode == 1
    assert "authentication required" in run.stderr
    assert "Warning" not in run.stderr
