"""The store loader: both readers (ADBC, sqlite3 fallback) give the same data, read-only, in conversation order."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

import pyarrow as pa
import pytest

from wamcp.analytics import ReportOptions, analyze, kpis, load, load_store
from wamcp.analytics.load import _conversation_order

from .builder import StoreBuilder, sample_store

ANA = "491701111111@s.whatsapp.net"
BEN = "491702222222@s.whatsapp.net"


@pytest.fixture(params=["adbc", "sqlite3"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each reader: ``sqlite3`` makes the ADBC driver unimportable, as when it is not installed."""
    if request.param == "sqlite3":
        monkeypatch.setitem(sys.modules, "adbc_driver_sqlite", None)
    else:

        def no_fallback(*args: object) -> NoReturn:
            raise AssertionError("the ADBC reader should have read this store")

        monkeypatch.setattr(load, "_read_sqlite3", no_fallback)
    return str(request.param)


def test_both_readers_give_the_same_kpis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = sample_store(tmp_path / "store.db")
    options = ReportOptions.from_text(timezone="Europe/Berlin")
    with_adbc = analyze(store, options)
    monkeypatch.setitem(sys.modules, "adbc_driver_sqlite", None)
    without = analyze(store, options)
    assert with_adbc.kpis["frt"]["sessions"] > 50  # a store with something to compare
    assert without.kpis == with_adbc.kpis
    assert without.sessions.equals(with_adbc.sessions)


def test_messages_are_loaded_in_conversation_order(tmp_path: Path, reader: str) -> None:
    # ids in reverse time order, chats interleaved, a timestamp tie broken by id ("a" < "b")
    b = (
        StoreBuilder()
        .msg(BEN, "2026-03-02 10:00", msg_id="z1")
        .msg(ANA, "2026-03-02 12:00", msg_id="a1", out=True)
        .msg(ANA, "2026-03-02 11:00", msg_id="b1", out=True)
        .msg(ANA, "2026-03-02 11:00", msg_id="c1")
        .msg(ANA, "2026-03-02 09:00", msg_id="d1", media="image")
        .msg(BEN, "2026-03-02 09:00", msg_id="z2")
    )
    duck = load_store(b.write(tmp_path / "store.db"))
    try:
        rows = duck.execute(
            "SELECT c.jid, m.ts_ms, m.is_from_me, m.media_type FROM messages m JOIN chats c USING (chat_no) "
            "ORDER BY m.rowid"
        ).fetchall()
    finally:
        duck.close()
    hour = 3_600_000
    t9 = 1_772_442_000_000  # 2026-03-02 09:00 UTC
    assert rows == [
        (ANA, t9, 0, "image"),
        (ANA, t9 + 2 * hour, 1, None),  # id "b1" before "c1" at the same instant
        (ANA, t9 + 2 * hour, 0, None),
        (ANA, t9 + 3 * hour, 1, None),
        (BEN, t9, 0, None),
        (BEN, t9 + hour, 0, None),
    ]


@pytest.mark.parametrize("names_and_media", [True, False], ids=["full load", "times only"])
def test_times_before_1970_are_read_back_exactly(tmp_path: Path, names_and_media: bool) -> None:
    # The loader packs (time, from-me) into one integer per message; negative times must unpack like the others.
    times = [-86_400_001, -1_500, -1, 0, 1_500]
    b = StoreBuilder()
    for i, ts in enumerate(times):
        b.msg(ANA, ts, out=i % 2 == 0, msg_id=f"t{i}")
    duck = load_store(b.write(tmp_path / "store.db"), names_and_media=names_and_media)
    try:
        rows = duck.execute("SELECT ts_ms, is_from_me FROM messages ORDER BY pos").fetchall()
    finally:
        duck.close()
    assert rows == [(ts, int(i % 2 == 0)) for i, ts in enumerate(times)]


def test_chat_names_and_senders_keep_null_apart_from_empty(tmp_path: Path, reader: str) -> None:
    b = StoreBuilder().chat(ANA, "").chat(BEN, "Ben's Bikes").msg(ANA, "2026-03-02 09:00", sender_name=" Ana ")
    b.msg(BEN, "2026-03-02 09:00").msg(BEN, "2026-03-02 09:05", out=True)
    duck = load_store(b.write(tmp_path / "store.db"))
    try:
        rows = duck.execute("SELECT jid, name, sender_name, own_sender FROM chats ORDER BY jid").fetchall()
    finally:
        duck.close()
    assert rows == [(ANA, "", "Ana", None), (BEN, "Ben's Bikes", None, "4915100000001@s.whatsapp.net")]


def test_reads_the_last_commit_while_a_writer_holds_the_store(tmp_path: Path, reader: str) -> None:
    store = StoreBuilder().msg(ANA, "2026-03-02 09:00").write(tmp_path / "store.db")
    writer = sqlite3.connect(store)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO messages (chat_jid, id, ts_ms, is_from_me) VALUES (?, 'uncommitted', 1772445600000, 1)", (ANA,)
        )
        duck = load_store(store)
        try:
            assert duck.execute("SELECT count(*) FROM messages").fetchone() == (1,)
        finally:
            duck.close()
        writer.rollback()
    finally:
        writer.close()


def test_store_is_not_written(tmp_path: Path, reader: str) -> None:
    store = sample_store(tmp_path / "store.db")
    before = store.read_bytes()
    load_store(store).close()
    assert store.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db"]  # no journal or WAL file left behind


def test_order_falls_back_to_two_keys_when_one_would_overflow() -> None:
    # three chats over ~146,000 years of milliseconds: chat_no * span no longer fits in 64 bits
    chat_no = pa.array([2, 0, 2, 1, 0], type=pa.int32())
    ts_ms = pa.array([5, 2**62, 5, -(2**62), 1], type=pa.int64())
    assert _conversation_order(chat_no, ts_ms).to_pylist() == [4, 1, 3, 0, 2]


def test_sessions_are_still_right_if_duckdb_does_not_stream_in_storage_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = sample_store(tmp_path / "store.db")
    options = ReportOptions.from_text(timezone="Europe/Berlin")
    streamed = analyze(store, options)
    # stand-in for a DuckDB that feeds the windows another order than the stored one: here backwards
    monkeypatch.setattr(kpis, "_STORAGE_ORDER", "ORDER BY pos DESC")
    with caplog.at_level("WARNING", logger="wamcp"):
        sorted_ = analyze(store, options)
    assert "cutting sessions with a sort instead" in caplog.text
    assert sorted_.kpis == streamed.kpis
    assert sorted_.sessions.equals(streamed.sessions)


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_a_store_read_in_ranges_loads_the_same_as_in_one_piece(
    tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    store = sample_store(tmp_path / "store.db")
    options = ReportOptions.from_text(timezone="Europe/Berlin")

    def tables() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        duck = load_store(store)
        try:
            messages = duck.execute("SELECT * FROM messages ORDER BY rowid").fetchall()
            chats = duck.execute("SELECT * FROM chats ORDER BY chat_no").fetchall()
        finally:
            duck.close()
        return messages, chats

    whole, whole_report = tables(), analyze(store, options)
    monkeypatch.setattr(load, "_SPLIT_FROM_CHATS", 1)
    monkeypatch.setattr(load, "_READ_PARTS", parts)
    split_parts, _ = load._read_store(store, None, None, parts)
    if reader == "adbc":
        assert len(split_parts) == parts  # the 30 customers and a group really were cut into ranges
    split = tables()
    # same rows in the same stored order, chats numbered 0..n-1 across the ranges, pos 0..n-1 across them
    assert split == whole
    assert [row[1] for row in split[0]] == list(range(len(whole[0])))
    assert [row[0] for row in split[1]] == list(range(len(whole[1])))
    assert analyze(store, options).kpis == whole_report.kpis


def test_a_load_without_names_and_media_gives_the_same_first_response_times(tmp_path: Path, reader: str) -> None:
    store = sample_store(tmp_path / "store.db")
    options = ReportOptions.from_text(timezone="Europe/Berlin")

    def frt(names_and_media: bool) -> list[tuple[object, ...]]:
        duck = load_store(store, names_and_media=names_and_media)
        try:
            (as_of,) = duck.execute("SELECT max(ts_ms) FROM messages").fetchall()[0]
            kpis._build_sessions(duck, options, as_of)
            return duck.execute("SELECT * FROM frt ORDER BY start_ts, chat_no").fetchall()
        finally:
            duck.close()

    full = frt(True)
    assert len(full) > 50
    assert frt(False) == full
    lean = load_store(store, names_and_media=False)
    try:  # what is left out is left out, not filled with NULLs that would read as "no media"
        assert [d[0] for d in lean.execute("SELECT * FROM messages LIMIT 0").description] == [
            "chat_no",
            "pos",
            "ts_ms",
            "is_from_me",
        ]
        assert [d[0] for d in lean.execute("SELECT * FROM chats LIMIT 0").description] == ["chat_no", "jid", "account"]
    finally:
        lean.close()
