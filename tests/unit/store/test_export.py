"""Exports read back equal the store (every field; txt at minute resolution in local time), stream in bounded memory,
and never leave a half-written file behind."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wamcp.chat_export import EMPTY_BODY, MEDIA_OMITTED, read_chat_export
from wamcp.errors import StoreError
from wamcp.store import ChatRow, MessageRow, Store, SyncState
from wamcp.store import export as export_module
from wamcp.store.export import (
    COLUMNS,
    FORMATS,
    PARQUET_SCHEMA,
    ExportResult,
    export,
    export_parquet,
    export_txt,
    iso_utc,
)

from ._helpers import BASE_MS, make_page

ALICE = "447700900123@s.whatsapp.net"
TEAM = "120363000000000000@g.us"
WJ = "\u2060"

TRICKY = [
    MessageRow(
        ALICE, "a1", 1_711_846_740_000, "447700900123", "Alice: VIP", False, 'hi, "there"\nline 2', None, None, "server"
    ),
    MessageRow(
        ALICE, "a2", 1_711_846_800_000, None, None, True, "Yes!\r\n13/01/2024, 09:02 - Bob: fake", None, None, "server"
    ),
    MessageRow(ALICE, "a3", 1_711_846_801_500, "447700900123", None, False, "", "image", "IMG-1.jpg", "derived"),
    MessageRow(ALICE, "a4", 1_711_846_802_000, "447700900123", None, False, "caption ✓", "video", None, "server"),
    MessageRow(ALICE, "a5", 1_711_846_803_000, "447700900123", None, False, "  ", None, None, "derived"),
    MessageRow(ALICE, "a6", 1_711_846_804_000, None, None, True, "", None, None, "server"),
    MessageRow(TEAM, "t1", BASE_MS, "447700900999", None, False, "𝄞 emoji 🎉, comma", None, None, "server"),
    MessageRow(TEAM, "t2", BASE_MS + 1, None, "Bob\nSmith", False, "=1+2\n\n2024-01-13 09:02 x", None, None, "server"),
]


@pytest.fixture
def filled(store: Store) -> Store:
    store.upsert_chats([ChatRow(ALICE, "Alice", False, None), ChatRow(TEAM, "Team: Sales", True, None)])
    for chat in (ALICE, TEAM):
        store.save_page(chat, [r for r in TRICKY if r.chat_jid == chat], state=SyncState(chat))
    return store


def _expected(store: Store, **filters: Any) -> list[dict[str, Any]]:
    names = {(account, c.jid): c.name for account, c in store.account_chats()}
    return [
        {
            **row._asdict(),
            "chat_name": names.get((account, row.chat_jid)),
            "timestamp": datetime.fromtimestamp(row.ts_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account": account,
        }
        for account, row in store.iter_account_messages(**filters)
    ]


def _read_json(path: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _read_csv(path: Path) -> list[dict[str, Any]]:
    nullable = {"chat_name", "sender", "sender_name", "media_type", "filename"}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows: list[dict[str, Any]] = []
        for raw in reader:
            row: dict[str, Any] = {k: (None if k in nullable and v == "" else v) for k, v in raw.items()}
            row["ts_ms"] = int(row["ts_ms"])
            assert row["is_from_me"] in ("true", "false")
            row["is_from_me"] = row["is_from_me"] == "true"
            rows.append(row)
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    table = pq.read_table(path)
    assert table.schema.equals(PARQUET_SCHEMA)
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:
        moment = row["timestamp"]
        assert int(moment.timestamp() * 1000) == row["ts_ms"]
        row["timestamp"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return rows


READERS = {"json": _read_json, "jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_tabular_export_round_trips_every_field(filled: Store, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    result = export(filled, fmt, out, batch_size=2)
    assert (result.format, result.path, result.messages) == (fmt, out, len(TRICKY))
    back = READERS[fmt](out)
    assert [list(row) for row in back] == [list(COLUMNS)] * len(back)
    assert back == _expected(filled)
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_tabular_export_filters_by_chat_and_time(filled: Store, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    filters: dict[str, Any] = {"chat_jids": [ALICE], "since_ms": 1_711_846_800_000, "until_ms": 1_711_846_803_000}
    assert export(filled, fmt, out, **filters).messages == 3
    assert READERS[fmt](out) == _expected(filled, **filters)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_empty_selection_writes_a_valid_empty_file(filled: Store, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    assert export(filled, fmt, out, chat_jids=["nobody@s.whatsapp.net"]).messages == 0
    assert READERS[fmt](out) == []


def test_csv_is_rfc4180(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    export(filled, "csv", out)
    raw = out.read_bytes()
    assert raw.startswith(b"chat_jid,chat_name,id,timestamp,ts_ms,")
    assert raw.endswith(b"\r\n")
    assert b'"hi, ""there""\nline 2"' in raw  # quoted, quotes doubled, the content's own newline kept


def test_json_objects_are_exactly_what_json_dumps_writes(filled: Store) -> None:
    for row in filled.iter_messages():
        expected = {**row._asdict(), "chat_name": 'x"y', "timestamp": iso_utc(row.ts_ms), "account": "sales ✓"}
        expected = {column: expected[column] for column in COLUMNS}
        assert export_module._json_object(row, 'x"y', "sales ✓") == json.dumps(expected, ensure_ascii=False)


def test_json_is_one_streamed_array(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    export(filled, "json", out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("[\n{")
    assert text.endswith("}\n]\n")
    assert "🎉" in text  # UTF-8, not \\u escapes


def test_parquet_writes_row_groups(store: Store, tmp_path: Path) -> None:
    store.save_page(ALICE, make_page(ALICE, 0, 250), state=SyncState(ALICE))
    out = tmp_path / "out.parquet"
    assert export_parquet(store, out, row_group_rows=100).messages == 250
    meta = pq.ParquetFile(out).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [100, 100, 50]
    assert pq.read_table(out).schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")


def test_iso_utc_matches_datetime() -> None:
    for ts in (0, 1, 999, 1_743_166_400_000, 1_743_166_400_999, -1, -86_400_001, 253_402_300_799_000):
        assert iso_utc(ts) == datetime.fromtimestamp(ts // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso_utc(1_743_166_400_000) == "2025-03-28T12:53:20Z"


def _expected_body(row: MessageRow) -> str:
    text = row.content.replace("\r\n", "\n")
    if row.media_type:
        return f"{MEDIA_OMITTED}\n{text}" if text else MEDIA_OMITTED
    return text or EMPTY_BODY


def test_txt_export_reads_back_in_local_time(filled: Store, tmp_path: Path) -> None:
    zone = ZoneInfo("America/Sao_Paulo")
    result = export(filled, "txt", tmp_path / "chats", zone=zone, business_name="Acme: Store")
    assert result.messages == len(TRICKY)
    assert sorted(p.name for p in result.files) == [
        "WhatsApp Chat with Alice.txt",
        "WhatsApp Chat with Team_ Sales.txt",
    ]
    names = {ALICE: "Alice", TEAM: None}
    for path in result.files:
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in raw
        jid = ALICE if "Alice" in path.name else TEAM
        stored = list(filled.iter_messages(chat_jids=[jid]))
        back = read_chat_export(raw.decode("utf-8"))
        assert len(back) == len(stored)
        for row, message in zip(stored, back, strict=True):
            local = datetime.fromtimestamp(row.ts_ms / 1000, zone).replace(second=0, microsecond=0, tzinfo=None)
            assert message.time == local
            expected_author = "Acme∶ Store" if row.is_from_me else row.sender_name or names[jid] or row.sender
            assert message.author == " ".join(str(expected_author).replace(":", "∶").split())
            assert message.text == _expected_body(row)


def test_txt_names_and_bodies_follow_the_phone(filled: Store, tmp_path: Path) -> None:
    result = export_txt(filled, tmp_path, business_name="Acme", zone=UTC)
    alice = (tmp_path / "WhatsApp Chat with Alice.txt").read_text(encoding="utf-8")
    assert alice.splitlines()[0] == '31/03/2024, 00:59 - Alice∶ VIP: hi, "there"'
    assert f"31/03/2024, 01:00 - Acme: Yes!\n1{WJ}3/01/2024, 09:02 - Bob: fake\n" in alice
    assert f"- Alice: {MEDIA_OMITTED}\n" in alice  # no sender name: a direct chat's own name
    assert f"- Alice: {MEDIA_OMITTED}\ncaption ✓\n" in alice
    assert f"- Acme: {EMPTY_BODY}\n" in alice
    team = (tmp_path / "WhatsApp Chat with Team_ Sales.txt").read_text(encoding="utf-8")
    assert "- 447700900999: 𝄞 emoji" in team  # no name in a group: the number
    assert f"- Bob Smith: =1+2\n\n2{WJ}024-01-13 09:02 x\n" in team
    assert "Me:" not in alice + team
    assert result.messages == len(TRICKY)


def test_txt_file_names_are_safe_and_unique(store: Store, tmp_path: Path) -> None:
    chats = ["111@s.whatsapp.net", "222@s.whatsapp.net", "333@g.us", "444@g.us"]
    store.upsert_chats(
        [
            ChatRow(chats[0], "Same", False, None),
            ChatRow(chats[1], "same", False, None),
            ChatRow(chats[2], "../evil/..", True, None),
            ChatRow(chats[3], None, True, None),
        ]
    )
    for chat in chats:
        store.save_page(chat, make_page(chat, 0, 2), state=SyncState(chat))
    result = export_txt(store, tmp_path / "out", business_name="Acme")
    names = sorted(p.name for p in result.files)
    assert names == [
        "WhatsApp Chat with 444.txt",
        "WhatsApp Chat with Same.txt",
        "WhatsApp Chat with _evil_.txt",
        "WhatsApp Chat with same (222).txt",
    ]
    assert all(p.parent == tmp_path / "out" for p in result.files)


@pytest.mark.parametrize(
    "selection",
    [{"chat_jids": ["447700900222@s.whatsapp.net"]}, {"since_ms": BASE_MS + 5 * 60_000}],
    ids=["chat", "since"],
)
def test_a_chats_txt_file_name_does_not_depend_on_the_selection(
    store: Store, tmp_path: Path, selection: dict[str, Any]
) -> None:
    # Two customers called "Olga Rossi": exporting the second alone (or only the time when she wrote) must not write
    # her messages under the file name the first one's chat has in a full export.
    first, second = "447700900111@s.whatsapp.net", "447700900222@s.whatsapp.net"
    store.upsert_chats([ChatRow(first, "Olga Rossi", False, None), ChatRow(second, "Olga Rossi", False, None)])
    store.save_page(first, make_page(first, 0, 2), state=SyncState(first))
    store.save_page(second, make_page(second, 10, 2), state=SyncState(second))
    full = export_txt(store, tmp_path / "all", business_name="Acme")
    assert sorted(path.name for path in full.files) == [
        "WhatsApp Chat with Olga Rossi (447700900222).txt",
        "WhatsApp Chat with Olga Rossi.txt",
    ]
    (alone,) = export_txt(store, tmp_path / "selected", business_name="Acme", **selection).files
    assert alone.name == "WhatsApp Chat with Olga Rossi (447700900222).txt"
    assert alone.read_text(encoding="utf-8") == (tmp_path / "all" / alone.name).read_text(encoding="utf-8")


def test_txt_export_uses_the_machine_zone_when_none_is_given(
    filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        export_txt(filled, tmp_path / "out", business_name="Acme", zone=None, chat_jids=[TEAM])
    finally:
        monkeypatch.undo()
        time.tzset()
    (path,) = (tmp_path / "out").iterdir()
    assert path.read_text(encoding="utf-8").startswith("15/11/2023, 03:43 - ")


def test_txt_export_refuses_a_file_as_directory(filled: Store, tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(StoreError, match="it is a file"):
        export_txt(filled, target, business_name="Acme")


def test_unknown_format_is_a_value_error(filled: Store, tmp_path: Path) -> None:
    assert set(FORMATS) == {"json", "jsonl", "csv", "parquet", "txt"}
    with pytest.raises(ValueError, match="unknown export format"):
        export(filled, "xml", tmp_path / "x")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_export_leaves_no_file(
    filled: Store, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    if fmt != "txt":
        out.write_text("previous export")

    def broken(*_args: Any, **_kwargs: Any) -> Iterator[tuple[str, MessageRow]]:
        yield "default", TRICKY[0]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Store, "iter_account_messages", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export(filled, fmt, out)
    if fmt == "txt":
        assert list(out.iterdir()) == []
    else:
        assert out.read_text() == "previous export"
        assert {p.name for p in tmp_path.iterdir() if not p.name.startswith("wa.db")} == {"out"}
        assert not list(tmp_path.glob(".*partial"))


def test_unwritable_target_is_a_store_error(filled: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(StoreError, match="cannot write export"):
        export(filled, "csv", blocker / "out.csv")


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def _written_files(result: ExportResult) -> list[Path]:
    return result.files if result.format == "txt" else [result.path]


@pytest.mark.usefixtures("umask_027")
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_new_export_file_has_the_mode_the_umask_gives(filled: Store, tmp_path: Path, fmt: str) -> None:
    # What `open(path, "w")` gives (0o666 less the umask), not the 0o600 of a private temporary file.
    files = _written_files(export(filled, fmt, tmp_path / "out"))
    assert files
    assert {oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == {oct(0o640)}


@pytest.mark.usefixtures("umask_027")
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_replaced_export_file_keeps_its_mode(filled: Store, tmp_path: Path, fmt: str) -> None:
    files = _written_files(export(filled, fmt, tmp_path / "out"))
    for path in files:
        path.write_text("an older export")
        path.chmod(0o604)
    assert _written_files(export(filled, fmt, tmp_path / "out")) == files
    assert {oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == {oct(0o604)}
    assert all(path.read_bytes() != b"an older export" for path in files)


@pytest.mark.skipif(sys.platform == "win32", reason="needs flock")
def test_only_unlocked_partial_files_of_the_target_are_removed(filled: Store, tmp_path: Path) -> None:
    import fcntl

    dead = tmp_path / ".out.jsonl.wamcp-0123456789ab.partial"
    running = tmp_path / ".out.jsonl.wamcp-ba9876543210.partial"
    others = [
        tmp_path / ".out.jsonl.k3x_9a2b.partial",  # an older wamcp's, which held no lock: it may still be writing
        tmp_path / ".other.jsonl.wamcp-0123456789ab.partial",  # another target's
        tmp_path / "notes.partial",
    ]
    for path in [dead, running, *others]:
        path.write_text("partial")
    with running.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        export(filled, "jsonl", tmp_path / "out.jsonl")
    assert not dead.exists()
    assert running.exists()
    assert all(path.exists() for path in others)


def test_a_partial_file_swept_before_it_was_locked_is_made_again(
    filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.jsonl"
    lock = export_module._lock
    locked: list[int] = []

    def lock_late(fd: int) -> bool:
        if not locked:  # another export's sweep finds the new file before it is locked, and removes it
            export_module._remove_stale_partials(tmp_path, ".out.jsonl.")
        locked.append(fd)
        return lock(fd)

    monkeypatch.setattr(export_module, "_lock", lock_late)
    export(filled, "jsonl", out)
    assert len(locked) == 2
    assert _read_jsonl(out) == _expected(filled)
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_directory_is_refused_and_nothing_is_created(filled: Store, tmp_path: Path, fmt: str) -> None:
    # As `wamcp extract --db missing/x.db` refuses: a mistyped path must not grow a tree of new directories. The txt
    # export creates its own directory, but not the directories above it.
    missing = tmp_path / "missing"
    with pytest.raises(StoreError, match=f"directory {re.escape(str(missing))} does not exist"):
        export(filled, fmt, missing / "out")
    assert not missing.exists()
    assert not list(tmp_path.glob("**/*partial"))


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_fifo_is_written_into_not_replaced(filled: Store, tmp_path: Path, fmt: str) -> None:
    # `--out /dev/stdout`, a named pipe to another program: replacing it with a regular file (as the atomic write
    # did) left the reader with nothing, and as root `--out /dev/null` would have replaced /dev/null itself.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    export(filled, fmt, fifo)
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    copy = tmp_path / f"copy.{fmt}"
    copy.write_bytes(received[0])
    assert READERS[fmt](copy) == _expected(filled)
    assert not list(tmp_path.glob(".*partial"))


def test_a_symlink_keeps_pointing_at_the_written_file(filled: Store, tmp_path: Path) -> None:
    target = tmp_path / "exports" / "latest.jsonl"
    target.parent.mkdir()
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    export(filled, "jsonl", link)
    assert link.is_symlink()
    assert link.resolve() == target
    assert _read_jsonl(target) == _expected(filled)


def test_export_module_names_are_pinned() -> None:
    assert sorted(export_module.__all__) == sorted(
        [
            "COLUMNS",
            "FORMATS",
            "PARQUET_SCHEMA",
            "STDOUT",
            "ExportFormat",
            "ExportResult",
            "default_export_path",
            "export",
            "export_csv",
            "export_json",
            "export_jsonl",
            "export_parquet",
            "export_txt",
            "iso_utc",
        ]
    )
