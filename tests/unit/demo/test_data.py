"""The synthetic bridge databases: schema, determinism, time zones, realism, and ground truth vs KPIS.md."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from wamcp.cli.extract_cmd import demo_server_overrides
from wamcp.demo.data import GenerationResult, generate_database, truth_path_for, truth_timezone

DAY = 86400.0


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    return generate_database(tmp_path_factory.mktemp("gen") / "small.db", messages=6000, seed=7)


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _kpi_sessions(db: Path) -> list[tuple[str, float, float | None]]:
    """KPIS.md sessions recomputed from the rows: (chat, first inbound, first outbound after it) per customer session.

    A gap > 24 h starts a new session, except an outbound message right after an inbound one (a late reply): it
    closes the customer's session, and whatever follows starts a new one.
    """
    by_chat: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
    for chat, ts, from_me, mid in _rows(db, "SELECT chat_jid, timestamp, is_from_me, id FROM messages"):
        by_chat[chat].append((_utc(ts), mid, from_me))
    found: list[tuple[str, float, float | None]] = []
    for chat, msgs in by_chat.items():
        msgs.sort()
        sessions: list[list[tuple[float, str, int]]] = []
        closed = True
        for msg in msgs:
            if sessions and not closed:
                prev = sessions[-1][-1]
                if msg[0] - prev[0] <= DAY:
                    sessions[-1].append(msg)
                    continue
                if msg[2] == 1 and prev[2] == 0:
                    sessions[-1].append(msg)
                    closed = True
                    continue
            sessions.append([msg])
            closed = False
        for s in sessions:
            if s[0][2] == 0:
                reply = next((m[0] for m in s if m[2] == 1 and m[0] > s[0][0]), None)
                found.append((chat, s[0][0], reply))
    return sorted(found)


def test_writes_bridge_schema_and_exact_count(small: GenerationResult) -> None:
    assert small.messages == 6000
    tables = dict(_rows(small.db_path, "SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    assert set(tables) == {"chats", "messages"}
    cols = [r[1] for r in _rows(small.db_path, "PRAGMA table_info(messages)")]
    assert cols == [
        "id", "chat_jid", "sender", "content", "timestamp", "is_from_me", "media_type", "filename", "url",
        "media_key", "file_sha256", "file_enc_sha256", "file_length",
    ]  # fmt: skip
    assert _rows(small.db_path, "SELECT COUNT(*) FROM messages") == [(6000,)]
    # Every chat's last_message_time is its newest message, as the bridge keeps it.
    stale = _rows(
        small.db_path,
        "SELECT c.jid FROM chats c WHERE c.last_message_time != (SELECT MAX(timestamp) FROM messages m"
        " WHERE m.chat_jid = c.jid)",
    )
    assert stale == []


def test_timestamps_ids_and_senders_look_like_the_bridge(small: GenerationResult) -> None:
    rows = _rows(small.db_path, "SELECT id, timestamp, is_from_me, sender, media_type, filename FROM messages")
    business = small.truth["business"]["phone"]
    for mid, ts, from_me, sender, media, filename in rows:
        assert re.fullmatch(r"[0-9A-F]{20}|[0-9A-F]{32}", mid)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00", ts)
        assert from_me in (0, 1)
        assert (sender == business) == bool(from_me)
        assert (media in ("image", "video", "audio", "document")) == bool(filename)


def test_data_is_realistic_for_a_small_business(small: GenerationResult) -> None:
    db = small.db_path
    jids = [r[0] for r in _rows(db, "SELECT jid FROM chats")]
    assert any(j.endswith("@g.us") for j in jids)
    assert sum(j.endswith("@s.whatsapp.net") for j in jids) > 100
    contents = [r[0] for r in _rows(db, "SELECT content FROM messages")]
    assert any("\n" in c for c in contents)
    assert any(re.search(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] Chat: ", c, re.M) for c in contents)
    assert any(re.search(r"[\u0400-\u04ff]|[\u0600-\u06ff]|[\u4e00-\u9fff]", c) for c in contents)
    assert any(re.search(r"[\U0001F300-\U0001FAFF]", c) for c in contents)
    assert _rows(db, "SELECT COUNT(*) FROM (SELECT 1 FROM messages GROUP BY chat_jid, timestamp HAVING COUNT(*) > 1)")[
        0
    ][0]
    hours = [int(r[0]) for r in _rows(db, "SELECT substr(timestamp, 12, 2) FROM messages WHERE is_from_me = 0")]
    daytime = sum(9 <= h < 21 for h in hours) / len(hours)
    assert daytime > 0.6
    totals = small.truth["totals"]
    assert 0.05 <= totals["unanswered_sessions"] / totals["customer_initiated_sessions"] <= 0.15
    frts = sorted(s["frt_seconds"] for s in small.truth["sessions"] if s["frt_seconds"] is not None)
    assert frts[0] < 60  # seconds …
    assert frts[-1] > 2 * DAY  # … to days: a heavy tail
    returning = [c for c in small.truth["chats"] if not c["is_group"] and c["inbound"] >= 10]
    assert returning


def test_truth_counts_match_the_rows(small: GenerationResult) -> None:
    truth = json.loads(truth_path_for(small.db_path).read_text(encoding="utf-8"))
    assert truth == small.truth
    counts = {
        (chat, from_me): n
        for chat, from_me, n in _rows(
            small.db_path, "SELECT chat_jid, is_from_me, COUNT(*) FROM messages GROUP BY 1, 2"
        )
    }
    for chat in truth["chats"]:
        assert counts.get((chat["jid"], 0), 0) == chat["inbound"]
        assert counts.get((chat["jid"], 1), 0) == chat["outbound"]
    assert truth["totals"]["inbound"] + truth["totals"]["outbound"] == 6000


def test_truth_sessions_match_kpi_definitions_recomputed_from_rows(small: GenerationResult) -> None:
    expected = _kpi_sessions(small.db_path)
    truth = sorted(
        (
            s["chat_jid"],
            datetime.fromisoformat(s["first_inbound_utc"]).timestamp(),
            None if s["first_response_utc"] is None else datetime.fromisoformat(s["first_response_utc"]).timestamp(),
        )
        for s in small.truth["sessions"]
    )
    assert truth == expected
    for s in small.truth["sessions"]:
        if s["frt_seconds"] is not None:
            gap = _utc(s["first_response_utc"].replace("Z", "+00:00")) - _utc(
                s["first_inbound_utc"].replace("Z", "+00:00")
            )
            assert s["frt_seconds"] == gap


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    a = generate_database(tmp_path / "a.db", messages=1500, seed=3)
    b = generate_database(tmp_path / "b.db", messages=1500, seed=3)
    c = generate_database(tmp_path / "c.db", messages=1500, seed=4)
    assert a.db_path.read_bytes() == b.db_path.read_bytes()
    assert a.truth == b.truth
    dump = "SELECT * FROM messages ORDER BY id, chat_jid"
    assert _rows(a.db_path, dump) != _rows(c.db_path, dump)


def test_dst_zone_stores_each_instant_with_its_own_offset(tmp_path: Path) -> None:
    result = generate_database(tmp_path / "london.db", messages=4000, seed=5, timezone="Europe/London")
    zone = ZoneInfo("Europe/London")
    offsets = set()
    for (ts,) in _rows(result.db_path, "SELECT timestamp FROM messages"):
        local = datetime.fromisoformat(ts)
        offsets.add(ts[-6:])
        assert local.utcoffset() == local.astimezone(zone).utcoffset()
    assert offsets == {"+00:00", "+01:00"}
    first = min(_utc(ts) for (ts,) in _rows(result.db_path, "SELECT timestamp FROM messages"))
    assert datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == result.truth["first_message_utc"]
    assert _kpi_sessions(result.db_path) == sorted(
        (
            s["chat_jid"],
            datetime.fromisoformat(s["first_inbound_utc"]).timestamp(),
            None if s["first_response_utc"] is None else datetime.fromisoformat(s["first_response_utc"]).timestamp(),
        )
        for s in result.truth["sessions"]
    )


def test_generation_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "x.db"
    generate_database(out, messages=500, seed=1)
    generate_database(out, messages=700, seed=2)
    assert _rows(out, "SELECT COUNT(*) FROM messages") == [(700,)]
    assert sorted(p.name for p in out.parent.iterdir()) == ["x.db", "x.db.truth.json"]


def test_demo_indexes_make_keyset_paging_use_an_index(small: GenerationResult) -> None:
    plan = _rows(
        small.db_path,
        "EXPLAIN QUERY PLAN SELECT * FROM messages WHERE chat_jid = 'x' AND timestamp < 'y' ORDER BY timestamp DESC",
    )
    assert any("wamcp_demo_messages_chat_ts" in str(row) for row in plan)


@pytest.mark.parametrize("zone", ["Europe/London", "UTC", "America/Sao_Paulo"])
def test_the_demo_extraction_reads_a_bridge_in_the_zone_it_was_generated_in(tmp_path: Path, zone: str) -> None:
    # The demo server prints message times without an offset, in its data's zone: read as UTC, a database made with
    # --timezone Europe/London lost its last hour of messages (the walk's bound came from the chats' real offsets).
    db = tmp_path / "bridge.db"
    generate_database(db, messages=200, seed=2, timezone=zone)
    assert truth_timezone(db) == zone
    assert demo_server_overrides(db)["server_timezone"] == zone


def test_a_bridge_without_its_truth_is_read_as_utc(tmp_path: Path) -> None:
    db = tmp_path / "copied.db"
    generate_database(db, messages=50, seed=2, timezone="Asia/Tokyo")
    truth_path_for(db).unlink()
    assert truth_timezone(db) is None
    assert demo_server_overrides(db)["server_timezone"] == "UTC"
    assert demo_server_overrides()["server_timezone"] == "UTC"
