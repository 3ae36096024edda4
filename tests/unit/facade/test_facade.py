"""The seed's synchronous API (``mcp_utils``: use_mcp_tool, initialize_whatsapp_mcp, cleanup_mcp_connections) against
a stdio demo server that the client starts itself from ``mcp_config.json``, as a user's script would.

Each test starts from a clean facade (no process-wide client, runner stopped) and cleans up after itself.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil
import pytest

import mcp_utils
from wamcp.config import ServerConfig
from wamcp.core.sync import get_runner
from wamcp.demo.data import generate_database
from wamcp.demo.launch import demo_server_command
from wamcp.errors import MCPClientError, MCPTimeoutError
from wamcp.whatsapp import get_whatsapp_mcp_client

SERVER = "github.com/lharries/whatsapp-mcp"
ZONE = "Europe/London"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("facade-demo") / "bridge.db"
    generate_database(path, messages=600, seed=9, timezone=ZONE)
    return path


def write_config(directory: Path, db: Path, *server_args: str, **server: Any) -> Path:
    argv = demo_server_command(transport="stdio", db=db, port=None, extra_args=server_args)
    config = {
        "whatsapp": {
            "server": {
                "connection_type": "stdio",
                "endpoint": "stdio",
                "command": argv[0],
                "args": argv[1:],
                "health_check_interval": 0,
                **server,
            },
            "rate_limits": {"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0},
            "server_timezone": ZONE,
        }
    }
    path = directory / "mcp_config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.fixture
def configured(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory whose ``mcp_config.json`` starts a stdio demo server; no MCP_* variables."""
    for name in list(__import__("os").environ):
        if name.startswith("MCP_"):
            monkeypatch.delenv(name)
    write_config(tmp_path, demo_db)
    monkeypatch.chdir(tmp_path)
    mcp_utils.cleanup_mcp_connections()
    try:
        yield tmp_path
    finally:
        mcp_utils.cleanup_mcp_connections()


def chat_rows(db: Path) -> dict[str, list[tuple[str, str]]]:
    """Per chat: (content, stored time) of every message, newest first."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT chat_jid, content, timestamp FROM messages ORDER BY timestamp DESC").fetchall()
    chats: dict[str, list[tuple[str, str]]] = {}
    for jid, content, stamp in rows:
        chats.setdefault(jid, []).append((content or "", stamp))
    return chats


def biggest_chats(db: Path, count: int) -> list[str]:
    chats = chat_rows(db)
    return sorted(chats, key=lambda jid: (-len(chats[jid]), jid))[:count]


def test_use_mcp_tool_initializes_from_the_config_on_first_use(configured: Path, demo_db: Path) -> None:
    assert not get_whatsapp_mcp_client().is_initialized

    chats = mcp_utils.use_mcp_tool(
        server_name=SERVER,
        tool_name="list_chats",
        arguments={"limit": 50, "page": 0, "include_last_message": True, "sort_by": "last_active"},
    )

    with sqlite3.connect(demo_db) as conn:
        known = dict(conn.execute("SELECT jid, name FROM chats").fetchall())
    assert get_whatsapp_mcp_client().is_initialized
    assert len(chats) == min(50, len(known))
    assert all(chat["jid"] in known for chat in chats)
    assert all(set(chat) >= {"jid", "name", "last_message_time", "last_message"} for chat in chats)


def test_without_session_persistence_each_call_has_its_own_session(configured: Path) -> None:
    path = configured / "mcp_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["whatsapp"]["session_persistence"] = False
    path.write_text(json.dumps(config), encoding="utf-8")
    arguments = {"limit": 5, "page": 0, "include_last_message": True, "sort_by": "last_active"}

    first = mcp_utils.use_mcp_tool(SERVER, "list_chats", arguments)
    assert not get_whatsapp_mcp_client().is_initialized  # closed after the call: no server process is left
    assert not [p for p in psutil.Process().children(recursive=True) if "demo-server" in " ".join(p.cmdline())]
    second = mcp_utils.use_mcp_tool(SERVER, "list_chats", arguments)

    assert first == second
    assert len(first) == 5


def test_list_messages_is_routed_to_parsed_message_dicts(configured: Path, demo_db: Path) -> None:
    jid = biggest_chats(demo_db, 1)[0]
    expected = chat_rows(demo_db)[jid][:20]

    messages = mcp_utils.use_mcp_tool(
        SERVER, "list_messages", {"chat_jid": jid, "limit": 20, "page": 0, "include_context": True}
    )
    unknown_chat = mcp_utils.use_mcp_tool(
        SERVER, "list_messages", {"chat_jid": "1234567890@c.us", "limit": 100, "page": 0, "include_context": True}
    )

    assert [m["content"] for m in messages] == [content for content, _ in expected] or (
        # same-second messages have no order on the server: compare as sets of (content, time) then
        sorted((m["content"], m["timestamp"]) for m in messages)
        == sorted((content, _utc(stamp)) for content, stamp in expected)
    )
    assert all(m["chat_jid"] == jid for m in messages)
    assert [m["timestamp"] for m in messages] == [_utc(stamp) for _, stamp in expected]
    assert unknown_chat == []


def _utc(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).isoformat()


def test_unrouted_tools_return_the_raw_result_dict(configured: Path, demo_db: Path) -> None:
    jid = biggest_chats(demo_db, 1)[0]

    result = mcp_utils.use_mcp_tool(SERVER, "get_chat", {"chat_jid": jid})

    assert isinstance(result, dict)
    assert result["is_error"] is False
    assert json.loads(result["text"])["jid"] == jid
    assert result["content"][0]["type"] == "text"


def test_unknown_server_is_a_clear_error_without_connecting(configured: Path) -> None:
    with pytest.raises(MCPClientError) as caught:
        mcp_utils.use_mcp_tool("github.com/someone/other-mcp", "list_chats", {})

    message = str(caught.value)
    assert "unknown MCP server 'github.com/someone/other-mcp'" in message
    assert SERVER in message  # says which server is configured
    assert not get_whatsapp_mcp_client().is_initialized


def test_any_registered_mcp_server_is_callable_without_whatsapp_routing(configured: Path, demo_db: Path) -> None:
    argv = demo_server_command(transport="stdio", db=demo_db, port=None, extra_args=())
    other = ServerConfig(name="other-mcp", connection_type="stdio", command=argv[0], args=argv[1:], timeout=20.0)

    mcp_utils.register_mcp_server(other)
    raw = mcp_utils.use_mcp_tool("other-mcp", "list_chats", {"limit": 3})
    routed = mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 3})

    # the registered server's tools answer as the core client does: the server's own text, not parsed chats
    assert isinstance(raw, dict)
    assert raw["server"] == "other-mcp"
    assert [json.loads(block["text"])["jid"] for block in raw["content"]] == [chat["jid"] for chat in routed]
    with pytest.raises(MCPClientError, match="register_mcp_server"):
        mcp_utils.use_mcp_tool("not-registered", "list_chats", {})
    mcp_utils.cleanup_mcp_connections()  # closes and forgets the registered server too
    with pytest.raises(MCPClientError, match="unknown MCP server 'other-mcp'"):
        mcp_utils.use_mcp_tool("other-mcp", "list_chats", {})


def test_per_call_timeout_raises_mcp_timeout_and_the_session_survives(configured: Path, demo_db: Path) -> None:
    write_config(configured, demo_db, "--latency-ms", "1000")
    mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 1})  # connect first: the deadline is the call's own

    started = time.monotonic()
    with pytest.raises(MCPTimeoutError) as caught:
        mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 5}, timeout=0.2)
    elapsed = time.monotonic() - started
    with pytest.raises(MCPTimeoutError):
        mcp_utils.use_mcp_tool(SERVER, "get_chat", {"chat_jid": "x@s.whatsapp.net"}, timeout=0.2)
    later = mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 2})
    status = get_runner().run(get_whatsapp_mcp_client().get_connection_status())

    assert elapsed < 0.9  # the deadline, not the server's 1 s answer
    assert "list_chats" in str(caught.value)
    assert len(later) == 2
    assert status["mcp"]["generation"] == 1  # the same session: a timed-out call does not cost a reconnect


def test_eight_threads_at_once_get_their_own_correct_results(configured: Path, demo_db: Path) -> None:
    jids = biggest_chats(demo_db, 8)
    rows = chat_rows(demo_db)
    start = threading.Barrier(8)

    def read(jid: str) -> list[dict[str, Any]]:
        start.wait(timeout=30)
        result: list[dict[str, Any]] = mcp_utils.use_mcp_tool(SERVER, "list_messages", {"chat_jid": jid, "limit": 500})
        return result

    with ThreadPoolExecutor(8) as pool:
        results = dict(zip(jids, pool.map(read, jids), strict=True))

    for jid, messages in results.items():
        assert {m["chat_jid"] for m in messages} == {jid}
        assert sorted(m["content"] for m in messages) == sorted(content for content, _ in rows[jid])
    assert len(get_whatsapp_mcp_client().config.server.args) > 0  # one client, one server for all threads


def test_works_from_inside_a_running_event_loop(configured: Path) -> None:
    async def notebook_cell() -> list[dict[str, Any]]:
        # A Jupyter cell: synchronous code called while an event loop runs in this thread.
        chats: list[dict[str, Any]] = mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 3})
        await asyncio.sleep(0)
        return chats

    chats = asyncio.run(notebook_cell())

    assert len(chats) == 3


def test_cleanup_then_use_again_reconnects(configured: Path) -> None:
    first = mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 4})
    mcp_utils.cleanup_mcp_connections()
    assert not get_runner().is_running
    mcp_utils.cleanup_mcp_connections()  # idempotent

    again = mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 4})

    assert [chat["jid"] for chat in again] == [chat["jid"] for chat in first]
    assert get_whatsapp_mcp_client().is_initialized


def test_initialize_whatsapp_mcp_connects_and_reports_failure_as_false(configured: Path, demo_db: Path) -> None:
    assert mcp_utils.initialize_whatsapp_mcp() is True
    assert mcp_utils.use_mcp_tool(SERVER, "list_chats", {"limit": 1})

    assert mcp_utils.initialize_whatsapp_mcp(connection_type="carrier-pigeon") is False
    bad_type = get_whatsapp_mcp_client().last_error
    assert bad_type is not None
    assert "carrier-pigeon" in str(bad_type)  # the reason is kept, not only logged
    missing = configured / "no-such-server"
    write_config(configured, demo_db, max_retries=0, command=str(missing))
    assert mcp_utils.initialize_whatsapp_mcp() is False
    error = get_whatsapp_mcp_client().last_error
    assert error is not None
    assert "no-such-server" in str(error)


def test_interpreter_exit_without_cleanup_is_prompt_and_silent(configured: Path) -> None:
    script = (
        "from mcp_utils import use_mcp_tool\n"
        f"chats = use_mcp_tool({SERVER!r}, 'list_chats', {{'limit': 2}})\n"
        "print(len(chats), 'chats')\n"
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=configured,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started

    assert run.returncode == 0, run.stderr
    assert run.stdout == "2 chats\n"
    # The stdio server shares our stderr and announces itself; nothing else may appear.
    assert [line for line in run.stderr.splitlines() if "wamcp-demo-server listening" not in line] == []
    assert elapsed < 30


def test_list_messages_honours_the_after_and_before_window(configured: Path, demo_db: Path) -> None:
    jid = biggest_chats(demo_db, 1)[0]
    times = sorted(datetime.fromisoformat(stamp) for _, stamp in chat_rows(demo_db)[jid])
    # Bounds between two messages, so the server's own strictness at the boundary second does not matter.
    lower, upper = times[3] + (times[4] - times[3]) / 2, times[-5] + (times[-4] - times[-5]) / 2
    expected = sorted(t.astimezone(UTC).isoformat() for t in times if lower < t < upper)
    # The seed passes server wall-clock text without an offset (the server runs in Europe/London here).
    local = [t.astimezone(ZoneInfo(ZONE)).replace(tzinfo=None).isoformat(timespec="seconds") for t in (lower, upper)]

    messages = mcp_utils.use_mcp_tool(
        SERVER, "list_messages", {"chat_jid": jid, "after": local[0], "before": local[1], "limit": 500}
    )
    aware = mcp_utils.use_mcp_tool(
        SERVER, "list_messages", {"chat_jid": jid, "after": lower, "before": upper.isoformat(), "limit": 500}
    )

    assert sorted(m["timestamp"] for m in messages) == expected
    assert sorted(m["timestamp"] for m in aware) == expected
    with pytest.raises(MCPClientError, match="not an ISO 8601 time"):
        mcp_utils.use_mcp_tool(SERVER, "list_messages", {"chat_jid": jid, "after": "last tuesday"})


def test_list_messages_without_a_chat_pages_through_all_chats(configured: Path) -> None:
    first = mcp_utils.use_mcp_tool(SERVER, "list_messages", {"query": "order", "limit": 5, "page": 0})
    second = mcp_utils.use_mcp_tool(SERVER, "list_messages", {"query": "order", "limit": 5, "page": 1})

    assert len(first) == len(second) == 5
    assert all("order" in m["content"].lower() for m in first + second)
    assert {m["id"] for m in first}.isdisjoint(m["id"] for m in second)
    assert first[-1]["timestamp"] >= second[0]["timestamp"]


def test_list_chats_query_filters_like_the_server(configured: Path, demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        name = conn.execute("SELECT name FROM chats WHERE name LIKE '% %' ORDER BY jid LIMIT 1").fetchone()[0]
    word = name.split(" ")[0]
    with sqlite3.connect(demo_db) as conn:
        expected = {
            jid
            for (jid,) in conn.execute(
                "SELECT jid FROM chats WHERE LOWER(name) LIKE LOWER(?) OR jid LIKE ?", (f"%{word}%", f"%{word}%")
            )
        }

    chats = mcp_utils.use_mcp_tool(SERVER, "list_chats", {"query": word, "limit": 100})

    assert {chat["jid"] for chat in chats} == expected


def test_a_sender_filter_is_refused_rather_than_ignored(configured: Path, demo_db: Path) -> None:
    jid = biggest_chats(demo_db, 1)[0]

    with pytest.raises(MCPClientError, match="sender_phone_number is not supported") as caught:
        mcp_utils.use_mcp_tool(SERVER, "list_messages", {"chat_jid": jid, "sender_phone_number": "447700900123"})

    assert "call_tool" in str(caught.value)
