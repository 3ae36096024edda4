"""The ``structured`` profile: WhatsApp MCP servers that answer in JSON or ``structuredContent``.

Covers the servers of WHATSAPP_SERVERS.md §2 by their shared decoding rules rather than one parser per server:
prefer ``structuredContent`` (unwrapping a lone ``"result"`` key); otherwise read each text block as JSON, several
object blocks forming a list and one block holding an array being the list; a non-JSON text block in a successful
result means "nothing" (some servers say "No messages found" in prose). Field names differ between servers, so each
record field is looked up under its known aliases; booleans may be 0/1; ids may be ``"<chat_jid>:<id>"``;
timestamps are ISO 8601 with an offset, or epoch seconds/milliseconds. Tools are found by name from the server's
list, and arguments are only sent when the tool's input schema declares them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ...errors import MCPProtocolError
from ...redact import get_logger
from ..jid import jid_user, normalize_jid
from ..models import Chat, Contact, Message
from ..timeparse import ServerClock, epoch_to_utc
from .base import (
    CHAT_PAGE_BYTES,
    OffsetPage,
    PageLengths,
    ParseStats,
    ToolCaller,
    ToolResult,
    answer_size,
    iter_offset_pages,
)
from .pairing import PAIRING_TOOLS, STATUS_TOOLS, request_pairing, whatsapp_status
from .spans import Span, walk_spans

__all__ = ["StructuredProfile", "decode_result", "parse_chat", "parse_contact", "parse_message", "records"]

logger = get_logger(__name__)

_CHAT_TOOLS = ("list_chats", "get_chats", "whatsapp_list_chats", "chats")
_CHAT_TOOL = ("get_chat", "whatsapp_get_chat", "get_chat_info")
_MESSAGE_TOOLS = ("list_messages", "get_messages", "get_chat_messages", "whatsapp_get_chat_messages", "read_messages")
_CONTACT_TOOLS = ("search_contacts", "whatsapp_search_contacts", "list_contacts", "get_contacts")
_CHAT_ID_PARAMS = ("chat_jid", "jid", "chat_id", "chatId", "chat", "phone")
_WRITE_PREFIXES = ("send", "delete", "mark", "create", "update", "leave", "join", "login", "logout", "pair", "request")
_LIST_KEYS = ("chats", "messages", "contacts", "items", "data", "results", "rows")
_EXCERPT = 160
# Tools already warned about for answering in text lines (once each per process).
_TEXT_WARNED: set[str] = set()
_OVERLAP = timedelta(seconds=1)
_MAX_LIMIT = 64_000  # a page that cannot get past one overlap window grows up to this many messages


def decode_result(result: ToolResult, stats: ParseStats | None = None, source: str = "tool") -> Any:
    """The data of one tool result by the §2 rules: a list, an object, or ``None`` when the server said nothing."""
    structured = result.get("structured_content")
    if structured is not None:
        if isinstance(structured, dict) and len(structured) == 1 and "result" in structured:
            return structured["result"]
        return structured
    values: list[Any] = []
    for block in result.get("content") or []:
        if block.get("type") != "text":
            continue
        text = block.get("text", "")
        try:
            values.append(json.loads(text))
        except ValueError:
            if text.strip():
                # A sentence ("No messages found") means empty; lines of data mean the server speaks text and
                # this profile reads none of it: say so once, or a run stores nothing and calls itself complete.
                data_like = text.count("\n") >= 2
                level = logging.WARNING if data_like and source not in _TEXT_WARNED else logging.DEBUG
                if level == logging.WARNING:
                    _TEXT_WARNED.add(source)
                logger.log(
                    level,
                    "%s: answered in text lines, not JSON, read as an empty answer%s: %r",
                    source,
                    " (a text server, such as lharries? set profile to lharries or auto)" if data_like else "",
                    text[:_EXCERPT],
                )
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    if all(isinstance(value, dict) for value in values):
        return values
    if stats is not None:
        stats.bad_rows += 1
    logger.warning("%s: %d JSON blocks of mixed shapes; reading the objects among them", source, len(values))
    return [value for value in values if isinstance(value, dict)]


def records(data: Any) -> list[dict[str, Any]]:
    """A decoded answer as a list of objects (``{"chats": [...]}`` and similar envelopes are opened)."""
    if data is None:
        return []
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if isinstance(data, dict):
        for key in _LIST_KEYS:
            inner = data.get(key)
            if isinstance(inner, list):
                return [item for item in inner if isinstance(item, dict)]
        return [data]
    return []


def _pick(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = row.get(name)
        if value is not None and value != "":
            return value
    return None


# A key no row has: a field none of whose aliases a row holds is looked up under it, and reads as None.
_ABSENT = object()
# Row shapes remembered per kind of record; a server sends one or a few, so more means rows of arbitrary keys.
_MAX_SHAPES = 64


class _Fields:
    """Reads one kind of record's fields, each under the first of its aliases that the row holds.

    Which alias a row uses is resolved once per row *shape* (its keys, in order), not per field and row: the rows
    of one server share a shape, so each row then costs one lookup per field. Where a row holds several aliases of a
    field, the first one that is neither null nor empty wins, as :func:`_pick` decides.
    """

    def __init__(self, *fields: tuple[str, ...]) -> None:
        self._fields = fields
        self._plans: dict[tuple[str, ...], tuple[tuple[Any, ...], tuple[tuple[int, tuple[str, ...]], ...]]] = {}

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The row's value of each field, in the order the fields were given: None where the row has none, and
        possibly ``""`` (which callers read as none, as :func:`_pick` does)."""
        shape = tuple(row)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plan(shape)
        keys, several = plan
        if not several:
            return tuple(map(row.get, keys))
        values = list(map(row.get, keys))
        for index, names in several:
            values[index] = _pick(row, *names)
        return tuple(values)

    def _plan(self, shape: tuple[str, ...]) -> tuple[tuple[Any, ...], tuple[tuple[int, tuple[str, ...]], ...]]:
        present = set(shape)
        keys: list[Any] = []
        several: list[tuple[int, tuple[str, ...]]] = []
        for index, aliases in enumerate(self._fields):
            held = tuple(name for name in aliases if name in present)
            keys.append(held[0] if held else _ABSENT)
            if len(held) > 1:
                several.append((index, held))
        plan = (tuple(keys), tuple(several))
        if len(self._plans) < _MAX_SHAPES:
            self._plans[shape] = plan
        return plan


_MESSAGE_FIELDS = _Fields(
    ("id", "message_id", "messageId", "key"),
    ("chat_jid", "chatJid", "chat_id", "jid", "remoteJid", "chat"),
    ("timestamp", "time", "date", "sent_at", "messageTimestamp"),
    ("is_from_me", "from_me", "fromMe", "isFromMe"),
    ("sender_jid", "sender", "from", "author", "participant"),
    ("sender_name", "push_name", "pushName", "sender_display_name"),
    ("content", "text", "body", "message", "caption"),
    ("media_type", "mediaType", "type"),
    ("chat_name", "chatName"),
)

# JIDs already normalized: a listing names the same chats and senders over and over. Cleared when full.
_JIDS: dict[str, str] = {}
_MAX_JIDS = 1 << 16


def _normal_jid(value: str) -> str:
    """:func:`normalize_jid`, remembered (values it rejects are not, and raise again)."""
    jid = _JIDS.get(value)
    if jid is None:
        jid = normalize_jid(value)
        if len(_JIDS) >= _MAX_JIDS:
            _JIDS.clear()
        _JIDS[value] = jid
    return jid


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _instant(value: Any, clock: ServerClock) -> datetime | None:
    """ISO with offset (honoured), naive ISO (the server's zone), or epoch seconds/ms."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return epoch_to_utc(float(value))
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return epoch_to_utc(float(text))
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:  # these servers mean their offsets (unlike lharries' literal "Z")
        return parsed.astimezone(UTC)
    return clock.to_utc(text)


def parse_chat(row: Mapping[str, Any], clock: ServerClock) -> Chat:
    """One chat object -> Chat (raises KeyError/ValueError when it names no chat)."""
    raw_jid = _pick(row, "jid", "chat_jid", "id", "chatId", "chat_id")
    if raw_jid is None:
        raise KeyError("jid")
    name = _pick(row, "name", "chat_name", "title", "subject", "push_name")
    last = _pick(row, "last_message", "last_message_text", "lastMessage")
    if isinstance(last, dict):
        last = _pick(last, "content", "text", "body")
    return Chat(
        jid=normalize_jid(str(raw_jid)),
        name=str(name) if name is not None else None,
        last_message_time=_instant(
            _pick(
                row, "last_message_time", "last_message_timestamp", "last_active", "timestamp", "conversationTimestamp"
            ),
            clock,
        ),
        last_message=str(last) if last is not None else None,
        last_sender=_pick(row, "last_sender", "last_message_sender"),
        last_is_from_me=_flag(_pick(row, "last_is_from_me", "last_message_from_me")),
    )


def parse_message(row: Mapping[str, Any], clock: ServerClock, chat_jid: str | None = None) -> Message:
    """One message object -> Message (raises KeyError/ValueError when it has no id or no time)."""
    raw_id, raw_chat, raw_time, from_me, raw_sender, sender_name, content, media, chat_name = _MESSAGE_FIELDS.values(
        row
    )
    if isinstance(raw_id, dict):
        raw_id = raw_id.get("id")
    elif raw_id == "":
        raw_id = None
    if raw_id is None:
        raise KeyError("id")
    message_id = str(raw_id)
    if raw_chat == "":
        raw_chat = None
    if raw_chat is None and chat_jid is None and ":" in message_id and "@" in message_id:
        raw_chat = message_id.rsplit(":", 1)[0]
    jid = _normal_jid(str(raw_chat)) if raw_chat is not None else chat_jid
    if "@" in message_id and ":" in message_id:  # "<chat_jid>:<id>"
        prefix, _, bare = message_id.rpartition(":")
        if "@" in prefix:
            message_id = bare
    when = _instant(raw_time, clock)
    if when is None:
        raise KeyError("timestamp")
    is_from_me = from_me if isinstance(from_me, bool) else bool(_flag(from_me))
    sender_jid: str | None = None
    if raw_sender is not None and raw_sender != "":
        try:
            sender_jid = _normal_jid(str(raw_sender))
        except ValueError:
            sender_name = sender_name or raw_sender
    label = "Me" if is_from_me else str(sender_name or (jid_user(sender_jid) if sender_jid else "") or "")
    if media in ("text", "chat", "conversation"):
        media = None
    return Message(
        id=message_id,
        chat_jid=jid,
        timestamp=when,
        sender=label,
        content=str(content) if content is not None else "",
        is_from_me=is_from_me,
        media_type=str(media) if media else None,
        chat_name=chat_name if chat_name != "" else None,
        sender_jid=sender_jid,
        id_source="server",
        server_time=raw_time if isinstance(raw_time, str) else None,
    )


def _as_printed(message: Message) -> datetime:
    """The message's time with the offset the server printed it in (its UTC instant when it printed none)."""
    if message.server_time:
        try:
            printed = datetime.fromisoformat(message.server_time)
        except ValueError:
            return message.timestamp
        if printed.tzinfo is not None and printed.utcoffset() is not None:
            return printed
    return message.timestamp


def parse_contact(row: Mapping[str, Any]) -> Contact:
    raw_jid = _pick(row, "jid", "id", "phone_number", "phone", "number")
    if raw_jid is None:
        raise KeyError("jid")
    jid = normalize_jid(str(raw_jid))
    phone = _pick(row, "phone_number", "phone", "number")
    name = _pick(row, "name", "push_name", "full_name", "display_name")
    return Contact(jid=jid, phone_number=str(phone) if phone else jid_user(jid), name=str(name) if name else None)


class StructuredProfile:
    """Servers that return JSON (verygoodplugins, whatsapp-mcp-extended, go-whatsapp-web-multidevice, …)."""

    name = "structured"

    #: the byte budget of one chat-listing answer (the WhatsApp client raises it over stdio)
    chat_page_bytes: int = CHAT_PAGE_BYTES

    def __init__(
        self,
        tools: Iterable[Mapping[str, Any]] = (),
        clock: ServerClock | None = None,
        *,
        server_name: str = "WhatsApp MCP server",
    ) -> None:
        self.clock = clock if clock is not None else ServerClock()
        self.stats = ParseStats()
        self.server_name = server_name
        self._schemas: dict[str, set[str]] = {}
        self._required: dict[str, set[str]] = {}
        self._most: dict[str, int] = {}
        self._pages = PageLengths()
        self.set_tools(tools)

    def set_tools(self, tools: Iterable[Mapping[str, Any]]) -> None:
        """Remember which tools exist and which arguments each one accepts (and requires)."""
        self._schemas = {}
        self._required = {}
        self._most = {}
        for tool in tools:
            schema = tool.get("inputSchema") or {}
            properties = schema.get("properties") or {}
            self._schemas[str(tool["name"])] = set(properties.keys())
            self._required[str(tool["name"])] = {str(name) for name in schema.get("required") or ()}
            most = _declared_maximum(properties.get("limit"))
            if most is not None:
                self._most[str(tool["name"])] = most

    def _limit(self, tool: str, wanted: int) -> int:
        """``wanted``, or less where the tool declares a smaller ``maximum`` for its ``limit`` (such a server refuses
        a larger limit, as FastMCP validates its arguments, or answers fewer rows than asked, which would read as the
        last page) or where its answers showed a cap it does not declare (:class:`PageLengths`)."""
        most = self._most.get(tool)
        return self._pages.full_length(tool, wanted if most is None else min(wanted, most))

    def finds_chats_by_jid(self) -> bool:
        """Whether :meth:`get_chat` asks the server for one chat (it offers a chat tool) rather than listing them
        all; each message row names its chat, so nothing read later depends on the other chats being listed."""
        try:
            self._tool(_CHAT_TOOL)
        except LookupError:
            return False
        return True

    def lists_across_chats(self) -> bool:
        """Whether the message tool can list every chat's messages in one keyset walk: it takes a ``before`` (or
        ``end_time``) bound and does not require a chat. Each message row then names its chat itself."""
        try:
            tool = self._tool(_MESSAGE_TOOLS)
        except LookupError:
            return False
        accepted = self._schemas.get(tool)
        if accepted is None:
            return False
        keyset = "before" in accepted or "end_time" in accepted
        return keyset and not (self._required.get(tool, set()) & set(_CHAT_ID_PARAMS))

    def cross_chat_jids(self, chats: Iterable[Chat]) -> set[str]:
        """The chats :meth:`iter_all_messages` reads in its cross-chat walk: all of them, or none when the server
        cannot list across chats."""
        return {chat.jid for chat in chats} if self.lists_across_chats() else set()

    def is_idempotent(self, tool_name: str) -> bool:
        name = tool_name.lower()
        if tool_name in PAIRING_TOOLS or any(name.startswith(p) for p in _WRITE_PREFIXES):
            return False
        return (
            name.startswith(("list", "get", "search", "read", "check", "find", "status")) or tool_name in STATUS_TOOLS
        )

    def _tool(self, candidates: tuple[str, ...]) -> str:
        for name in candidates:
            if name in self._schemas:
                return name
        if not self._schemas:  # tool list unknown: assume the lharries-compatible names
            return candidates[0]
        raise LookupError(f"the server offers none of the tools {', '.join(candidates)}")

    def _arguments(self, tool: str, wanted: Mapping[str, Any]) -> dict[str, Any]:
        accepted = self._schemas.get(tool)
        return {k: v for k, v in wanted.items() if v is not None and (accepted is None or k in accepted)}

    def _chat_argument(self, tool: str, chat_jid: str) -> dict[str, Any]:
        accepted = self._schemas.get(tool)
        for name in _CHAT_ID_PARAMS:
            if accepted is None or name in accepted:
                return {name: chat_jid if name != "phone" else jid_user(chat_jid)}
        return {}

    async def _rows(self, call: ToolCaller, tool: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        self.stats.calls += 1
        return records(decode_result(await call(tool, arguments), self.stats, tool))

    def _chats(self, rows: list[dict[str, Any]], source: str) -> list[Chat]:
        chats: list[Chat] = []
        seen: set[str] = set()
        for row in rows:
            try:
                chat = parse_chat(row, self.clock)
            except (KeyError, ValueError, TypeError) as err:
                self._bad(source, "chat", err, row)
                continue
            if chat.jid in seen:
                self.stats.duplicates += 1
                continue
            seen.add(chat.jid)
            chats.append(chat)
        self.stats.chats += len(chats)
        return chats

    def _messages(self, rows: list[dict[str, Any]], source: str, chat_jid: str | None) -> list[Message]:
        messages: list[Message] = []
        for row in rows:
            try:
                messages.append(parse_message(row, self.clock, chat_jid))
            except (KeyError, ValueError, TypeError) as err:
                self._bad(source, "message", err, row)
        self.stats.messages += len(messages)
        return messages

    def _bad(self, source: str, kind: str, err: BaseException, row: Mapping[str, Any]) -> None:
        self.stats.bad_rows += 1
        text = json.dumps(row, default=str, ensure_ascii=False)
        logger.warning("%s: unusable %s row (%s: %s): %r", source, kind, type(err).__name__, err, text[:_EXCERPT])

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
        tool = self._tool(_CHAT_TOOLS)
        wanted = {
            "limit": limit,
            "page": page,
            "offset": page * limit,
            "include_last_message": include_last_message,
            "sort_by": sort_by,
            "query": query,
        }
        return self._chats(await self._rows(call, tool, self._arguments(tool, wanted)), tool)

    async def iter_chats(
        self, call: ToolCaller, *, page_size: int = 100, ahead: int = 0, by_activity: bool = False
    ) -> AsyncIterator[Chat]:
        """Every chat once. Pages grow from 100 toward ``page_size`` while answers stay under the byte budget of
        :func:`~.base.next_page_limit` (the limit always divides the offset reached, for ``page``-only servers).
        ``ahead`` pages are asked for before the current one is answered (:func:`~.base.iter_offset_pages`).
        ``by_activity`` asks for ``sort_by=last_active`` where the tool takes it (the server's order otherwise)."""
        tool = self._tool(_CHAT_TOOLS)
        accepted = self._schemas.get(tool)
        pageable = accepted is None or "page" in accepted or "offset" in accepted
        seen: set[str] = set()

        async def page(offset: int, limit: int) -> OffsetPage:
            wanted: dict[str, Any] = {"limit": limit, "page": offset // limit, "offset": offset}
            if by_activity:
                wanted["sort_by"] = "last_active"
            arguments = self._arguments(tool, wanted)
            self.stats.calls += 1
            result = await call(tool, arguments)
            rows = records(decode_result(result, self.stats, tool))
            return self._chats(rows, tool), len(rows), answer_size(result)

        page_size = self._limit(tool, page_size)
        if pageable:
            pages = iter_offset_pages(
                page,
                page_size=page_size,
                budget=self.chat_page_bytes,
                ahead=ahead,
                lengths=self._pages,
                tool=tool,
                server=self.server_name,
            )
        else:
            pages = _one_page(page, page_size)
        async with contextlib.aclosing(pages):  # a caller that stops early closes us; we close the pages' tasks
            async for chats in pages:
                for chat in chats:
                    if chat.jid not in seen:
                        seen.add(chat.jid)
                        yield chat

    async def get_chat(self, call: ToolCaller, chat_jid: str) -> Chat | None:
        jid = normalize_jid(chat_jid)
        try:
            tool = self._tool(_CHAT_TOOL)
        except LookupError:
            async for chat in self.iter_chats(call):
                if chat.jid == jid:
                    return chat
            return None
        chats = self._chats(await self._rows(call, tool, self._chat_argument(tool, jid)), tool)
        return chats[0] if chats else None

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
        return await self._page(
            call,
            chat_jid=normalize_jid(chat_jid) if chat_jid else None,
            query=query,
            limit=limit,
            page=page,
            before=self._wire_time(before),
            after=self._wire_time(after),
        )

    async def _page(
        self,
        call: ToolCaller,
        *,
        chat_jid: str | None,
        query: str | None = None,
        limit: int,
        page: int,
        before: str | None,
        after: str | None,
    ) -> list[Message]:
        tool = self._tool(_MESSAGE_TOOLS)
        jid = chat_jid
        wanted: dict[str, Any] = {
            "limit": limit,
            "page": page,
            "offset": page * limit,
            "query": query,
            "include_context": False,
            "sort_by": "newest",
            "before": before,
            "after": after,
            "end_time": before,
            "start_time": after,
        }
        arguments = self._arguments(tool, wanted)
        if jid is not None:
            arguments.update(self._chat_argument(tool, jid))
        messages = self._messages(await self._rows(call, tool, arguments), tool, jid)
        messages.sort(key=lambda m: m.timestamp, reverse=True)
        return messages

    async def iter_messages(
        self, call: ToolCaller, chat_jid: str, *, since: datetime | None = None, page_size: int = 500
    ) -> AsyncIterator[Message]:
        """Every message of one chat once, newest first (``since`` inclusive).

        With a ``before`` (or ``end_time``) parameter: keyset pages, each ending one second after the previous
        page's oldest message so a cut second is read again; otherwise the server's own page/offset paging. Either
        way messages are de-duplicated on (chat_jid, id).
        """
        after = since - _OVERLAP if since is not None else None
        async for page in self.iter_message_pages(call, chat_jid, after=after, page_size=page_size):
            for message in page:
                if since is None or message.timestamp >= since:
                    yield message

    async def iter_message_pages(
        self,
        call: ToolCaller,
        chat_jid: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[list[Message]]:
        """One chat's messages strictly between ``after`` and ``before``, newest first, a page at a time (pages
        with nothing new are skipped)."""
        tool = self._tool(_MESSAGE_TOOLS)
        accepted = self._schemas.get(tool) or set()
        keyset = "before" in accepted or "end_time" in accepted
        pageable = "page" in accepted or "offset" in accepted
        seen: set[tuple[str | None, str]] = set()
        jid = normalize_jid(chat_jid)
        after_text = self._wire_time(after)
        before_text = self._wire_time(before)
        page = 0
        limit = self._limit(tool, page_size)
        asked_past: int | None = None  # the length of the short page this call asks past (see PageLengths)
        while True:
            messages = await self._page(
                call, chat_jid=jid, limit=limit, page=0 if keyset else page, before=before_text, after=after_text
            )
            fresh: list[Message] = []
            unseen = 0
            for message in messages:
                key = (message.chat_jid, message.id)
                if key in seen:
                    self.stats.duplicates += 1
                    continue
                seen.add(key)
                unseen += 1
                if (after is None or message.timestamp > after) and (before is None or message.timestamp < before):
                    fresh.append(message)
            if asked_past is not None and unseen:
                self._pages.capped(tool, asked_past, self._limit(tool, page_size), self.server_name)
            asked_past = None
            if fresh:
                yield fresh
            maybe_cut = self._pages.uncertain(tool, len(messages), limit)
            if unseen == 0 or not (keyset or pageable) or (len(messages) < limit and not maybe_cut):
                return
            if maybe_cut:
                # Ask once more past a page that may have been cut at a cap; by offset, the next page must start
                # right after its rows.
                asked_past = len(messages)
                if not keyset:
                    limit = asked_past
            if keyset:
                oldest = _as_printed(messages[-1])
                if messages[-1].timestamp == messages[0].timestamp:
                    grown = self._limit(tool, limit * 2)
                    if grown > limit:
                        limit = grown
                        continue
                    # The server allows no larger page: go on below this second rather than stop the chat here.
                    logger.warning(
                        "%s: more than %d messages of one chat within one second (%s) and no larger page allowed; "
                        "some of that second's messages may be missed",
                        tool,
                        limit,
                        oldest.isoformat(),
                    )
                    before_text = oldest.isoformat()
                    continue
                # In the offset the server printed, not UTC: text-comparing servers need their own form back.
                before_text = (oldest + _OVERLAP).isoformat()
            else:
                page += 1

    def _wire_time(self, value: datetime | None) -> str | None:
        """A time argument as the server prints its own times: in its zone, with the offset.

        Several of these servers compare ``before``/``after`` as *text* against local times with offsets
        (WHATSAPP_SERVERS.md §2), so a UTC instant would be off by the zone's offset; servers that parse the
        value read the same instant either way.
        """
        if value is None:
            return None
        return value.astimezone(self.clock.zone).isoformat()

    async def iter_all_messages(
        self,
        call: ToolCaller,
        *,
        since: datetime | None = None,
        page_size: int = 500,
        chats: list[Chat] | None = None,
        parallel: int = 1,
    ) -> AsyncIterator[Message]:
        """Every message of every listed chat (``chats``, default: :meth:`iter_chats`), each once.

        Where the server lists messages across chats with a keyset bound (:meth:`lists_across_chats`), one walk
        reads them all, ``page_size`` a call whatever the chats' sizes; messages of chats not in the list (created
        meanwhile) and messages newer than the newest the list reports are left for the next run. ``parallel`` > 1
        reads that walk as concurrent walks over disjoint spans of time (:mod:`.spans`), in no particular order.
        Otherwise it walks chat by chat. A cross-chat row that does not say its chat raises
        :class:`MCPProtocolError`.
        """
        chat_list = chats if chats is not None else [chat async for chat in self.iter_chats(call)]
        if not self.lists_across_chats():
            for chat in chat_list:
                async for message in self.iter_messages(call, chat.jid, since=since, page_size=page_size):
                    yield message
            return
        listed = {chat.jid for chat in chat_list}
        newest = max((c.last_message_time for c in chat_list if c.last_message_time is not None), default=None)
        oldest = min((c.last_message_time for c in chat_list if c.last_message_time is not None), default=None)
        before = newest + _OVERLAP if newest is not None else None

        def walk(span: Span) -> AsyncIterator[list[Message]]:
            return self._walk_across(call, listed, since=since, before=before, page_size=page_size, span=span)

        whole = Span(floor=since.timestamp() if since is not None else None, ceiling=None)
        hint = oldest.timestamp() if oldest is not None else None
        # Closed here when our caller stops early: left to the garbage collector, the walk's task group would be
        # exited from another task (anyio refuses).
        async with contextlib.aclosing(walk_spans(walk, whole, parallel=parallel, floor_hint=hint)) as pages:
            async for page in pages:
                for message in page:
                    yield message

    async def _walk_across(
        self,
        call: ToolCaller,
        listed: set[str],
        *,
        since: datetime | None,
        before: datetime | None,
        page_size: int,
        span: Span | None = None,
    ) -> AsyncIterator[list[Message]]:
        """Keyset pages across all chats, newest first. Each page ends one overlap window past the previous page's
        oldest message, so a cut second is read again; only that window's keys are remembered to drop the repeats
        (memory stays flat however long the walk). With ``span``, only the messages that span owns (epoch seconds,
        see :mod:`.spans`): its ceiling lowers ``before``, its floor (re-read before each call: a split may raise it)
        bounds the walk below."""
        if span is not None and span.ceiling is not None:
            before = datetime.fromtimestamp(span.ceiling, UTC) + _OVERLAP
        before_text = self._wire_time(before)
        tool = self._tool(_MESSAGE_TOOLS)
        page_size = self._limit(tool, page_size)
        ceiling = self._limit(tool, _MAX_LIMIT)
        limit = page_size
        window: set[tuple[str, str]] = set()
        while True:
            floor = _walk_floor(since, span)
            after_text = self._wire_time(floor - _OVERLAP) if floor is not None else None
            messages = await self._page(call, chat_jid=None, limit=limit, page=0, before=before_text, after=after_text)
            floor = _walk_floor(since, span)  # a split may have raised it while the call was in flight
            if span is not None and messages:
                span.reached = messages[-1].timestamp.timestamp()  # before yielding: splits must not cut below it
            fresh: list[Message] = []
            unseen = 0
            for message in messages:
                if message.chat_jid is None:
                    raise MCPProtocolError(
                        "the server listed a message without its chat across chats; read chat by chat instead",
                        hint="use iter_messages() per chat",
                    )
                key = (message.chat_jid, message.id)
                if key in window:
                    self.stats.duplicates += 1
                    continue
                unseen += 1
                if (
                    message.chat_jid in listed
                    and (floor is None or message.timestamp >= floor)
                    and (span is None or span.owns(message.timestamp.timestamp()))
                ):
                    fresh.append(message)
            if fresh:
                yield fresh
            self._pages.note(tool, len(messages))  # this walk's long pages settle the per-chat pages' question
            short = len(messages) < limit
            if short and unseen == 0:
                return
            # A short page with something new is usually the end, but a server that caps its pages below our limit
            # answers short too: the walk asks once more past it, and only a page with nothing new ends it (one
            # call more per walk; stopping at the cap would leave the older messages out and call the chats done).
            oldest = messages[-1]
            if floor is not None and oldest.timestamp < floor:
                return  # past the walk's floor (a split may have raised it): the older part is another walker's
            if not short and (unseen == 0 or messages[0].timestamp < oldest.timestamp + _OVERLAP):
                # The whole page lies inside one overlap window: grow the page until it gets past it.
                if limit >= ceiling:
                    raise MCPProtocolError(f"more than {ceiling} messages within one second; cannot page on")
                window.update((m.chat_jid or "", m.id) for m in messages)
                limit = min(limit * 2, ceiling)
                continue
            window = {(m.chat_jid or "", m.id) for m in messages if m.timestamp < oldest.timestamp + _OVERLAP}
            # In the offset the server printed, not UTC: text-comparing servers need their own form back.
            before_text = (_as_printed(oldest) + _OVERLAP).isoformat()
            limit = page_size

    async def search_contacts(self, call: ToolCaller, query: str) -> list[Contact]:
        tool = self._tool(_CONTACT_TOOLS)
        contacts: list[Contact] = []
        seen: set[str] = set()
        for row in await self._rows(call, tool, self._arguments(tool, {"query": query, "search": query})):
            try:
                contact = parse_contact(row)
            except (KeyError, ValueError, TypeError) as err:
                self._bad(tool, "contact", err, row)
                continue
            if contact.jid not in seen:
                seen.add(contact.jid)
                contacts.append(contact)
        self.stats.contacts += len(contacts)
        return contacts

    async def authenticate(self, call: ToolCaller, phone_number: str, tool_names: set[str]) -> dict[str, Any]:
        return await request_pairing(call, phone_number, tool_names, self.server_name)

    async def whatsapp_status(self, call: ToolCaller, tool_names: set[str]) -> bool | str:
        status = await whatsapp_status(call, tool_names)
        return status if status is not None else "unknown"


def _declared_maximum(schema: Any) -> int | None:
    """The largest value a ``limit`` parameter's JSON schema allows (``maximum``, ``exclusiveMaximum``, also inside
    ``anyOf``/``oneOf`` as FastMCP writes an optional parameter), or None when it declares none."""
    if not isinstance(schema, Mapping):
        return None
    found: list[int] = []
    for key, less in (("maximum", 0), ("exclusiveMaximum", 1)):
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value - less >= 1:
            found.append(math.ceil(value) - less if less else math.floor(value))
    for branch in (*(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())):
        most = _declared_maximum(branch)
        if most is not None:
            found.append(most)
    return min(found) if found else None


def _walk_floor(since: datetime | None, span: Span | None) -> datetime | None:
    """A cross-chat walk's lower bound (inclusive): the later of ``since`` and the span's floor."""
    if span is None or span.floor is None:
        return since
    floor = datetime.fromtimestamp(span.floor, UTC)
    return floor if since is None or floor > since else since


async def _one_page(get: Callable[[int, int], Awaitable[OffsetPage]], limit: int) -> AsyncGenerator[list[Chat], None]:
    """A listing that cannot page: the one answer there is."""
    chats, _rows, _size = await get(0, limit)
    yield chats
