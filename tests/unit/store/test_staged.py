"""Staged bulk loads (Store.stage_messages): rows of many chats in time order, written in key order on commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import wamcp.store.sqlite as store_module
from wamcp.errors import StoreError
from wamcp.store import ChatRow, MessageRow, PageResult, Store, SyncState

from ._helpers import BASE_MS

CHATS = [f"4477009{n:05d}@s.whatsapp.net" for n in range(40)] + ["120363000000000001@g.us"]


def walk_rows(count: int, *, content: str = "hi") -> list[MessageRow]:
    """``count`` messages spread over all chats, newest first (the order of a walk across chats)."""
    rows = [
        MessageRow(
            chat_jid=CHATS[i % len(CHATS)],
            id=f"w{i:05d}",
            ts_ms=BASE_MS + i * 1000,
            sender=None if i % 3 == 0 else "447700900123",
            sender_name=None if i % 3 == 0 else "Alice",
            is_from_me=i % 3 == 0,
            content=f"{content} {i}",
            media_type="image" if i % 11 == 0 else None,
            filename=None,
            id_source="server",
        )
        for i in range(count)
    ]
    return rows[::-1]


def stored(store: Store) -> dict[tuple[str, str], MessageRow]:
    return {(row.chat_jid, row.id): row for row in store.iter_messages()}


def test_staged_rows_are_stored_on_commit_with_their_cursors_and_chat_times(store: Store) -> None:
    rows = walk_rows(1000)
    states = [SyncState(jid, newest_ts_ms=1, oldest_ts_ms=0, backfill_complete=True) for jid in CHATS]
    with store.stage_messages() as staged:
        for start in range(0, len(rows), 64):
            staged.add(rows[start : start + 64])
        assert store.count_messages() == 0  # nothing reaches the store before the commit
        assert staged.chats == len(CHATS)
        assert staged.commit(states, run_id=7) == PageResult(new=1000, updated=0)
    assert stored(store) == {(row.chat_jid, row.id): row for row in rows}
    assert store.sync_states() == {s.chat_jid: SyncState(s.chat_jid, 1, 0, True, None, 7) for s in states}
    newest = {jid: max(r.ts_ms for r in rows if r.chat_jid == jid) for jid in CHATS}
    assert {c.jid: c.last_message_ts_ms for c in store.chats()} == newest
    assert {c.jid: c.is_group for c in store.chats()} == {jid: jid.endswith("@g.us") for jid in CHATS}
    assert store.integrity_check() == "ok"


def stored_walk(store: Store, count: int) -> list[MessageRow]:
    """A first walk of ``count`` rows, staged and committed: all new."""
    rows = walk_rows(count)
    with store.stage_messages() as staged:
        staged.add(rows)
        assert staged.commit() == PageResult(new=count, updated=0)
    return rows


def test_counts_are_honest_when_each_key_is_staged_once(store: Store) -> None:
    rows = stored_walk(store, 300)
    changed = rows[5]._replace(content="edited")
    with store.stage_messages() as staged:
        staged.add([*rows[:5], changed, *rows[6:]])  # all unchanged but one
        staged.add([MessageRow(CHATS[0], "brand-new", BASE_MS, None, None, True, "new", None, None, "server")])
        assert staged.commit() == PageResult(new=1, updated=1)
    messages = stored(store)
    assert len(messages) == 301
    assert messages[(changed.chat_jid, changed.id)] == changed


def test_the_last_staged_row_of_a_key_wins_and_each_change_counts(store: Store) -> None:
    rows = stored_walk(store, 300)
    edited = rows[5]._replace(content="edited")
    twice = MessageRow(CHATS[1], "twice", BASE_MS, None, None, True, "first", None, None, "server")
    with store.stage_messages() as staged:
        staged.add(rows)  # all unchanged...
        staged.add([twice, rows[5]._replace(content="an edit overwritten by the next one")])
        staged.add([edited, twice._replace(content="second")])  # ...but one key changed twice, one new key twice
        # One new key; the stored row of rows[5] changed twice in the commit, and so did the new key's.
        assert staged.commit() == PageResult(new=1, updated=3)
    messages = stored(store)
    assert len(messages) == 301
    assert messages[(edited.chat_jid, edited.id)] == edited
    assert messages[(twice.chat_jid, twice.id)] == twice._replace(content="second")


def test_a_commit_is_one_transaction_with_its_cursors(store: Store) -> None:
    rows = walk_rows(1000)
    with store.stage_messages() as staged:
        staged.add(rows[:400])
        staged.add(rows[400:])
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        try:
            assert staged.commit([SyncState(CHATS[0], cursor="done")]) == PageResult(new=1000, updated=0)
        finally:
            store._conn.set_trace_callback(None)
    assert sum(s.startswith("BEGIN") for s in statements) == 1
    assert stored(store) == {(row.chat_jid, row.id): row for row in rows}
    assert store.sync_state(CHATS[0]) == SyncState(CHATS[0], cursor="done")


def test_a_stage_closed_without_commit_leaves_the_store_as_it_was(store: Store) -> None:
    store.upsert_chats([ChatRow(CHATS[0], "Alice", False, None)])
    with store.stage_messages() as staged:
        staged.add(walk_rows(50))
    assert store.count_messages() == 0
    assert store.sync_states() == {}
    assert [c.jid for c in store.chats()] == [CHATS[0]]

    def failing_walk() -> None:
        with store.stage_messages() as staged:
            staged.add(walk_rows(50))
            raise RuntimeError("the walk failed")

    with pytest.raises(RuntimeError):
        failing_walk()
    assert store.count_messages() == 0


def test_stages_of_two_accounts_on_one_connection_do_not_disturb_each_other(store: Store) -> None:
    other = store.for_account("shop-2")
    first, second = store.stage_messages(), other.stage_messages()
    first.add(walk_rows(100))
    second.add(walk_rows(60))
    assert second.commit() == PageResult(new=60, updated=0)
    assert first.commit() == PageResult(new=100, updated=0)
    assert store.count_messages(accounts=["default"]) == 100
    assert store.count_messages(accounts=["shop-2"]) == 60


def test_an_empty_stage_still_writes_its_cursors(store: Store) -> None:
    with store.stage_messages() as staged:
        staged.add([])
        assert staged.commit([SyncState(CHATS[1], newest_ts_ms=5)], run_id=3) == PageResult(0, 0)
    assert store.sync_state(CHATS[1]) == SyncState(CHATS[1], newest_ts_ms=5, last_run=3)


def test_staged_rows_leave_no_file_behind(tmp_path: Path) -> None:
    with Store.open(tmp_path / "wa.db") as store:
        staged = store.stage_messages()
        staged.add(walk_rows(200))
        # a process killed here loses the staged rows and nothing else: they are in a temporary file of the
        # connection, which the operating system removes with it
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("wa.db")) == []
    conn = sqlite3.connect(tmp_path / "wa.db")
    try:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    finally:
        conn.close()


@pytest.mark.parametrize("fails", [False, True])
def test_a_commit_gives_the_page_cache_back_whatever_happens(store: Store, fails: bool) -> None:
    (cache_before,) = store._conn.execute("PRAGMA main.cache_size").fetchone()
    with store.stage_messages() as staged:
        staged.add(walk_rows(100))
        if fails:
            # A trigger that fails the upsert half-way: the cache is restored and nothing is stored.
            store._conn.execute(
                "CREATE TEMP TRIGGER fail_upsert BEFORE INSERT ON main.messages WHEN NEW.id = 'w00050'"
                " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
            )
            with pytest.raises(StoreError, match="disk says no"):
                staged.commit()
        else:
            staged.commit()
    assert store._conn.execute("PRAGMA main.cache_size").fetchone() == (cache_before,)
    assert store.count_messages() == (0 if fails else 100)


def test_the_wal_of_a_large_commit_is_cut_back_once_checkpointed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "WAL_SIZE_LIMIT", 32 * 1024)
    wal = tmp_path / "wa.db-wal"
    with Store.open(tmp_path / "wa.db") as store:
        with store.stage_messages() as staged:
            staged.add(walk_rows(4000, content="a message long enough to fill some pages " * 4))
            staged.commit()
        grown = wal.stat().st_size
        store._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        store.upsert_chats([ChatRow(CHATS[0], "Alice", False, None)])  # the next write starts the WAL over
        assert grown > 1024 * 1024
        assert wal.stat().st_size <= 32 * 1024
