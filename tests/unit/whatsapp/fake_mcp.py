"""An in-memory stand-in for the core ``MCPClient`` that answers like lharries/whatsapp-mcp over a list of messages.

It follows the server's SQL semantics where they matter to paging (WHATSAPP_SERVERS.md §1): times stored as text
with an offset and compared as text, ``ORDER BY timestamp DESC`` with *no* tiebreak (same-second messages come in a
seeded random order), ``LIMIT``/``OFFSET``, ``LIKE`` on content. Every call is recorded for assertions.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

from wamcp.errors import MCPToolError

from .lharries_format import PrintedMessage, format_listing

PROBE_TOOLS_NOTE = "tool schemas come from the probe fixture"


def _bound(value: str) -> str:
    # lharries passes datetime.fromisoformat(value) to sqlite, whose adapter writes isoformat(" ").
    return datetime.fromisoformat(value).isoformat(" ")


class FakeLharriesMCP:
    def __init__(
        self,
        messages: list[PrintedMessage],
        *,
        tools: list[dict[str, Any]],
        chat_names: dict[str, str] | None = None,
        seed: int = 0,
        offset: str = "+00:00",
    ) -> None:
        self.messages = messages
        self.tools = tools
        self.chat_names = chat_names or {m.chat_jid: m.chat_name or "" for m in messages}
        self.rng = random.Random(seed)
        self.offset = offset
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.registered: dict[str, Any] = {}
        self.idempotent: Any = None
        self.closed = False
        self.healthy = True

    # --- the core client's interface ---
    @property
    def servers(self) -> list[str]:
        return list(self.registered)

    def add_server(self, config: Any, *, rate_limits: Any = None, idempotent: Any = None) -> None:
        self.registered[config.name] = config
        self.idempotent = idempotent

    async def connect(self, server_name: str) -> bool:
        return True

    async def list_tools(self, server_name: str) -> list[dict[str, Any]]:
        return self.tools

    async def health_check(self, server_name: str) -> bool:
        return self.healthy

    def status(self, server_name: str) -> dict[str, Any]:
        return {"server": server_name, "state": "connected", "endpoint": "memory://fake"}

    async def disconnect(self, server_name: str) -> None:
        self.registered.pop(server_name, None)

    async def close(self) -> None:
        self.closed = True

    async def execute_tool(
        self,
        server_name: str,
        tool_name: str,
        arguments: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - mirrors MCPClient.execute_tool
    ) -> dict[str, Any]:
        args = dict(arguments or {})
        self.calls.append((tool_name, args))
        handler = getattr(self, "_" + tool_name, None)
        if handler is None:
            raise MCPToolError(f"unknown tool {tool_name}", tool=tool_name, text=f"Unknown tool: {tool_name}")
        blocks: list[str] = handler(**args)
        content = [{"type": "text", "text": text} for text in blocks]
        return {
            "server": server_name,
            "tool": tool_name,
            "content": content,
            "structured_content": None,
            "text": "\n".join(blocks),
            "is_error": False,
            "duration": 0.0,
        }

    # --- tools ---
    def _stored(self, m: PrintedMessage) -> str:
        return m.server_time + self.offset

    def _list_messages(
        self,
        after: str | None = None,
        before: str | None = None,
        chat_jid: str | None = None,
        query: str | None = None,
        limit: int = 20,
        page: int = 0,
        include_context: bool = True,
        **_: Any,
    ) -> list[str]:
        rows = list(self.messages)
        if after:
            rows = [m for m in rows if self._stored(m) > _bound(after)]
        if before:
            rows = [m for m in rows if self._stored(m) < _bound(before)]
        if chat_jid:
            rows = [m for m in rows if m.chat_jid == chat_jid]
        if query:
            rows = [m for m in rows if query.lower() in m.content.lower()]
        self.rng.shuffle(rows)  # no tiebreak within a second
        rows.sort(key=self._stored, reverse=True)
        rows = rows[page * limit : page * limit + limit]
        return [format_listing(rows)]

    def _chat_row(self, jid: str) -> dict[str, Any]:
        mine = sorted((m for m in self.messages if m.chat_jid == jid), key=self._stored)
        last = mine[-1] if mine else None
        return {
            "jid": jid,
            "name": self.chat_names.get(jid),
            "last_message_time": last.server_time.replace(" ", "T") + "Z" if last else None,
            "last_message": last.content if last else None,
            "last_sender": last.sender if last else None,
            "last_is_from_me": int(last.is_from_me) if last else None,
        }

    def _list_chats(self, limit: int = 20, page: int = 0, sort_by: str = "last_active", **_: Any) -> list[str]:
        rows = [self._chat_row(jid) for jid in self.chat_names]
        if sort_by == "name":
            rows.sort(key=lambda r: r["name"] or "")
        else:
            rows.sort(key=lambda r: r["last_message_time"] or "", reverse=True)
        return [json.dumps(r) for r in rows[page * limit : page * limit + limit]]

    def _get_chat(self, chat_jid: str, **_: Any) -> list[str]:
        return [json.dumps(self._chat_row(chat_jid))] if chat_jid in self.chat_names else []

    def _search_contacts(self, query: str) -> list[str]:
        return [
            json.dumps({"phone_number": jid.split("@")[0], "name": name, "jid": jid})
            for jid, name in self.chat_names.items()
            if query.lower() in name.lower() and not jid.endswith("@g.us")
        ]

    def _download_media(self, message_id: str, chat_jid: str) -> list[str]:
        return [json.dumps({"success": True, "message": "ok", "file_path": f"/media/{message_id}.jpg"})]
