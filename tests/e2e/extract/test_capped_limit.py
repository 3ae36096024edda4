"""``wamcp extract`` against a real structured MCP server (the SDK's ``MCPServer``, over stdio) whose ``limit``
parameters declare a maximum of 50: the extractor must never ask for more (the server refuses such a call) and must
page on past every capped page, so that every message lands in the store, by the account walk of a first run and
chat by chat alike."""

from __future__ import annotations

import collections
import json
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.servers import capped_server

from .support import WAMCP, MessageKey, run_cli, store_integrity, store_messages, write_config

pytestmark = pytest.mark.e2e

SERVER = Path(capped_server.__file__)


def served_messages() -> collections.Counter[MessageKey]:
    """Every message the server holds, keyed as the store is compared."""
    return collections.Counter(
        (m["chat_jid"], int(datetime.fromisoformat(m["timestamp"]).timestamp()), m["content"], m["is_from_me"])
        for m in capped_server.messages()
    )


def capped_config(path: Path) -> Path:
    write_config(
        path,
        {"endpoint": "capped (stdio)", "connection_type": "stdio", "command": sys.executable, "args": [str(SERVER)]},
    )
    section = json.loads(path.read_text(encoding="utf-8"))
    section["whatsapp"]["profile"] = "structured"
    path.write_text(json.dumps(section), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("how", "flags"),
    [
        ("account walk", []),  # a first run over this many chats reads them all in one walk across chats
        ("chat by chat", ["--max-chats", "1000"]),  # selecting chats reads each chat on its own
    ],
)
def test_every_message_is_stored_from_a_server_that_caps_its_limit(
    tmp_path: Path, env: dict[str, str], how: str, flags: list[str]
) -> None:
    config = capped_config(tmp_path / "mcp_config.json")
    argv = [WAMCP, "extract", "--config", str(config), "--db", "s.db", "--json", "--max-history", "1000000", *flags]
    result = run_cli(argv, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    expected = served_messages()
    assert summary["status"] == "complete", summary
    assert summary["chats_total"] == summary["chats_done"] == capped_server.CHATS
    assert summary["messages_new"] == sum(expected.values())
    assert store_messages(tmp_path / "s.db") == expected, how
    verdict, count, keys = store_integrity(tmp_path / "s.db")
    assert (verdict, count, keys) == ("ok", sum(expected.values()), sum(expected.values()))
    with sqlite3.connect(tmp_path / "s.db") as conn:
        names = dict(conn.execute("SELECT jid, name FROM chats").fetchall())
    assert names == {chat["jid"]: chat["name"] for chat in capped_server.chats()}
    # nothing new: a rerun stores nothing and calls nothing failed
    again = run_cli(argv, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["messages_new"] == 0
    assert store_messages(tmp_path / "s.db") == expected
