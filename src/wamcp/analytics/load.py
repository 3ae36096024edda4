"""Load the SQLite store into an in-memory DuckDB database, through Arrow.

DuckDB's ``sqlite_scanner`` extension cannot be downloaded here, so rows travel sqlite3 -> column lists -> Arrow
record batches -> DuckDB. Only the columns the KPIs need are read (never ``content``): the message text is the bulk
of the store and no KPI looks at it. The store is opened **read-only** (``mode=ro``), so a report can run while an
extraction is writing and a mistyped path is an error instead of a new empty file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import StoreError
from ..redact import get_logger

__all__ = ["MESSAGE_SCHEMA", "load_store", "open_store_readonly"]

log = get_logger(__name__)

_BATCH_ROWS = 200_000

MESSAGE_SCHEMA = pa.schema(
    [
        ("chat_jid", pa.string()),
        ("id", pa.string()),
        ("ts_ms", pa.int64()),
        ("is_from_me", pa.int8()),
        ("media_type", pa.string()),
        ("sender", pa.string()),
        ("sender_name", pa.string()),
    ]
)
_CHAT_SCHEMA = pa.schema([("jid", pa.string()), ("name", pa.string()), ("is_group", pa.int8())])


def open_store_readonly(db_path: Path) -> sqlite3.Connection:
    """Open an existing store read-only; :class:`StoreError` if it is missing or not a wamcp store."""
    if not db_path.is_file():
        raise StoreError(
            f"no store at {db_path}", hint="run `wamcp extract` first, pass --db, or try `wamcp demo` for sample data"
        )
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise StoreError(f"cannot open store {db_path}: {err}") from err
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        conn.close()
        raise StoreError(f"{db_path} is not a SQLite database: {err}", hint="pass the store written by wamcp") from err
    if not {"messages", "chats"} <= tables:
        conn.close()
        raise StoreError(f"{db_path} is not a wamcp store (no messages/chats tables)", hint="pass --db whatsapp.db")
    return conn


def _batches(cursor: sqlite3.Cursor, schema: pa.Schema) -> list[pa.RecordBatch]:
    batches: list[pa.RecordBatch] = []
    while rows := cursor.fetchmany(_BATCH_ROWS):
        # Transposing the row tuples once per batch keeps the per-row work inside C (zip, pa.array).
        columns: list[Any] = list(zip(*rows, strict=True))
        batches.append(
            pa.RecordBatch.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
            )
        )
    return batches


def load_store(db_path: Path, *, until_ms: int | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection holding ``messages`` and ``chats`` from the store at ``db_path``.

    Messages newer than ``until_ms`` are left out: a report "as of" a date must not see the future. The caller
    closes the returned connection.
    """
    conn = open_store_readonly(db_path)
    try:
        where = "" if until_ms is None else f"WHERE ts_ms <= {int(until_ms)}"
        cursor = conn.execute(
            "SELECT chat_jid, id, ts_ms, is_from_me, media_type, sender, sender_name FROM messages " + where
        )
        messages = pa.Table.from_batches(_batches(cursor, MESSAGE_SCHEMA), schema=MESSAGE_SCHEMA)
        chats = pa.Table.from_batches(
            _batches(conn.execute("SELECT jid, name, is_group FROM chats"), _CHAT_SCHEMA), schema=_CHAT_SCHEMA
        )
    except sqlite3.Error as err:
        raise StoreError(f"cannot read store {db_path}: {err}") from err
    finally:
        conn.close()
    log.debug("loaded %d messages and %d chats from the store", messages.num_rows, chats.num_rows)
    duck = duckdb.connect(":memory:")
    try:
        # Every timestamp is handled as UTC ms; zone conversion happens explicitly in the KPI SQL.
        duck.execute("SET TimeZone = 'UTC'")
        duck.register("_messages_arrow", messages)
        duck.register("_chats_arrow", chats)
        duck.execute("CREATE TABLE messages AS SELECT * FROM _messages_arrow")
        duck.execute("CREATE TABLE chats AS SELECT * FROM _chats_arrow")
        duck.unregister("_messages_arrow")
        duck.unregister("_chats_arrow")
    except Exception:
        duck.close()
        raise
    return duck
