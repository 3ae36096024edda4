"""The local SQLite store: chats, messages, per-chat sync state and runs, written so a kill at any moment is harmless.

The one thing to know: :meth:`Store.save_page` writes a page of messages **and** that chat's sync state (its cursor)
in one ``BEGIN IMMEDIATE`` transaction, and every upsert is idempotent, so a process killed mid-page loses at most that
page and a rerun converges to exactly the source. Bulk loads in another order than the keys (the account walk) go
through :meth:`Store.stage_messages` instead, which writes them in key order with their cursors last. Counts are
honest: a row that is stored again unchanged is neither new nor updated (the upsert's ``WHERE ... IS NOT ...`` turns
it into a no-op that SQLite does not count as a change).

Several WhatsApp accounts share one store: the account is part of every key. A :class:`Store` writes (and reads
cursors) for one account, the default one unless it comes from :meth:`Store.for_account`; reads of messages and chats
span every account unless ``accounts`` narrows them. Account *names* cross this API; the default account is stored
as ``''``, so a single-account store pays nothing per row for the column.

One connection per :class:`Store`, serialised by a lock so the async extractor may call it from worker threads;
the per-account stores of :meth:`Store.for_account` share it (and its lock), so concurrent extractors of several
accounts in one event loop take turns, and each page still commits with its cursor in one transaction. The
database is in WAL mode: readers (exports, reports, another process) never block the writer and see only committed
pages; ``busy_timeout`` makes a second writer wait its turn instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import re
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

from ..config import DEFAULT_ACCOUNT
from ..errors import StoreError
from ..redact import get_logger
from .runlock import hold_run_lock, run_lock_holder
from .schema import READABLE_FROM, SCHEMA_VERSION, migrate

__all__ = [
    "DEFAULT_ACCOUNT",
    "ChatRow",
    "MessageRow",
    "PageResult",
    "StagedMessages",
    "Store",
    "SyncState",
    "account_tag",
    "check_schema",
    "read_stored_time",
]

log = get_logger(__name__)

# Long enough for another process's page (a few ms) or a WAL checkpoint to finish; short enough that a truly stuck
# writer surfaces as an error instead of a hang.
BUSY_TIMEOUT_MS = 30_000
# A bigger page cache keeps the three B-trees of `messages` hot during a bulk load; 32 MiB fits the RSS budget.
CACHE_SIZE_KIB = 32 * 1024
PAGE_SIZE = 8192
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes a checkpointed WAL file is cut back to
_TABLES = frozenset({"chats", "messages", "sync_state", "runs"})


class MessageRow(NamedTuple):
    """One message as stored. Field order matches the ``messages`` columns so a row binds as SQL parameters as is."""

    chat_jid: str
    id: str
    ts_ms: int
    sender: str | None
    sender_name: str | None
    is_from_me: bool
    content: str
    media_type: str | None
    filename: str | None
    id_source: str  # "server" | "derived"


class ChatRow(NamedTuple):
    """One chat as stored."""

    jid: str
    name: str | None
    is_group: bool
    last_message_ts_ms: int | None


@dataclass(frozen=True)
class SyncState:
    """How far a chat is synced: newest and oldest ``ts_ms`` stored, whether the backfill is complete, the cursor."""

    chat_jid: str
    newest_ts_ms: int | None = None
    oldest_ts_ms: int | None = None
    backfill_complete: bool = False
    cursor: str | None = None
    last_run: int | None = None


@dataclass(frozen=True)
class PageResult:
    """What an upsert changed: rows that did not exist before, and existing rows whose content differed."""

    new: int
    updated: int


def account_tag(name: str) -> str:
    """How account ``name`` is stored: the default account as ``''``, every other one by its name."""
    return "" if name == DEFAULT_ACCOUNT else name


def _account_name(tag: str) -> str:
    return DEFAULT_ACCOUNT if tag == "" else tag


_MESSAGE_COLUMNS = "chat_jid, id, ts_ms, sender, sender_name, is_from_me, content, media_type, filename, id_source"
_MESSAGE_DATA_COLUMNS = (
    "ts_ms",
    "sender",
    "sender_name",
    "is_from_me",
    "content",
    "media_type",
    "filename",
    "id_source",
)

# Insert, or update only when some column differs: an unchanged row is a no-op, so `rowcount` counts new + changed.
_UPSERT_MESSAGE = f"""
INSERT INTO messages ({_MESSAGE_COLUMNS}, first_run, updated_run, account)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (chat_jid, account, id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _MESSAGE_DATA_COLUMNS)}, updated_run = excluded.updated_run
WHERE ({", ".join(f"messages.{c}" for c in _MESSAGE_DATA_COLUMNS)})
   IS NOT ({", ".join(f"excluded.{c}" for c in _MESSAGE_DATA_COLUMNS)})
"""

# A name the server omits (NULL) never erases one we know; the last message time only moves forward.
# From this many chats on, upsert_chats compares the listing with the table first and writes only what changed.
_CHAT_DIFF_MIN = 1_000
# Keys per `IN (...)` list when a few chats are read by key (well under SQLite's limit on bound parameters).
_IN_CHUNK = 500

_UPSERT_CHAT = """
INSERT INTO chats (jid, name, is_group, last_message_ts_ms, updated_run, account) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (jid, account) DO UPDATE SET
    name = coalesce(excluded.name, chats.name),
    is_group = excluded.is_group,
    last_message_ts_ms = max(coalesce(excluded.last_message_ts_ms, chats.last_message_ts_ms),
                             coalesce(chats.last_message_ts_ms, excluded.last_message_ts_ms)),
    updated_run = excluded.updated_run
WHERE (chats.name, chats.is_group, chats.last_message_ts_ms)
   IS NOT (coalesce(excluded.name, chats.name), excluded.is_group,
           max(coalesce(excluded.last_message_ts_ms, chats.last_message_ts_ms),
               coalesce(chats.last_message_ts_ms, excluded.last_message_ts_ms)))
"""

# save_page makes sure the chat exists (exports list chats from this table) and advances its last message time.
_TOUCH_CHAT = """
INSERT INTO chats (jid, is_group, last_message_ts_ms, updated_run, account) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (jid, account) DO UPDATE SET
    last_message_ts_ms = excluded.last_message_ts_ms, updated_run = excluded.updated_run
WHERE chats.last_message_ts_ms IS NULL OR chats.last_message_ts_ms < excluded.last_message_ts_ms
"""

_UPSERT_SYNC_STATE = """
INSERT INTO sync_state (chat_jid, newest_ts_ms, oldest_ts_ms, backfill_complete, cursor, last_run, updated_at, account)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (chat_jid, account) DO UPDATE SET
    newest_ts_ms = excluded.newest_ts_ms, oldest_ts_ms = excluded.oldest_ts_ms,
    backfill_complete = excluded.backfill_complete, cursor = excluded.cursor,
    last_run = excluded.last_run, updated_at = excluded.updated_at
"""

_SELECT_MESSAGES = f"SELECT {_MESSAGE_COLUMNS} FROM messages"


# Rows per statement in :func:`_execute_rows` (64 rows of the widest insert bind 832 values, far below SQLite's limit).
_ROWS_PER_STATEMENT = 64
_ONE_ROW = re.compile(r"VALUES\s*(\(\?(?:,\s*\?)*\))")


@functools.lru_cache(maxsize=32)
def _multi_row(sql: str, rows: int) -> str:
    """``sql``, a one-row ``INSERT … VALUES (?, …)``, for ``rows`` rows (``VALUES (?, …), (?, …), …``)."""
    match = _ONE_ROW.search(sql)
    if match is None:
        raise ValueError(f"not a one-row INSERT … VALUES: {sql[:80]!r}")
    return sql[: match.start(1)] + ", ".join([match.group(1)] * rows) + sql[match.end(1) :]


def _execute_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """``conn.executemany(sql, rows)``'s effect and row count, in statements of :data:`_ROWS_PER_STATEMENT` rows.

    Not ``executemany`` itself: the sqlite3 module lets go of the GIL around every row's step, and on the store's
    writer thread each row then has to take it back from the extractor's busy event loop; one multi-row statement
    steps once. The writer's own CPU is the same either way; 100k-message text extractions, alternated with and
    without this, ran 1-4 % faster end to end (bench/notes/extract.md, session 22). SQLite applies a statement's rows
    in order, as ``executemany`` does, upserts included (a key given twice: the last wins).
    """
    whole = len(rows) - len(rows) % _ROWS_PER_STATEMENT
    changed = 0
    if whole:
        many = _multi_row(sql, _ROWS_PER_STATEMENT)
        for start in range(0, whole, _ROWS_PER_STATEMENT):
            values = [value for row in rows[start : start + _ROWS_PER_STATEMENT] for value in row]
            changed += conn.execute(many, values).rowcount
    if whole < len(rows):
        changed += conn.executemany(sql, rows[whole:]).rowcount
    return changed


def _in_accounts(accounts: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """A ``WHERE`` condition (or ``1``) and its parameters selecting ``accounts`` (names); None selects all."""
    if accounts is None:
        return "1", ()
    return "account IN (SELECT value FROM json_each(?))", (json.dumps([account_tag(a) for a in accounts]),)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_stored_time(text: object) -> datetime | None:
    """A time the store wrote (``runs.started_at`` …, as ``…T12:00:00.000000Z``; any ISO form is read, naive as UTC),
    aware; None for nothing or for text that is not a time (not ours)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _message(row: tuple[Any, ...]) -> MessageRow:
    chat_jid, id_, ts_ms, sender, sender_name, is_from_me, content, media_type, filename, id_source = row
    return MessageRow(
        chat_jid, id_, ts_ms, sender, sender_name, bool(is_from_me), content, media_type, filename, id_source
    )


def _sync_params(state: SyncState, run_id: int | None, now: str, tag: str) -> tuple[Any, ...]:
    """The parameters of ``_UPSERT_SYNC_STATE`` for ``state``, written by run ``run_id`` (None: its own)."""
    return (
        state.chat_jid,
        state.newest_ts_ms,
        state.oldest_ts_ms,
        int(state.backfill_complete),
        state.cursor,
        run_id if run_id is not None else state.last_run,
        now,
        tag,
    )


def _sync_state(row: tuple[Any, ...]) -> SyncState:
    chat_jid, newest, oldest, complete, cursor, last_run = row
    return SyncState(chat_jid, newest, oldest, bool(complete), cursor, last_run)


def _is_corruption(err: sqlite3.Error) -> bool:
    text = str(err).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def readonly_uri(db: Path) -> str:
    """The URI to read the store at ``db``: ``mode=ro``, and ``immutable=1`` too when it lies in a directory we cannot
    write (a read-only mount, a backup) and has no write-ahead log to replay: a WAL-mode database read with
    ``mode=ro`` alone needs to create its ``-shm`` file there, and SQLite would answer "unable to open database
    file". Nothing can be writing to it then, which is what ``immutable`` promises."""
    uri = f"{db.resolve().as_uri()}?mode=ro"
    wal, shm = (db.with_name(db.name + suffix) for suffix in ("-wal", "-shm"))
    if not os.access(db.parent, os.W_OK) and not shm.exists() and not (wal.exists() and wal.stat().st_size > 0):
        return uri + "&immutable=1"
    return uri


def check_schema(db: Path, tables: set[str], version: int, *, readonly: bool) -> None:
    """Raise :class:`StoreError` unless a database with these ``tables`` and ``PRAGMA user_version`` is a wamcp
    store this wamcp can open (read-only: one at a readable schema version, since it cannot be migrated)."""
    if version == 0 and tables - {"sqlite_sequence"}:
        # e.g. the WhatsApp bridge's own messages.db, which has chats and messages tables too
        raise StoreError(
            f"{db} is an SQLite database but not a wamcp store (it has tables {', '.join(sorted(tables))})",
            hint="pass the path of a wamcp store (the --db of `wamcp extract`)"
            + ("" if readonly else " or of a new file"),
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {db} has schema version {version}, newer than this wamcp understands ({SCHEMA_VERSION})",
            hint="upgrade wamcp",
        )
    if readonly and version < READABLE_FROM:
        raise StoreError(
            f"store {db} has schema version {version}, older than this wamcp ({READABLE_FROM})",
            hint="open it once for writing (e.g. `wamcp extract`) to migrate it",
        )


class Store:
    """The wamcp SQLite store. Open with :meth:`open`; use as a context manager or call :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool, account: str = DEFAULT_ACCOUNT) -> None:
        """Wrap an open, migrated connection; use :meth:`Store.open` instead."""
        self._conn = conn
        self._path = path
        self._readonly = readonly
        self._lock = threading.RLock()
        self._closed = False
        self._owner: Store = self
        self._account = account
        self._tag = account_tag(account)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False) -> Store:
        """Open (creating and migrating unless ``readonly``) the store at ``path``.

        Raises :class:`StoreError` with a one-line reason when the file is not an SQLite database, is corrupt, was
        written by a newer wamcp, or cannot be created (missing or unwritable directory).
        """
        db = Path(path)
        if db.is_dir():
            raise StoreError(f"cannot open store {db}: it is a directory", hint="pass the path of a .db file")
        if readonly and not db.exists():
            raise StoreError(f"no store at {db}", hint="run `wamcp extract` first or pass the right --db")
        if not readonly and not db.parent.exists():
            raise StoreError(f"cannot create store {db}: directory {db.parent} does not exist")
        try:
            if readonly:
                conn = sqlite3.connect(readonly_uri(db), uri=True, isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open store {db}: {err}", hint="check the path and its permissions") from err
        try:
            cls._configure(conn, db, readonly=readonly)
        except BaseException:
            conn.close()
            raise
        log.debug("opened store %s (readonly=%s)", db, readonly)
        return cls(conn, db, readonly=readonly)

    @staticmethod
    def _configure(conn: sqlite3.Connection, db: Path, *, readonly: bool) -> None:
        """Set the pragmas, check that this is a wamcp store and migrate it; translate every failure."""
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Reading the schema is the first thing that touches the file: a non-database fails here.
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            check_schema(db, tables, version, readonly=readonly)
            if not tables and not readonly:
                # Only a brand-new file can choose its page size; 8 KiB pages cut bulk-load CPU by ~8 % (fewer,
                # fuller B-tree pages for the wide message rows). Must precede the switch to WAL.
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute(f"PRAGMA cache_size = -{CACHE_SIZE_KIB}")
            conn.execute("PRAGMA temp_store = MEMORY")
            if readonly:
                return
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if str(mode).lower() != "wal":
                log.warning("store %s: journal mode is %s, not WAL; readers may block the writer", db, mode)
            # In WAL mode NORMAL loses no committed transaction on a process crash (only on power loss), and keeps
            # every commit from paying an fsync.
            conn.execute("PRAGMA synchronous = NORMAL")
            # The account walk's commit writes all its rows in one transaction, so the WAL grows to their size; once
            # checkpointed it is cut back to this instead of keeping that size on disk until the store closes.
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            conn.execute("PRAGMA foreign_keys = OFF")
            migrate(conn)
        except StoreError:
            raise
        except sqlite3.DatabaseError as err:
            if _is_corruption(err):
                raise StoreError(
                    f"{db} is not a usable wamcp store: {err}",
                    hint="pass the right --db, or move this file away and extract again",
                ) from err
            raise StoreError(f"cannot open store {db}: {err}", hint="check the path and its permissions") from err

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def account(self) -> str:
        """The account this store writes for (and reads cursors of)."""
        return self._account

    def for_account(self, account: str) -> Store:
        """The same store (connection, lock, transactions) writing for ``account``; closing it closes nothing, the
        store it came from owns the connection."""
        view = Store(self._conn, self._path, readonly=self._readonly, account=account)
        view._lock = self._lock
        view._owner = self._owner
        return view

    def accounts(self) -> list[str]:
        """The names of the accounts that have chats in the store, sorted."""
        with self._guard("list accounts") as conn:
            tags = [tag for (tag,) in conn.execute("SELECT DISTINCT account FROM chats")]
        return sorted(_account_name(tag) for tag in tags)

    def close(self) -> None:
        """Close the connection (idempotent; a store from :meth:`for_account` leaves it to its owner)."""
        with self._lock:
            if self._owner is self and not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock and translate sqlite3 errors into a StoreError naming ``action`` and the file."""
        with self._lock:
            if self._owner._closed:
                raise StoreError(f"cannot {action}: store {self._path} is closed")
            try:
                yield self._conn
            except sqlite3.Error as err:
                hint = "the file may be corrupt; move it away and extract again" if _is_corruption(err) else None
                raise StoreError(f"cannot {action} in store {self._path}: {err}", hint=hint) from err

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to busy_timeout), so
        two writers queue instead of one failing when it upgrades a read lock."""
        if self._readonly:
            raise StoreError(f"cannot {action}: store {self._path} is open read-only")
        with self._guard(action) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def start_run(self, source: str) -> int:
        """Record the start of an extraction run against ``source``; return its id."""
        with self._write("start a run") as conn:
            cur = conn.execute(
                "INSERT INTO runs (started_at, status, source, account) VALUES (?, 'running', ?, ?)",
                (_now_iso(), source, self._tag),
            )
            run_id = cur.lastrowid
        assert run_id is not None
        return run_id

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        chats_total: int = 0,
        chats_done: int = 0,
        chats_failed: int = 0,
        messages_new: int = 0,
        messages_updated: int = 0,
        calls: int = 0,
        errors: list[str] | None = None,
        listing: str = "all",
    ) -> None:
        """Record how run ``run_id`` ended (``status`` e.g. ``complete``, ``partial``, ``failed``) and what it did;
        ``listing`` is ``all`` when it listed every chat, ``recent`` when only recently active ones."""
        with self._write("finish a run") as conn:
            cur = conn.execute(
                """UPDATE runs SET finished_at = ?, status = ?, chats_total = ?, chats_done = ?, chats_failed = ?,
                   messages_new = ?, messages_updated = ?, calls = ?, errors = ?, listing = ? WHERE id = ?""",
                (
                    _now_iso(),
                    status,
                    chats_total,
                    chats_done,
                    chats_failed,
                    messages_new,
                    messages_updated,
                    calls,
                    json.dumps(errors or [], ensure_ascii=False),
                    listing,
                    run_id,
                ),
            )
            if cur.rowcount != 1:
                raise StoreError(f"cannot finish run {run_id}: no such run in store {self._path}")

    def last_full_listing(self) -> datetime | None:
        """When this account's newest run that listed every chat started, counting runs that ended ``complete`` or
        ``partial`` (their listing was stored whole); None if there is none."""
        with self._guard("read the last full listing") as conn:
            (started,) = conn.execute(
                "SELECT max(started_at) FROM runs WHERE account = ? AND status IN ('complete', 'partial')"
                " AND coalesce(listing, 'all') = 'all'",
                (self._tag,),
            ).fetchone()
        return read_stored_time(started)  # None for text not ours: list every chat, which is always right

    def chats_behind(self) -> list[tuple[str, str | None, bool, int | None]]:
        """This account's chats, as last listed, that the store does not hold up to their listed activity: never
        synced (a ``--max-chats`` run listed them but left them out; their sync failed), a history not read to its
        end, or newer activity listed than read. ``(jid, name, is_group, last_message_ts_ms)``, by JID."""
        with self._guard("read the chats behind") as conn:
            rows = conn.execute(
                "SELECT c.jid, c.name, c.is_group, c.last_message_ts_ms FROM chats c"
                " LEFT JOIN sync_state s ON s.account = c.account AND s.chat_jid = c.jid"
                " WHERE c.account = ? AND (s.chat_jid IS NULL OR NOT s.backfill_complete"
                " OR c.last_message_ts_ms > coalesce(s.newest_ts_ms, -9223372036854775808))"
                " ORDER BY c.jid",
                (self._tag,),
            ).fetchall()
        return [(jid, name, bool(is_group), last) for jid, name, is_group, last in rows]

    def newest_chat_activity(self) -> int | None:
        """The newest last-message time (``ts_ms``) of this account's chats as last listed, or None."""
        with self._guard("read the newest chat activity") as conn:
            (newest,) = conn.execute(
                "SELECT max(last_message_ts_ms) FROM chats WHERE account = ?", (self._tag,)
            ).fetchone()
        return int(newest) if newest is not None else None

    def run_lock(self) -> contextlib.AbstractContextManager[None]:
        """Hold this account's run lock in this store (:mod:`.runlock`) for a ``with`` block: one extraction at a
        time per account and store. Raises :class:`~wamcp.errors.StoreBusyError` at once while another process
        holds it."""
        if self._readonly:
            raise StoreError(f"store {self._path} is open read-only", hint="open it writable to extract into it")
        return hold_run_lock(self._path, self._tag)

    def run_holder(self) -> dict[str, Any] | None:
        """Who is extracting this account into this store now (``{"pid", "since"}``, from :meth:`run_lock`'s file),
        or None when nobody is (or it cannot be told: Windows)."""
        return run_lock_holder(self._path, self._tag)

    def mark_interrupted_runs(self) -> int:
        """Mark this account's runs left ``running`` by a killed process as ``interrupted``; return how many.

        Call it at the start of a run, before :meth:`start_run`, holding :meth:`run_lock` (so that no other process
        is extracting this account into this store; other accounts' runs, maybe in progress beside it, are left
        alone).
        """
        with self._write("mark interrupted runs") as conn:
            cur = conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status = 'running' AND account = ?",
                (_now_iso(), self._tag),
            )
            count = cur.rowcount
        if count:
            log.info("marked %d run(s) left running by a killed process as interrupted", count)
        return count

    def runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, as dicts of the ``runs`` columns (``errors`` decoded to a list)."""
        with self._guard("list runs") as conn:
            cur = conn.execute("SELECT * FROM runs ORDER BY id")
            names = [d[0] for d in cur.description]
            result = [dict(zip(names, row, strict=True)) for row in cur]
        for run in result:
            run["errors"] = json.loads(run["errors"]) if run["errors"] else []
            run["account"] = _account_name(run["account"])
        return result

    def run(self, run_id: int) -> dict[str, Any] | None:
        """Run ``run_id`` as :meth:`runs` gives it, or None when there is no such run."""
        return next((run for run in self.runs() if run["id"] == run_id), None)

    def upsert_chats(self, rows: Iterable[ChatRow], *, run_id: int | None = None) -> PageResult:
        """Insert new chats and update changed ones (a missing name never erases a known one) in one transaction."""
        unique = {row.jid: row for row in rows}
        if not unique:
            return PageResult(0, 0)
        tag = self._tag
        with self._write("save chats") as conn:
            if len(unique) < _CHAT_DIFF_MIN:
                existing = self._count_existing(conn, "chats", "jid", list(unique), tag)
                todo = list(unique.values())
            else:
                existing, todo = self._changed_chats(conn, unique, tag)
            changed = _execute_rows(
                conn, _UPSERT_CHAT, [(r.jid, r.name, bool(r.is_group), r.last_message_ts_ms, run_id, tag) for r in todo]
            )
        new = len(unique) - existing
        return PageResult(new=new, updated=changed - new)

    @staticmethod
    def _changed_chats(conn: sqlite3.Connection, unique: dict[str, ChatRow], tag: str) -> tuple[int, list[ChatRow]]:
        """(how many of ``unique`` exist, the rows the upsert would change): a merge of the sorted listing with the
        chats table in key order, so a nightly listing of 100k+ unchanged chats writes nothing (an upsert per
        chat cost ~3 s at 116k chats) and holds no second copy of the table in memory. Same rules as the upsert:
        a missing name keeps the stored one, the last message time only moves forward."""
        existing = 0
        todo: list[ChatRow] = []
        keys = sorted(unique)
        stored = conn.execute(
            "SELECT jid, name, is_group, last_message_ts_ms FROM chats WHERE account = ? ORDER BY jid", (tag,)
        )
        current = stored.fetchone()
        for jid in keys:
            while current is not None and current[0] < jid:
                current = stored.fetchone()
            row = unique[jid]
            if current is None or current[0] != jid:
                todo.append(row)
                continue
            existing += 1
            _, old_name, old_group, old_last = current
            name = row.name if row.name is not None else old_name
            times = [t for t in (row.last_message_ts_ms, old_last) if t is not None]
            last = max(times) if times else None
            if (name, int(bool(row.is_group)), last) != (old_name, old_group, old_last):
                todo.append(row)
        stored.close()
        return existing, todo

    def chats(self, *, accounts: Sequence[str] | None = None) -> list[ChatRow]:
        """Every chat of ``accounts`` (default: all), ordered by JID (then account)."""
        return [row for _account, row in self.account_chats(accounts=accounts)]

    def account_chats(self, *, accounts: Sequence[str] | None = None) -> list[tuple[str, ChatRow]]:
        """``(account, chat)`` of every chat of ``accounts`` (default: all), ordered by JID, then account."""
        where, params = _in_accounts(accounts)
        with self._guard("list chats") as conn:
            rows = conn.execute(
                f"SELECT account, jid, name, is_group, last_message_ts_ms FROM chats WHERE {where}"
                " ORDER BY jid, account",
                params,
            ).fetchall()
        return [(_account_name(tag), ChatRow(jid, name, bool(group), last)) for tag, jid, name, group, last in rows]

    @staticmethod
    def _count_existing(
        conn: sqlite3.Connection, table: str, column: str, keys: list[str], tag: str, chat: str = ""
    ) -> int:
        """How many of ``keys`` already exist: one indexed query with the keys passed as a single JSON array."""
        where = f"account = ? AND {column} IN (SELECT value FROM json_each(?))"
        if table == "messages":
            (count,) = conn.execute(
                f"SELECT count(*) FROM messages WHERE chat_jid = ? AND {where}", (chat, tag, json.dumps(keys))
            ).fetchone()
        else:
            (count,) = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", (tag, json.dumps(keys))).fetchone()
        return int(count)

    def save_page(
        self, chat_jid: str, rows: Sequence[MessageRow], *, state: SyncState, run_id: int | None = None
    ) -> PageResult:
        """Upsert one page of ``chat_jid``'s messages and write its sync ``state`` in ONE transaction.

        Idempotent: saving the same page again changes nothing and returns ``PageResult(0, 0)``. A row whose fields
        differ from the stored one is updated and counted in ``updated``. Within a page the last row for an id wins.
        """
        return self.save_pages([(chat_jid, rows, state)], run_id=run_id)[0]

    def save_pages(
        self, pages: Sequence[tuple[str, Sequence[MessageRow], SyncState]], *, run_id: int | None = None
    ) -> list[PageResult]:
        """:meth:`save_page` for several pages (of one or many chats) in ONE transaction, in the order given.

        Each page still lands together with its own cursor: all of them commit, or none. A commit costs more than
        a small page's rows (WAL frames for every B-tree page it touched), so the extractor groups the one-page
        chats of a busy account this way.
        """
        now = _now_iso()
        prepared = [self._prepare_page(chat_jid, rows, state, run_id, now) for chat_jid, rows, state in pages]
        if not prepared:
            return []
        what = f"save a page of chat {pages[0][0]}" if len(pages) == 1 else f"save {len(pages)} pages"
        results: list[PageResult] = []
        with self._write(what) as conn:
            # A chat without a cursor has no stored messages (every write of its messages writes its cursor in the
            # same transaction), so its first page here needs no count of what exists: on a first extraction that
            # is almost every page (1M messages read chat by chat: ~90k count queries, ~2 s of the writer's CPU).
            (known,) = conn.execute(
                "SELECT json_group_array(chat_jid) FROM sync_state"
                " WHERE account = ? AND chat_jid IN (SELECT value FROM json_each(?))",
                (self._tag, json.dumps([page[0] for page in prepared])),
            ).fetchone()
            counted = set(json.loads(known))
            # The rows of pages whose chat has nothing stored yet are all new: they go in one executemany, and every
            # page's chat touch and cursor in one each after them. Three calls per page cost the writer more than
            # the rows: 65,621 rows of 7,526 one-page chats took 0.59-0.64 s of CPU, 0.37-0.46 s this way.
            fresh: list[tuple[Any, ...]] = []
            touches: list[tuple[Any, ...]] = []
            for chat_jid, unique, newest, _cursor in prepared:
                new = changed = 0
                if unique:
                    if chat_jid in counted:
                        if fresh:  # this chat's earlier page in this group goes first
                            _execute_rows(conn, _UPSERT_MESSAGE, fresh)
                            fresh = []
                        existing = self._count_existing(conn, "messages", "id", list(unique), self._tag, chat_jid)
                        changed = _execute_rows(conn, _UPSERT_MESSAGE, list(unique.values()))
                        new = len(unique) - existing
                    else:
                        fresh.extend(unique.values())
                        new = changed = len(unique)
                    touches.append((chat_jid, int(chat_jid.endswith("@g.us")), newest, run_id, self._tag))
                counted.add(chat_jid)  # its next page in this group may repeat rows of this one
                results.append(PageResult(new=new, updated=changed - new))
            if fresh:
                _execute_rows(conn, _UPSERT_MESSAGE, fresh)
            _execute_rows(conn, _TOUCH_CHAT, touches)
            _execute_rows(conn, _UPSERT_SYNC_STATE, [page[3] for page in prepared])  # in page order: the last wins
        return results

    def stage_messages(self) -> StagedMessages:
        """A scratch table for a bulk load whose rows come in another order than the store's keys (the account walk
        reads across all chats, newest first); see :class:`StagedMessages`. Use it as a context manager."""
        with self._guard("stage messages") as conn:
            # Scratch tables live in a temporary file, not in memory (an account's messages would not fit the RSS
            # budget); the file is gone when the connection closes, however the process ends. Setting temp_store
            # drops every temporary table, so it is only set once (staged tables of other accounts may exist).
            if conn.execute("PRAGMA temp_store").fetchone()[0] != _TEMP_STORE_FILE:
                conn.execute(f"PRAGMA temp_store = {_TEMP_STORE_FILE}")
            # Builds with SQLITE_SECURE_DELETE (Debian's, for one) zero every page a dropped or rewritten table frees:
            # for scratch rows that vanish with the connection that is pure cost (up to ~1 s of a 1M-row commit).
            conn.execute("PRAGMA temp.secure_delete = OFF")
            name = f"wamcp_staged_{next(_STAGE_NUMBERS)}"
            conn.execute(f"CREATE TEMP TABLE {name} ({_MESSAGE_COLUMNS})")
        return StagedMessages(self, name)

    def _prepare_page(
        self, chat_jid: str, rows: Sequence[MessageRow], state: SyncState, run_id: int | None, now: str
    ) -> tuple[str, dict[str, tuple[Any, ...]], int | None, tuple[Any, ...]]:
        if state.chat_jid != chat_jid:
            raise ValueError(f"sync state is for chat {state.chat_jid!r}, not {chat_jid!r}")
        tag = self._tag
        unique: dict[str, tuple[Any, ...]] = {}
        newest: int | None = None
        for row in rows:
            if row.chat_jid != chat_jid:
                raise ValueError(f"message {row.id!r} belongs to chat {row.chat_jid!r}, not {chat_jid!r}")
            unique[row.id] = (*row, run_id, run_id, tag)
            if newest is None or row.ts_ms > newest:
                newest = row.ts_ms
        return chat_jid, unique, newest, _sync_params(state, run_id, now, tag)

    def count_chats(self, *, accounts: Sequence[str] | None = None) -> int:
        """How many chats of ``accounts`` (default: all) are stored: :meth:`chats` without loading them."""
        where, params = _in_accounts(accounts)
        with self._guard("count chats") as conn:
            (count,) = conn.execute(f"SELECT count(*) FROM chats WHERE {where}", params).fetchone()
        return int(count)

    def count_messages(self, chat_jid: str | None = None, *, accounts: Sequence[str] | None = None) -> int:
        """How many messages are stored, in one chat (JID) or in all, of ``accounts`` (default: all)."""
        where, params = _in_accounts(accounts)
        if chat_jid is not None:
            where, params = f"{where} AND chat_jid = ?", (*params, chat_jid)
        with self._guard("count messages") as conn:
            (count,) = conn.execute(f"SELECT count(*) FROM messages WHERE {where}", params).fetchone()
        return int(count)

    def iter_messages(
        self,
        *,
        chat_jids: Sequence[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        batch_size: int = 5000,
        accounts: Sequence[str] | None = None,
    ) -> Iterator[MessageRow]:
        """Yield messages ordered by ``(account, chat_jid, ts_ms, id)``, ``since_ms <= ts_ms < until_ms``, in
        constant memory (the rows of :meth:`iter_account_messages` without their account)."""
        for _account, row in self.iter_account_messages(
            chat_jids=chat_jids, since_ms=since_ms, until_ms=until_ms, batch_size=batch_size, accounts=accounts
        ):
            yield row

    def iter_account_messages(
        self,
        *,
        chat_jids: Sequence[str] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        batch_size: int = 5000,
        accounts: Sequence[str] | None = None,
    ) -> Iterator[tuple[str, MessageRow]]:
        """Yield ``(account, message)`` ordered by ``(account, chat_jid, ts_ms, id)``, ``since_ms <= ts_ms <
        until_ms``, of ``accounts`` and ``chat_jids`` (default: all), in constant memory.

        Reads in batches of ``batch_size`` by keyset (seeking past the last row returned), each batch a short read
        under the lock, so the store stays usable between batches and memory never grows with the chat. Not a
        snapshot: a message written while iterating is seen if it sorts after the current position.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        low = since_ms if since_ms is not None else -(2**63)
        high = until_ms if until_ms is not None else 2**63 - 1
        where, params = _in_accounts(accounts)
        if chat_jids is not None:
            where, params = (
                f"{where} AND chat_jid IN (SELECT value FROM json_each(?))",
                (*params, json.dumps(chat_jids)),
            )
        with self._guard("list chats with messages") as conn:
            chats = conn.execute(
                f"SELECT DISTINCT account, chat_jid FROM messages WHERE {where} ORDER BY account, chat_jid", params
            ).fetchall()
        # Seek to (ts_ms, id) > the last row: `ts_ms >= ?` lets the (account, chat_jid, ts_ms) index jump there.
        first_query = f"{_SELECT_MESSAGES} WHERE account = ? AND chat_jid = ? AND ts_ms >= ? AND ts_ms < ?"
        query = f"{first_query} AND (ts_ms, id) > (?, ?) ORDER BY ts_ms, id LIMIT ?"
        first_query += " ORDER BY ts_ms, id LIMIT ?"
        for tag, jid in chats:
            account = _account_name(tag)
            after: tuple[int, str] = (low, "")
            first = True
            while True:
                with self._guard(f"read messages of chat {jid}") as conn:
                    if first:
                        # The first batch includes ts_ms == low with any id, even the empty string.
                        batch = conn.execute(first_query, (tag, jid, low, high, batch_size)).fetchall()
                    else:
                        batch = conn.execute(
                            query, (tag, jid, after[0], high, after[0], after[1], batch_size)
                        ).fetchall()
                first = False
                for row in batch:
                    yield account, _message(row)
                if len(batch) < batch_size:
                    break
                after = (batch[-1][2], batch[-1][1])

    def message_keys(self) -> set[tuple[str, str]]:
        """Every stored ``(chat_jid, id)`` of every account: for tests and checks, holds all keys in memory."""
        with self._guard("list message keys") as conn:
            return {(chat, id_) for chat, id_ in conn.execute("SELECT chat_jid, id FROM messages")}

    def sync_state(self, chat_jid: str) -> SyncState | None:
        """The sync state of one of this account's chats, or None if it was never synced."""
        with self._guard(f"read the sync state of chat {chat_jid}") as conn:
            row = conn.execute(
                "SELECT chat_jid, newest_ts_ms, oldest_ts_ms, backfill_complete, cursor, last_run"
                " FROM sync_state WHERE account = ? AND chat_jid = ?",
                (self._tag, chat_jid),
            ).fetchone()
        return None if row is None else _sync_state(row)

    def sync_states(self, jids: Collection[str] | None = None) -> dict[str, SyncState]:
        """The sync state of every chat of this account ever synced (or of those of ``jids`` that were), by JID."""
        select = (
            "SELECT chat_jid, newest_ts_ms, oldest_ts_ms, backfill_complete, cursor, last_run FROM sync_state"
            " WHERE account = ?"
        )
        with self._guard("read sync states") as conn:
            if jids is None:
                rows = conn.execute(select, (self._tag,)).fetchall()
            else:
                wanted = list(jids)
                rows = []
                for start in range(0, len(wanted), _IN_CHUNK):
                    chunk = wanted[start : start + _IN_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows += conn.execute(f"{select} AND chat_jid IN ({marks})", (self._tag, *chunk)).fetchall()
        return {row[0]: _sync_state(row) for row in rows}

    def integrity_check(self) -> str:
        """Run ``PRAGMA integrity_check`` and return its verdict (``"ok"`` when the file is sound)."""
        with self._guard("check integrity") as conn:
            rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
        return "; ".join(str(r[0]) for r in rows)


_TEMP_STORE_FILE = 1  # PRAGMA temp_store: 0 default, 1 file, 2 memory
_STAGE_NUMBERS = itertools.count(1)


class StagedMessages:
    """Messages of any chats held in a temporary table until :meth:`commit` writes them in the store's key order.

    Written as they arrive, rows in time order land on a random page of the messages B-tree each: once the table
    outgrows the page cache, every batch rewrites most of its pages (at 1M messages the store cost 20x its 100k
    cost). Staged, they are appended, and the commit's one statement reads them sorted by key: each page of the
    table is written about once, and the cost grows with the rows. Until :meth:`commit` the store's tables do not
    change; closing without committing (or a killed process) discards the staged rows.
    """

    def __init__(self, store: Store, table: str) -> None:
        self._store = store
        self._table = table
        self._newest: dict[str, int] = {}  # per chat: the newest staged row, for the chat's last-message time
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def chats(self) -> int:
        """How many chats the staged rows belong to."""
        return len(self._newest)

    def add(self, rows: Sequence[MessageRow]) -> None:
        """Stage ``rows`` (appended; for a key staged twice the last row wins, see :meth:`commit`)."""
        newest = self._newest
        for row in rows:
            if newest.get(row.chat_jid, -(2**63)) < row.ts_ms:
                newest[row.chat_jid] = row.ts_ms
        with self._store._guard("stage messages") as conn:
            conn.execute("BEGIN")
            try:
                _execute_rows(conn, f"INSERT INTO temp.{self._table} VALUES ({', '.join('?' * 10)})", rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def commit(self, states: Iterable[SyncState] = (), *, run_id: int | None = None) -> PageResult:
        """Write the staged rows in key order in one transaction, together with the cursors ``states`` and the
        chats' last-message times; return what changed. Closes the stage.

        Rows of one key are applied in the order they were staged, so the last one wins. ``new`` counts the keys
        the store did not hold; ``updated`` counts row changes, which is the stored rows that changed when each key
        is staged once (the account walk reads each message once); a key staged twice with different contents
        counts each change.
        """
        store = self._store
        tag = store._tag
        # One INSERT ... SELECT ... ORDER BY: SQLite sorts the staged rows and feeds them to the upsert in key
        # order. Sorting into a second table first and copying it over in rowid ranges (one transaction each)
        # wrote and read every row once more: 1M rows committed in 6.0-6.7 s instead of 8.3-8.9 s (the server waits).
        # The price: one write transaction as long as the commit (~5 s at 1M) and a WAL as large as the rows, see
        # docs/store.md. (``WHERE true`` keeps SQLite from reading ``ON CONFLICT`` as a join's ``ON``.)
        upsert = _UPSERT_MESSAGE.replace(
            f"VALUES ({', '.join('?' * 13)})",
            f"SELECT {_MESSAGE_COLUMNS}, ?, ?, ? FROM temp.{self._table} WHERE true ORDER BY chat_jid, id, rowid",
        )
        # New rows: the table's rows after minus before, in the same write transaction (no other writer between):
        # SQLite counts them from the table's pages (milliseconds at 1M); probing the store for each staged key in
        # the staged (time) order took 2.5 s at 1M.
        count = "SELECT count(*) FROM messages"
        now = _now_iso()
        sync_params = sorted((_sync_params(state, run_id, now, tag) for state in states), key=lambda p: p[0])
        touches = [(jid, int(jid.endswith("@g.us")), self._newest[jid], run_id, tag) for jid in sorted(self._newest)]
        with store._write("save staged messages") as conn:
            new = updated = 0
            if touches:
                (before,) = conn.execute(count).fetchone()
                # SQLite's sorter takes as much memory as the page cache may: both at once would double the
                # store's share of the RSS (1M rows: +68 MB instead of +36 MB); half each costs no time.
                (cache,) = conn.execute("PRAGMA main.cache_size").fetchone()
                conn.execute(f"PRAGMA main.cache_size = {int(cache) // 2}")
                try:
                    changed = conn.execute(upsert, (run_id, run_id, tag)).rowcount
                finally:
                    conn.execute(f"PRAGMA main.cache_size = {int(cache)}")
                (after,) = conn.execute(count).fetchone()
                new = int(after) - int(before)
                updated = changed - new
            _execute_rows(conn, _TOUCH_CHAT, touches)
            _execute_rows(conn, _UPSERT_SYNC_STATE, sync_params)
        self.close()
        return PageResult(new=new, updated=updated)

    def close(self) -> None:
        """Drop the staged rows (idempotent)."""
        if self._closed:
            return
        self._closed = True
        store = self._store
        with store._lock:
            if store._owner._closed:
                return  # the temporary tables went with the connection
            with contextlib.suppress(sqlite3.Error):  # scratch only: nothing is lost if it lingers until close
                store._conn.execute(f"DROP TABLE IF EXISTS temp.{self._table}")
