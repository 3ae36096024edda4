"""Load the SQLite store into an in-memory DuckDB database, through Arrow, with messages in conversation order.

DuckDB's ``sqlite_scanner`` extension cannot be downloaded here, so rows cross SQLite -> Arrow -> DuckDB. The reader
is the ADBC SQLite driver (native code straight into Arrow buffers); when it is missing or cannot read the store,
Python's sqlite3 module does the same job, about 0.3 s per million messages slower. Either way SQLite is asked for
**one row per chat**: ``group_concat`` packs the chat's timestamps (``ts_ms * 2 + is_from_me``) and media types into
two strings, which Arrow splits and casts in C++ (the media types, sender and chat names only when asked for: the
FRT figures need none of them, and they are about 40 % of the read). SQLite feeds each chat's rows to
``group_concat`` in primary-key order ``(chat_jid, id)`` (``NOT INDEXED`` pins the plan to a scan of the table
itself, which needs no sorter because the GROUP BY key is the key prefix), so one stable sort by ``(chat,
timestamp)`` puts the messages in the order KPIS.md asks for, timestamp ties broken by ``id``. Large stores are read
in ranges of chat JIDs on parallel threads (``_READ_PARTS``) and joined in range order.

The one thing to know: the DuckDB ``messages`` table is **stored in that order**, and ``pos`` numbers it (0..n-1).
The KPIs rely on it: with ``preserve_insertion_order`` (DuckDB's default) a scan returns rows in that order, so
sessions are cut by comparing neighbours, with no sort (checking, through ``pos``, that they did come in that
order). The message text is never read, and the store is opened **read-only**
(``mode=ro``): a report can run during an extraction (WAL mode: it reads the last commit), and a mistyped path is
an error rather than a new empty file. A chat is ``(chat_jid, account)`` (the primary key's prefix, so the plan is
unchanged): the same customer writing to two business numbers is two chats, never one.
"""

from __future__ import annotations

import gc
import os
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import StoreError
from ..redact import get_logger
from ..store.sqlite import DEFAULT_ACCOUNT, account_tag, check_schema, readonly_uri

__all__ = ["load_store", "newest_message_ms", "open_store_readonly", "store_accounts", "strings"]

log = get_logger(__name__)

_MEDIA_SEPARATOR = "\x1f"  # ASCII unit separator: never part of a media type name
# Every text column is coalesced to '' (and made NULL again in DuckDB): the ADBC driver infers a column's type from
# its first rows, so a column that starts with NULLs would be read as integers and fail on the first string.
# ``own_sender`` keeps NULL and '' apart with a one-character prefix.
# ``account`` is NOT NULL ('' for the default account), so it needs no coalescing.
_PER_CHAT_SQL = """
    SELECT chat_jid, account, group_concat(ts_ms * 2 + (is_from_me <> 0)) AS packed{details}
    FROM messages NOT INDEXED {where}
    GROUP BY chat_jid, account
"""
# Only the full report needs these (media shares, display names): about 40 % of the read's CPU.
_DETAILS_SQL = """,
           group_concat(coalesce(media_type, ''), char(31)) AS media,
           coalesce(max(CASE WHEN is_from_me = 0 THEN nullif(trim(sender_name), '') END), '') AS sender_name,
           coalesce('=' || max(CASE WHEN is_from_me <> 0 THEN sender END), '') AS own_sender"""
_NAMES_SQL = "SELECT account, jid, coalesce('=' || name, '') AS name FROM chats"
_PER_CHAT_COLUMNS = ("chat_jid", "account", "packed")
_DETAILS_COLUMNS = ("media", "sender_name", "own_sender")
_NAMES_COLUMNS = ("account", "jid", "name")
#: The messages are read in this many ranges of chat JIDs, each read and unpacked on its own thread (SQLite, the ADBC
#: driver and Arrow's kernels release the GIL): on two cores the load takes ~40 % less wall time. Each chat is read
#: whole from one commit; while an extraction writes, two ranges may see commits a moment apart.
_READ_PARTS = max(1, min(4, os.cpu_count() or 1))
#: Stores with fewer chats are read in one piece: the threads would cost more than they save.
_SPLIT_FROM_CHATS = 2_000


def open_store_readonly(db_path: Path) -> sqlite3.Connection:
    """Open an existing store read-only; :class:`StoreError` if it is missing or not a wamcp store."""
    if not db_path.is_file():
        raise StoreError(
            f"no store at {db_path}", hint="run `wamcp extract` first, pass --db, or try `wamcp demo` for sample data"
        )
    try:
        conn = sqlite3.connect(readonly_uri(db_path), uri=True)
    except sqlite3.Error as err:  # pragma: no cover - is_file() above catches the usual causes
        raise StoreError(f"cannot open store {db_path}: {err}") from err
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        conn.close()
        raise StoreError(f"{db_path} is not a SQLite database: {err}", hint="pass the store written by wamcp") from err
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    try:
        # version 0 with tables: some other program's database (check_schema says so, naming its tables)
        if (version != 0 or not tables) and not {"messages", "chats"} <= tables:
            raise StoreError(f"{db_path} is not a wamcp store (no messages/chats tables)", hint="pass --db whatsapp.db")
        check_schema(db_path, tables, version, readonly=True)
    except StoreError:
        conn.close()
        raise
    return conn


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


def newest_message_ms(db_path: Path) -> int | None:
    """The time of the newest message in the store at ``db_path``, every account's (None when it has none)."""
    conn = open_store_readonly(db_path)
    try:
        (newest,) = conn.execute("SELECT max(ts_ms) FROM messages").fetchone()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read store {db_path}: {err}") from err
    finally:
        conn.close()
    return int(newest) if newest is not None else None


def strings(values: Iterable[str | None]) -> pa.Array:
    """A string array from Python values.

    Built with ``StringBuilder`` rather than ``pa.array(list)``: the latter imports pandas, when installed, to
    check whether the list is a pandas object, which costs half a second on every run.
    """
    builder = pa.lib.StringBuilder()
    builder.append_values(list(values))
    result: pa.Array = builder.finish()
    return result


def _read_adbc(
    db_path: Path, per_chat_sqls: Sequence[str], names: bool
) -> tuple[list[pa.Table], pa.Table | None] | None:
    """(per-chat rows of each range, chat names if ``names``) through the ADBC SQLite driver; ``None`` if it
    cannot do it.

    Each range is read on its own connection and thread (the driver releases the GIL while SQLite works).
    """
    try:
        # the low-level API: adbc_driver_manager.dbapi imports pyarrow.dataset, a quarter second for nothing
        import adbc_driver_manager
        import adbc_driver_sqlite
    except (ImportError, OSError) as err:  # not installed, or its shared library does not load here
        log.debug("ADBC SQLite driver not available (%s); reading through sqlite3", err)
        return None

    def query(conn: adbc_driver_manager.AdbcConnection, sql: str) -> pa.Table:
        statement = adbc_driver_manager.AdbcStatement(conn)
        try:
            statement.set_sql_query(sql)
            stream, _ = statement.execute_query()
            return pa.RecordBatchReader.from_stream(stream).read_all()
        finally:
            statement.close()

    def read(sqls: Sequence[str]) -> list[pa.Table]:
        database = adbc_driver_sqlite.connect(readonly_uri(db_path))
        try:
            conn = adbc_driver_manager.AdbcConnection(database)
            try:
                # one read transaction per connection: the first one's names and messages share a commit
                conn.set_autocommit(False)
                return [query(conn, sql) for sql in sqls]
            finally:
                conn.close()
        finally:
            database.close()

    first_sqls = [per_chat_sqls[0], _NAMES_SQL] if names else [per_chat_sqls[0]]
    try:
        if len(per_chat_sqls) == 1:
            first = read(first_sqls)
            return [first[0]], first[1] if names else None
        with ThreadPoolExecutor(max_workers=len(per_chat_sqls) - 1, thread_name_prefix="wamcp-read") as pool:
            rest = [pool.submit(read, [sql]) for sql in per_chat_sqls[1:]]
            first = read(first_sqls)
            return [first[0], *(future.result()[0] for future in rest)], first[1] if names else None
    except (adbc_driver_manager.Error, OSError, pa.ArrowException) as err:
        # a failed read surfaces from the Arrow stream as OSError/ArrowException, a failed call as adbc's Error
        log.debug("ADBC SQLite driver could not read the store (%s); reading through sqlite3", err)
        return None


def _read_sqlite3(
    conn: sqlite3.Connection, per_chat_sqls: Sequence[str], columns: Sequence[str], names: bool
) -> tuple[list[pa.Table], pa.Table | None]:
    """The same tables as :func:`_read_adbc`, through Python's sqlite3 module (one Python object per value, so
    the ranges are read one after the other, in one transaction)."""
    gc_was_enabled = gc.isenabled()
    # the fetch allocates many small objects at once, none of them cyclic: collecting meanwhile is pure overhead
    gc.disable()
    try:
        conn.execute("BEGIN")  # one read transaction, as in _read_adbc
        per_chat = [row for sql in per_chat_sqls for row in conn.execute(sql).fetchall()]
        name_rows = conn.execute(_NAMES_SQL).fetchall() if names else None
        conn.execute("COMMIT")
    finally:
        if gc_was_enabled:
            gc.enable()
    return (
        [pa.table({name: strings(row[i] for row in per_chat) for i, name in enumerate(columns)})],
        None
        if name_rows is None
        else pa.table({name: strings(row[i] for row in name_rows) for i, name in enumerate(_NAMES_COLUMNS)}),
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _range_bounds(conn: sqlite3.Connection, parts: int) -> list[str]:
    """Chat JIDs cutting the store's chats into ``parts`` ranges of about equal size (none for a small store)."""
    (count,) = conn.execute("SELECT count(*) FROM chats").fetchone()
    if parts < 2 or count < _SPLIT_FROM_CHATS:
        return []
    jids = [row[0] for row in conn.execute("SELECT DISTINCT jid FROM chats ORDER BY jid")]
    return sorted({jids[len(jids) * part // parts] for part in range(1, parts)})


def _read_store(
    db_path: Path,
    until_ms: int | None,
    accounts: Sequence[str] | None,
    parts: int | None = None,
    *,
    names_and_media: bool = True,
) -> tuple[list[pa.Table], pa.Table | None]:
    """The per-chat rows (one table per range of chat JIDs, in JID order) and the chat names (``None`` without
    ``names_and_media``, which also leaves the media types and sender columns out of the per-chat rows)."""
    conn = open_store_readonly(db_path)  # also checks that this is a wamcp store, with a clear error if not
    try:
        conditions = [] if until_ms is None else [f"ts_ms <= {int(until_ms)}"]
        if accounts is not None:
            # inlined as quoted literals: the ADBC path runs the statement without bound parameters
            tags = ", ".join(_sql_text(account_tag(name)) for name in accounts) or "NULL"
            conditions.append(f"account IN ({tags})")
        try:
            bounds = _range_bounds(conn, _READ_PARTS if parts is None else parts)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read store {db_path}: {err}") from err
        # a range of the primary key's prefix keeps the plan a scan of the table in key order, one slice each
        lows: list[str | None] = [None, *bounds]
        highs: list[str | None] = [*bounds, None]
        per_chat_sqls = []
        for low, high in zip(lows, highs, strict=True):
            where = list(conditions)
            if low is not None:
                where.append(f"chat_jid >= {_sql_text(low)}")
            if high is not None:
                where.append(f"chat_jid < {_sql_text(high)}")
            per_chat_sqls.append(
                _PER_CHAT_SQL.format(
                    details=_DETAILS_SQL if names_and_media else "",
                    where=f"WHERE {' AND '.join(where)}" if where else "",
                )
            )
        tables = _read_adbc(db_path, per_chat_sqls, names_and_media)
        if tables is not None:
            return tables
        columns = (*_PER_CHAT_COLUMNS, *_DETAILS_COLUMNS) if names_and_media else _PER_CHAT_COLUMNS
        try:
            return _read_sqlite3(conn, per_chat_sqls, columns, names_and_media)
        except sqlite3.Error as err:
            raise StoreError(f"cannot read store {db_path}: {err}") from err
    finally:
        conn.close()


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A reader column as one string array (an empty result may come back typed as integers or nulls)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column if column.type == pa.string() else pc.cast(column, pa.string())


def _int64(value: int) -> pa.Scalar:
    """An Arrow int64 scalar. ``pa.scalar`` (also implied by a Python int in a compute call) imports pandas, when
    installed, to check its argument: half a second on every run, so the value is cast from text instead."""
    return pc.cast(strings([str(value)]), pa.int64())[0]


def _conversation_order(chat_no: pa.Array, ts_ms: pa.Array) -> pa.Array:
    """Indices putting messages in ``(chat_no, ts_ms, id)`` order; they come in ``(chat_no, id)`` order.

    Arrow's sorts are stable, so equal keys keep ``id`` order. One integer key ``chat_no * span + (ts_ms - first)``
    sorts several times faster than two keys; if it would overflow (decades of data in millions of chats), two keys.
    """
    if len(ts_ms) == 0:
        return pc.array_sort_indices(ts_ms)
    first, last = pc.min_max(ts_ms).values()
    try:
        span = _int64(last.as_py() - first.as_py() + 1)
        chat_start = pc.multiply_checked(pc.cast(chat_no, pa.int64()), span)
        key = pc.add_checked(chat_start, pc.subtract_checked(ts_ms, first))
    except pa.ArrowInvalid:  # overflow
        keys = pa.table({"chat_no": chat_no, "ts_ms": ts_ms})
        return pc.sort_indices(keys, [("chat_no", "ascending"), ("ts_ms", "ascending")])
    return pc.array_sort_indices(key)


def _unpack(per_chat: pa.Table, first_chat: int = 0) -> tuple[pa.Table, pa.Table]:
    """Per-chat packed rows -> (messages without ``pos``, chats) Arrow tables, numbering chats from ``first_chat``
    (so that the ranges of a split read follow each other). The media and sender columns are unpacked when read."""
    jids = _text(per_chat["chat_jid"])
    packed = pc.split_pattern(_text(per_chat["packed"]), ",")
    codes = pc.cast(pc.list_flatten(packed), pa.int64())
    chat_no = pc.cast(_offset(pc.list_parent_indices(packed), first_chat), pa.int32())
    by_stream = pa.table({"chat_no": chat_no, "code": codes})
    chats = pa.table(
        {
            "chat_no": pc.cast(_offset(pc.indices_nonzero(pc.is_valid(jids)), first_chat), pa.int32()),
            "jid": jids,
            "account": _text(per_chat["account"]),
        }
    )
    if "media" in per_chat.column_names:
        media_lists = pc.split_pattern(_text(per_chat["media"]), _MEDIA_SEPARATOR)
        media = pc.cast(pc.list_flatten(media_lists), pa.string())
        if len(media) != len(codes):
            # a media type containing the separator would misalign the columns: drop media rather than mislabel it
            log.warning("media types could not be read reliably; media shares are left out of this report")
            media = pa.nulls(len(codes), type=pa.string())
        by_stream = by_stream.append_column("media_type", media)
        chats = chats.append_column("sender_name", _text(per_chat["sender_name"]))
        chats = chats.append_column("own_sender", _text(per_chat["own_sender"]))
    messages = by_stream.take(_conversation_order(chat_no, pc.divide(codes, _int64(2))))
    return messages, chats


def _offset(values: pa.Array, start: int) -> pa.Array:
    return values if start == 0 else pc.add(pc.cast(values, pa.int64()), _int64(start))


def _unpack_all(parts: Sequence[pa.Table]) -> tuple[pa.Table, pa.Table]:
    """:func:`_unpack` of every range, in parallel, joined into one (messages, chats) pair in range order, with
    the messages numbered 0..n-1 by ``pos``."""
    if len(parts) == 1:
        unpacked = [_unpack(parts[0])]
    else:
        starts = [sum(part.num_rows for part in parts[:index]) for index in range(len(parts))]
        with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="wamcp-unpack") as pool:
            unpacked = list(pool.map(_unpack, parts, starts))
    numbered = []
    first_pos = 0
    for messages, _ in unpacked:
        # first_pos.. without a Python range: the indices of the (all valid) codes
        pos = _offset(pc.indices_nonzero(pc.is_valid(messages["code"].combine_chunks())), first_pos)
        numbered.append(messages.add_column(1, "pos", pc.cast(pos, pa.int64())))
        first_pos += messages.num_rows
    if len(numbered) == 1:
        return numbered[0], unpacked[0][1]
    return pa.concat_tables(numbered), pa.concat_tables([chats for _, chats in unpacked])


def load_store(
    db_path: Path,
    *,
    until_ms: int | None = None,
    accounts: Sequence[str] | None = None,
    names_and_media: bool = True,
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection holding ``messages`` and ``chats`` from the store at ``db_path``.

    ``messages``: ``chat_no, pos, ts_ms, is_from_me, media_type``, stored in ``(chat_no, ts_ms, id)`` order and
    numbered in it by ``pos``;
    ``chats``: ``chat_no, jid, name, sender_name`` (a customer's own display name, when the chat has none) and
    ``own_sender`` (the business's number as seen in that chat). Messages newer than ``until_ms`` are left out: a
    report "as of" a date must not see the future. ``accounts`` (names) keeps only those accounts' chats (default:
    all). ``names_and_media=False`` leaves out ``media_type`` and every chat column but ``chat_no``, ``jid`` and
    ``account``: enough for sessions, FRT and reply times, not for the whole report, at about 60 % of the load's
    CPU time; ``messages`` is then a view of the loaded Arrow columns (same rows, same order, no copy and no
    ``rowid``). The caller closes the returned connection.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wamcp-duckdb") as pool:
        # a new DuckDB database takes ~0.1 s to set up its catalog: done meanwhile, as reading releases the GIL
        connecting = pool.submit(duckdb.connect, ":memory:")
        try:
            per_chat, names = _read_store(db_path, until_ms, accounts, names_and_media=names_and_media)
            messages, chats = _unpack_all(per_chat)
        except BaseException:
            if connecting.exception() is None:
                connecting.result().close()
            raise
    log.debug("loaded %d messages in %d chats from the store", messages.num_rows, chats.num_rows)
    return _to_duckdb(connecting.result(), messages, chats, names)


def _to_duckdb(
    duck: duckdb.DuckDBPyConnection, messages: pa.Table, chats: pa.Table, names: pa.Table | None
) -> duckdb.DuckDBPyConnection:
    """Fill the empty database ``duck`` with the ``messages`` and ``chats`` tables (closing it on failure); without
    ``names``, with only the columns :func:`load_store` keeps without names and media, and ``messages`` a view."""
    try:
        # Every timestamp is handled as UTC ms; zone conversion happens explicitly in the KPI SQL.
        duck.execute("SET TimeZone = 'UTC'")
        duck.register("_chats_arrow", chats)
        if names is None:
            # read once (by the session cut): a view of the Arrow columns, rather than a copy into DuckDB
            code = messages["code"]
            columns = {
                "chat_no": messages["chat_no"],
                "pos": messages["pos"],
                # arithmetic shift: floor division, so times before 1970 (negative codes) decode too
                "ts_ms": pc.shift_right(code, _int64(1)),
                "is_from_me": pc.cast(pc.bit_wise_and(code, _int64(1)), pa.int32()),
            }
            duck.register("messages", pa.table(columns))
            duck.execute("CREATE TABLE chats AS SELECT chat_no, jid, account FROM _chats_arrow")
        else:
            duck.register("_messages_arrow", messages)
            # kept in the Arrow table's order (preserve_insertion_order): every later pass reads the messages in it
            duck.execute(
                "CREATE TABLE messages AS SELECT chat_no, pos, code >> 1 AS ts_ms, (code & 1)::INTEGER AS is_from_me, "
                "nullif(media_type, '') AS media_type FROM _messages_arrow"
            )
            duck.unregister("_messages_arrow")
            chat_names = pa.table(
                {"account": _text(names["account"]), "jid": _text(names["jid"]), "name": _text(names["name"])}
            )
            duck.register("_names_arrow", chat_names)
            duck.execute(
                "CREATE TABLE chats AS SELECT c.chat_no, c.jid, "
                "CASE WHEN n.name <> '' THEN n.name[2:] END AS name, nullif(c.sender_name, '') AS sender_name, "
                "CASE WHEN c.own_sender <> '' THEN c.own_sender[2:] END AS own_sender, c.account "
                "FROM _chats_arrow c LEFT JOIN _names_arrow n USING (account, jid)"
            )
            duck.unregister("_names_arrow")
        duck.unregister("_chats_arrow")
    except Exception:
        duck.close()
        raise
    return duck
