"""The store's SQLite schema and its migrations.

The schema version lives in ``PRAGMA user_version``; :data:`MIGRATIONS` is append-only: migration ``n`` takes a
store from version ``n`` to ``n + 1``. Timestamps are integers, **milliseconds since the Unix epoch in UTC**
(``ts_ms``), so ordering is numeric and independent of any server's local-time text.

Every chat belongs to an ``account`` (one WhatsApp business number; ``''`` is the default account, named
``default`` everywhere outside the store), and the account is part of every key: the same customer JID
in two accounts is two chats. (The account is the second column of each key; see migration 3.)

Tables:

``chats``       one row per chat: ``(jid, account)`` (primary key), ``name``, ``is_group``, ``last_message_ts_ms``.
``messages``    one row per message, primary key ``(chat_jid, account, id)``. ``id`` is the server's message id where it
                gives one (``id_source='server'``) or an identity derived by the WhatsApp layer
                (``id_source='derived'``, see docs/DESIGN.md). ``is_from_me`` = 1 for the business side.
``sync_state``  per ``(chat_jid, account)``: newest and oldest ``ts_ms`` stored, whether the backfill reached the
                start of the history window (``backfill_complete``), the opaque ``cursor`` of an interrupted
                backfill, the run.
``runs``        one row per extraction run (of one account): when, against what, how it ended, what it changed and
                whether it listed every chat (``listing``).
"""

from __future__ import annotations

import sqlite3

__all__ = ["MIGRATIONS", "READABLE_FROM", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the initial schema
    """
    CREATE TABLE chats (
        jid                TEXT PRIMARY KEY,
        name               TEXT,
        is_group           INTEGER NOT NULL DEFAULT 0,
        last_message_ts_ms INTEGER,
        account            TEXT NOT NULL DEFAULT '',
        updated_run        INTEGER
    );
    CREATE TABLE messages (
        chat_jid     TEXT NOT NULL,
        id           TEXT NOT NULL,
        ts_ms        INTEGER NOT NULL,
        sender       TEXT,
        sender_name  TEXT,
        is_from_me   INTEGER NOT NULL DEFAULT 0,
        content      TEXT NOT NULL DEFAULT '',
        media_type   TEXT,
        filename     TEXT,
        id_source    TEXT NOT NULL DEFAULT 'server',
        first_run    INTEGER,
        updated_run  INTEGER,
        PRIMARY KEY (chat_jid, id)
    ) WITHOUT ROWID;
    CREATE INDEX messages_chat_ts ON messages (chat_jid, ts_ms);
    CREATE INDEX messages_ts ON messages (ts_ms);
    CREATE TABLE sync_state (
        chat_jid          TEXT PRIMARY KEY,
        newest_ts_ms      INTEGER,
        oldest_ts_ms      INTEGER,
        backfill_complete INTEGER NOT NULL DEFAULT 0,
        cursor            TEXT,
        last_run          INTEGER,
        updated_at        TEXT
    );
    CREATE TABLE runs (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at       TEXT NOT NULL,
        finished_at      TEXT,
        status           TEXT NOT NULL DEFAULT 'running',
        source           TEXT,
        chats_total      INTEGER NOT NULL DEFAULT 0,
        chats_done       INTEGER NOT NULL DEFAULT 0,
        chats_failed     INTEGER NOT NULL DEFAULT 0,
        messages_new     INTEGER NOT NULL DEFAULT 0,
        messages_updated INTEGER NOT NULL DEFAULT 0,
        calls            INTEGER NOT NULL DEFAULT 0,
        errors           TEXT
    );
    """,
    # 1 -> 2: drop the global time index. Every chat's backfill covers the same time window, so each page of 500
    # messages landed on ~500 different leaf pages of this index: bulk loads ran at ~30k rows/s instead of >120k
    # (docs/benchmarks/store.md). Time queries go through messages_chat_ts per chat, or scan (~0.2 s per 1M rows).
    """
    DROP INDEX IF EXISTS messages_ts;
    """,
    # 2 -> 3: one store holds several WhatsApp accounts (business numbers), and the same customer may write to two
    # of them, so a chat is (jid, account) everywhere. SQLite cannot change a primary key in place: each table is
    # rebuilt (create, copy in key order, drop, rename) inside this migration's transaction. Existing rows belong
    # to the default account, stored as '' (an empty string costs no payload bytes in a row or an index entry).
    # The account comes second in every key, so B-tree comparisons still decide on the JID first, as before
    # (SQLite's fast path for a deciding leading text column); with '' first, every comparison would tie on it.
    """
    CREATE TABLE chats_v3 (
        jid                TEXT NOT NULL,
        account            TEXT NOT NULL DEFAULT '',
        name               TEXT,
        is_group           INTEGER NOT NULL DEFAULT 0,
        last_message_ts_ms INTEGER,
        updated_run        INTEGER,
        PRIMARY KEY (jid, account)
    );
    INSERT INTO chats_v3 (jid, account, name, is_group, last_message_ts_ms, updated_run)
        SELECT jid, account, name, is_group, last_message_ts_ms, updated_run FROM chats ORDER BY jid, account;
    DROP TABLE chats;
    ALTER TABLE chats_v3 RENAME TO chats;

    CREATE TABLE messages_v3 (
        chat_jid     TEXT NOT NULL,
        account      TEXT NOT NULL DEFAULT '',
        id           TEXT NOT NULL,
        ts_ms        INTEGER NOT NULL,
        sender       TEXT,
        sender_name  TEXT,
        is_from_me   INTEGER NOT NULL DEFAULT 0,
        content      TEXT NOT NULL DEFAULT '',
        media_type   TEXT,
        filename     TEXT,
        id_source    TEXT NOT NULL DEFAULT 'server',
        first_run    INTEGER,
        updated_run  INTEGER,
        PRIMARY KEY (chat_jid, account, id)
    ) WITHOUT ROWID;
    INSERT INTO messages_v3 (account, chat_jid, id, ts_ms, sender, sender_name, is_from_me, content, media_type,
                             filename, id_source, first_run, updated_run)
        SELECT '', chat_jid, id, ts_ms, sender, sender_name, is_from_me, content, media_type,
               filename, id_source, first_run, updated_run
        FROM messages ORDER BY chat_jid, id;
    DROP TABLE messages;
    ALTER TABLE messages_v3 RENAME TO messages;
    CREATE INDEX messages_chat_ts ON messages (chat_jid, account, ts_ms);

    CREATE TABLE sync_state_v3 (
        chat_jid          TEXT NOT NULL,
        account           TEXT NOT NULL DEFAULT '',
        newest_ts_ms      INTEGER,
        oldest_ts_ms      INTEGER,
        backfill_complete INTEGER NOT NULL DEFAULT 0,
        cursor            TEXT,
        last_run          INTEGER,
        updated_at        TEXT,
        PRIMARY KEY (chat_jid, account)
    );
    INSERT INTO sync_state_v3 (account, chat_jid, newest_ts_ms, oldest_ts_ms, backfill_complete, cursor, last_run,
                               updated_at)
        SELECT '', chat_jid, newest_ts_ms, oldest_ts_ms, backfill_complete, cursor, last_run, updated_at
        FROM sync_state ORDER BY chat_jid;
    DROP TABLE sync_state;
    ALTER TABLE sync_state_v3 RENAME TO sync_state;

    ALTER TABLE runs ADD COLUMN account TEXT NOT NULL DEFAULT '';
    """,
    # 3 -> 4: which chats a run listed: 'all', or 'recent' (only the chats active since the last full listing, see
    # docs/DESIGN.md section 6). Older runs listed every chat; NULL reads as 'all'.
    """
    ALTER TABLE runs ADD COLUMN listing TEXT;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
#: The oldest version readers (exports, reports, read-only opens) understand: version 3's layout (the account in
#: every key). Later migrations only add what the extractor itself writes and reads, so a store an older wamcp
#: wrote can be read before the next extraction migrates it.
READABLE_FROM = 3


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn`` up to :data:`SCHEMA_VERSION`, each step in its own transaction; return the version.

    Raises ``ValueError`` for a store written by a newer wamcp (the caller turns it into a ``StoreError``).
    """
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise ValueError(f"store schema version {version} is newer than this wamcp understands ({SCHEMA_VERSION})")
    for step in range(version, SCHEMA_VERSION):
        with conn:
            conn.executescript(f"BEGIN; {MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;")
    return SCHEMA_VERSION
