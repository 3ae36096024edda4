"""Several accounts in one store: keys include the account, cursors and runs are per account, and a version-2 store
(one account, keys without it) migrates to version 3 keeping every row."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from wamcp.errors import StoreError
from wamcp.store import ChatRow, MessageRow, PageResult, Store, SyncState
from wamcp.store.export import export
from wamcp.store.schema import MIGRATIONS, SCHEMA_VERSION

from ._helpers import make_page

CHAT = "447700900123@s.whatsapp.net"
OTHER = "447700900456@s.whatsapp.net"


def _v2_store(path: Path) -> None:
    """A store as wamcp wrote it before accounts: the first two migrations, then rows in every table."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for step in (0, 1):
            conn.executescript(f"BEGIN; {MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO chats (jid, name, is_group, last_message_ts_ms, updated_run) VALUES (?, ?, ?, ?, ?)",
            [(CHAT, "Alice ✓", 0, 1_700_000_060_000, 1), (OTHER, None, 0, None, 1), ("1203@g.us", "Team", 1, 5, 2)],
        )
        rows = [(*row, 1, 2) for row in make_page(CHAT, 0, 40) + make_page(OTHER, 0, 7, content="multi\nline ✓")]
        # the same message id in two chats is two messages
        rows.append((*make_page(OTHER, 0, 1)[0]._replace(id="m000000-x", content=""), None, None))
        conn.executemany(
            "INSERT INTO messages (chat_jid, id, ts_ms, sender, sender_name, is_from_me, content, media_type,"
            " filename, id_source, first_run, updated_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO sync_state (chat_jid, newest_ts_ms, oldest_ts_ms, backfill_complete, cursor, last_run,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(CHAT, 9, 1, 1, None, 2, "2026-01-01T00:00:00Z"), (OTHER, None, None, 0, "c", 1, None)],
        )
        conn.execute(
            "INSERT INTO runs (started_at, finished_at, status, source, chats_total, messages_new, errors)"
            " VALUES ('2026-01-01', '2026-01-02', 'complete', 'demo', 3, 48, '[]')"
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _table(path: Path, table: str, columns: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


_MESSAGE_COLUMNS = (
    "chat_jid, id, ts_ms, sender, sender_name, is_from_me, content, media_type, filename, id_source, first_run,"
    " updated_run"
)
_SYNC_COLUMNS = "chat_jid, newest_ts_ms, oldest_ts_ms, backfill_complete, cursor, last_run, updated_at"
_CHAT_COLUMNS = "jid, name, is_group, last_message_ts_ms, updated_run"
_RUN_COLUMNS = "id, started_at, finished_at, status, source, chats_total, messages_new, errors"


def test_a_version_2_store_migrates_keeping_every_row_in_the_default_account(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    _v2_store(path)
    before = {
        "messages": _table(path, "messages", _MESSAGE_COLUMNS),
        "sync_state": _table(path, "sync_state", _SYNC_COLUMNS),
        "chats": _table(path, "chats", _CHAT_COLUMNS),
        "runs": _table(path, "runs", _RUN_COLUMNS),
    }
    assert len(before["messages"]) == 48

    with Store.open(path) as store:
        assert store.integrity_check() == "ok"
        assert store.accounts() == ["default"]
        assert store.sync_state(CHAT) == SyncState(CHAT, 9, 1, True, None, 2)
        assert store.runs()[0]["account"] == "default"

    assert _table(path, "messages", _MESSAGE_COLUMNS) == before["messages"]
    assert _table(path, "sync_state", _SYNC_COLUMNS) == before["sync_state"]
    assert _table(path, "chats", _CHAT_COLUMNS) == before["chats"]
    assert _table(path, "runs", _RUN_COLUMNS) == before["runs"]
    for table in ("messages", "sync_state", "chats", "runs"):
        assert _table(path, table, "DISTINCT account") == [("",)]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        primary_key = sorted((row[5], row[1]) for row in conn.execute("PRAGMA table_info(messages)") if row[5])
        assert [name for _, name in primary_key] == ["chat_jid", "account", "id"]
        index = [row[2] for row in conn.execute("PRAGMA index_info(messages_chat_ts)")]
        assert index == ["chat_jid", "account", "ts_ms"]
    finally:
        conn.close()
    with Store.open(path) as store:
        # the migrated rows are the default account's: saving them again changes nothing
        assert store.save_page(CHAT, make_page(CHAT, 0, 40), state=SyncState(CHAT, 9, 1, True)) == PageResult(0, 0)


def test_the_same_chat_in_two_accounts_is_two_chats(store: Store) -> None:
    sales, support = store.for_account("sales"), store.for_account("support")
    page = make_page(CHAT, 0, 5)
    assert sales.save_page(CHAT, page, state=SyncState(CHAT, newest_ts_ms=page[-1].ts_ms), run_id=None).new == 5
    assert support.save_page(CHAT, page[:2], state=SyncState(CHAT, cursor="s")).new == 2
    assert store.count_messages() == 7
    assert store.count_messages(CHAT, accounts=["sales"]) == 5
    assert store.count_messages(accounts=["support", "default"]) == 2
    assert sales.sync_states()[CHAT].newest_ts_ms == page[-1].ts_ms
    assert support.sync_state(CHAT) == SyncState(CHAT, cursor="s")
    assert store.sync_state(CHAT) is None  # the default account has never synced it
    assert store.accounts() == ["sales", "support"]
    assert [a for a, _ in store.account_chats()] == ["sales", "support"]
    assert store.count_chats() == 2
    assert store.count_chats(accounts=["sales"]) == 1
    assert store.count_chats(accounts=["default"]) == 0
    assert [a for a, _ in store.account_chats(accounts=["support"])] == ["support"]
    listed = list(store.iter_account_messages())
    assert [a for a, _ in listed] == ["sales"] * 5 + ["support"] * 2
    assert [row for _, row in listed][:5] == page
    assert list(store.iter_messages(accounts=["support"])) == page[:2]


def test_each_account_marks_only_its_own_runs_interrupted(store: Store) -> None:
    sales, support = store.for_account("sales"), store.for_account("support")
    left_running = sales.start_run("killed")
    beside = support.start_run("running now")
    assert sales.mark_interrupted_runs() == 1
    status = {run["id"]: (run["account"], run["status"]) for run in store.runs()}
    assert status == {left_running: ("sales", "interrupted"), beside: ("support", "running")}


def test_an_accounts_store_shares_the_connection_and_leaves_closing_to_its_owner(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "wa.db")
    view = store.for_account("sales")
    view.close()
    row = MessageRow(CHAT, "x", 1, None, None, False, "hi", None, None, "server")
    assert store.save_page(CHAT, [row], state=SyncState(CHAT)).new == 1
    store.close()
    assert store.account == "default"
    assert view.account == "sales"
    with pytest.raises(StoreError, match="is closed"):
        view.count_messages()


def _two_account_store(store: Store) -> None:
    """The same customer (same JID, same message ids) in the default account and in 'sales', named differently."""
    for account, name in (("default", "Alice"), ("sales", "Alice (sales)")):
        view = store.for_account(account)
        view.upsert_chats([ChatRow(CHAT, name, False, None)])
        view.save_page(CHAT, make_page(CHAT, 0, 3, content=account), state=SyncState(CHAT))


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_exports_carry_the_account_and_filter_by_it(store: Store, tmp_path: Path, fmt: str) -> None:
    _two_account_store(store)
    out = tmp_path / f"all.{fmt}"
    assert export(store, fmt, out).messages == 6
    rows = _read(out, fmt)
    assert [(r["account"], r["chat_name"], r["content"][:5]) for r in rows] == [
        *[("default", "Alice", "defau")] * 3,
        *[("sales", "Alice (sales)", "sales")] * 3,
    ]
    only = tmp_path / f"sales.{fmt}"
    assert export(store, fmt, only, accounts=["sales"]).messages == 3
    assert {r["account"] for r in _read(only, fmt)} == {"sales"}


def _read(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "json":
        return list(json.loads(path.read_text(encoding="utf-8")))
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    return list(pq.read_table(path).to_pylist())


def test_txt_export_puts_a_named_accounts_chats_in_its_own_directory(store: Store, tmp_path: Path) -> None:
    _two_account_store(store)
    result = export(store, "txt", tmp_path / "chats")
    assert sorted(str(p.relative_to(tmp_path / "chats")) for p in result.files) == [
        "WhatsApp Chat with Alice.txt",
        "sales/WhatsApp Chat with Alice (sales).txt",
    ]
    assert "sales 0" in (tmp_path / "chats" / "sales" / "WhatsApp Chat with Alice (sales).txt").read_text()
    assert "sales" not in (tmp_path / "chats" / "WhatsApp Chat with Alice.txt").read_text()


@pytest.mark.parametrize("count", [3, 1_500])  # small listings upsert; large ones are compared with the table first
def test_listing_the_same_chats_in_another_account_adds_them_there(store: Store, count: int) -> None:
    rows = [ChatRow(f"4915100{i:05d}@s.whatsapp.net", f"c{i}", False, 1_000 + i) for i in range(count)]
    sales, support = store.for_account("sales"), store.for_account("support")
    assert sales.upsert_chats(rows) == PageResult(new=count, updated=0)
    assert support.upsert_chats(rows) == PageResult(new=count, updated=0)
    assert sales.upsert_chats(rows) == PageResult(new=0, updated=0)
    renamed = [rows[0]._replace(name="renamed"), *rows[1:]]
    assert support.upsert_chats(renamed) == PageResult(new=0, updated=1)
    names = {(account, chat.jid): chat.name for account, chat in store.account_chats()}
    assert names[("sales", rows[0].jid)] == "c0"
    assert names[("support", rows[0].jid)] == "renamed"
    assert len(names) == 2 * count


def test_a_version_3_store_is_read_before_and_migrated_by_the_next_write(tmp_path: Path) -> None:
    # Version 4 only records which listing each run made: readers (export, report) need not wait for an extraction.
    path = tmp_path / "v3.db"
    _v2_store(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(f"BEGIN; {MIGRATIONS[2]} PRAGMA user_version = 3; COMMIT;")
    finally:
        conn.close()
    with Store.open(path, readonly=True) as store:
        assert len(store.message_keys()) == 48
    with Store.open(path) as store:
        assert store.last_full_listing() is not None  # the old run listed every chat (NULL listing)
        assert [run["listing"] for run in store.runs()] == [None]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
