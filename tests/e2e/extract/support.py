"""What the extractor's end-to-end and integration tests share.

A user's environment (no config file, no ``MCP_*`` variables, private config and cache dirs), the CLI as a
subprocess, config files for a given demo server, and the two sides of every comparison: the demo bridge
database read directly with sqlite3, and the wamcp store.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
WAMCP = str(Path(sys.executable).parent / "wamcp")
EXTRACTOR_SCRIPT = REPO / "whatsapp_mcp_extractor.py"
NO_LIMITS = {"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0}

# (chat_jid, UTC second, content, is_from_me): what a user checks a message by.
MessageKey = tuple[str, int, str, bool]


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with no wamcp configuration: private HOME, config and cache dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "WAMCP_", "PYTEST_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHONUNBUFFERED="1",
        COLUMNS="120",
        TZ="UTC",
    )
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float = 90.0
) -> subprocess.CompletedProcess[str]:
    """Run a command line as a user would (stdin closed, stdout and stderr captured separately)."""
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


def start_quietly(args: Sequence[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a command line in the background as a user would, its output thrown away (for runs a test kills)."""
    return subprocess.Popen(
        list(args), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def run_side_by_side(
    runs: Sequence[tuple[Sequence[str], Path, dict[str, str]]], *, timeout: float = 90.0
) -> list[subprocess.CompletedProcess[str]]:
    """Run several independent command lines at once (``(args, cwd, env)`` each); results in the same order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = [pool.submit(run_cli, args, cwd=cwd, env=env, timeout=timeout) for args, cwd, env in runs]
        return [future.result() for future in futures]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(path: Path, server: dict[str, Any], *, rate_limits: dict[str, Any] | None = None) -> Path:
    """An ``mcp_config.json`` for ``server`` (rate limits off unless given; the demo data is in UTC)."""
    section = {
        "server": {"health_check_interval": 0, "max_retries": 2, "retry_delay": 0.2, **server},
        "rate_limits": NO_LIMITS if rate_limits is None else rate_limits,
        "server_timezone": "UTC",
        "profile": "lharries",
    }
    path.write_text(json.dumps({"whatsapp": section}), encoding="utf-8")
    return path


def http_server(url: str) -> dict[str, Any]:
    return {"endpoint": url, "connection_type": "streamable_http"}


def stdio_server(bridge_db: Path, *extra_args: str) -> dict[str, Any]:
    """A demo server the extractor starts itself over stdio (``--crash-after N`` etc. in ``extra_args``)."""
    args = ["-m", "wamcp.demo", "demo-server", "--transport", "stdio", "--db", str(bridge_db), *extra_args]
    return {"endpoint": "demo (stdio)", "connection_type": "stdio", "command": sys.executable, "args": args}


def _utc_second(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def server_messages(bridge_db: Path, *, skip_chats: Sequence[str] = ()) -> collections.Counter[MessageKey]:
    """Every message of the demo bridge database, read directly (times converted to UTC seconds)."""
    with sqlite3.connect(f"file:{bridge_db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT chat_jid, timestamp, content, is_from_me FROM messages").fetchall()
    return collections.Counter(
        (jid, _utc_second(ts), content, bool(mine)) for jid, ts, content, mine in rows if jid not in skip_chats
    )


def server_chats(bridge_db: Path) -> dict[str, tuple[str | None, int]]:
    """``jid -> (name, last_message_time as UTC second)`` of the demo bridge database."""
    with sqlite3.connect(f"file:{bridge_db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT jid, name, last_message_time FROM chats").fetchall()
    return {jid: (name, _utc_second(last)) for jid, name, last in rows}


def store_messages(store_db: Path) -> collections.Counter[MessageKey]:
    """Every message of the wamcp store, keyed like :func:`server_messages`."""
    with sqlite3.connect(f"file:{store_db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT chat_jid, ts_ms, content, is_from_me FROM messages").fetchall()
    return collections.Counter((jid, ts_ms // 1000, content, bool(mine)) for jid, ts_ms, content, mine in rows)


def store_integrity(store_db: Path) -> tuple[str, int, int]:
    """``(PRAGMA integrity_check, count(*), distinct (chat_jid, id))`` of the store."""
    with sqlite3.connect(store_db) as conn:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        (keys,) = conn.execute("SELECT count(*) FROM (SELECT DISTINCT chat_jid, id FROM messages)").fetchone()
    return str(verdict), int(count), int(keys)


def store_chat_names(store_db: Path) -> dict[str, str | None]:
    with sqlite3.connect(f"file:{store_db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT jid, name FROM chats").fetchall())


def add_message(bridge_db: Path, chat_jid: str, content: str, when: datetime, *, name: str | None = None) -> None:
    """Write a new incoming text message into the bridge database, as the WhatsApp bridge would (the chat is
    created when new, and its ``last_message_time`` moves)."""
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    sender = chat_jid.split("@", 1)[0]
    with sqlite3.connect(bridge_db) as conn:
        conn.execute(
            "INSERT INTO messages (id, chat_jid, sender, content, timestamp, is_from_me, media_type, filename, url)"
            " VALUES (?, ?, ?, ?, ?, 0, '', '', '')",
            (f"E2E{abs(hash((chat_jid, content, stamp))):016X}"[:20], chat_jid, sender, content, stamp),
        )
        conn.execute(
            "INSERT INTO chats (jid, name, last_message_time) VALUES (?, ?, ?)"
            " ON CONFLICT(jid) DO UPDATE SET last_message_time = excluded.last_message_time",
            (chat_jid, name or sender, stamp),
        )


def rename_chat(bridge_db: Path, chat_jid: str, name: str) -> None:
    with sqlite3.connect(bridge_db) as conn:
        conn.execute("UPDATE chats SET name = ? WHERE jid = ?", (name, chat_jid))


def only_json_object(stdout: str) -> dict[str, Any]:
    """``stdout`` must be exactly one JSON object (one line) and nothing else."""
    lines = stdout.splitlines()
    assert len(lines) == 1, f"stdout is not one line: {stdout!r}"
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data
