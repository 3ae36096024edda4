"""What every server profile offers: our operations in terms of one server's tools, and the parsing of its output.

A profile never talks to the network itself: it is handed a :data:`ToolCaller` (``await call(tool, arguments)`` ->
the core client's result dict) and decides which tools to call, with which arguments, and how to page. That keeps
the paging strategy (keyset by the server's wall-clock text for lharries, the server's own paging elsewhere) next to
the parser that knows the format, and lets tests drive a profile with a plain function.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio

from ...redact import get_logger
from ..models import Chat, Contact, Message

__all__ = [
    "CHAT_PAGE_BYTES",
    "FIRST_CHAT_PAGE",
    "STDIO_CHAT_PAGE_BYTES",
    "OffsetPage",
    "PageLengths",
    "ParseStats",
    "Profile",
    "ToolCaller",
    "ToolResult",
    "accepts_keyword",
    "answer_size",
    "cancel_and_wait",
    "closing_when_done",
    "iter_offset_pages",
    "next_page_limit",
]

logger = get_logger(__name__)

#: The core client's ``execute_tool`` result: ``content``, ``structured_content``, ``text``, ``is_error``, …
ToolResult = dict[str, Any]
#: ``await call(tool_name, arguments)``; raises the core client's errors (MCPToolError for ``isError`` results).
ToolCaller = Callable[[str, dict[str, Any]], Awaitable[ToolResult]]

#: What a chat-listing answer should stay under when a profile grows its pages (characters), on every transport.
#: Fewer, larger pages skip fewer rows on servers that page by ``OFFSET`` (listing the 116k chats of a 1M-message
#: lharries account: 65 calls and 19 s of server CPU at 512 KiB, 20 calls and 7 s at 8 MiB). Not more than 1 MiB:
#: the SDK holds several copies of an answer while it validates it, and 8 MiB pages of structured chats took a
#: 1M-message extraction's peak RSS from ~260 to ~345 MB (1 MiB: 297 MB). The network transports had 512 KiB while
#: the SDK capped one message at 1 MiB; ours have no cap (the 116k-chat listing over streamable HTTP: 9.3 s at
#: 512 KiB, 4.8-6.6 s at 1 MiB with the next page asked for ahead).
CHAT_PAGE_BYTES = 1024 * 1024
#: The stdio budget when it differed from the network transports' (kept for plugins that import it).
STDIO_CHAT_PAGE_BYTES = CHAT_PAGE_BYTES
#: The first chat page a profile asks for before it knows how large chats are on this server.
FIRST_CHAT_PAGE = 100


def accepts_keyword(method: Callable[..., Any], name: str) -> bool:
    """Whether ``method`` takes the keyword ``name``: newer keywords are passed only to methods that declare them, so
    plugin profiles and other message sources written before them keep working."""
    return name in inspect.signature(method).parameters


def answer_size(result: ToolResult) -> int:
    """About how many characters ``result`` took on the wire: its text blocks, twice when it also carried
    ``structuredContent`` (servers that send it repeat the same data as text)."""
    size = sum(len(block.get("text") or "") for block in result.get("content") or [])
    return size * 2 if result.get("structured_content") is not None else size


def next_page_limit(offset: int, page_size: int, rows: int, size: int, budget: int = CHAT_PAGE_BYTES) -> int:
    """The next ``limit`` of a listing paged by ``page`` x ``limit`` offsets, after an answer of ``rows`` rows and
    ``size`` characters ended at ``offset``: the largest that ``offset`` is a multiple of (so ``page = offset //
    limit`` continues exactly there), within ``page_size`` and the rows that fit ``budget`` at that answer's size."""
    fits = max(1, budget * rows // max(size, 1))
    return next(n for n in range(max(1, min(page_size, fits, offset)), 0, -1) if offset % n == 0)


#: One page of a listing paged by offsets, parsed: (chats, rows the server sent, characters of the answer).
OffsetPage = tuple[list[Chat], int, int]


class _Ahead:
    """A page asked for before the caller needs it: its answer or its error, once it is there."""

    def __init__(self, offset: int, limit: int) -> None:
        self.offset = offset
        self.limit = limit
        self.ready = anyio.Event()
        self.page: OffsetPage | None = None
        self.error: Exception | None = None

    async def fetch(self, get: Callable[[int, int], Awaitable[OffsetPage]]) -> None:
        try:
            self.page = await get(self.offset, self.limit)
        except Exception as err:  # handed to the caller, who raises it when it reaches this page
            self.error = err
        finally:
            self.ready.set()

    async def result(self) -> OffsetPage:
        await self.ready.wait()
        if self.error is not None:
            raise self.error
        assert self.page is not None
        return self.page


async def iter_offset_pages(
    get: Callable[[int, int], Awaitable[OffsetPage]],
    *,
    page_size: int,
    budget: int,
    ahead: int = 0,
    lengths: PageLengths | None = None,
    tool: str = "list_chats",
    server: str = "the server",
) -> AsyncGenerator[list[Chat], None]:
    """The pages of a listing paged by ``page`` x ``limit`` offsets, in order, until its end.

    ``get(offset, limit)`` asks for one page (``offset`` is always a multiple of ``limit``). Limits grow from
    :data:`FIRST_CHAT_PAGE` toward ``page_size`` within ``budget`` (:func:`next_page_limit`). With ``ahead`` > 0 that
    many further pages are asked for before the current one is answered, with limits from the newest answer the
    caller has: the server works on the next page while the client validates and parses this one (one after the
    other, a 116k-chat listing over stdio made each side wait for the other). Only where an answer a little over
    ``budget`` does no harm (stdio: no message size limit). A page asked for past the end is dropped unread.

    A short page is the end unless the server may cap its pages below the limit without declaring it (``lengths``,
    the profile's :class:`PageLengths` for ``tool``: a page as long as the longest yet): then the page right after its
    rows is asked for (pages asked ahead are dropped, they start where a full page would have ended); rows there
    reveal the cap, which bounds every limit from then on, and nothing there ends the listing.
    """
    pages = lengths if lengths is not None else PageLengths()

    def full(limit: int) -> int:
        return pages.full_length(tool, limit)

    def most() -> int:
        return full(page_size)

    if ahead <= 0:  # one page at a time, no tasks: safe to abandon at any point
        offset, limit = 0, min(most(), FIRST_CHAT_PAGE)
        asked_past: tuple[int, int] | None = None  # (rows, limit) of the short page this call asks past
        while True:
            chats, rows, size = await get(offset, limit)
            if asked_past is not None and rows:
                pages.capped(tool, *asked_past, server)
            asked_past = None
            yield chats
            maybe_cut = pages.uncertain(tool, rows, limit)
            if rows < full(limit) and not maybe_cut:
                return
            if maybe_cut:
                asked_past = (rows, limit)
            offset += min(rows, limit)
            limit = next_page_limit(offset, most(), rows, size, budget)
    # Plain asyncio tasks, not an anyio task group: a caller that drops this iterator without closing it (a bare
    # ``break``) leaves its closing to the garbage collector, which runs it in another task, and a task group's cancel
    # scope may only be left by the task that entered it (it cancelled the caller's task instead).
    queue: deque[_Ahead] = deque()
    tasks: set[asyncio.Task[None]] = set()

    def ask(offset: int, limit: int) -> None:
        page = _Ahead(offset, limit)
        queue.append(page)
        tasks.add(asyncio.ensure_future(page.fetch(get)))

    try:
        ask(0, min(most(), FIRST_CHAT_PAGE))
        suspect: tuple[int, int] | None = None
        while True:
            current = queue.popleft()
            chats, rows, size = await current.result()
            if suspect is not None and rows:
                pages.capped(tool, *suspect, server)
            suspect = None
            maybe_cut = pages.uncertain(tool, rows, current.limit)
            if rows < full(current.limit) and not maybe_cut:
                yield chats  # pages asked for ahead lie past the end: cancelled below
                return
            if maybe_cut:
                # The pages asked ahead start where a full page would have ended: ask right after these rows.
                await cancel_and_wait(tasks)
                queue.clear()
                tasks.clear()
                suspect = (rows, current.limit)
                offset = current.offset + rows
                ask(offset, next_page_limit(offset, most(), rows, size, budget))
            else:
                while len(queue) <= ahead:
                    last = queue[-1] if queue else current
                    offset = last.offset + full(last.limit)
                    ask(offset, next_page_limit(offset, most(), rows, size, budget))
            yield chats
    finally:
        await cancel_and_wait(tasks)


_T = TypeVar("_T")


@contextlib.asynccontextmanager
async def closing_when_done(items: AsyncIterator[_T]) -> AsyncGenerator[AsyncIterator[_T], None]:
    """``items``, closed in this task when the block ends however it ends (``break``, an error, cancellation), so
    that nothing of it is left for the garbage collector to close in another task. Unlike ``contextlib.aclosing``,
    it accepts iterators that have no ``aclose`` (plugin profiles may return any async iterator)."""
    try:
        yield items
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()


async def cancel_and_wait(tasks: Collection[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until they have ended (their errors were handed over or no longer matter)."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


@dataclass(slots=True)
class ParseStats:
    """Counters of what a profile parsed; unparseable output is counted here and logged, never dropped silently."""

    calls: int = 0
    messages: int = 0
    chats: int = 0
    contacts: int = 0
    #: lines of a message listing that belong to no message (junk before the first header, garbled blocks)
    bad_lines: int = 0
    #: JSON blocks / rows we could not turn into records
    bad_rows: int = 0
    #: header-looking lines we kept inside a message's content after the ordering/query checks rejected them
    ambiguous_headers: int = 0
    #: messages dropped as repeats (context blocks, duplicated chats, page overlaps)
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class PageLengths:
    """What one server's answers have shown about a cap on page length it does not declare, per tool.

    A page shorter than the limit asked for is normally a chat's last; but a server that silently answers at most
    ``c`` rows (``min(limit, 100)`` in its code, no ``maximum`` in its schema) answers short too, and ending there
    would leave the older messages out while the chat is recorded as complete. Every page of ``n`` rows proves the
    cap is at least ``n``, so a short page is surely the last when the tool has answered a longer one before;
    otherwise (a page as long as the longest yet, of at least :attr:`PLAUSIBLE` rows) it is :meth:`uncertain`, and
    the walk asks once more past it: nothing new ends the chat, more rows reveal the cap (:meth:`capped`), and from
    then on pages of that length count as full (:meth:`full_length`). Each new longest page costs one call more,
    so a handful per run; an account walk's long pages settle it for the per-chat pages that follow.
    """

    #: No server caps its pages this low: shorter pages are ends (a rerun's one-message pages cost no extra call).
    PLAUSIBLE = 10

    def __init__(self) -> None:
        self._longest: dict[str, int] = {}
        self._cap: dict[str, int] = {}

    def full_length(self, tool: str, limit: int) -> int:
        """How many rows make a full page of ``tool`` when ``limit`` are asked for: the limit, or the cap found."""
        cap = self._cap.get(tool)
        return limit if cap is None else min(limit, cap)

    def note(self, tool: str, rows: int) -> None:
        """Record a page of ``rows`` rows of ``tool``: its cap, if any, is at least that."""
        if rows > self._longest.get(tool, 0):
            self._longest[tool] = rows

    def uncertain(self, tool: str, rows: int, limit: int) -> bool:
        """Whether a page of ``rows`` (asked: ``limit``) may have been cut short by a cap rather than be the last.
        Call it for every page (or :meth:`note` it): it records the page's length."""
        longest = self._longest.get(tool, 0)
        self.note(tool, rows)
        return self.PLAUSIBLE <= rows < self.full_length(tool, limit) and rows >= longest

    def capped(self, tool: str, rows: int, limit: int, server: str) -> None:
        """A page of ``rows`` was followed by more: ``tool`` answers at most ``rows`` rows."""
        if self._cap.get(tool) != rows:
            logger.warning(
                "%s: %s answered %d rows where %d were asked for, and more followed: reading it %d rows a page",
                server,
                tool,
                rows,
                limit,
                rows,
            )
        self._cap[tool] = rows


@runtime_checkable
class Profile(Protocol):
    """One server family's tool names, argument shapes, output format and paging."""

    name: str
    stats: ParseStats

    def is_idempotent(self, tool_name: str) -> bool:
        """True for read-only tools (safe to retry after a transient fault); ``send_*`` and unknown tools are not."""
        ...

    async def list_chats(
        self,
        call: ToolCaller,
        *,
        limit: int = 20,
        page: int = 0,
        include_last_message: bool = True,
        sort_by: str = "last_active",
        query: str | None = None,
    ) -> list[Chat]: ...

    def iter_chats(self, call: ToolCaller, *, page_size: int = 100, ahead: int = 0) -> AsyncIterator[Chat]: ...

    async def get_chat(self, call: ToolCaller, chat_jid: str) -> Chat | None: ...

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
    ) -> list[Message]: ...

    def iter_messages(
        self, call: ToolCaller, chat_jid: str, *, since: datetime | None = None, page_size: int = 500
    ) -> AsyncIterator[Message]: ...

    def iter_message_pages(
        self,
        call: ToolCaller,
        chat_jid: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[list[Message]]: ...

    def iter_all_messages(
        self,
        call: ToolCaller,
        *,
        since: datetime | None = None,
        page_size: int = 500,
        chats: list[Chat] | None = None,
        parallel: int = 1,
    ) -> AsyncIterator[Message]: ...

    async def search_contacts(self, call: ToolCaller, query: str) -> list[Contact]: ...

    async def authenticate(self, call: ToolCaller, phone_number: str, tool_names: set[str]) -> dict[str, Any]: ...

    async def whatsapp_status(self, call: ToolCaller, tool_names: set[str]) -> bool | str: ...
