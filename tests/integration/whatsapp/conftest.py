"""Fixtures of the WhatsApp integration tests: one small demo bridge database per session (Europe/London, so
stored local times differ from UTC half the year) and demo-server subprocesses on free 127.0.0.1 ports, always
stopped. ``Demo`` describes one (transport, output mode) pair: how to reach it as a ``WhatsAppConfig``, as a
``mcp_config.json`` and as ``MCP_WHATSAPP_*`` environment variables. stdio servers are spawned by the client itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wamcp.config import WhatsAppConfig
from wamcp.demo.data import generate_database
from wamcp.demo.launch import DemoServerProcess, demo_server_command

pytestmark = pytest.mark.integration

ZONE = "Europe/London"
MESSAGES = 2000
TRANSPORTS = ["stdio", "sse", "streamable_http", "websocket"]
NETWORK_TRANSPORTS = ["sse", "streamable_http", "websocket"]
MODES = ["lharries", "structured"]
_SERVER_FLAG = {"sse": "sse", "streamable_http": "http", "websocket": "websocket"}


@dataclass(frozen=True)
class Demo:
    """A running demo server (or, for stdio, the command that starts one) and how a client reaches it."""

    transport: str
    mode: str
    db: Path
    url: str | None = None
    extra_args: tuple[str, ...] = ()

    def server_args(self) -> list[str]:
        return ["--output", "structured", *self.extra_args] if self.mode == "structured" else list(self.extra_args)

    def server_block(self) -> dict[str, Any]:
        """The ``whatsapp.server`` block of ``mcp_config.json`` for this server."""
        if self.transport == "stdio":
            argv = demo_server_command(transport="stdio", db=self.db, port=None, extra_args=self.server_args())
            return {"connection_type": "stdio", "endpoint": "stdio", "command": argv[0], "args": argv[1:]}
        assert self.url is not None
        return {"connection_type": self.transport, "endpoint": self.url}

    def config_dict(self, **server: Any) -> dict[str, Any]:
        """A whole ``mcp_config.json`` (``{"whatsapp": {...}}``): no client-side rate limits for a local server,
        no background health monitor, and the zone the demo data was generated in."""
        block = {**self.server_block(), "health_check_interval": 0, **server}
        return {
            "whatsapp": {
                "server": block,
                "rate_limits": {"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0},
                "server_timezone": ZONE,
            }
        }

    def config(self, **server: Any) -> WhatsAppConfig:
        return WhatsAppConfig(**self.config_dict(**server)["whatsapp"])

    def write_config(self, directory: Path, **server: Any) -> Path:
        path = directory / "mcp_config.json"
        path.write_text(json.dumps(self.config_dict(**server), indent=2), encoding="utf-8")
        path.chmod(0o600)  # it may hold a token: the config loader warns about files others can read
        return path


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("whatsapp-demo") / "bridge.db"
    generate_database(path, messages=MESSAGES, seed=5, timezone=ZONE)
    return path


@pytest.fixture(scope="session")
def db_rows(demo_db: Path) -> list[dict[str, Any]]:
    """Every stored message: chat, content, direction and the stored local time converted to UTC."""
    with sqlite3.connect(demo_db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT id, chat_jid, content, is_from_me, timestamp, media_type FROM messages").fetchall()
    return [
        {
            "id": row["id"],
            "chat_jid": row["chat_jid"],
            "content": row["content"] or "",
            "is_from_me": bool(row["is_from_me"]),
            "utc": datetime.fromisoformat(row["timestamp"]).astimezone(UTC),
            "media_type": row["media_type"] or None,
        }
        for row in rows
    ]


@pytest.fixture(scope="session")
def db_chats(demo_db: Path) -> dict[str, str | None]:
    with sqlite3.connect(demo_db) as conn:
        return dict(conn.execute("SELECT jid, name FROM chats").fetchall())


def start_demo(transport: str, mode: str, db: Path, extra_args: tuple[str, ...] = ()) -> Iterator[Demo]:
    """Yield a ``Demo``; network servers run for the duration (stopped on exit), stdio ones are per client."""
    demo = Demo(transport, mode, db, extra_args=extra_args)
    if transport == "stdio":
        yield demo
        return
    with DemoServerProcess(transport=_SERVER_FLAG[transport], db=db, extra_args=demo.server_args()) as server:
        yield Demo(transport, mode, db, url=server.url, extra_args=extra_args)
