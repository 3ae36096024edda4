"""The Store: idempotent upserts, honest counts, sync state, runs, ordered constant-memory reads, clear open errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wamcp.store
from wamcp.analytics.load import open_store_readonly
from wamcp.errors import StoreError
from wamcp.store import ChatRow, MessageRow, PageResult, Store, SyncState
from wamcp.store.schema import SCHEMA_VERSION, migrate
from wamcp.store.sqlite import _UPSERT_MESSAGE, _execute_rows, readonly_uri

from ._helpers import BASE_MS, make_page

CHAT = "447700900123@s.whatsapp.net"
GROUP = "120363000000000000@g.us"


def test_public_api_is_pinned() -> None:
    assert sorted(wamcp.store.__all__) == ["ChatRow", "MessageRow", "PageResult", "Store", "SyncState"]


def test_open_creates_a_migrated_wal_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "new.db") as store:
        assert store.path == tmp_path / "new.db"
        assert store.integrity_check() == "ok"
    conn = sqlite3.connect(tmp_path / "new.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "messages_chat_ts" in indexes
    finally:
        conn.close()


def test_reopen_keeps_data(tmp_path: Path) -> None:
    with Store.open(tmp_path / "wa.db") as store:
        store.save_page(CHAT, make_page(CHAT, 0, 3), state=SyncState(CHAT, cursor="c"))
    with Store.open(tmp_path / "wa.db", readonly=True) as store:
        assert store.count_messages() == 3
        assert store.sync_state(CHAT) == SyncState(CHAT, cursor="c")


def test_saving_the_same_page_twice_adds_nothing(store: Store) -> None:
    page = make_page(CHAT, 0, 50)
    state = SyncState(CHAT, newest_ts_ms=page[-1].ts_ms, oldest_ts_ms=page[0].ts_ms, cursor="p1")
    assert store.save_page(CHAT, page, state=state) == PageResult(new=50, updated=0)
    assert store.save_page(CHAT, page, state=state) == PageResult(new=0, updated=0)
    assert store.count_messages(CHAT) == 50
    assert list(store.iter_messages()) == page


def test_changed_row_counts_as_updated(store: Store) -> None:
    page = make_page(CHAT, 0, 10)
    store.save_page(CHAT, page, state=SyncState(CHAT))
    changed = [*page[:3], page[3]._replace(content="edited"), page[4]._replace(sender_name=None), *page[5:]]
    assert store.save_page(CHAT, changed, state=SyncState(CHAT)) == PageResult(new=0, updated=2)
    assert list(store.iter_messages()) == changed


def test_page_with_new_and_changed_rows(store: Store) -> None:
    store.save_page(CHAT, make_page(CHAT, 0, 10), state=SyncState(CHAT))
    page = [make_page(CHAT, 0, 1)[0]._replace(is_from_me=True), *make_page(CHAT, 10, 5)]
    assert store.save_page(CHAT, page, state=SyncState(CHAT)) == PageResult(new=5, updated=1)


def test_pages_of_new_chats_in_one_group_count_overlapping_rows_once(store: Store) -> None:
    # A chat read page by page repeats the rows of the second where a page was cut. Its pages may commit in one
    # group, before the chat has a cursor: the second page's repeats are not new.
    first, second = make_page(CHAT, 0, 5), make_page(CHAT, 4, 3)
    group = [
        (CHAT, first, SyncState(CHAT, cursor="p1")),
        (GROUP, make_page(GROUP, 0, 2), SyncState(GROUP)),
        (CHAT, second, SyncState(CHAT, cursor="p2")),
    ]
    assert store.save_pages(group) == [PageResult(5, 0), PageResult(2, 0), PageResult(2, 0)]
    later = [*make_page(CHAT, 6, 2), make_page(CHAT, 0, 1)[0]._replace(content="edited")]
    assert store.save_pages([(CHAT, later, SyncState(CHAT))]) == [PageResult(1, 1)]
    assert store.count_messages(CHAT) == 8


def test_duplicate_ids_within_a_page_last_wins(store: Store) -> None:
    first = make_page(CHAT, 0, 1)[0]
    result = store.save_page(CHAT, [first, first._replace(content="second")], state=SyncState(CHAT))
    assert result == PageResult(new=1, updated=0)
    assert [m.content for m in store.iter_messages()] == ["second"]


def test_empty_page_still_writes_the_cursor(store: Store) -> None:
    state = SyncState(CHAT, backfill_complete=True, cursor=None, last_run=7)
    assert store.save_page(CHAT, [], state=state) == PageResult(0, 0)
    assert store.sync_state(CHAT) == state


def test_page_rows_must_belong_to_the_chat(store: Store) -> None:
    with pytest.raises(ValueError, match="belongs to chat"):
        store.save_page(CHAT, make_page(GROUP, 0, 1), state=SyncState(CHAT))
    with pytest.raises(ValueError, match="sync state is for chat"):
        store.save_page(CHAT, make_page(CHAT, 0, 1), state=SyncState(GROUP))
    assert store.count_messages() == 0


def test_sync_state_round_trips_and_is_overwritten(store: Store) -> None:
    assert store.sync_state(CHAT) is None
    run = store.start_run("demo")
    store.save_page(CHAT, make_page(CHAT, 0, 2), state=SyncState(CHAT, 5, 1, False, "cur-1"), run_id=run)
    assert store.sync_state(CHAT) == SyncState(CHAT, 5, 1, False, "cur-1", run)
    store.save_page(CHAT, [], state=SyncState(CHAT, 9, 0, True, None), run_id=run)
    store.save_page(GROUP, [], state=SyncState(GROUP, cursor="g"))
    assert store.sync_states() == {
        CHAT: SyncState(CHAT, 9, 0, True, None, run),
        GROUP: SyncState(GROUP, cursor="g"),
    }


def test_save_page_records_the_chat_and_its_last_message(store: Store) -> None:
    store.save_page(GROUP, make_page(GROUP, 5, 5), state=SyncState(GROUP))
    store.save_page(GROUP, make_page(GROUP, 0, 5), state=SyncState(GROUP))
    assert store.chats() == [ChatRow(GROUP, None, True, BASE_MS + 9 * 60_000)]


def test_upsert_chats_counts_and_keeps_known_names(store: Store) -> None:
    rows = [ChatRow(CHAT, "Alice", False, BASE_MS), ChatRow(GROUP, "Team", True, None)]
    assert store.upsert_chats(rows) == PageResult(new=2, updated=0)
    assert store.upsert_chats(rows) == PageResult(new=0, updated=0)
    # A missing name and an older last-message time change nothing; a renamed chat is an update.
    assert store.upsert_chats([ChatRow(CHAT, None, False, BASE_MS - 1)]) == PageResult(0, 0)
    assert store.upsert_chats([ChatRow(GROUP, "Team 2", True, BASE_MS)], run_id=None) == PageResult(0, 1)
    assert store.chats() == [ChatRow(GROUP, "Team 2", True, BASE_MS), ChatRow(CHAT, "Alice", False, BASE_MS)]
    assert store.upsert_chats([]) == PageResult(0, 0)


@pytest.mark.parametrize("extra", [0, 1_500])
def test_large_listings_follow_the_same_upsert_rules(store: Store, extra: int) -> None:
    """With 1,000+ chats the store compares the listing with the table and writes only changes: the counts and
    the result must be those of the plain upsert (small listings take that path)."""
    filler = [ChatRow(f"4915100{i:05d}@s.whatsapp.net", f"c{i}", False, BASE_MS + i) for i in range(extra)]
    rows = [ChatRow(CHAT, "Alice", False, BASE_MS), ChatRow(GROUP, "Team", True, None), *filler]
    assert store.upsert_chats(rows, run_id=1) == PageResult(new=2 + extra, updated=0)
    assert store.upsert_chats(rows, run_id=2) == PageResult(new=0, updated=0)
    changes = [
        ChatRow(CHAT, None, False, BASE_MS - 1),  # no name, older time: nothing changes
        ChatRow(GROUP, "Team 2", True, BASE_MS),  # renamed, first time: an update
        ChatRow("33600000001@s.whatsapp.net", "New", False, BASE_MS),  # a new chat
        *[row._replace(last_message_ts_ms=row.last_message_ts_ms + 5) for row in filler[:10]],  # newer messages
        *filler[10:],
    ]
    assert store.upsert_chats(changes, run_id=3) == PageResult(new=1, updated=1 + min(extra, 10))
    by_jid = {row.jid: row for row in store.chats()}
    assert by_jid[CHAT] == ChatRow(CHAT, "Alice", False, BASE_MS)
    assert by_jid[GROUP] == ChatRow(GROUP, "Team 2", True, BASE_MS)
    if extra:
        assert by_jid[filler[0].jid].last_message_ts_ms == BASE_MS + 5
        assert by_jid[filler[11].jid] == filler[11]
    with sqlite3.connect(store.path) as conn:
        (untouched,) = conn.execute("SELECT count(*) FROM chats WHERE updated_run = 1").fetchone()
    assert untouched == 1 + max(extra - 10, 0)  # Alice and the unchanged filler were not rewritten


def test_runs_lifecycle(store: Store) -> None:
    first = store.start_run("stdio:whatsapp-mcp")
    second = store.start_run("demo")
    store.finish_run(second, status="partial", chats_total=3, chats_done=2, chats_failed=1, errors=["chat x: boom"])
    assert store.mark_interrupted_runs() == 1
    assert store.mark_interrupted_runs() == 0
    runs = store.runs()
    assert [r["id"] for r in runs] == [first, second]
    assert runs[0]["status"] == "interrupted"
    assert runs[0]["finished_at"] is not None
    assert runs[1]["status"] == "partial"
    assert runs[1]["errors"] == ["chat x: boom"]
    assert (runs[1]["chats_total"], runs[1]["chats_done"], runs[1]["chats_failed"]) == (3, 2, 1)
    with pytest.raises(StoreError, match="no such run"):
        store.finish_run(999, status="complete")


def test_messages_record_the_runs_that_wrote_them(store: Store, tmp_path: Path) -> None:
    one = store.start_run("a")
    store.save_page(CHAT, make_page(CHAT, 0, 2), state=SyncState(CHAT), run_id=one)
    two = store.start_run("b")
    page = make_page(CHAT, 0, 2)
    store.save_page(CHAT, [page[0]._replace(content="x"), page[1]], state=SyncState(CHAT), run_id=two)
    conn = sqlite3.connect(tmp_path / "wa.db")
    try:
        rows = conn.execute("SELECT id, first_run, updated_run FROM messages ORDER BY id").fetchall()
    finally:
        conn.close()
    assert rows == [("m000000", one, two), ("m000001", one, one)]


def test_iter_messages_orders_by_chat_time_id_and_filters(store: Store) -> None:
    store.save_page(GROUP, make_page(GROUP, 0, 20), state=SyncState(GROUP))
    store.save_page(CHAT, make_page(CHAT, 0, 20), state=SyncState(CHAT))
    everything = list(store.iter_messages(batch_size=3))
    assert [(m.chat_jid, m.ts_ms, m.id) for m in everything] == sorted((m.chat_jid, m.ts_ms, m.id) for m in everything)
    assert len(everything) == 40
    only_group = list(store.iter_messages(chat_jids=[GROUP, GROUP, "unknown@g.us"]))
    assert {m.chat_jid for m in only_group} == {GROUP}
    assert len(only_group) == 20
    window = list(store.iter_messages(since_ms=BASE_MS + 5 * 60_000, until_ms=BASE_MS + 8 * 60_000, batch_size=1))
    assert sorted({m.id for m in window}) == ["m000005", "m000006", "m000007"]
    assert len(window) == 6
    assert list(store.iter_messages(chat_jids=[])) == []


def test_iter_messages_pages_through_equal_timestamps(store: Store) -> None:
    ids = ["", "a", "b", "c", "d"]
    rows = [MessageRow(CHAT, i, BASE_MS, None, None, False, i or "empty id", None, None, "derived") for i in ids]
    store.save_page(CHAT, rows, state=SyncState(CHAT))
    for batch_size in (1, 2, 5, 6):
        got = list(store.iter_messages(batch_size=batch_size, since_ms=BASE_MS))
        assert [m.id for m in got] == ids
    with pytest.raises(ValueError, match="batch_size"):
        list(store.iter_messages(batch_size=0))


def test_message_keys_and_counts(store: Store) -> None:
    store.save_page(CHAT, make_page(CHAT, 0, 3), state=SyncState(CHAT))
    store.save_page(GROUP, make_page(GROUP, 0, 2), state=SyncState(GROUP))
    assert store.message_keys() == {(CHAT, "m000000"), (CHAT, "m000001"), (CHAT, "m000002")} | {
        (GROUP, "m000000"),
        (GROUP, "m000001"),
    }
    assert (store.count_messages(), store.count_messages(CHAT), store.count_messages("x")) == (5, 3, 0)


def test_rows_come_back_with_python_types(store: Store) -> None:
    row = MessageRow(CHAT, "id-1", BASE_MS, None, None, True, 'multi\nline, "quoted" ✓', None, None, "derived")
    store.save_page(CHAT, [row], state=SyncState(CHAT))
    (back,) = store.iter_messages()
    assert back == row
    assert back.is_from_me is True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pages=st.lists(
        st.lists(
            st.tuples(st.integers(0, 15), st.integers(0, 3), st.booleans(), st.sampled_from(["a", "b", "a\nb"])),
            max_size=12,
        ),
        max_size=8,
    )
)
def test_counts_match_a_model_for_any_sequence_of_pages(
    tmp_path_factory: pytest.TempPathFactory, pages: list[list[tuple[int, int, bool, str]]]
) -> None:
    model: dict[str, MessageRow] = {}
    with Store.open(tmp_path_factory.mktemp("h") / "wa.db") as store:
        for spec in pages:
            rows = [
                MessageRow(CHAT, f"id{n}", BASE_MS + t, None, None, me, c, None, None, "server") for n, t, me, c in spec
            ]
            page_model = {r.id: r for r in rows}
            expected_new = sum(1 for i in page_model if i not in model)
            expected_updated = sum(1 for i, r in page_model.items() if i in model and model[i] != r)
            model.update(page_model)
            assert store.save_page(CHAT, rows, state=SyncState(CHAT)) == PageResult(expected_new, expected_updated)
        assert sorted(store.iter_messages(batch_size=4)) == sorted(model.values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pages=st.lists(
        st.tuples(
            st.sampled_from([CHAT, GROUP]),
            st.lists(st.tuples(st.integers(0, 9), st.integers(0, 40), st.sampled_from(["a", "b"])), max_size=6),
            st.sampled_from([None, "c1", "c2"]),
        ),
        max_size=8,
    ),
    stored_first=st.booleans(),
)
def test_a_group_of_pages_lands_as_its_pages_saved_one_by_one(
    tmp_path_factory: pytest.TempPathFactory,
    pages: list[tuple[str, list[tuple[int, int, str]], str | None]],
    stored_first: bool,
) -> None:
    """One group commit (many chats' pages, a chat's pages repeating each other's rows, chats with or without a
    cursor yet) counts, stores and leaves cursors and chats' last activity exactly as saving its pages in turn."""
    group = [
        (
            jid,
            [
                MessageRow(jid, f"id{n}", BASE_MS + t * 1000, None, None, False, c, None, None, "server")
                for n, t, c in spec
            ],
            SyncState(jid, newest_ts_ms=BASE_MS + len(spec), cursor=cursor),
        )
        for jid, spec, cursor in pages
    ]
    folder = tmp_path_factory.mktemp("g")
    with Store.open(folder / "group.db") as grouped, Store.open(folder / "turns.db") as turns:
        if stored_first:  # one chat already has rows and a cursor: its pages are counted against them
            for store in (grouped, turns):
                store.save_page(CHAT, make_page(CHAT, 0, 3), state=SyncState(CHAT, cursor="old"))
        assert grouped.save_pages(group, run_id=None) == [
            turns.save_page(jid, rows, state=state) for jid, rows, state in group
        ]
        assert sorted(grouped.iter_messages()) == sorted(turns.iter_messages())
        assert grouped.sync_states() == turns.sync_states()
        assert grouped.chats() == turns.chats()


def test_reader_is_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    db = tmp_path / "wa.db"
    with Store.open(db) as writer, Store.open(db, readonly=True) as reader:
        writer.save_page(CHAT, make_page(CHAT, 0, 10), state=SyncState(CHAT))
        raw = sqlite3.connect(db, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("DELETE FROM messages")
            # The uncommitted delete is invisible, and reading does not wait for the writer (WAL).
            assert reader.count_messages() == 10
            assert len(list(reader.iter_messages())) == 10
            raw.execute("ROLLBACK")
        finally:
            raw.close()


def test_concurrent_reader_only_sees_whole_pages(tmp_path: Path) -> None:
    db = tmp_path / "wa.db"
    errors: list[BaseException] = []
    seen: list[int] = []
    with Store.open(db) as writer, Store.open(db, readonly=True) as reader:
        done = threading.Event()

        def write() -> None:
            try:
                for k in range(40):
                    writer.save_page(CHAT, make_page(CHAT, k * 100, 100), state=SyncState(CHAT, cursor=str(k)))
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                done.set()

        thread = threading.Thread(target=write)
        thread.start()
        while not done.is_set():
            seen.append(reader.count_messages())
        thread.join(timeout=60)
        assert not errors
        assert all(count % 100 == 0 for count in seen)
        assert reader.count_messages() == 4000


def test_store_is_usable_from_several_threads(store: Store) -> None:
    def save(chat: str) -> None:
        for k in range(5):
            store.save_page(chat, make_page(chat, k * 10, 10), state=SyncState(chat, cursor=str(k)))

    threads = [threading.Thread(target=save, args=(f"{n}@s.whatsapp.net",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert store.count_messages() == 200


def test_open_rejects_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_bytes(b"this is a text file, definitely not SQLite\n" * 200)
    with pytest.raises(StoreError, match="not a usable wamcp store") as info:
        Store.open(bogus)
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError, match="not a usable wamcp store"):
        Store.open(bogus, readonly=True)


def test_open_rejects_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    Store.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer than this wamcp") as info:
            Store.open(db, readonly=readonly)
        assert "upgrade wamcp" in str(info.value)


def test_open_rejects_someone_elses_database(tmp_path: Path) -> None:
    db = tmp_path / "bridge.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE messages (id TEXT, chat_jid TEXT)")
    conn.close()
    with pytest.raises(StoreError, match="not a wamcp store"):
        Store.open(db)


def test_readonly_open_refuses_an_unmigrated_store(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    with pytest.raises(StoreError, match="older than this wamcp"):
        Store.open(db, readonly=True)


def test_open_reports_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nowhere" / "wa.db")
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_path / "missing.db", readonly=True)
    with pytest.raises(StoreError, match="is a directory"):
        Store.open(tmp_path)


def test_open_reports_an_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        probe = locked / "probe"
        try:
            probe.write_text("x")
        except PermissionError:
            pass
        else:  # running as root: permissions are not enforced
            probe.unlink()
            pytest.skip("permissions are not enforced for this user")
        with pytest.raises(StoreError, match="cannot open store"):
            Store.open(locked / "wa.db")
    finally:
        locked.chmod(0o700)


def test_open_reports_a_corrupt_store(tmp_path: Path) -> None:
    db = tmp_path / "wa.db"
    with Store.open(db) as store:
        for k in range(20):
            store.save_page(CHAT, make_page(CHAT, k * 200, 200, content="x" * 200), state=SyncState(CHAT))
    (tmp_path / "wa.db-wal").unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    data[4096 * 3 : 4096 * 40] = b"\xff" * (4096 * 37)
    db.write_bytes(bytes(data))
    with Store.open(db) as store:
        assert store.integrity_check() != "ok"
        with pytest.raises(StoreError, match="malformed") as info:
            list(store.iter_messages())
    assert "may be corrupt" in str(info.value)
    assert "\n" not in str(info.value)


def test_closed_and_readonly_stores_refuse_writes(tmp_path: Path) -> None:
    db = tmp_path / "wa.db"
    store = Store.open(db)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.count_messages()
    with Store.open(db, readonly=True) as reader, pytest.raises(StoreError, match="read-only"):
        reader.start_run("x")


def test_failed_page_rolls_back_everything(store: Store) -> None:
    bad = make_page(CHAT, 0, 3)
    bad[2] = bad[2]._replace(content=None)  # type: ignore[arg-type]  # violates NOT NULL on purpose
    with pytest.raises(StoreError, match="save a page"):
        store.save_page(CHAT, bad, state=SyncState(CHAT, cursor="never"))
    assert store.count_messages() == 0
    assert store.sync_state(CHAT) is None
    assert store.chats() == []
    assert store.save_page(CHAT, make_page(CHAT, 0, 3), state=SyncState(CHAT)) == PageResult(3, 0)


def test_open_reports_a_path_under_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(StoreError, match="cannot open store") as info:
        Store.open(afile / "wa.db")
    assert "permissions" in str(info.value)


def test_in_memory_store_works_without_wal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("WARNING", logger="wamcp"), Store.open(":memory:") as store:
        store.save_page(CHAT, make_page(CHAT, 0, 3), state=SyncState(CHAT))
        assert store.count_messages() == 3
    assert "not WAL" in caplog.text


def test_a_store_in_a_directory_that_cannot_be_written_is_read_as_immutable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "wa.db"
    with Store.open(db) as store:
        store.save_page(CHAT, make_page(CHAT, 0, 5), state=SyncState(CHAT))
    assert readonly_uri(db).endswith("?mode=ro")  # a writable directory: a reader shares the -shm file
    unwritable = {db.parent}
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: p not in unwritable and real_access(p, mode))
    assert readonly_uri(db).endswith("?mode=ro&immutable=1")  # a read-only mount: it could not create one
    with Store.open(db, readonly=True) as store:
        assert store.count_messages() == 5
    (tmp_path / "wa.db-wal").write_bytes(b"x" * 100)  # a log to replay: immutable would hide its commits
    assert readonly_uri(db).endswith("?mode=ro")


@pytest.mark.skipif(not Path("/bin/mount").exists() and not Path("/usr/bin/mount").exists(), reason="no mount")
def test_a_store_on_a_read_only_mount_opens_for_reading(tmp_path: Path) -> None:
    source, mounted = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    mounted.mkdir()
    with Store.open(source / "wa.db") as store:
        store.save_page(CHAT, make_page(CHAT, 0, 7), state=SyncState(CHAT))
    bind = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True, check=False)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mounted)], check=True, capture_output=True)
        with pytest.raises(OSError, match="Read-only file system"):
            (mounted / "probe").write_text("x")
        with Store.open(mounted / "wa.db", readonly=True) as store:  # what export reads through
            assert store.count_messages() == 7
        open_store_readonly(mounted / "wa.db").close()  # what the report reads through
    finally:
        subprocess.run(["umount", str(mounted)], check=False, capture_output=True)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 80), st.integers(0, 3), st.sampled_from(["a", "b"])), min_size=130, max_size=300
    ),
    stored=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 3), st.sampled_from(["a", "b"])), max_size=40),
)
def test_multi_row_statements_do_what_executemany_does(
    rows: list[tuple[int, int, str]], stored: list[tuple[int, int, str]]
) -> None:
    """The store's bulk writes go in statements of many rows: same rows, same order (the last of a key wins, also
    across statements), same count of changes as one statement per row, for inserts and no-op or real updates."""

    def params(spec: list[tuple[int, int, str]]) -> list[tuple[object, ...]]:
        return [(CHAT, f"id{n}", BASE_MS + t, None, None, False, c, None, None, "server", 1, 1, "") for n, t, c in spec]

    results = []
    for bulk in (False, True):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        migrate(conn)
        conn.executemany(_UPSERT_MESSAGE, params(stored))
        if bulk:
            changed = _execute_rows(conn, _UPSERT_MESSAGE, params(rows))
        else:
            changed = conn.executemany(_UPSERT_MESSAGE, params(rows)).rowcount
        results.append((changed, conn.execute("SELECT * FROM messages ORDER BY id").fetchall()))
        conn.close()
    assert results[0] == results[1]
