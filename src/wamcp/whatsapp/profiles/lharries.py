"""The ``lharries`` profile: lharries/whatsapp-mcp's tools and arguments, its JSON rows, and linear keyset paging.

Message listings are parsed by :mod:`.lharries_text`. The one thing to know: message paging never uses deep ``page``
offsets (quadratic on this server): :meth:`LharriesProfile.iter_messages` walks back with ``before`` in the server's
own wall-clock text, re-reading the oldest second of each page, and :meth:`LharriesProfile.iter_all_messages` does
the same across all chats.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from ...errors import MCPProtocolError
from ...redact import get_logger
from ..jid import normalize_jid
from ..models import Chat, Contact, Message
from ..timeparse import ServerClock
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
from .lharries_text import EMPTY_LISTING, derive_message_id, parse_message_listing, sender_jid_from_label
from .pairing import request_pairing, whatsapp_status
from .spans import Span, walk_spans
from .structured import decode_result, parse_message, records

__all__ = [
    "EMPTY_LISTING",
    "LHARRIES_TOOLS",
    "LharriesProfile",
    "derive_message_id",
    "json_rows",
    "list_chats_arguments",
    "list_messages_arguments",
    "parse_chat_rows",
    "parse_contact_rows",
    "parse_message_listing",
    "parse_message_row",
]

logger = get_logger(__name__)

#: The tool names that identify this server.
LHARRIES_TOOLS = frozenset(
    {
        "list_messages",
        "list_chats",
        "get_chat",
        "get_direct_chat_by_contact",
        "get_contact_chats",
        "search_contacts",
        "get_last_interaction",
        "get_message_context",
    }
)
_LOG_EXCERPT = 160
#: The account walk reads every chat's lines but can attribute only those of chats with a unique name; the lines of
#: the others are read again, chat by chat. It saves about one call per attributable chat and costs re-reading the
#: other chats' messages, and one call costs about as much as ~10 re-read messages (measured on the demo accounts,
#: ~9 messages a chat): with a share ``f`` of attributable chats the walk pays while ``f / (1 - f)`` exceeds a
#: tenth of the messages per chat. Below half it did not on any account measured (100k demo messages, 32 % of
#: chats with a unique name: 5.8/6.6 s with the walk, 5.3/5.6 s without; 1M, 22 %: 61/70 s vs 46/55 s; the 20k
#: default, 65 %: 0.7-0.9 s with it, 0.9-1.0 s without), so below it every chat is read on its own. Not when the
#: client limits the rate of calls (the default ``rate_limits``): each call then costs time whatever its size, and
#: the walk, ~2,000 messages a call, is made whenever it attributes any chat (``calls_limited``).
WALK_MIN_SHARE = 0.5
_MAX_LIMIT = 100_000
#: Reads of one listing that looks damaged before the call fails (a chat's failure is retried by the next run). An
#: odd answer is taken as the server's word only when every read gave it: random damage to a few lines repeats on a
#: small page now and then (the demo's 5 % of lines: a few chats in a thousand-chat account when two reads sufficed).
_LISTING_READS = 3
# Unknown chat names a cross-chat page looks up one by one (more: list every chat once), and the chats and pages
# each lookup asks for (lharries matches the query anywhere in the name or the JID, so a short name can match many
# chats; sorted by name, the exact ones come together).
_NAME_LOOKUPS = 8
_NAME_LOOKUP_CHATS = 200
_NAME_LOOKUP_PAGES = 5
_NAME_LISTING_PAGE = 1000
# A line (after a "\n") that starts with a header's timestamp, brackets or not, but is no header of any chat. A
# literal "\n" lets the regex engine skip ahead; "^" with MULTILINE made the check ~4x slower (~1 ms per 500 lines).
_ODD_TIMESTAMP_LINE = re.compile(
    r"\n(?!\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] (?:From: |Chat: [^\n]*? From: ))\[?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[\] ]"
)


def _excerpt(text: str) -> str:
    return text if len(text) <= _LOG_EXCERPT else text[:_LOG_EXCERPT] + "…"


def _looks_damaged(text: str, stats: ParseStats) -> bool:
    """Whether a listing holds lines that look like broken output: junk before the first header, replacement or NUL
    characters, or a line that starts with a header's timestamp but is no header (a header cut short or
    stripped of its brackets reads as content of the message before it: one message lost, another changed).
    Whole headers inside content (quotes) are not damage; the parser's rules deal with them."""
    if stats.bad_lines or "\ufffd" in text or "\x00" in text:
        return True
    return _ODD_TIMESTAMP_LINE.search("\n" + text) is not None


_STAT_COUNTERS = tuple(counter.name for counter in dataclasses.fields(ParseStats))


def _add_stats(total: ParseStats, more: ParseStats) -> None:
    for name in _STAT_COUNTERS:
        setattr(total, name, getattr(total, name) + getattr(more, name))


def _looks_like_json(text: str) -> bool:
    """A JSON object or array of objects; a listing's ``[2025-…`` header has a digit after its bracket."""
    head = text.lstrip()[:2]
    return head.startswith("{") or head in ("[{", "[]", "[\n", "[ ")


# --- argument builders -------------------------------------------------------------------------------------------


def list_messages_arguments(
    *,
    chat_jid: str | None = None,
    query: str | None = None,
    limit: int = 20,
    page: int = 0,
    before: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """Arguments for lharries ``list_messages``; times are the server's wall-clock text. Context is always off."""
    arguments: dict[str, Any] = {"limit": limit, "page": page, "include_context": False}
    if chat_jid is not None:
        arguments["chat_jid"] = chat_jid
    if query:
        arguments["query"] = query
    if before is not None:
        arguments["before"] = before
    if after is not None:
        arguments["after"] = after
    return arguments


def list_chats_arguments(
    *, limit: int = 20, page: int = 0, sort_by: str = "last_active", query: str | None = None
) -> dict[str, Any]:
    """Arguments for lharries ``list_chats``.

    ``include_last_message`` is always sent as true: false makes this server fail an SQL query and return nothing
    (WHATSAPP_SERVERS.md §1, known bugs); the profile drops the last-message fields itself when asked to.
    """
    arguments: dict[str, Any] = {"limit": limit, "page": page, "include_last_message": True, "sort_by": sort_by}
    if query:
        arguments["query"] = query
    return arguments


# --- JSON tools ---------------------------------------------------------------------------------------------------


def json_rows(result: ToolResult, stats: ParseStats, source: str) -> list[dict[str, Any]]:
    """One JSON object per text block (lharries' JSON tools); no blocks is an empty answer."""
    rows: list[dict[str, Any]] = []
    for block in result.get("content") or []:
        if block.get("type") != "text":
            continue
        text = block.get("text", "")
        try:
            value = json.loads(text)
        except ValueError:
            stats.bad_rows += 1
            logger.warning("%s: a content block is not JSON: %r", source, _excerpt(text))
            continue
        if isinstance(value, dict):
            rows.append(value)
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            rows.extend(value)
        else:
            stats.bad_rows += 1
            logger.warning("%s: a content block is JSON but not an object: %r", source, _excerpt(text))
    return rows


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def parse_chat_rows(
    rows: list[dict[str, Any]], clock: ServerClock, stats: ParseStats, *, source: str = "list_chats"
) -> list[Chat]:
    """Chat rows -> chats, first occurrence of each JID kept (lharries repeats a chat whose last two messages tie)."""
    chats: list[Chat] = []
    seen: set[str] = set()
    for row in rows:
        try:
            jid = normalize_jid(str(row["jid"]))
            raw_time = row.get("last_message_time")
            when = clock.to_utc(str(raw_time)) if raw_time else None
        except (KeyError, ValueError) as err:
            stats.bad_rows += 1
            logger.warning("%s: unusable chat row (%s): %r", source, err, _excerpt(json.dumps(row, default=str)))
            continue
        if jid in seen:
            stats.duplicates += 1
            continue
        seen.add(jid)
        name = row.get("name")
        chats.append(
            Chat(
                jid=jid,
                name=str(name) if name is not None else None,
                last_message_time=when,
                last_message=row.get("last_message"),
                last_sender=row.get("last_sender"),
                last_is_from_me=_flag(row.get("last_is_from_me")),
            )
        )
    stats.chats += len(chats)
    return chats


#: Chat rows of each listing answer whose printed offsets are checked against ``server_timezone``.
_ZONE_CHECK_ROWS = 20


def zone_mismatch(rows: list[dict[str, Any]], clock: ServerClock) -> str | None:
    """A warning when the chat times a server prints carry an offset that ``clock``'s zone does not have at that
    instant, else None.

    lharries prints chats' times with the bridge's offset (``…+01:00``; ``Z`` on a UTC bridge) but message times
    without one, so messages are read in ``server_timezone``: set to another zone (it defaults to this machine's),
    every message time is off by the difference, and a walk bounded by the chats' times misses the newest messages.
    """
    for row in rows[:_ZONE_CHECK_ROWS]:
        raw = row.get("last_message_time")
        if not isinstance(raw, str) or raw.endswith("Z"):
            continue
        try:
            printed = datetime.fromisoformat(raw)
        except ValueError:
            continue
        offset = printed.utcoffset()
        if offset is None:
            continue
        ours = printed.astimezone(clock.zone).utcoffset()
        if ours != offset:
            zone = getattr(clock.zone, "key", str(clock.zone))
            return (
                f"the server prints chat times with offset {_offset_text(offset)} (e.g. {raw}) where server_timezone "
                f"{zone} has {_offset_text(ours)}: message times, which lharries prints without an offset, would be "
                "read off by the difference and the newest messages missed — set server_timezone in the config to "
                "the zone of the machine running the WhatsApp bridge"
            )
    return None


def _offset_text(offset: timedelta | None) -> str:
    minutes = int((offset or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_contact_rows(
    rows: list[dict[str, Any]], stats: ParseStats, *, source: str = "search_contacts"
) -> list[Contact]:
    contacts: list[Contact] = []
    seen: set[str] = set()
    for row in rows:
        try:
            jid = normalize_jid(str(row.get("jid") or row["phone_number"]))
        except (KeyError, ValueError) as err:
            stats.bad_rows += 1
            logger.warning("%s: unusable contact row (%s): %r", source, err, _excerpt(json.dumps(row, default=str)))
            continue
        if jid in seen:
            stats.duplicates += 1
            continue
        seen.add(jid)
        phone = row.get("phone_number")
        name = row.get("name")
        contacts.append(Contact(jid=jid, phone_number=str(phone) if phone else None, name=str(name) if name else None))
    stats.contacts += len(contacts)
    return contacts


def parse_message_row(row: dict[str, Any], clock: ServerClock) -> Message:
    """A ``get_message_context`` message object -> Message (raises KeyError/ValueError when unusable)."""
    server_time = str(row["timestamp"]).rstrip("Z").replace("T", " ")[:19]
    chat_jid = normalize_jid(str(row["chat_jid"]))
    is_from_me = bool(_flag(row.get("is_from_me")))
    sender_raw = str(row.get("sender") or "")
    media = row.get("media_type") or None
    return Message(
        id=str(row["id"]),
        chat_jid=chat_jid,
        timestamp=clock.to_utc(str(row["timestamp"])),
        sender="Me" if is_from_me else sender_raw,
        content=str(row.get("content") or ""),
        is_from_me=is_from_me,
        media_type=str(media) if media else None,
        chat_name=row.get("chat_name"),
        sender_jid=sender_jid_from_label(sender_raw, chat_jid) if sender_raw else None,
        id_source="server",
        server_time=server_time,
    )


# --- the profile --------------------------------------------------------------------------------------------------


class LharriesProfile:
    """lharries/whatsapp-mcp (and servers that copy its tools and text format, such as ``wamcp demo-server``)."""

    name = "lharries"

    #: the byte budget of one chat-listing answer (the WhatsApp client raises it over stdio)
    chat_page_bytes: int = CHAT_PAGE_BYTES

    def __init__(self, clock: ServerClock | None = None, *, server_name: str = "lharries/whatsapp-mcp") -> None:
        self.clock = clock if clock is not None else ServerClock()
        self.stats = ParseStats()
        self.server_name = server_name
        self._chat_names: dict[str, str | None] = {}
        # Indexes of the names, rebuilt only when the names change: a walk parses thousands of pages against the
        # same names, and rebuilding them per page made reading a 1M-message account cost O(pages × chats).
        self._names_version = 0
        self._sender_cache: tuple[tuple[int, int], frozenset[str]] | None = None
        self._jids_cache: tuple[tuple[int, int], dict[str, str]] | None = None
        self._listed_all = False  # every chat's name seen (a listing read to its end)
        self._pages = PageLengths()
        #: The client limits the rate of calls (``rate_limits``): a run then waits on calls, not on CPU, and the walk
        #: across chats is made whenever it attributes any chat (see :data:`WALK_MIN_SHARE`).
        self.calls_limited = False
        self._zone_checked = False  # server_timezone compared with the offsets the server prints (warned once)

    def is_idempotent(self, tool_name: str) -> bool:
        return tool_name in LHARRIES_TOOLS

    def _remember(self, chats: list[Chat]) -> None:
        for chat in chats:
            if self._chat_names.get(chat.jid, "\0") != chat.name:
                self._chat_names[chat.jid] = chat.name
                self._names_version += 1

    def _names_key(self) -> tuple[int, int]:
        # The size too, so that an entry added straight into the dict (setdefault) is noticed as well.
        return self._names_version, len(self._chat_names)

    def _sender_names(self) -> frozenset[str]:
        key = self._names_key()
        if self._sender_cache is None or self._sender_cache[0] != key:
            self._sender_cache = (key, frozenset(name for name in self._chat_names.values() if name))
        return self._sender_cache[1]

    def _jids_by_name(self) -> dict[str, str]:
        """Chat names that belong to exactly one chat, mapped to its JID (shared: callers must not modify it)."""
        key = self._names_key()
        if self._jids_cache is not None and self._jids_cache[0] == key:
            return self._jids_cache[1]
        by_name: dict[str, str] = {}
        ambiguous: set[str] = set()
        for jid, name in self._chat_names.items():
            if name is None:
                continue
            if name in by_name:
                ambiguous.add(name)
            by_name[name] = jid
        for name in ambiguous:
            del by_name[name]
        self._jids_cache = (key, by_name)
        return by_name

    async def _chats(self, call: ToolCaller, tool: str, arguments: dict[str, Any]) -> tuple[list[Chat], int]:
        chats, rows, _ = await self._chats_sized(call, tool, arguments)
        return chats, rows

    async def _chats_sized(self, call: ToolCaller, tool: str, arguments: dict[str, Any]) -> tuple[list[Chat], int, int]:
        """(chats, rows, characters of text the answer held)."""
        self.stats.calls += 1
        result = await call(tool, arguments)
        size = answer_size(result)
        rows = json_rows(result, self.stats, tool)
        if not self._zone_checked and rows:
            self._zone_checked = True
            mismatch = zone_mismatch(rows, self.clock)
            if mismatch is not None:
                logger.warning("%s: %s", self.server_name, mismatch)
        chats = parse_chat_rows(rows, self.clock, self.stats, source=tool)
        self._remember(chats)
        return chats, len(rows), size

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
        arguments = list_chats_arguments(limit=limit, page=page, sort_by=sort_by, query=query)
        chats, _ = await self._chats(call, "list_chats", arguments)
        if not include_last_message:
            chats = [Chat(jid=c.jid, name=c.name, last_message_time=c.last_message_time) for c in chats]
        return chats

    async def iter_chats(
        self, call: ToolCaller, *, page_size: int = 100, ahead: int = 0, by_activity: bool = False
    ) -> AsyncGenerator[Chat, None]:
        """Every chat once. Pages sorted by name, which (unlike last activity) does not reorder while we page; with
        ``by_activity``, most recently active first, for callers that stop early (a chat that becomes active while
        it is listed moves to the top, already passed, and is missed by this listing, not by the next one).

        ``page_size`` is the most chats asked for at once. The server only knows ``page`` x ``limit`` offsets, so
        each next limit is the largest that the offset reached is a multiple of, within ``page_size`` and the chats
        that fit the byte budget at the last answer's size (:func:`~.base.next_page_limit`: the SDK's HTTP
        transports refuse a message over 1 MiB): pages start at 100, roughly double while answers are small, and
        shrink when chats carry long last messages. ``ahead`` pages are asked for before the current one is answered
        (:func:`~.base.iter_offset_pages`; close the iterator, e.g. with ``contextlib.aclosing``, if you stop early).
        """
        seen: set[str] = set()

        def page(offset: int, limit: int) -> Awaitable[OffsetPage]:
            order = "last_active" if by_activity else "name"
            arguments = list_chats_arguments(limit=limit, page=offset // limit, sort_by=order)
            return self._chats_sized(call, "list_chats", arguments)

        pages = iter_offset_pages(
            page,
            page_size=page_size,
            budget=self.chat_page_bytes,
            ahead=ahead,
            lengths=self._pages,
            tool="list_chats",
            server=self.server_name,
        )
        async with contextlib.aclosing(pages):  # a caller that stops early closes us; we close the pages' tasks
            async for chats in pages:
                for chat in chats:
                    if chat.jid in seen:
                        self.stats.duplicates += 1
                        continue
                    seen.add(chat.jid)
                    yield chat
        self._listed_all = True

    async def get_chat(self, call: ToolCaller, chat_jid: str) -> Chat | None:
        chats, _ = await self._chats(
            call, "get_chat", {"chat_jid": normalize_jid(chat_jid), "include_last_message": True}
        )
        return chats[0] if chats else None

    async def _listing(
        self,
        call: ToolCaller,
        *,
        chat_jid: str | None,
        query: str | None,
        limit: int,
        page: int = 0,
        before: str | None,
        after: str | None,
        known_chat_names: Collection[str] | None = None,
        keep_chat_names: Collection[str] | None = None,
        resolve_names: bool = False,
    ) -> list[Message]:
        """One ``list_messages`` answer, parsed. ``resolve_names``: a cross-chat answer names each message's chat
        only by its name; look up the names no listed chat has (:meth:`_learn_chat_names`) so they map to JIDs."""
        # The chat's exact name is the strongest rule against header-shaped content (rule 2), and the only way
        # to split "Chat: <name> From: <sender>" right when the name itself holds " From: ".
        if chat_jid is not None and chat_jid not in self._chat_names and await self.get_chat(call, chat_jid) is None:
            self._chat_names[chat_jid] = None
        arguments = list_messages_arguments(
            chat_jid=chat_jid, query=query, limit=limit, page=page, before=before, after=after
        )

        def parse(text: str, stats: ParseStats) -> list[Message]:
            return parse_message_listing(
                text,
                clock=self.clock,
                chat_jid=chat_jid,
                chat_name=self._chat_names.get(chat_jid) if chat_jid else None,
                query=query,
                before=before,
                after=after,
                chat_jids_by_name=None if chat_jid else self._jids_by_name(),
                known_chat_names=known_chat_names,
                known_sender_names=self._sender_names(),
                keep_chat_names=keep_chat_names,
                stats=stats,
            )

        previous: str | None = None
        same = 0  # how many reads in a row gave this text
        for _read in range(_LISTING_READS):
            self.stats.calls += 1
            result = await call("list_messages", arguments)
            text = result.get("text") or ""
            if result.get("structured_content") is not None or _looks_like_json(text):
                # A lharries successor that kept the tool names but answers in JSON (detected as lharries when it
                # declares no output schema): decode it the structured way rather than count every line as junk.
                return self._json_messages(result, chat_jid)
            stats = ParseStats()
            messages = parse(text, stats)
            # An odd answer the server gives on every read is its word (e.g. a content line that starts like a
            # header); one that changes between reads was damaged on its way.
            same = same + 1 if text == previous else 1
            if not _looks_damaged(text, stats) or same == _LISTING_READS:
                if same == _LISTING_READS:
                    logger.info(
                        "list_messages: the same odd answer %d times, taken as the server's word: %r", same, arguments
                    )
                if resolve_names and chat_jid is None and await self._learn_chat_names(call, messages):
                    stats = ParseStats()
                    messages = parse(text, stats)  # again, now that the hits' chat names map to JIDs
                _add_stats(self.stats, stats)
                return messages
            logger.warning("list_messages: lines that belong to no message (damaged output?); reading it again")
            previous = text
        raise MCPProtocolError(
            f"{self.server_name}: list_messages answered with damaged lines {_LISTING_READS} times in a row, "
            "differently each time",
            hint="the server's output is garbled; the next run retries",
        )

    async def _learn_chat_names(self, call: ToolCaller, messages: list[Message]) -> bool:
        """Learn the chats of cross-chat hits whose name no chat listed so far has; True if that taught us any name.

        A fresh client has listed nothing, and without this its first search could map no hit to its chat. A few
        names are looked up one by one (``list_chats`` with the name as its query); more, and every chat is listed
        once, which also serves every later search. After that, a name no chat had is a chat new (or renamed) since,
        so the chats are listed most recently active first, only until every such name has come. Names several
        chats share stay unmapped.
        """
        known = self._sender_names()
        unknown = sorted(
            {m.chat_name for m in messages if m.chat_jid is None and m.chat_name and m.chat_name not in known}
        )
        if not unknown:
            return False
        before = self._names_key()
        if len(unknown) > _NAME_LOOKUPS and self._listed_all:
            logger.info("list_messages: %d chat names new since the listing; listing recent chats", len(unknown))
            await self._list_recent_until_named(call, set(unknown))
        elif len(unknown) > _NAME_LOOKUPS:
            logger.info("list_messages: %d chat names not listed yet; listing every chat once", len(unknown))
            await self._list_every_chat(call)
        else:
            for name in unknown:
                await self._look_up_name(call, name)
        return self._names_key() != before

    async def _look_up_name(self, call: ToolCaller, name: str) -> None:
        """Remember every chat named ``name`` (``list_chats`` with it as the query, sorted by name, so the chats of
        that exact name come in one run: read on while a full page may have cut it)."""
        for page in range(_NAME_LOOKUP_PAGES):
            chats = await self.list_chats(call, query=name, limit=_NAME_LOOKUP_CHATS, page=page, sort_by="name")
            if len(chats) < _NAME_LOOKUP_CHATS or (chats[-1].name or "") > name:
                return

    async def _list_recent_until_named(self, call: ToolCaller, names: set[str]) -> None:
        """Remember the chats, most recently active first, until every one of ``names`` has come (or the end)."""
        chats = self.iter_chats(call, page_size=_NAME_LOOKUP_CHATS, by_activity=True)
        async with contextlib.aclosing(chats):
            async for chat in chats:
                names.discard(chat.name or "")
                if not names:
                    return

    async def _list_every_chat(self, call: ToolCaller) -> None:
        """Remember every chat's name (a listing read to its end also sets ``_listed_all``)."""
        async for _chat in self.iter_chats(call, page_size=_NAME_LISTING_PAGE):
            pass

    def _json_messages(self, result: ToolResult, chat_jid: str | None) -> list[Message]:
        messages: list[Message] = []
        for row in records(decode_result(result, self.stats, "list_messages")):
            try:
                messages.append(parse_message(row, self.clock, chat_jid))
            except (KeyError, TypeError, ValueError) as err:
                self.stats.bad_rows += 1
                logger.warning("list_messages: unusable JSON message row (%s)", err)
        messages.sort(key=lambda m: m.timestamp, reverse=True)
        self.stats.messages += len(messages)
        return messages

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
        """One page, newest first (``page`` offsets are fine for one screenful; use :meth:`iter_messages` for all)."""
        return await self._listing(
            call,
            chat_jid=normalize_jid(chat_jid) if chat_jid else None,
            query=query,
            limit=limit,
            page=page,
            before=self.clock.to_server_text(before) if before else None,
            after=self.clock.to_server_text(after) if after else None,
            resolve_names=True,
        )

    async def iter_messages(
        self, call: ToolCaller, chat_jid: str, *, since: datetime | None = None, page_size: int = 500
    ) -> AsyncIterator[Message]:
        """Every message of one chat, newest first, each once; linear in the chat's size.

        Keyset paging on the server's wall-clock text: each page asks for ``before = oldest second + 1 s`` so the
        oldest second, which the previous page may have cut in two, is read whole again, and ids already yielded
        from it are dropped. A page that is one second only grows the limit until the second fits. ``since`` is
        inclusive at one-second resolution (``after`` is sent one second early, so servers that compare strictly
        and lharries, which compares text, both include it).
        """
        jid = normalize_jid(chat_jid)
        async for message in self._walk(call, jid, since=since, before=None, page_size=page_size):
            yield message

    async def iter_all_messages(
        self,
        call: ToolCaller,
        *,
        since: datetime | None = None,
        page_size: int = 500,
        chats: list[Chat] | None = None,
        parallel: int = 1,
    ) -> AsyncIterator[Message]:
        """Every message of every chat, each once: one keyset walk across all chats, then per-chat walks for the
        chats it cannot attribute. ``parallel`` > 1 reads the cross-chat walk as that many concurrent walks over
        disjoint spans of time (:mod:`.spans`), in no particular order.

        A cross-chat listing names chats, not JIDs, so the walk keeps the messages of chats whose name is unique
        (and media messages, which carry their JID) and leaves chats that share a name, or have none, to
        :meth:`iter_messages`. Only the messages of ``chats`` (default: every chat) come out; the walk knows every
        chat's name (it lists the chats first if this profile has not listed them all), and starts just after the
        newest message the chats asked for report, so a chat created meanwhile waits for the next
        run. Far fewer calls than one walk per chat when chats are small. When fewer than half the chats have a
        unique name there is no cross-chat walk, unless calls are rate-limited: every chat is read on its own
        (:data:`WALK_MIN_SHARE`, :attr:`calls_limited`).
        """
        if chats is not None and not self._listed_all:
            # Lines name chats: telling a header from content that looks like one, and a chat from another of the
            # same name, takes every chat's name, not only those of the chats asked for.
            await self._list_every_chat(call)
        chat_list = chats if chats is not None else [chat async for chat in self.iter_chats(call)]
        self._remember(chat_list)
        unique_names = self._jids_by_name()  # among every chat listed, not only those asked for
        across = {
            jid for jid in self.cross_chat_jids(chat_list) if unique_names.get(self._chat_names[jid] or "") == jid
        }
        unique = bool(across)
        per_chat = [chat.jid for chat in chat_list if chat.jid not in across]
        # every chat's name, in one object for all pages: parsers index it once
        known = frozenset(name or "" for name in self._chat_names.values())
        # The walk builds only these chats' messages: the others' (most of them, on a big account whose contacts
        # share names) are read again one chat at a time, and building them cost the walk ~2 µs a message.
        keep = frozenset(self._chat_names[jid] or "" for jid in across)
        newest = max((c.last_message_time for c in chat_list if c.last_message_time is not None), default=None)
        before = ServerClock.shift_text(self.clock.to_server_text(newest), 1) if newest is not None else None
        if unique:
            oldest_activity = min((c.last_message_time for c in chat_list if c.last_message_time), default=None)

            def walk(span: Span) -> AsyncIterator[list[Message]]:
                return self._walk_pages(
                    call, None, since=since, before=before, page_size=page_size, known=known, keep=keep, span=span
                )

            # ``since`` bounds the spans too, so that splits share out what lies above it.
            floor = _text_key(self.clock.to_server_text(since)) if since is not None else None
            whole = Span(floor=floor, ceiling=_text_key(before) if before is not None else None)
            hint = _text_key(self.clock.to_server_text(oldest_activity)) if oldest_activity is not None else None
            # Closed here when our caller stops early: left to the garbage collector, the walk's task group would
            # be exited from another task (anyio refuses).
            async with contextlib.aclosing(walk_spans(walk, whole, parallel=parallel, floor_hint=hint)) as pages:
                async for page in pages:
                    for message in page:
                        # Only the chats asked for: a media line names its chat's JID, whichever chat that is.
                        if message.chat_jid in across:
                            yield message
        for jid in per_chat:
            async for message in self._walk(call, jid, since=since, before=None, page_size=page_size):
                yield message

    def cross_chat_jids(self, chats: list[Chat]) -> set[str]:
        """The chats :meth:`iter_all_messages` reads in its cross-chat walk: those whose name no other chat has
        (the listing names chats, not JIDs), when they are at least :data:`WALK_MIN_SHARE` of ``chats`` or calls are
        rate-limited (:attr:`calls_limited`); else none (no walk). The others are read one by one after the walk."""
        counts = Counter(chat.name for chat in chats)
        unique = {chat.jid for chat in chats if chat.name and counts[chat.name] == 1}
        return unique if self.calls_limited or len(unique) >= WALK_MIN_SHARE * len(chats) else set()

    def iter_message_pages(
        self,
        call: ToolCaller,
        chat_jid: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[list[Message]]:
        """One chat's messages strictly between ``after`` and ``before``, newest first, a page at a time.

        Each list holds the messages of one server page not yielded before (so it may be shorter than the page;
        a page that only re-read a cut second yields nothing). Bounds are compared at the server's one-second
        resolution: a message of second ``s`` is after ``after`` when ``s > after`` and before ``before`` when
        ``s < before``.
        """
        jid = normalize_jid(chat_jid)
        since = after.replace(microsecond=0) + timedelta(seconds=1) if after is not None else None
        upper = None
        if before is not None:
            upper = self.clock.to_server_text(before)
            if before.microsecond:  # exclusive at a fraction: the whole second it falls in is before it
                upper = ServerClock.shift_text(upper, 1)
        # The walk's own generator, not one around it: a chat read by the extractor pays one async generator less.
        return self._walk_pages(call, jid, since=since, before=upper, page_size=page_size)

    async def _walk(
        self,
        call: ToolCaller,
        jid: str | None,
        *,
        since: datetime | None,
        before: str | None,
        page_size: int,
        known: Collection[str] | None = None,
    ) -> AsyncIterator[Message]:
        async for page in self._walk_pages(call, jid, since=since, before=before, page_size=page_size, known=known):
            for message in page:
                yield message

    async def _walk_pages(
        self,
        call: ToolCaller,
        jid: str | None,
        *,
        since: datetime | None,
        before: str | None,
        page_size: int,
        known: Collection[str] | None = None,
        keep: Collection[str] | None = None,
        span: Span | None = None,
    ) -> AsyncIterator[list[Message]]:
        """Keyset pages newest first; with ``span``, only that span of a split walk (see :mod:`.spans`): its ceiling
        replaces ``before``, its floor (re-read before each call: a split may raise it) bounds the walk below."""
        since_floor = self.clock.to_server_text(since) if since is not None else None
        if span is not None and span.ceiling is not None:
            before = _key_text(span.ceiling)
        limit = page_size = self._pages.full_length("list_messages", page_size)
        seen: set[str] = set()
        asked_past: int | None = None  # the length of the short page this call asks past (see PageLengths)
        while True:
            floor = _span_floor(since_floor, span)
            after = ServerClock.shift_text(floor, -1) if floor is not None else None
            ambiguous_before, duplicates_before = self.stats.ambiguous_headers, self.stats.duplicates
            page = await self._listing(
                call,
                chat_jid=jid,
                query=None,
                limit=limit,
                before=before,
                after=after,
                known_chat_names=known,
                keep_chat_names=keep,
            )
            if jid is not None and page and page[0].chat_name is not None:
                self._chat_names.setdefault(jid, page[0].chat_name)
            floor = _span_floor(since_floor, span)  # a split may have raised it while the call was in flight
            oldest = page[-1].server_time or "" if page else ""
            if span is not None and page:
                span.reached = _text_key(oldest)  # before yielding: a split while we wait must not cut below it
            fresh = [
                message
                for message in page
                if message.id not in seen and (floor is None or (message.server_time or "") >= floor)
            ]
            if asked_past is not None and any(m.id not in seen for m in page):
                self._pages.capped("list_messages", asked_past, page_size, self.server_name)
            asked_past = None
            if fresh:
                yield fresh
            if not page:
                return
            # A short page ends the walk, unless parsing merged header-shaped lines or dropped repeats (the server
            # may have sent more messages than we read) or the server may cap its pages there: one more (cheap) call
            # settles it. Only a page read as the server printed it tells about a cap.
            as_printed = self.stats.ambiguous_headers == ambiguous_before and self.stats.duplicates == duplicates_before
            full = self._pages.full_length("list_messages", limit)
            if self._pages.uncertain("list_messages", len(page), limit) and as_printed:
                asked_past = len(page)
            elif len(page) < full and as_printed:
                return
            if span is not None and floor is not None and oldest < floor:
                return  # past this span's floor (raised by a split): the older part is another walker's
            if oldest == page[0].server_time and len(page) >= full:
                if limit >= _MAX_LIMIT:
                    logger.error("list_messages: more than %d messages in one second; stopping", limit)
                    return
                seen.update(m.id for m in page)
                limit *= 2
                continue
            if all(m.id in seen for m in page):
                return  # nothing new: the server has nothing older (a short page after an ambiguous one)
            seen = {m.id for m in page if m.server_time == oldest}
            before = ServerClock.shift_text(oldest, 1)
            limit = page_size

    async def search_messages(
        self, call: ToolCaller, query: str, *, chat_jid: str | None = None, limit: int = 20
    ) -> list[Message]:
        return await self.list_messages(call, chat_jid=chat_jid, query=query, limit=limit)

    async def contact_chats(self, call: ToolCaller, jid: str, *, limit: int = 20, page: int = 0) -> list[Chat]:
        """``get_contact_chats``: the chats a contact writes in, each once (the server repeats one per message)."""
        arguments = {"jid": jid, "limit": limit, "page": page}
        chats, _ = await self._chats(call, "get_contact_chats", arguments)
        return chats

    async def last_interaction(self, call: ToolCaller, jid: str) -> Message | None:
        """``get_last_interaction``: the newest message involving a contact, or None."""
        self.stats.calls += 1
        result = await call("get_last_interaction", {"jid": jid})
        messages = parse_message_listing(
            result.get("text") or "",
            clock=self.clock,
            chat_jids_by_name=self._jids_by_name(),
            known_sender_names=self._sender_names(),
            stats=self.stats,
            source="get_last_interaction",
        )
        return messages[0] if messages else None

    async def search_contacts(self, call: ToolCaller, query: str) -> list[Contact]:
        self.stats.calls += 1
        rows = json_rows(await call("search_contacts", {"query": query}), self.stats, "search_contacts")
        return parse_contact_rows(rows, self.stats)

    async def message_context(
        self, call: ToolCaller, message_id: str, *, before: int = 5, after: int = 5
    ) -> dict[str, Any]:
        """``get_message_context``: ``{"message": Message, "before": [...], "after": [...]}``."""
        self.stats.calls += 1
        arguments = {"message_id": message_id, "before": before, "after": after}
        rows = json_rows(await call("get_message_context", arguments), self.stats, "get_message_context")
        if not rows:
            return {"message": None, "before": [], "after": []}
        row = rows[0]
        try:
            return {
                "message": parse_message_row(row["message"], self.clock),
                "before": [parse_message_row(r, self.clock) for r in row.get("before") or []],
                "after": [parse_message_row(r, self.clock) for r in row.get("after") or []],
            }
        except (KeyError, TypeError, ValueError) as err:
            self.stats.bad_rows += 1
            logger.warning("get_message_context: unusable answer (%s)", err)
            return {"message": None, "before": [], "after": []}

    async def authenticate(self, call: ToolCaller, phone_number: str, tool_names: set[str]) -> dict[str, Any]:
        return await request_pairing(call, phone_number, tool_names, self.server_name)

    async def whatsapp_status(self, call: ToolCaller, tool_names: set[str]) -> bool | str:
        status = await whatsapp_status(call, tool_names)
        if status is not None:
            return status
        # lharries exposes no bridge state; a read that works shows the bridge's database is there, no more.
        await call("list_chats", list_chats_arguments(limit=1))
        return "unknown"


def _text_key(text: str) -> float:
    """The server's wall-clock text as a span key: seconds, reading the naive text as if it were UTC, so key order
    is the server's string order (it compares times as text)."""
    return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC).timestamp()


def _key_text(key: float) -> str:
    return datetime.fromtimestamp(key, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _span_floor(since_floor: str | None, span: Span | None) -> str | None:
    """The walk's lower bound (inclusive, server text): the later of ``since`` and the span's floor."""
    if span is None or span.floor is None:
        return since_floor
    floor = _key_text(span.floor)
    return floor if since_floor is None or floor > since_floor else since_floor
