"""A structured WhatsApp MCP server on the current SDK (``MCPServer``) whose tools cap ``limit`` in their schema.

Run: ``python tests/servers/capped_server.py`` (stdio). Tools: ``list_chats(limit, page)`` and
``list_messages(chat_jid, limit, before, after)``, answering JSON objects (``structuredContent``), newest message
first, times in ISO 8601 with an offset. Both declare ``limit`` with ``le=50`` (``maximum`` in the JSON schema,
inside ``anyOf`` for the optional one), as FastMCP-style servers do; the SDK refuses a call asking for more, like
those servers. The data is deterministic (:func:`chats`, :func:`messages`): the tests compare the store with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

MAX_LIMIT = 50
CHATS = 90  # more than one listing page of MAX_LIMIT, and enough chats for the extractor's account walk
BASE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def chats() -> list[dict[str, Any]]:
    """Every chat: ``jid``, ``name`` and the time of its last message, in JID order."""
    newest: dict[str, str] = {}
    for message in messages():
        newest[message["chat_jid"]] = max(newest.get(message["chat_jid"], ""), message["timestamp"])
    return [{"jid": jid, "name": f"Customer {jid[:6]}", "last_message_time": newest[jid]} for jid in sorted(newest)]


def messages() -> list[dict[str, Any]]:
    """Every message, oldest first. Chat sizes vary from 1 to 120 (several pages of MAX_LIMIT each); some seconds
    hold several messages, of one chat and across chats, so pages end inside a second."""
    rows: list[dict[str, Any]] = []
    for chat in range(CHATS):
        jid = f"4915{chat:08d}@s.whatsapp.net"
        size = 1 + (chat * 37) % 120
        for n in range(size):
            # Chats interleave in time, two at a time in the same seconds; every 7th message shares its second with
            # the one before it.
            second = (chat // 2) * 11 + n * 613 - (1 if n % 7 == 6 else 0) * 613
            rows.append(
                {
                    "id": f"M{chat:03d}{n:04d}",
                    "chat_jid": jid,
                    "timestamp": (BASE + timedelta(seconds=second)).isoformat(),
                    "sender": jid if n % 2 == 0 else "491500000000@s.whatsapp.net",
                    "content": f"message {n} of chat {chat}",
                    "is_from_me": n % 2 == 1,
                }
            )
    rows.sort(key=lambda row: (row["timestamp"], row["chat_jid"], row["id"]))
    return rows


def build_server() -> MCPServer:
    server = MCPServer("wamcp-capped-server", log_level="WARNING")
    all_chats = chats()
    all_messages = messages()

    @server.tool()
    async def list_chats(
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 20, page: Annotated[int, Field(ge=0)] = 0
    ) -> list[dict[str, Any]]:
        """List chats in JID order, ``limit`` a page."""
        return all_chats[page * limit : (page + 1) * limit]

    @server.tool()
    async def list_messages(
        chat_jid: str | None = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None = None,  # the maximum sits in an anyOf branch
        before: str | None = None,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """Messages newest first, of one chat or of all, strictly between ``after`` and ``before``."""
        limit = limit or 20
        upper = datetime.fromisoformat(before) if before else None
        lower = datetime.fromisoformat(after) if after else None
        found: list[dict[str, Any]] = []
        for row in reversed(all_messages):
            when = datetime.fromisoformat(row["timestamp"])
            if (chat_jid and row["chat_jid"] != chat_jid) or (upper and when >= upper) or (lower and when <= lower):
                continue
            found.append(row)
            if len(found) == limit:
                break
        return found

    return server


def main() -> None:
    build_server().run("stdio")


if __name__ == "__main__":
    main()
