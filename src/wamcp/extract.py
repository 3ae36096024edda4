"""The extraction job: list chats, then per chat fetch pages of messages and commit each page with its cursor.

The one invariant a reader must know: for every chat, the store holds every message between
``sync_state.oldest_ts_ms`` and ``sync_state.newest_ts_ms``. ``newest`` only moves forward once a catch-up pass
has reached the previous ``newest``; ``oldest`` moves back page by page during the backfill. Pages are upserted
idempotently and commit together with the cursor, so a process killed at any moment loses at most the page in
flight, and the next run converges to exactly the server's messages: none lost, none duplicated.

Per chat and run:

1. *cheap check*: when the chat listing says the chat's last message is not newer than ``newest`` and the
   backfill is complete, the chat costs no call at all;
2. *catch up*: fetch messages after ``newest`` (from its second on, since servers filter by whole seconds),
   newest first, page by page; ``newest`` advances when the pass is done;
3. *backfill*: fetch messages before ``oldest`` (the whole oldest second again) back to the start of the
   history window (``max_history``), page by page, moving ``oldest`` back with each page.

*Account walk* (first run or ``--full`` of a whole account): instead of one walk per chat, one keyset walk across
all chats (``iter_all_messages``, 500 messages a call instead of one call per ~10-message chat) for the chats the
profile can attribute in it (lharries: chats with a unique name; structured servers that list across chats: all),
read as a few concurrent walks over disjoint spans of time so that client and server work at once.
Its rows arrive in time order across chats, so they are staged (``Store.stage_messages``) and written in the store's
key order once the walk has finished, in one transaction together with the walked chats' cursors. A walk that is
killed or fails leaves the store as it was: the next run (or the per-chat workers) read those chats again.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import anyio
import anyio.to_thread

from .errors import MCPAuthenticationError, MCPClientError, MCPConnectionError, StoreError
from .redact import get_logger, redact
from .store.sqlite import ChatRow, MessageRow, Store, SyncState
from .whatsapp.jid import normalize_jid
from .whatsapp.models import Chat, Message
from .whatsapp.profiles.base import accepts_keyword

__all__ = ["ExtractOptions", "ExtractProgress", "ExtractSummary", "Extractor", "MessageSource"]

logger = get_logger(__name__)


class MessageSource(Protocol):
    """What the extractor needs from the WhatsApp layer (``WhatsAppMCPClient`` provides it)."""

    def iter_chats(self) -> AsyncIterator[Chat]: ...

    def iter_message_pages(
        self,
        chat_jid: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[Sequence[Message]]: ...


@dataclass(frozen=True)
class ExtractOptions:
    """What to extract. ``max_history`` is in hours (the seed's ``--max-history``); ``None`` means everything."""

    max_chats: int | None = None
    max_history_hours: float | None = None
    full: bool = False
    chats: tuple[str, ...] = ()
    concurrency: int = 16
    page_size: int = 500
    source: str = ""
    account_walk: bool = True
    #: Seconds between runs that list every chat; the runs in between list only the chats active since shortly
    #: before the newest activity the store knows (0: every run lists every chat). ``refresh_chats`` forces it.
    chat_listing_interval: float = 3600.0
    refresh_chats: bool = False


@dataclass
class ExtractSummary:
    """What a run did; ``status`` is ``complete``, ``partial`` (some chats failed) or ``failed``."""

    run_id: int
    status: str = "running"
    chats_total: int = 0
    chats_done: int = 0
    chats_skipped: int = 0
    messages_new: int = 0
    messages_updated: int = 0
    pages: int = 0
    duration: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)
    #: ``all`` when the run listed every chat, ``recent`` when it stopped at the chats active before the last run.
    listing: str = "all"

    @property
    def messages_per_second(self) -> float:
        fetched = self.messages_new + self.messages_updated
        return fetched / self.duration if self.duration > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "chats_total": self.chats_total,
            "chats_done": self.chats_done,
            "chats_skipped": self.chats_skipped,
            "chats_failed": len(self.failed),
            "messages_new": self.messages_new,
            "messages_updated": self.messages_updated,
            "pages": self.pages,
            "duration": round(self.duration, 3),
            "listing": self.listing,
            "errors": {jid: msg for jid, msg in self.failed.items()},
        }


class ExtractProgress(Protocol):
    """Receives progress events (the CLI draws rich bars from them; tests can record them)."""

    def chats_planned(self, total: int) -> None: ...
    def chat_done(self, jid: str, new: int) -> None: ...  # ``new``: the messages read for the chat this run
    # ``count``: messages new or changed in the store; the account walk reports the messages it read as it stages
    # them (they are written when it ends), so a long first run shows its pace.
    def messages_saved(self, count: int) -> None: ...


class _NoProgress:
    def chats_planned(self, total: int) -> None:
        pass

    def chat_done(self, jid: str, new: int) -> None:
        pass

    def messages_saved(self, count: int) -> None:
        pass


_FATAL = (MCPConnectionError, MCPAuthenticationError)


# Below this many chats the per-chat workers are as fast and the walk is not worth its all-or-nothing cursor.
_ACCOUNT_WALK_MIN_CHATS = 64
# Chats per list_chats call.
_CHAT_PAGE = 10_000
# A listing of recent chats stops at the first chat whose last activity is this much older than the newest activity
# the store knows (a message delivered late, e.g. from a phone that was offline, carries its sending time) ...
_RECENT_MARGIN = 3600.0
# ... and only once this many chats have come in order of activity, newest first: proof that the server sorts the
# listing as asked (``sort_by=last_active``); a server that ignores it gets read to the end.
_RECENT_ORDER_PROOF = 100
# Concurrent spans of the account walk (bounded by --concurrency): one call in flight while the previous answer is
# parsed and the next one queued; more only adds pages waiting in memory.
_ACCOUNT_WALK_SPANS = 3
# The account walk asks for this many times ``page_size`` messages a call. Its answers are full whatever the chats'
# sizes, and much of a call's cost is per call, not per message (1M structured messages over streamable HTTP with SSE
# answers, alternating runs: 500 a call 42.7-55.0 s, 2,000 a call 38.1-40.3 s). Per-chat reads keep ``page_size``:
# most chats hold fewer messages than that.
_ACCOUNT_WALK_PAGE_FACTOR = 4
# Rows buffered across chats before they are staged. Small: rows that outlive many allocations reach the garbage
# collector's oldest generation, and each of its full collections walks every live object (at 1M messages, 116k
# chats' worth: 20,000-row batches cost 2.3 s of collections, 2,000-row batches 0.9 s).
_ACCOUNT_WALK_BATCH = 2_000
# Group commit of the per-chat workers' pages: a transaction per ~10-message chat cost more than its rows (WAL
# frames of every B-tree page touched). Pages wait until this many rows or pages are queued, or this long.
_GROUP_ROWS = 2_000
_GROUP_PAGES = 200
_GROUP_SECONDS = 0.25


# Allocations between the garbage collector's youngest-generation passes during a run (CPython's default: 700).
# A run keeps 100k+ chats and pages of thousands of rows alive across many allocations, so with the default each
# page's rows were promoted to the oldest generation and its full passes walked everything alive: 16 full passes,
# 2.4 s of a 7 s rerun's CPU at 1M messages. The rows hold no reference cycles worth collecting sooner.
_GC_YOUNG_THRESHOLD = 100_000


# Runs in progress in this process (accounts are extracted concurrently) and the thresholds before the first one.
_gc_runs = 0
_gc_before: tuple[int, int, int] | None = None
_gc_lock = threading.Lock()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect the youngest generation after ``_GC_YOUNG_THRESHOLD`` allocations instead of CPython's 700 while
    runs are in progress; the thresholds from before the first of them come back when the last one ends."""
    global _gc_runs, _gc_before
    with _gc_lock:
        if _gc_runs == 0:
            _gc_before = gc.get_threshold()
            gc.set_threshold(max(_gc_before[0], _GC_YOUNG_THRESHOLD), *_gc_before[1:])
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0 and _gc_before is not None:
                gc.set_threshold(*_gc_before)
                _gc_before = None


class _PlannedChat(NamedTuple):
    """What a run keeps of each listed chat: a few fields instead of the whole :class:`Chat` (with its last
    message's text), so 100k+ chats stay small in memory."""

    jid: str
    name: str | None
    is_group: bool
    last_ms: int | None


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def _row(chat_jid: str, message: Message) -> MessageRow:
    """A store row for ``message``: ``sender`` is the sender's phone number (when the server says who it is),
    ``sender_name`` the label the server shows; the business's own messages carry neither (``is_from_me``)."""
    sender_jid = message.sender_jid
    sender = sender_jid.split("@", 1)[0] if sender_jid else None
    from_me = bool(message.is_from_me)
    name = None if from_me else message.sender
    if sender is None and name is not None and name.isdigit():
        sender = name
    # Positional: this runs once per message, and keywords cost a NamedTuple noticeably more.
    return MessageRow(
        message.chat_jid or chat_jid,
        message.id,
        _to_ms(message.timestamp),
        sender,
        name,
        from_me,
        message.content,
        message.media_type or None,
        None,
        message.id_source,
    )


class Extractor:
    """Runs one extraction from a :class:`MessageSource` into a :class:`Store`."""

    def __init__(
        self,
        source: MessageSource,
        store: Store,
        options: ExtractOptions | None = None,
        *,
        progress: ExtractProgress | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._store = store
        self._options = options or ExtractOptions()
        self._progress = progress or _NoProgress()
        self._now = now
        # Every chat's cursor, read once per run (one query, not one per chat): each chat is synced once per run,
        # by this process only, so the value read up front is the current one when the chat's turn comes.
        self._states: dict[str, SyncState] = {}
        # Pages read but not yet committed (each with its cursor), written in order by _flush.
        self._queued: list[tuple[str, list[MessageRow], SyncState]] = []
        self._queued_rows = 0
        self._queued_since = 0.0
        self._flush_lock = anyio.Lock()
        # Chats a failed group commit held pages of (the error's text): their later pages are never committed, as
        # each page's cursor also covers the rolled-back pages before it, and the run counts them failed.
        self._broken: dict[str, str] = {}
        # The chats the listing found, before --max-chats kept the most recent of them.
        self._known: set[str] = set()
        #: The ``runs`` row this extractor started (None until it has started one): what a caller interrupted
        #: mid-run reads back, rather than guessing which run of the store was its own.
        self.run_id: int | None = None

    async def run(self) -> ExtractSummary:
        """Extract every selected chat; never raises for a single chat's failure (see ``summary.failed``).

        What ends the run is raised after the run is recorded as ``failed``: connection and authentication
        failures that persist past the client's own reconnection, a chat listing the server fails, a store that
        cannot be written. A run in which every selected chat failed ends ``failed`` too, without raising.
        """
        with _fewer_collections():
            return await self._run()

    async def _run(self) -> ExtractSummary:
        with self._store.run_lock():  # one run per account and store: a second one fails at once (StoreBusyError)
            return await self._locked_run()

    async def _locked_run(self) -> ExtractSummary:
        store = self._store
        store.mark_interrupted_runs()
        summary = ExtractSummary(run_id=store.start_run(self._options.source))
        self.run_id = summary.run_id
        started = time.perf_counter()
        fatal: BaseException | None = None
        try:
            chats = await self._plan(summary)
            # Counts with separators: a bare 7+ digit number would be masked as a phone number in the log.
            logger.debug(
                "listed %s chats (%s) in %.1f s", f"{len(chats):,}", summary.listing, time.perf_counter() - started
            )
            summary.chats_total = len(chats)
            self._progress.chats_planned(len(chats))
            store.upsert_chats((ChatRow(c.jid, c.name, c.is_group, c.last_ms) for c in chats), run_id=summary.run_id)
            known = self._known | {c.jid for c in chats}
            for jid in {normalize_jid(jid) for jid in self._options.chats} - known:
                summary.failed[jid] = "no such chat in the server's chat list"
            # A listing of the recent chats needs their cursors only (116k chats' cursors: ~0.5 s of a 1 s rerun).
            self._states = store.sync_states([c.jid for c in chats] if summary.listing == "recent" else None)
            try:
                await self._sync_all(chats, summary)
            finally:
                with anyio.CancelScope(shield=True):
                    await self._flush(summary)  # what was read is valid whatever ends the run: keep it
            self._count_broken(summary)
        except MCPClientError as err:
            # A chat's own failure is handled by its worker; what ends up here ends the run (the server lost or
            # refusing us, the chat listing failing, the store unwritable): recorded as failed, not interrupted.
            fatal = err
        except BaseException:
            summary.duration = time.perf_counter() - started
            self._finish(summary, "interrupted")
            raise
        summary.duration = time.perf_counter() - started
        if fatal is not None:
            self._finish(summary, "failed", extra_error=str(fatal))
            raise fatal
        if summary.failed and summary.chats_total and not summary.chats_done:
            # Every selected chat failed (say a server that refuses each call): nothing is partial about that.
            self._finish(summary, "failed")
        else:
            self._finish(summary, "partial" if summary.failed else "complete")
        return summary

    def _finish(self, summary: ExtractSummary, status: str, *, extra_error: str | None = None) -> None:
        summary.status = status
        errors = [f"{jid}: {msg}" for jid, msg in summary.failed.items()]
        if extra_error:
            errors.append(redact(extra_error))
        self._store.finish_run(
            summary.run_id,
            status=status,
            chats_total=summary.chats_total,
            chats_done=summary.chats_done,
            chats_failed=len(summary.failed),
            messages_new=summary.messages_new,
            messages_updated=summary.messages_updated,
            calls=summary.pages,
            errors=errors or None,
            listing=summary.listing,
        )

    def _iter_chats(self, by_activity: bool) -> AsyncIterator[Chat]:
        # Large listing pages: lharries pages chats by OFFSET (and joins each skipped chat's last message), so a
        # rerun's listing of 116k chats costs ~60 calls instead of 116, and its server about half the CPU: the
        # listing is all a rerun pays for. The profile keeps each answer under its byte budget (1 MiB: the SDK
        # holds several copies of an answer), growing its pages toward this cap.
        listing = self._source.iter_chats
        order = {"by_activity": True} if by_activity and accepts_keyword(listing, "by_activity") else {}
        if not accepts_keyword(listing, "page_size"):
            return self._source.iter_chats(**order)
        # The next page is asked for while this one is parsed, so the server builds it meanwhile; not when the
        # listing will likely stop within its first page (a page asked for ahead is work the server does anyway,
        # and the demo's first deep page walks the whole listing order).
        ahead = {"pages_ahead": 1} if accepts_keyword(listing, "pages_ahead") and not by_activity else {}
        return self._source.iter_chats(page_size=_CHAT_PAGE, **ahead, **order)  # type: ignore[call-arg]

    def _recent_cutoff(self) -> int | None:
        """Where a listing may stop (``ts_ms``), or None to list every chat.

        A run lists every chat (renames of idle chats, late messages to them) when asked to (``--full``,
        ``--refresh-chats``, interval 0), when it selects chats (``--chat``, ``--max-chats``) and when the last run
        that did is older than ``chat_listing_interval``. The runs in between list chats newest first and stop
        :data:`_RECENT_MARGIN` before the newest activity the store knows: a rerun with nothing new costs one call
        (100 chats) instead of a listing of every chat (116k chats: ~60 calls and ~10 s of server CPU).
        """
        options = self._options
        if options.full or options.refresh_chats or options.chats or options.max_chats is not None:
            return None
        if options.chat_listing_interval <= 0:
            return None
        last = self._store.last_full_listing()
        if last is None or (self._now() - last).total_seconds() > options.chat_listing_interval:
            return None
        newest = self._store.newest_chat_activity()
        return None if newest is None else newest - round(_RECENT_MARGIN * 1000)

    async def _plan(self, summary: ExtractSummary) -> list[_PlannedChat]:
        wanted = {normalize_jid(jid) for jid in self._options.chats}
        if wanted and self._options.max_chats is None:
            found = await self._find(wanted)
            if found is not None:
                summary.listing = "selected"
                return found
        cutoff = self._recent_cutoff()
        floor = -(2**63)
        listing = self._iter_chats(by_activity=cutoff is not None)
        chats: list[_PlannedChat] = []
        try:
            previous = 2**63  # the last activity of the chat listed before, newest first
            async for c in listing:
                last_ms = _to_ms(c.last_message_time) if c.last_message_time else None
                if cutoff is not None:
                    key = last_ms if last_ms is not None else floor
                    if key > previous:
                        cutoff = None  # not in order of activity: this server's listing must be read whole
                    previous = key
                if not wanted or c.jid in wanted:
                    chats.append(_PlannedChat(c.jid, c.name, bool(c.is_group), last_ms))
                if cutoff is not None and len(chats) >= _RECENT_ORDER_PROOF and previous < cutoff:
                    summary.listing = "recent"
                    break
        finally:
            # Closed here, in this task, however we leave: pages asked for ahead are the listing's own tasks.
            close = getattr(listing, "aclose", None)
            if close is not None:
                await close()
        if summary.listing == "recent":
            # The chats an earlier run listed but did not bring up to date (left out by --max-chats, failed, cut
            # short) are not in a listing of the recent ones: they come too, or a "complete" run would leave them.
            listed = {c.jid for c in chats}
            behind = [_PlannedChat(*row) for row in self._store.chats_behind() if row[0] not in listed]
            if behind:
                logger.info("%s chats listed earlier are behind; syncing them too", f"{len(behind):,}")
                chats += behind
        # Most recently active first, so --max-chats keeps the chats that matter now.
        chats.sort(key=lambda c: c.last_ms if c.last_ms is not None else floor, reverse=True)
        self._known = {c.jid for c in chats}  # before --max-chats: a named chat it leaves out still exists
        if self._options.max_chats is not None:
            chats = chats[: self._options.max_chats]
        if wanted or self._options.max_chats is not None:
            summary.listing = "selected"  # every chat listed, only some kept: not a listing later runs can lean on
        return chats

    async def _find(self, wanted: set[str]) -> list[_PlannedChat] | None:
        """``--chat``: the named chats asked for one by one where the source can (116k chats listed to find one
        took 5.5 s), most recently active first; None where it cannot (then the listing finds them)."""
        find = getattr(self._source, "find_chats", None)
        if find is None:
            return None
        found = await find(sorted(wanted))
        if found is None:
            return None
        chats = [
            _PlannedChat(c.jid, c.name, bool(c.is_group), _to_ms(c.last_message_time) if c.last_message_time else None)
            for c in found
            if c.jid in wanted
        ]
        floor = -(2**63)
        chats.sort(key=lambda c: c.last_ms if c.last_ms is not None else floor, reverse=True)
        return chats

    async def _sync_all(self, chats: list[_PlannedChat], summary: ExtractSummary) -> None:
        walkable = self._account_walk(chats, summary)
        if walkable:
            try:
                walked = await self._walk_account(chats, walkable, summary)
            except _FATAL:
                raise
            except MCPClientError as err:
                # Nothing is claimed by a cursor until the walk ends, so per-chat walks can take over as is.
                logger.warning("the account-wide walk failed (%s); reading chat by chat", err)
            else:
                chats = [c for c in chats if c.jid not in walked]
        # A fixed pool of workers pulls chats from one queue: memory stays flat with 100k+ chats (one task per
        # chat would hold a coroutine per chat for the whole run). The queue is in JID order, the leading column of
        # the messages, messages_chat_ts and sync_state keys: each group commit then writes B-tree pages next to the
        # previous one's instead of pages anywhere in the file (1M messages saved chat by chat: 28.6 s of CPU in
        # activity order, 10.9 s in JID order, once the table outgrew the page cache).
        queue = iter(sorted(chats, key=lambda c: c.jid))
        fatal: list[BaseException] = []

        async def worker() -> None:
            for chat in queue:
                if fatal:
                    return
                try:
                    new, skipped = await self._sync_chat(chat, summary)
                except _FATAL as err:
                    fatal.append(err)
                    summary.failed[chat.jid] = redact(str(err))
                    return
                except MCPClientError as err:
                    logger.warning("chat %s failed: %s", chat.jid, err)
                    summary.failed[chat.jid] = redact(str(err))
                    continue
                summary.chats_done += 1
                summary.chats_skipped += int(skipped)
                self._progress.chat_done(chat.jid, new)

        try:
            async with anyio.create_task_group() as group:
                for _ in range(max(1, min(self._options.concurrency, len(chats)))):
                    group.start_soon(worker)
        except BaseExceptionGroup as group_error:
            # Per-chat MCP errors are handled in `worker`; what escapes is unexpected. Surface the first one as
            # itself rather than as a group, so callers and the CLI can tell what happened.
            raise group_error.exceptions[0] from None
        if fatal:
            raise fatal[0]

    def _account_walk(self, chats: list[_PlannedChat], summary: ExtractSummary) -> set[str]:
        """The walk reads every listed chat, so it pays only when every listed chat needs its whole history: a
        new store or ``--full``, with no ``--chat``/``--max-chats`` selection, on a server whose profile can
        attribute a cross-chat listing to chats (``cross_chat_jids``). Returns the chats the walk would read (none:
        no walk). Only after a listing of every chat: lharries' lines name chats, and a name is only known to be
        unique against all of them."""
        options = self._options
        # --chat/--max-chats runs list as "selected", between full listings as "recent": neither walks
        if not options.account_walk or summary.listing != "all":
            return set()
        if len(chats) < _ACCOUNT_WALK_MIN_CHATS or not hasattr(self._source, "iter_all_messages"):
            return set()
        states = self._states
        synced = (
            state is not None and state.newest_ts_ms is not None for state in map(states.get, (c.jid for c in chats))
        )
        if not options.full and any(synced):
            return set()
        walkable = self._walkable(self._listing(chats))
        if not walkable:
            logger.debug(
                "no walk across chats: the profile reads none of the %s chats that way (docs/extract.md)",
                f"{len(chats):,}",
            )
        return walkable

    async def _walk_account(self, chats: list[_PlannedChat], walked: set[str], summary: ExtractSummary) -> set[str]:
        """Walk across all chats for the chats the profile can attribute in a cross-chat listing; return the JIDs
        it completed.

        lharries' cross-chat listing names chats, not JIDs, so only chats with a unique name can be read this way;
        its client walks the others one by one afterwards. The first message of such a chat shows that the
        cross-chat part is over: the walk stops there, and the concurrent per-chat workers take the remaining chats.
        """
        began = time.perf_counter()
        states = self._states
        run_id = summary.run_id
        listing = self._listing(chats)
        bounds: dict[str, tuple[int, int]] = {}
        buffer: list[MessageRow] = []
        await self._flush(summary)  # nothing should be queued yet; if it were, it commits first
        walk_all = self._source.iter_all_messages  # type: ignore[attr-defined]
        # Concurrent spans keep client and server busy at once (a single keyset walk makes them take turns).
        extra = {"parallel": self._walk_parallel()} if accepts_keyword(walk_all, "parallel") else {}
        page_size = self._options.page_size * _ACCOUNT_WALK_PAGE_FACTOR
        walk = walk_all(self._window_start(), page_size=page_size, chats=listing, **extra)
        # The walk reads across chats in time order: its rows are staged and written in key order once it has
        # finished (see Store.stage_messages), together with the walked chats' cursors, so no cursor ever claims a
        # row that is not stored. A walk that fails or is interrupted leaves the store as it was.
        with self._store.stage_messages() as staged:
            try:
                async for message in walk:
                    jid = message.chat_jid
                    if jid is None:
                        continue
                    if jid not in walked:
                        break  # the client moved on to chats it must read one by one
                    row = _row(jid, message)
                    ts_ms = row.ts_ms
                    seen = bounds.get(jid)
                    if seen is None:
                        bounds[jid] = (ts_ms, ts_ms)
                    elif ts_ms < seen[0] or ts_ms > seen[1]:
                        bounds[jid] = (min(seen[0], ts_ms), max(seen[1], ts_ms))
                    buffer.append(row)
                    if len(buffer) >= _ACCOUNT_WALK_BATCH:
                        staged.add(buffer)
                        self._progress.messages_saved(len(buffer))  # read and staged; stored when the walk ends
                        buffer.clear()
            finally:
                await walk.aclose()
            staged.add(buffer)
            self._progress.messages_saved(len(buffer))
            logger.debug("the account walk read %s chats in %.1f s", f"{len(bounds):,}", time.perf_counter() - began)
            # The cross-chat walk is complete: the walked chats' cursors may now cover what it read.
            final = [self._walked_state(jid, states.get(jid), bounds.get(jid), run_id) for jid in walked]
            chats_with_rows = staged.chats
            result = staged.commit(final, run_id=run_id)
            logger.debug("stored the walk's %s new messages in %.1f s", f"{result.new:,}", time.perf_counter() - began)
        if chats_with_rows:
            # One page per chat the walk stored rows for, as the per-chat path counts a chat's single page.
            summary.pages += chats_with_rows
            summary.messages_new += result.new
            summary.messages_updated += result.updated
        for jid in walked:
            summary.chats_done += 1
            self._progress.chat_done(jid, 0)
        return walked

    def _walk_parallel(self) -> int:
        return max(1, min(self._options.concurrency, _ACCOUNT_WALK_SPANS))

    @staticmethod
    def _listing(chats: list[_PlannedChat]) -> list[Chat]:
        return [
            Chat(jid=c.jid, name=c.name, last_message_time=_from_ms(c.last_ms) if c.last_ms is not None else None)
            for c in chats
        ]

    def _walkable(self, listing: list[Chat]) -> set[str]:
        """The chats the source's cross-chat walk reads (the profile says: lharries only chats with a unique name,
        structured servers every chat when they list across chats); empty when it has no such walk."""
        profile = getattr(self._source, "profile", None)
        select = getattr(profile, "cross_chat_jids", None)
        if select is None or not hasattr(self._source, "iter_all_messages"):
            return set()
        return set(select(listing))

    @staticmethod
    def _walked_state(jid: str, before: SyncState | None, seen: tuple[int, int] | None, run_id: int) -> SyncState:
        """The cursor after a complete account walk: what it held before, extended by what the walk read."""
        oldest = [v for v in (before.oldest_ts_ms if before else None, seen[0] if seen else None) if v is not None]
        newest = [v for v in (before.newest_ts_ms if before else None, seen[1] if seen else None) if v is not None]
        return SyncState(jid, max(newest) if newest else None, min(oldest) if oldest else None, True, None, run_id)

    def _window_start(self) -> datetime | None:
        hours = self._options.max_history_hours
        return None if hours is None else self._now() - timedelta(hours=hours)

    async def _sync_chat(self, chat: _PlannedChat, summary: ExtractSummary) -> tuple[int, bool]:
        """Bring one chat up to date; return (messages read, skipped without a call)."""
        jid = chat.jid
        state = None if self._options.full else self._states.get(jid)
        window = self._window_start()
        last = chat.last_ms
        if (
            state is not None
            and state.backfill_complete
            and state.newest_ts_ms is not None
            and last is not None
            and last <= state.newest_ts_ms
        ):
            return 0, True
        if state is None or state.newest_ts_ms is None:
            if window is not None and last is not None and last < _to_ms(window):
                # Quiet since before the --max-history window: nothing to read, so no call (on lharries most chats
                # are read one by one: a 24 h window over 11k chats was 11k calls that each found nothing).
                return 0, True
            state = SyncState(jid, None, None, False, None, None)
            read, state = await self._backfill(jid, state, before=None, window=window, summary=summary)
            return read, False
        # Catch up: everything after the newest second we hold. The cursor keeps the old `newest` until the pass
        # is complete, so a crash mid-pass re-runs it instead of leaving a hole.
        after = _from_ms(state.newest_ts_ms - state.newest_ts_ms % 1000) - timedelta(seconds=1)
        newest = state.newest_ts_ms
        # Each page is held until the next one arrives, so the last page commits together with the advanced
        # `newest` (one page per single-page pass instead of two); earlier pages keep the old cursor.
        read = 0
        held: list[MessageRow] = []
        async for page in self._source.iter_message_pages(jid, after=after, page_size=self._options.page_size):
            rows = [_row(jid, m) for m in page]
            if not rows:
                continue
            if held:
                read += await self._save(jid, held, state, summary)
            newest = max(newest, max(r.ts_ms for r in rows))
            held = rows
        state = SyncState(jid, newest, state.oldest_ts_ms, state.backfill_complete, None, summary.run_id)
        read += await self._save(jid, held, state, summary)
        if not state.backfill_complete:
            before = _from_ms(state.oldest_ts_ms) if state.oldest_ts_ms is not None else None
            more, state = await self._backfill(jid, state, before=before, window=window, summary=summary)
            read += more
        return read, False

    async def _backfill(
        self,
        jid: str,
        state: SyncState,
        *,
        before: datetime | None,
        window: datetime | None,
        summary: ExtractSummary,
    ) -> tuple[int, SyncState]:
        if before is not None:
            # Servers filter with strict `<` on whole seconds: ask for the oldest second again, whole.
            before = before.replace(microsecond=0) + timedelta(seconds=1)
        newest = state.newest_ts_ms
        oldest = state.oldest_ts_ms
        # A page is saved when the next one arrives (with the cursor covering it and nothing more), and the last
        # one together with `backfill_complete`: a single-page chat costs one page write, not two.
        read = 0
        held: list[MessageRow] = []
        async for page in self._source.iter_message_pages(
            jid, after=window, before=before, page_size=self._options.page_size
        ):
            rows = [_row(jid, m) for m in page]
            if not rows:
                continue
            if held:
                state = SyncState(jid, newest, oldest, False, None, summary.run_id)
                read += await self._save(jid, held, state, summary)
            page_newest = max(r.ts_ms for r in rows)
            page_oldest = min(r.ts_ms for r in rows)
            newest = page_newest if newest is None else max(newest, page_newest)
            oldest = page_oldest if oldest is None else min(oldest, page_oldest)
            held = rows
        state = SyncState(jid, newest, oldest, True, None, summary.run_id)
        read += await self._save(jid, held, state, summary)
        return read, state

    async def _save(self, jid: str, rows: list[MessageRow], state: SyncState, summary: ExtractSummary) -> int:
        """Queue ``rows`` (possibly none) with ``state`` for the next group commit; return how many rows.

        Pages commit in the order they were queued, each in the same transaction as its cursor, so what the
        store holds after a crash is always a prefix of this run's pages: never a cursor without its rows.
        """
        if jid in self._broken:
            raise StoreError(self._broken[jid])
        if not self._queued:
            self._queued_since = time.monotonic()
        self._queued.append((jid, rows, state))
        self._queued_rows += len(rows)
        if (
            self._queued_rows >= _GROUP_ROWS
            or len(self._queued) >= _GROUP_PAGES
            or time.monotonic() - self._queued_since >= _GROUP_SECONDS
        ):
            await self._flush(summary)
        return len(rows)

    async def _flush(self, summary: ExtractSummary) -> None:
        """Commit every queued page with its cursor in one transaction; count the pages that held rows.

        The transaction runs on a worker thread (SQLite releases the GIL), so the other workers keep reading while
        it commits: in the event loop, a commit of ~200 chats' pages scattered over a large store stopped every
        request for its duration. Flushes still commit one after another, in the order their pages were queued
        (the lock is taken before the first await, and it is fair), so a chat's pages never land out of order.
        """
        queued, self._queued, self._queued_rows = self._queued, [], 0
        if not queued:
            return
        async with self._flush_lock:
            # Pages queued while an earlier group failed: their chats' cursors would claim the lost pages too.
            queued = [entry for entry in queued if entry[0] not in self._broken]
            if not queued:
                return
            save = functools.partial(self._store.save_pages, queued, run_id=summary.run_id)
            try:
                results = await anyio.to_thread.run_sync(save)
            except MCPClientError as err:
                # The whole group rolled back: every chat with a page in it failed, not only the one whose page
                # made the group full (it gets this error; the others are counted by _count_broken).
                for jid, _rows, _state in queued:
                    self._broken.setdefault(jid, redact(str(err)))
                raise
        for (_jid, rows, _state), result in zip(queued, results, strict=True):
            if rows:
                self._count(summary, result.new, result.updated)

    def _count_broken(self, summary: ExtractSummary) -> None:
        """Count the chats whose pages a failed group commit lost as failed (the next run reads them again)."""
        for jid, message in self._broken.items():
            if jid not in summary.failed:
                summary.failed[jid] = message
                summary.chats_done -= 1

    def _count(self, summary: ExtractSummary, new: int, updated: int) -> None:
        summary.pages += 1
        summary.messages_new += new
        summary.messages_updated += updated
        self._progress.messages_saved(new + updated)
