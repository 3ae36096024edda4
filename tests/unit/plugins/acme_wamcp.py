"""The worked example of docs/plugins.md: a profile for the imaginary "Acme WhatsApp Gateway" MCP server.

The gateway offers ``acme_chats(limit, offset)`` and ``acme_history(jid, limit, offset, after, before)``; both answer
with ``structuredContent`` ``{"items": [...]}``, times in epoch seconds, histories newest first, ``after``/``before``
exclusive. ``acme_send(jid, text)`` writes. The tests copy this file into a temporary directory next to a fake
``.dist-info`` so it is loaded exactly as an installed third-party package would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from wamcp.whatsapp.models import Chat, Contact, Message
from wamcp.whatsapp.profiles import ParseStats, ToolCaller
from wamcp.whatsapp.profiles.pairing import request_pairing
from wamcp.whatsapp.timeparse import ServerClock, epoch_to_utc

READ_TOOLS = frozenset({"acme_chats", "acme_history"})


class AcmeProfile:
    """Implements wamcp's ``Profile`` protocol for the Acme gateway."""

    name = "acme"
    priority = 10  # asked before plugins with a lower priority during auto-detection

    @staticmethod
    def detect(tools: Sequence[Mapping[str, Any]]) -> bool:
        """Claim a server that lists the gateway's history tool."""
        return any(tool.get("name") == "acme_history" for tool in tools)

    def __init__(self, tools: Sequence[Mapping[str, Any]], clock: ServerClock, *, server_name: str) -> None:
        self.stats = ParseStats()
        self.clock = clock
        self.server_name = server_name

    def is_idempotent(self, tool_name: str) -> bool:
        return tool_name in READ_TOOLS  # acme_send and anything unknown are never retried

    async def _items(self, call: ToolCaller, tool: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        self.stats.calls += 1
        data = (await call(tool, arguments)).get("structured_content") or {}
        return [item for item in data.get("items", []) if isinstance(item, dict)]

    def _message(self, row: Mapping[str, Any], chat_jid: str) -> Message | None:
        try:
            message = Message(
                id=str(row["id"]),
                chat_jid=chat_jid,
                timestamp=epoch_to_utc(float(row["ts"])),
                sender="Me" if row.get("mine") else str(row["from"]),
                content=str(row.get("text") or ""),
                is_from_me=bool(row.get("mine")),
            )
        except (KeyError, TypeError, ValueError):
            self.stats.bad_rows += 1  # counted, never dropped silently
            return None
        self.stats.messages += 1
        return message

    async def list_chats(
        self,
        call: ToolCaller,
        *,
        limit: int = 20,
        page: int = 0,
        include_last_message: bool = True,
        sort_by: str = "last_active",
        query: str | None = None,
    ) -> list[Chat]:
        rows = await self._items(call, "acme_chats", {"limit": limit, "offset": page * limit})
        chats = [
            Chat(jid=str(row["jid"]), name=row.get("title"), last_message_time=epoch_to_utc(float(row["last_ts"])))
            for row in rows
        ]
        self.stats.chats += len(chats)
        if query:
            chats = [chat for chat in chats if query.lower() in (chat.name or "").lower()]
        return chats

    async def iter_chats(self, call: ToolCaller, *, page_size: int = 100) -> AsyncIterator[Chat]:
        page = 0
        while True:
            chats = await self.list_chats(call, limit=page_size, page=page)
            for chat in chats:
                yield chat
            if len(chats) < page_size:
                return
            page += 1

    async def get_chat(self, call: ToolCaller, chat_jid: str) -> Chat | None:
        async for chat in self.iter_chats(call):
            if chat.jid == chat_jid:
                return chat
        return None

    async def list_messages(
        self,
        call: ToolCaller,
        *,
        chat_jid: str | None = None,
        query: str | None = None,
        limit: int = 20,
        page: int = 0,
        before: datetime | None = None,
        after: datetime | None = None,
    ) -> list[Message]:
        if chat_jid is None:
            return []  # the gateway cannot search across chats
        arguments: dict[str, Any] = {"jid": chat_jid, "limit": limit, "offset": page * limit}
        if after is not None:
            arguments["after"] = int(after.timestamp())
        if before is not None:
            arguments["before"] = int(before.timestamp())
        rows = await self._items(call, "acme_history", arguments)
        messages = [m for m in (self._message(row, chat_jid) for row in rows) if m is not None]
        if query:
            messages = [m for m in messages if query.lower() in m.content.lower()]
        return messages

    async def iter_message_pages(
        self,
        call: ToolCaller,
        chat_jid: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[list[Message]]:
        page = 0
        while True:
            messages = await self.list_messages(
                call, chat_jid=chat_jid, limit=page_size, page=page, after=after, before=before
            )
            if messages:
                yield messages
            if len(messages) < page_size:
                return
            page += 1

    async def iter_messages(
        self, call: ToolCaller, chat_jid: str, *, since: datetime | None = None, page_size: int = 500
    ) -> AsyncIterator[Message]:
        after = since - timedelta(seconds=1) if since is not None else None  # since is inclusive, after is not
        async for page in self.iter_message_pages(call, chat_jid, after=after, page_size=page_size):
            for message in page:
                yield message

    async def iter_all_messages(
        self,
        call: ToolCaller,
        *,
        since: datetime | None = None,
        page_size: int = 500,
        chats: list[Chat] | None = None,
    ) -> AsyncIterator[Message]:
        targets = chats if chats is not None else [chat async for chat in self.iter_chats(call)]
        for chat in targets:
            async for message in self.iter_messages(call, chat.jid, since=since, page_size=page_size):
                yield message

    async def search_contacts(self, call: ToolCaller, query: str) -> list[Contact]:
        return []  # the gateway has no contact book

    async def authenticate(self, call: ToolCaller, phone_number: str, tool_names: set[str]) -> dict[str, Any]:
        return await request_pairing(call, phone_number, tool_names, self.server_name)

    async def whatsapp_status(self, call: ToolCaller, tool_names: set[str]) -> bool | str:
        await call("acme_chats", {"limit": 1, "offset": 0})  # a read that works: the gateway is up
        return "unknown"
