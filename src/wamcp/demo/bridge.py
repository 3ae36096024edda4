"""Read (and, for the send tools, write) a WhatsApp bridge database the way lharries/whatsapp-mcp does.

Every query keeps the real server's SQL shape (same joins, filters, ``ORDER BY timestamp`` without tiebreak,
``LIMIT/OFFSET``), because same-second rows come back in whatever order SQLite's plan yields and clients must see the
same order as against the real server. Three things differ on purpose, for speed only: connections are kept open
(one per worker thread, reading through ``mmap``) instead of one per call; the sender-name lookup (exact JID, then the
first chat whose JID contains the number, in table order) is answered from an in-memory copy of ``chats`` rather than
a table scan per message line; and a chat listing paged by ``OFFSET`` is walked once and then served page by page
from the order it found (:class:`_ListingOrder`) instead of re-joining every skipped chat on every page.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..redact import get_logger

__all__ = ["Bridge", "BridgeChat", "BridgeContact", "BridgeMessage", "MessageContext", "db_timestamp"]

log = get_logger(__name__)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MEDIA_BY_EXT = {
    "jpg": "image",
    "jpeg": "image",
    "png": "image",
    "gif": "image",
    "webp": "image",
    "mp4": "video",
    "mov": "video",
    "avi": "video",
    "3gp": "video",
    "ogg": "audio",
    "opus": "audio",
    "mp3": "audio",
    "m4a": "audio",
    "wav": "audio",
}


@dataclass(slots=True)
class BridgeMessage:
    """A message row as the real server models it (field order = its JSON key order)."""

    timestamp: datetime
    sender: str
    content: str
    is_from_me: Any
    chat_jid: str
    id: str
    chat_name: str | None = None
    media_type: str | None = None


@dataclass(slots=True)
class BridgeChat:
    jid: str
    name: str | None
    last_message_time: datetime | None
    last_message: str | None = None
    last_sender: str | None = None
    last_is_from_me: Any = None


@dataclass(slots=True)
class BridgeContact:
    phone_number: str
    name: str | None
    jid: str


@dataclass(slots=True)
class MessageContext:
    message: BridgeMessage
    before: list[BridgeMessage]
    after: list[BridgeMessage]


class MessageNotFoundError(LookupError):
    """``get_message_context`` on an unknown id."""


def db_timestamp(value: datetime) -> str:
    """A Python datetime as the sqlite3 module's default adapter writes it (``isoformat(" ")``); filters compare it
    as text against the stored strings, exactly like the real server's bound parameters."""
    return value.isoformat(" ")


def _message(row: tuple[Any, ...]) -> BridgeMessage:
    return BridgeMessage(
        timestamp=datetime.fromisoformat(row[0]),
        sender=row[1],
        chat_name=row[2],
        content=row[3],
        is_from_me=row[4],
        chat_jid=row[5],
        id=row[6],
        media_type=row[7],
    )


def _chat(row: tuple[Any, ...]) -> BridgeChat:
    return BridgeChat(
        jid=row[0],
        name=row[1],
        last_message_time=datetime.fromisoformat(row[2]) if row[2] else None,
        last_message=row[3],
        last_sender=row[4],
        last_is_from_me=row[5],
    )


_DIGIT_RUN = re.compile(r"[0-9]+")
_MSG_COLUMNS = (
    "messages.timestamp, messages.sender, chats.name, messages.content, messages.is_from_me, chats.jid, messages.id,"
    " messages.media_type"
)
_CHAT_COLUMNS = (
    "chats.jid, chats.name, chats.last_message_time, messages.content AS last_message, messages.sender AS last_sender,"
    " messages.is_from_me AS last_is_from_me"
)


class _SenderNames:
    """Snapshot of ``chats`` (jid, name) in table order, answering the real server's two-step name lookup."""

    def __init__(self, rows: list[tuple[str, str | None]]) -> None:
        self._exact: dict[str, str | None] = {}
        for jid, name in rows:
            self._exact.setdefault(jid, name)
        self._names = [name for _, name in rows]
        self._starts: list[int] = []
        parts: list[str] = []
        pos = 0
        for jid, _ in rows:
            self._starts.append(pos)
            low = (jid or "").translate(_ASCII_LOWER)
            parts.append(low)
            pos += len(low) + 1
        self._blob = "\x00".join(parts)
        self._jids_low = parts
        # Answers per sender: a page shows few distinct senders, and the substring search costs ~1 ms on 100k chats.
        self._answers: dict[str, str] = {}
        # The first row holding each sender number of the messages table (built once, see _first_rows).
        self._first_row: dict[str, int] | None = None

    def lookup(self, sender: str, conn: sqlite3.Connection) -> str:
        found = self._answers.get(sender)
        if found is None:
            found = self._answers[sender] = self._lookup(sender, conn)
        return found

    def _lookup(self, sender: str, conn: sqlite3.Connection) -> str:
        if sender in self._exact:
            # Found by exact JID: a NULL/empty name means the raw sender, no second try.
            return self._exact[sender] or sender
        part = sender.split("@")[0] if "@" in sender else sender
        if any(ch in part for ch in "%_\x00"):
            # LIKE wildcards in the number: let SQLite match them itself.
            row = conn.execute("SELECT name FROM chats WHERE jid LIKE ? LIMIT 1", (f"%{part}%",)).fetchone()
            return row[0] if row and row[0] else sender
        if not self._names:
            return sender
        if part.isascii() and part.isdigit():
            first = self._first_rows(conn)
            if part in first:
                row = first[part]
                return sender if row < 0 else self._names[row] or sender
        at = self._blob.find(part.translate(_ASCII_LOWER))
        if at < 0:
            return sender
        name = self._names[bisect_right(self._starts, at) - 1]
        return name or sender

    def index_senders(self, conn: sqlite3.Connection) -> None:
        """Build the sender-number index now rather than on the first lookup that needs it."""
        self._first_rows(conn)

    def _first_rows(self, conn: sqlite3.Connection) -> dict[str, int]:
        """For every all-digit sender of the messages table, the first chat row whose JID holds it (-1: none).

        One pass over the JIDs' digit runs instead of a search of all JIDs per distinct sender: at 1M messages
        (116k senders, a 3 MB blob per search) those searches were most of the server's CPU. A digit-only needle
        can only match inside a run of digits, so the answers are the blob search's, found in another order.
        Senders not in this map (sent after the snapshot, or not all digits) still take the blob search.
        """
        if self._first_row is None:
            wanted = {
                part
                for (sender,) in conn.execute("SELECT DISTINCT sender FROM messages WHERE sender IS NOT NULL")
                for part in (str(sender).split("@")[0],)
                if part.isascii() and part.isdigit()
            }
            lengths = sorted({len(part) for part in wanted})
            first: dict[str, int] = {}
            for row, jid in enumerate(self._jids_low):
                for run in _DIGIT_RUN.findall(jid):
                    for size in lengths:
                        for at in range(len(run) - size + 1):
                            piece = run[at : at + size]
                            if piece in wanted and piece not in first:
                                first[piece] = row
            self._first_row = {part: first.get(part, -1) for part in wanted}  # -1: no JID holds it
        return self._first_row


# Read connections map the file instead of copying each page through read(): the walk across chats reads messages in
# time order, scattered over the table, so most rows are a page the cache does not hold.
_MMAP_BYTES = 1 << 30
# Listings whose order is kept (one per distinct query; a client pages through one at a time).
_LISTINGS_KEPT = 4


class _ListingOrder:
    """The order of one chat listing's rows, as ``(chats.rowid, messages.rowid)`` pairs (-1: no message joined).

    The real server pages ``list_chats`` by ``OFFSET``: every page re-walks and re-joins every chat it skips, so a
    client reading 116k chats in ~100 pages cost the demo server O(pages x chats) (25 of its 68 CPU seconds at 1M
    messages). The listing's query is run once without ``LIMIT`` with the same ``FROM``/``JOIN``/``WHERE``/``ORDER
    BY`` (so the same plan and the same order of ties, ``LIMIT``/``OFFSET`` only cut that stream), selecting only
    the rowids; each page then reads its rows by rowid. 16 bytes per chat; dropped when the database changes."""

    def __init__(self, conn: sqlite3.Connection, key_sql: str, params: list[Any], version: int) -> None:
        self.version = version
        self.chats = array("q")
        self.messages = array("q")
        for chat_row, message_row in conn.execute(key_sql, params):
            self.chats.append(chat_row)
            self.messages.append(-1 if message_row is None else message_row)

    def page(self, conn: sqlite3.Connection, offset: int, limit: int) -> list[tuple[Any, ...]]:
        pairs = list(zip(self.chats[offset : offset + limit], self.messages[offset : offset + limit], strict=True))
        if not pairs:
            return []
        return conn.execute(
            "SELECT chats.jid, chats.name, chats.last_message_time, messages.content, messages.sender,"
            " messages.is_from_me FROM json_each(?) AS k"
            " CROSS JOIN chats ON chats.rowid = json_extract(k.value, '$[0]')"
            " LEFT JOIN messages ON messages.rowid = json_extract(k.value, '$[1]') ORDER BY k.key",
            (json.dumps(pairs),),
        ).fetchall()


class Bridge:
    """The bridge database behind the demo server: read-only connections, a writable one only for send tools."""

    def __init__(self, path: Path, *, media_dir: Path, timezone: str = "UTC", seed: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"bridge database not found: {self.path}")
        self.media_dir = Path(media_dir)
        self.zone = ZoneInfo(timezone)
        self._seed = seed
        self._local = threading.local()
        # Each thread's read connection, by thread: one whose thread has ended is closed when the next one opens
        # (the server's worker threads come and go; left open, each dead thread's connection kept its cache and its
        # map of the file: 3.6 GB of RSS after a few hundred HTTP calls spread over 20 minutes, on a 36 MB database).
        self._all: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._names: _SenderNames | None = None
        self._names_lock = threading.Lock()
        self._closed = False
        self._names_version = -1
        self._watch: sqlite3.Connection | None = None  # sees other connections' commits (PRAGMA data_version)
        self._sent = 0
        # Chat listings: their own connection (its data_version tells when another connection wrote), under a lock.
        self._listing_lock = threading.Lock()
        self._listing_db: sqlite3.Connection | None = None
        self._listings: dict[tuple[str, tuple[Any, ...]], _ListingOrder] = {}

    # -- connections ------------------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open_readonly()
            self._local.conn = conn
            with self._lock:
                for thread, old in list(self._all.items()):
                    if not thread.is_alive():
                        del self._all[thread]
                        old.close()  # the thread that used it has ended: nothing can be using it now
                self._all[threading.current_thread()] = conn
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        return conn

    def close(self) -> None:
        """Close every connection opened by any thread."""
        with self._lock:
            conns, self._all = list(self._all.values()), {}
        self._closed = True  # a warm-up still to come must not open a connection nobody closes
        # A warm-up in progress holds the lookups' lock for up to a second or two on a big database: closing does
        # not wait for it (a server told to stop would exit that much later); the warm-up closes its connection
        # when it ends, or dies with the process (a daemon thread).
        if self._names_lock.acquire(blocking=False):
            try:
                if self._watch is not None:
                    conns.append(self._watch)
                    self._watch = None
            finally:
                self._names_lock.release()
        with self._listing_lock:
            if self._listing_db is not None:
                conns.append(self._listing_db)
            self._listing_db = None
            self._listings = {}
        for conn in conns:
            conn.close()
        self._local = threading.local()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (another thread may set it at any time)."""
        return self._closed

    def warm(self) -> None:
        """Build the sender-name lookup now (the server starts this on a thread when it starts): on a 1M-message
        database it takes about a second, which would otherwise land on the first call that shows a sender."""
        with self._names_lock:
            if self._closed:
                return
            names = self._fresh_names()
            assert self._watch is not None  # opened by _fresh_names
            names.index_senders(self._watch)
            if self.closed:  # closed meanwhile, without waiting for us: the connection is ours to close
                self._watch.close()
                self._watch = None

    def _refresh_names(self) -> None:
        """Drop the sender-name snapshot when another connection (a test, the send tools) committed since it was
        taken. Once per tool call, not per message: a PRAGMA costs a few microseconds."""
        with self._names_lock:
            self._fresh_names()

    def _fresh_names(self) -> _SenderNames:
        watch = self._watch
        if watch is None:
            watch = self._watch = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        (version,) = watch.execute("PRAGMA data_version").fetchone()
        names = self._names
        if names is None or version != self._names_version:
            rows = watch.execute("SELECT jid, name FROM chats ORDER BY rowid").fetchall()
            names = self._names = _SenderNames(rows)
            self._names_version = version
        return names

    def _sender_name(self, sender: str, conn: sqlite3.Connection) -> str:
        names = self._names
        if names is None:
            with self._names_lock:
                names = self._fresh_names()
        return names.lookup(sender, conn)

    def sender_label(self, message: BridgeMessage) -> str:
        """``Me`` for own messages, else the contact's name or the raw sender (the real server's rule)."""
        if message.is_from_me:
            return "Me"
        return self._sender_name(message.sender, self._conn())

    def counts(self) -> tuple[int, int]:
        conn = self._conn()
        chats = conn.execute("SELECT COUNT(*) FROM chats").fetchone()[0]
        messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        return int(chats), int(messages)

    # -- read tools -------------------------------------------------------------------------------------------
    def list_messages(
        self,
        *,
        after: datetime | None,
        before: datetime | None,
        sender_phone_number: str | None,
        chat_jid: str | None,
        query: str | None,
        limit: int,
        page: int,
    ) -> list[BridgeMessage]:
        """Newest first; ``chat_jid`` + ``before`` is keyset paging served by the (chat_jid, timestamp) index."""
        self._refresh_names()
        where: list[str] = []
        params: list[Any] = []
        if after:
            where.append("messages.timestamp > ?")
            params.append(db_timestamp(after))
        if before:
            where.append("messages.timestamp < ?")
            params.append(db_timestamp(before))
        if sender_phone_number:
            where.append("messages.sender = ?")
            params.append(sender_phone_number)
        if chat_jid:
            where.append("messages.chat_jid = ?")
            params.append(chat_jid)
        if query:
            where.append("LOWER(messages.content) LIKE LOWER(?)")
            params.append(f"%{query}%")
        sql = f"SELECT {_MSG_COLUMNS} FROM messages JOIN chats ON messages.chat_jid = chats.jid"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY messages.timestamp DESC LIMIT ? OFFSET ?"
        params.extend([limit, page * limit])
        return [_message(r) for r in self._conn().execute(sql, params).fetchall()]

    def message_context(self, message_id: str, before: int, after: int) -> MessageContext:
        self._refresh_names()
        conn = self._conn()
        row = conn.execute(
            f"SELECT {_MSG_COLUMNS}, messages.chat_jid FROM messages JOIN chats ON messages.chat_jid = chats.jid"
            " WHERE messages.id = ?",
            (message_id,),
        ).fetchone()
        if row is None:
            raise MessageNotFoundError(f"Message with ID {message_id} not found")
        target = _message(row)
        base = f"SELECT {_MSG_COLUMNS} FROM messages JOIN chats ON messages.chat_jid = chats.jid"
        older = conn.execute(
            base + " WHERE messages.chat_jid = ? AND messages.timestamp < ? ORDER BY messages.timestamp DESC LIMIT ?",
            (row[8], row[0], before),
        ).fetchall()
        newer = conn.execute(
            base + " WHERE messages.chat_jid = ? AND messages.timestamp > ? ORDER BY messages.timestamp ASC LIMIT ?",
            (row[8], row[0], after),
        ).fetchall()
        return MessageContext(target, [_message(r) for r in older], [_message(r) for r in newer])

    def list_chats(
        self, *, query: str | None, limit: int, page: int, include_last_message: bool, sort_by: str
    ) -> list[BridgeChat] | None:
        """``None`` reproduces the real server's SQL error when ``include_last_message`` is false."""
        body = " FROM chats"
        if include_last_message:
            body += (
                " LEFT JOIN messages ON chats.jid = messages.chat_jid AND chats.last_message_time = messages.timestamp"
            )
        params: list[Any] = []
        if query:
            body += " WHERE (LOWER(chats.name) LIKE LOWER(?) OR chats.jid LIKE ?)"
            params.extend([f"%{query}%", f"%{query}%"])
        body += " ORDER BY " + ("chats.last_message_time DESC" if sort_by == "last_active" else "chats.name")
        offset = page * limit
        try:
            if include_last_message and offset > 0 and limit > 0:
                rows = self._listing_page(body, params, offset, limit)
            else:
                sql = f"SELECT {_CHAT_COLUMNS}{body} LIMIT ? OFFSET ?"
                rows = self._conn().execute(sql, [*params, limit, offset]).fetchall()
        except sqlite3.Error as err:
            log.info("list_chats: database error (as the real server): %s", err)
            return None
        return [_chat(r) for r in rows]

    def _listing_page(self, body: str, params: list[Any], offset: int, limit: int) -> list[tuple[Any, ...]]:
        """Rows ``[offset, offset + limit)`` of ``SELECT … {body}`` from the listing's kept order (see
        :class:`_ListingOrder`), walked again when another connection has written since."""
        key = (body, tuple(params))
        with self._listing_lock:
            conn = self._listing_db
            if conn is None:
                conn = self._listing_db = self._open_readonly()
            (version,) = conn.execute("PRAGMA data_version").fetchone()
            order = self._listings.pop(key, None)
            if order is None or order.version != version:
                order = _ListingOrder(conn, f"SELECT chats.rowid, messages.rowid{body}", params, version)
            self._listings[key] = order  # most recently used last
            while len(self._listings) > _LISTINGS_KEPT:
                del self._listings[next(iter(self._listings))]
            return order.page(conn, offset, limit)

    def get_chat(self, chat_jid: str, include_last_message: bool) -> BridgeChat | None:
        sql = (
            "SELECT c.jid, c.name, c.last_message_time, m.content AS last_message, m.sender AS last_sender,"
            " m.is_from_me AS last_is_from_me FROM chats c"
        )
        if include_last_message:
            sql += " LEFT JOIN messages m ON c.jid = m.chat_jid AND c.last_message_time = m.timestamp"
        sql += " WHERE c.jid = ?"
        try:
            row = self._conn().execute(sql, (chat_jid,)).fetchone()
        except sqlite3.Error as err:
            log.info("get_chat: database error (as the real server): %s", err)
            return None
        return _chat(row) if row else None

    def direct_chat_by_contact(self, phone: str) -> BridgeChat | None:
        row = (
            self._conn()
            .execute(
                "SELECT c.jid, c.name, c.last_message_time, m.content, m.sender, m.is_from_me FROM chats c"
                " LEFT JOIN messages m ON c.jid = m.chat_jid AND c.last_message_time = m.timestamp"
                " WHERE c.jid LIKE ? AND c.jid NOT LIKE '%@g.us' LIMIT 1",
                (f"%{phone}%",),
            )
            .fetchone()
        )
        return _chat(row) if row else None

    def contact_chats(self, jid: str, limit: int, page: int) -> list[BridgeChat]:
        rows = (
            self._conn()
            .execute(
                "SELECT DISTINCT c.jid, c.name, c.last_message_time, m.content, m.sender, m.is_from_me"
                " FROM chats c JOIN messages m ON c.jid = m.chat_jid WHERE m.sender = ? OR c.jid = ?"
                " ORDER BY c.last_message_time DESC LIMIT ? OFFSET ?",
                (jid, jid, limit, page * limit),
            )
            .fetchall()
        )
        return [_chat(r) for r in rows]

    def search_contacts(self, query: str) -> list[BridgeContact]:
        pattern = f"%{query}%"
        rows = (
            self._conn()
            .execute(
                "SELECT DISTINCT jid, name FROM chats WHERE (LOWER(name) LIKE LOWER(?) OR LOWER(jid) LIKE LOWER(?))"
                " AND jid NOT LIKE '%@g.us' ORDER BY name, jid LIMIT 50",
                (pattern, pattern),
            )
            .fetchall()
        )
        return [BridgeContact(phone_number=r[0].split("@")[0], name=r[1], jid=r[0]) for r in rows]

    def last_interaction(self, jid: str) -> BridgeMessage | None:
        self._refresh_names()
        row = (
            self._conn()
            .execute(
                "SELECT m.timestamp, m.sender, c.name, m.content, m.is_from_me, c.jid, m.id, m.media_type"
                " FROM messages m JOIN chats c ON m.chat_jid = c.jid WHERE m.sender = ? OR c.jid = ?"
                " ORDER BY m.timestamp DESC LIMIT 1",
                (jid, jid),
            )
            .fetchone()
        )
        return _message(row) if row else None

    def media_filenames(self, messages: Sequence[BridgeMessage]) -> dict[tuple[str, str], str]:
        """``(id, chat_jid)`` → file name (``""`` when none is stored) of those of ``messages`` that carry media, as
        :meth:`media_row` tells them one by one, in one query per 500 messages instead of one each."""
        conn = self._conn()
        found: dict[tuple[str, str], str] = {}
        wanted = {(m.id, m.chat_jid) for m in messages}
        ids = sorted({m.id for m in messages})
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                f"SELECT id, chat_jid, media_type, filename FROM messages WHERE id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for id_, chat_jid, media_type, filename in rows:
                if media_type and (id_, chat_jid) in wanted:
                    found[id_, chat_jid] = str(filename or "")
        return found

    def media_row(self, message_id: str, chat_jid: str) -> tuple[str, str] | None:
        """(media_type, filename) of a media message, or None."""
        row = (
            self._conn()
            .execute("SELECT media_type, filename FROM messages WHERE id = ? AND chat_jid = ?", (message_id, chat_jid))
            .fetchone()
        )
        if row is None or not row[0]:
            return None
        return str(row[0]), str(row[1] or "")

    # -- writes -----------------------------------------------------------------------------------------------
    def business_phone(self) -> str:
        row = self._conn().execute("SELECT sender FROM messages WHERE is_from_me = 1 LIMIT 1").fetchone()
        return str(row[0]) if row and row[0] else "0"

    def store_sent(self, recipient: str, content: str, media_path: Path | None = None) -> str:
        """Record an outgoing message as the bridge would after sending it; returns the chat JID.

        The only place that opens the database for writing (a real bridge database is otherwise never touched).
        """
        chat_jid = recipient if "@" in recipient else f"{recipient}@s.whatsapp.net"
        now = datetime.now(self.zone).replace(microsecond=0)
        stamp = db_timestamp(now)
        with self._lock:
            self._sent += 1
            digest = hashlib.sha256(f"{self._seed}:{self._sent}:{time.time_ns()}".encode()).hexdigest()
        message_id = "3EB0" + digest[:16].upper()
        media_type, filename, length = "", "", 0
        if media_path is not None:
            media_type = _MEDIA_BY_EXT.get(media_path.suffix.lower().lstrip("."), "document")
            filename, length = media_path.name, media_path.stat().st_size
        sender = self.business_phone()
        conn = sqlite3.connect(self.path, timeout=5.0)
        try:
            with conn:
                conn.execute(
                    "INSERT OR IGNORE INTO chats (jid, name, last_message_time) VALUES (?, ?, ?)",
                    (chat_jid, chat_jid.split("@")[0], stamp),
                )
                conn.execute(
                    "INSERT INTO messages (id, chat_jid, sender, content, timestamp, is_from_me, media_type, filename,"
                    " url, media_key, file_sha256, file_enc_sha256, file_length) VALUES (?,?,?,?,?,1,?,?,'',NULL,"
                    "NULL,NULL,?)",
                    (message_id, chat_jid, sender, content, stamp, media_type, filename, length),
                )
                conn.execute("UPDATE chats SET last_message_time = ? WHERE jid = ?", (stamp, chat_jid))
        finally:
            conn.close()
        with self._lock:
            self._names = None
        return chat_jid
