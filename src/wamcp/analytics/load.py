"""Load the SQLite store into an in-memory DuckDB database, through Arrow.

DuckDB's ``sqlite_scanner`` extension cannot be downloaded here, so rows must cross sqlite3 -> Python -> Arrow ->
DuckDB, and building one Python object per value is what costs (about 3 s per million messages). So the loader asks
SQLite for **one row per chat**: ``group_concat`` packs the chat's timestamps (``ts_ms * 2 + is_from_me``) and media
types into two strings, which Arrow splits and casts in C++. The one thing to know: SQLite feeds each chat's rows to
``group_concat`` in primary-key order ``(chat_jid, id)`` (``NOT INDEXED`` pins the plan to a scan of the table
itself, which needs no sorter because the GROUP BY key is the key prefix), so a message's position ``pos`` in the
stream breaks timestamp ties in ``id`` order, as KPIS.md asks. The message text is never read, and the store is
opened **read-only** (``mode=ro``): a report can run during an extraction, and a mistyped path is an error rather
than a new empty file. A chat is ``(chat_jid, account)`` (the primary key's prefix, so the plan is unchanged): the
same customer writing to two business numbers is two chats, never one.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..redact import get_logger
from ..store.schema import SCHEMA_VERSION
from ..store.sqlite import DEFAULT_ACCOUNT, account_tag

__all__ = ["load_store", "open_store_readonly", "store_accounts", "strings"]

log = get_logger(__name__)

_MEDIA_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a media type name
_PER_CHAT_SQL = """
    SELECT chat_jid,
           group_concat(ts_ms * 2 + (is_from_me <> 0)) AS packed,
           group_concat(coalesce(media_type, ''), char(31)) AS media,
           max(CASE WHEN is_from_me = 0 THEN nullif(trim(sender_name), '') END) AS sender_name,
           max(CASE WHEN is_from_me <> 0 THEN sender END) AS own_sender,
           account
    FROM messages NOT INDEXED {where}
    GROUP BY chat_jid, account
"""


def open_store_readonly(db_path: Path) -> sqlite3.Connection:
    """Open an existing store read-only; :class:`StoreError` if it is missing or not a wamcp store."""
    if not db_path.is_file():
        raise StoreError(
            f"no store at {db_path}", hint="run `wamcp extract` first, pass --db, or try `wamcp demo` for sample data"
        )
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:  # pragma: no cover - is_file() above catches the usual causes
        raise StoreError(f"cannot open store {db_path}: {err}") from err
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        conn.close()
        raise StoreError(f"{db_path} is not a SQLite database: {err}", hint="pass the store written by wamcp") from err
    if not {"messages", "chats"} <= tables:
        conn.close()
        raise StoreError(f"{db_path} is not a wamcp store (no messages/chats tables)", hint="pass --db whatsapp.db")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version < SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"store {db_path} has schema version {version}, older than this wamcp ({SCHEMA_VERSION})",
            hint="open it once for writing (e.g. `wamcp extract`) to migrate it",
        )
    return conn


def strings(values: Iterable[str | None]) -> pa.Array:
    """A string array from Python values.

    Built with ``StringBuilder`` rather than ``pa.array(list)``: the latter imports pandas, when installed, to
    check whether the list is a pandas object, which costs half a second on every run.
    """
    builder = pa.lib.StringBuilder()
    builder.append_values(list(values))
    result: pa.Array = builder.finish()
    return result


def store_accounts(db_path: Path) -> list[str]:
    """The names of the accounts in the store at ``db_path``, sorted."""
    conn = open_store_readonly(db_path)
    try:
        tags = [tag for (tag,) in conn.execute("SELECT DISTINCT account FROM chats")]
    except sqlite3.Error as err:
        raise StoreError(f"cannot read store {db_path}: {err}") from err
    finally:
        conn.close()
    return sorted(DEFAULT_ACCOUNT if tag == "" else tag for tag in tags)


def _unpack(per_chat: list[tuple[str, str, str, str | None, str | None, str]]) -> tuple[pa.Table, pa.Table]:
    """Per-chat packed rows -> (messages, chats) Arrow tables."""
    jids = strings(row[0] for row in per_chat)
    packed = pc.split_pattern(strings(row[1] for row in per_chat), ",")
    codes = pc.cast(pc.list_flatten(packed), pa.int64())
    chat_no = pc.cast(pc.list_parent_indices(packed), pa.int32())
    media_lists = pc.split_pattern(strings(row[2] for row in per_chat), _MEDIA_SEPARATOR)
    media = pc.cast(pc.list_flatten(media_lists), pa.string())
    if len(media) != len(codes):
        # a media type containing the separator would misalign the columns: drop media rather than mislabel it
        log.warning("media types could not be read reliably; media shares are left out of this report")
        media = pa.nulls(len(codes), type=pa.string())
    messages = pa.table(
        {
            "chat_no": chat_no,
            # 0..n-1 without a Python range: the indices of the (all valid) codes
            "pos": pc.cast(pc.indices_nonzero(pc.is_valid(codes)), pa.int64()),
            "code": codes,
            "media_type": media,
        }
    )
    chats = pa.table(
        {
            "chat_no": pc.cast(pc.indices_nonzero(pc.is_valid(jids)), pa.int32()),
            "jid": jids,
            "sender_name": strings(row[3] for row in per_chat),
            "own_sender": strings(row[4] for row in per_chat),
            "account": strings(row[5] for row in per_chat),
        }
    )
    return messages, chats


def load_store(
    db_path: Path, *, until_ms: int | None = None, accounts: Sequence[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection holding ``messages`` and ``chats`` from the store at ``db_path``.

    ``messages``: ``chat_no, pos, ts_ms, is_from_me, media_type``; ``chats``: ``chat_no, jid, name, sender_name``
    (a customer's own display name, when the chat has none) and ``own_sender`` (the business's number as seen in
    that chat). Messages newer than ``until_ms`` are left out: a report "as of" a date must not see the future.
    ``accounts`` (names) keeps only those accounts' chats (default: all). The caller closes the returned connection.
    """
    conn = open_store_readonly(db_path)
    conditions = [] if until_ms is None else [f"ts_ms <= {int(until_ms)}"]
    params: tuple[str, ...] = ()
    if accounts is not None:
        conditions.append("account IN (SELECT value FROM json_each(?))")
        params = (json.dumps([account_tag(name) for name in accounts]),)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    gc_was_enabled = gc.isenabled()
    # the fetch allocates many small objects at once, none of them cyclic: collecting meanwhile is pure overhead
    gc.disable()
    try:
        per_chat = conn.execute(_PER_CHAT_SQL.format(where=where), params).fetchall()
        names = conn.execute("SELECT account, jid, name FROM chats").fetchall()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read store {db_path}: {err}") from err
    finally:
        if gc_was_enabled:
            gc.enable()
        conn.close()
    messages, chats = _unpack(per_chat)
    chat_names = pa.table(
        {
            "account": strings(n[0] for n in names),
            "jid": strings(n[1] for n in names),
            "name": strings(n[2] for n in names),
        }
    )
    log.debug("loaded %d messages in %d chats from the store", messages.num_rows, chats.num_rows)
    duck = duckdb.connect(":memory:")
    try:
        # Every timestamp is handled as UTC ms; zone conversion happens explicitly in the KPI SQL.
        duck.execute("SET TimeZone = 'UTC'")
        duck.register("_messages_arrow", messages)
        duck.register("_chats_arrow", chats)
        duck.register("_names_arrow", chat_names)
        duck.execute(
            "CREATE TABLE messages AS SELECT chat_no, pos, code // 2 AS ts_ms, (code % 2)::INTEGER AS is_from_me, "
            "nullif(media_type, '') AS media_type FROM _messages_arrow"
        )
        duck.execute(
            "CREATE TABLE chats AS SELECT c.chat_no, c.jid, n.name, c.sender_name, c.own_sender "
            "FROM _chats_arrow c LEFT JOIN _names_arrow n USING (account, jid)"
        )
        for view in ("_messages_arrow", "_chats_arrow", "_names_arrow"):
            duck.unregister(view)
    except Exception:
        duck.close()
        raise
    return duck
