"""Every public method of ``WhatsAppMCPClient`` against a real demo server subprocess, over every transport and in
both output modes (lharries text and ``--output structured``), checked against the bridge database itself.

One server (and one connected client) per (transport, mode) per module keeps this fast; the database is read
directly with sqlite3, and stored local times (Europe/London) must come back as the same instants in UTC.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wamcp.chat_export import read_chat_export
from wamcp.whatsapp import Message, WhatsAppMCPClient

from .conftest import MODES, TRANSPORTS, Demo, start_demo

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

Row = tuple[str, bool, datetime]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope lets one connected client serve every test of a (transport, mode) pair.
    return "asyncio"


@pytest.fixture(scope="module", params=[(t, m) for t in TRANSPORTS for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def demo(request: pytest.FixtureRequest, demo_db: Path) -> Iterator[Demo]:
    transport, mode = request.param
    yield from start_demo(transport, mode, demo_db)


@pytest.fixture(scope="module")
async def client(demo: Demo, anyio_backend: str) -> AsyncIterator[WhatsAppMCPClient]:
    wa = WhatsAppMCPClient(demo.config())
    assert await wa.initialize(), wa.last_error
    try:
        yield wa
    finally:
        await wa.disconnect()


def rows_of(db_rows: list[dict[str, Any]], jid: str) -> list[dict[str, Any]]:
    return [row for row in db_rows if row["chat_jid"] == jid]


def key(row: dict[str, Any]) -> Row:
    return (row["content"], row["is_from_me"], row["utc"])


def mkey(message: Message) -> Row:
    return (message.content, message.is_from_me, message.timestamp)


def sample_chats(db_rows: list[dict[str, Any]]) -> list[str]:
    """The three biggest chats, a group and a one-message chat: several pages, group senders, a single row."""
    sizes = Counter(row["chat_jid"] for row in db_rows)
    ranked = [jid for jid, _ in sizes.most_common()]
    group = next(jid for jid in ranked if jid.endswith("@g.us"))
    single = next(jid for jid in reversed(ranked) if sizes[jid] == 1)
    return list(dict.fromkeys([*ranked[:3], group, single]))


async def test_initialize_picks_the_profile_and_reports_connected(demo: Demo, client: WhatsAppMCPClient) -> None:
    status = await client.get_connection_status()

    assert client.is_initialized
    assert client.profile.name == demo.mode
    assert status["initialized"] is True
    assert status["connected"] is True
    assert status["state"] == "connected"
    assert status["profile"] == demo.mode
    assert status["connection_type"] == demo.transport
    assert {"list_chats", "list_messages", "get_chat"} <= set(status["tools"])
    assert status["parse_stats"]["bad_lines"] == 0


async def test_list_chats_is_a_page_of_known_chats_newest_first(
    client: WhatsAppMCPClient, db_chats: dict[str, str | None], db_rows: list[dict[str, Any]]
) -> None:
    chats = await client.list_chats(limit=50, page=0)
    second = await client.list_chats(limit=50, page=1)

    assert len(chats) == 50
    assert len({chat["jid"] for chat in chats + second}) == 100
    newest = {jid: max(row["utc"] for row in rows_of(db_rows, jid)) for jid in {chat["jid"] for chat in chats}}
    for chat in chats:
        assert chat["jid"] in db_chats
        assert chat["name"] == (db_chats[chat["jid"]] or chat["name"])
        assert datetime.fromisoformat(chat["last_message_time"]) == newest[chat["jid"]]
        assert chat["is_group"] == chat["jid"].endswith("@g.us")
    times = [chat["last_message_time"] for chat in chats]
    assert times == sorted(times, reverse=True)


async def test_iter_chats_yields_every_chat_once(client: WhatsAppMCPClient, db_chats: dict[str, str | None]) -> None:
    jids = [chat.jid async for chat in client.iter_chats(page_size=40)]

    assert len(jids) == len(set(jids))
    assert set(jids) == set(db_chats)


async def test_get_chat_messages_is_the_newest_page_of_that_chat(
    client: WhatsAppMCPClient, db_rows: list[dict[str, Any]]
) -> None:
    jid = sample_chats(db_rows)[0]
    expected = sorted((row["utc"] for row in rows_of(db_rows, jid)), reverse=True)[:10]

    page = await client.get_chat_messages(chat_jid=jid, limit=10)

    assert len(page) == 10
    assert all(message["chat_jid"] == jid for message in page)
    assert [datetime.fromisoformat(message["timestamp"]) for message in page] == expected
    assert all(message["timestamp"].endswith("+00:00") for message in page)
    assert await client.get_chat_messages(chat_jid="1234567890@c.us", limit=100) == []


async def test_iter_messages_returns_exactly_the_chats_rows_in_utc(
    client: WhatsAppMCPClient, db_rows: list[dict[str, Any]]
) -> None:
    for jid in sample_chats(db_rows):
        messages = [message async for message in client.iter_messages(jid, page_size=25)]

        assert Counter(mkey(m) for m in messages) == Counter(key(row) for row in rows_of(db_rows, jid)), jid
        assert {m.chat_jid for m in messages} == {jid}
        assert len({m.id for m in messages}) == len(messages)
        assert [m.timestamp for m in messages] == sorted((m.timestamp for m in messages), reverse=True)
        assert all(m.timestamp.utcoffset() == timedelta(0) for m in messages)
    assert client.stats.bad_lines == 0


async def test_iter_messages_since_stops_at_the_given_instant(
    client: WhatsAppMCPClient, db_rows: list[dict[str, Any]]
) -> None:
    jid = sample_chats(db_rows)[0]
    times = sorted(row["utc"] for row in rows_of(db_rows, jid))
    since = times[len(times) // 2]

    messages = [message async for message in client.iter_messages(jid, since)]

    assert Counter(mkey(m) for m in messages) == Counter(
        key(row) for row in rows_of(db_rows, jid) if row["utc"] >= since
    )


async def test_iter_message_pages_cover_the_open_window_page_by_page(
    client: WhatsAppMCPClient, db_rows: list[dict[str, Any]]
) -> None:
    jid = sample_chats(db_rows)[0]
    times = sorted(row["utc"] for row in rows_of(db_rows, jid))
    after, before = times[2], times[-3]

    pages = [list(page) async for page in client.iter_message_pages(jid, after=after, before=before, page_size=7)]

    assert len(pages) >= 2
    assert all(len(page) <= 7 for page in pages[:-1])
    flat = [m for page in pages for m in page]
    assert Counter(mkey(m) for m in flat) == Counter(
        key(row) for row in rows_of(db_rows, jid) if after < row["utc"] < before
    )
    assert [m.timestamp for m in flat] == sorted((m.timestamp for m in flat), reverse=True)


async def test_search_messages_finds_the_rows_containing_the_query(
    demo: Demo, db_rows: list[dict[str, Any]], db_chats: dict[str, str | None]
) -> None:
    query = "order"
    expected = [row for row in db_rows if query in row["content"].lower() and not row["media_type"]]
    assert 0 < len(expected) < 500
    jid = expected[0]["chat_jid"]
    # A fresh client, which has listed no chat: lharries hits name their chat only, and the client looks the names
    # up itself (docs/whatsapp.md).
    client = WhatsAppMCPClient(demo.config())
    assert await client.initialize(), client.last_error
    try:
        found = [m for m in await client.search_messages(query, limit=500) if not m["media_type"]]
        in_chat = await client.search_messages(query, chat_jid=jid, limit=500)
    finally:
        await client.disconnect()

    assert Counter((m["content"], m["is_from_me"], datetime.fromisoformat(m["timestamp"])) for m in found) == Counter(
        key(row) for row in expected
    )
    by_key = {key(row): row["chat_jid"] for row in expected}
    names = Counter(db_chats.values())
    for m in found:
        if m["chat_jid"] is None:  # documented: a hit in a chat whose name several chats share cannot be mapped
            assert names[m["chat_name"]] > 1
        else:
            assert m["chat_jid"] == by_key[(m["content"], m["is_from_me"], datetime.fromisoformat(m["timestamp"]))]
    assert Counter(m["content"] for m in in_chat) == Counter(
        row["content"] for row in expected if row["chat_jid"] == jid
    )
    assert {m["chat_jid"] for m in in_chat} == {jid}
    # Mapped to its JID, a hit has the id the message has when its chat is read.
    assert {m["id"] for m in found if m["chat_jid"] == jid} == {m["id"] for m in in_chat}


async def test_a_fresh_clients_search_hit_names_its_chat_unless_the_name_is_shared(
    demo: Demo, db_rows: list[dict[str, Any]], db_chats: dict[str, str | None]
) -> None:
    names = Counter(db_chats.values())
    contents = Counter(row["content"] for row in db_rows)
    plain = [
        row
        for row in db_rows
        if contents[row["content"]] == 1 and len(row["content"]) > 12 and "\n" not in row["content"]
        if "[" not in row["content"] and "%" not in row["content"] and "_" not in row["content"]
    ]
    unique = next(row for row in plain if names[db_chats[row["chat_jid"]]] == 1)
    shared = next(row for row in plain if names[db_chats[row["chat_jid"]]] > 1)
    client = WhatsAppMCPClient(demo.config())
    assert await client.initialize(), client.last_error
    try:
        hits = {
            row["chat_jid"]: [m["chat_jid"] for m in await client.search_messages(row["content"])]
            for row in (unique, shared)
        }
    finally:
        await client.disconnect()

    assert hits[unique["chat_jid"]] == [unique["chat_jid"]]
    # lharries names the chat only; the JSON servers give the JID itself.
    assert hits[shared["chat_jid"]] == [None if demo.mode == "lharries" else shared["chat_jid"]]


async def test_export_chat_json_csv_and_txt_hold_the_whole_chat_oldest_first(
    client: WhatsAppMCPClient, db_rows: list[dict[str, Any]], db_chats: dict[str, str | None]
) -> None:
    jid = sample_chats(db_rows)[0]
    rows = sorted(rows_of(db_rows, jid), key=lambda row: row["utc"])

    as_json = await client.export_chat(jid, format="json")
    as_csv = await client.export_chat(jid, format="csv")
    as_txt = await client.export_chat(jid, format="txt", business_name="Acme Ceramics")

    for export in (as_json, as_csv, as_txt):
        assert export["chat_jid"] == jid
        assert export["message_count"] == len(rows)
        assert export["chat_name"] == db_chats[jid]
    payload = json.loads(as_json["content"])
    assert payload["chat"]["jid"] == jid
    assert [datetime.fromisoformat(m["timestamp"]) for m in payload["messages"]] == [row["utc"] for row in rows]
    assert Counter((m["content"], m["is_from_me"]) for m in payload["messages"]) == Counter(
        (row["content"], row["is_from_me"]) for row in rows
    )
    table = list(csv.DictReader(io.StringIO(as_csv["content"])))
    assert len(table) == len(rows)
    assert Counter(line["content"] for line in table) == Counter(row["content"] for row in rows)
    exported = read_chat_export(as_txt["content"])
    assert len(exported) == len(rows)
    assert {e.author for e in exported if e.author == "Acme Ceramics"} == (
        {"Acme Ceramics"} if any(row["is_from_me"] for row in rows) else set()
    )


async def test_export_chat_defaults_to_the_configured_format_and_media_setting(
    demo: Demo, db_rows: list[dict[str, Any]]
) -> None:
    jid = sample_chats(db_rows)[0]
    rows = sorted(rows_of(db_rows, jid), key=lambda row: row["utc"])
    client = WhatsAppMCPClient(demo.config().model_copy(update={"export_format": "jsonl", "include_media": True}))
    try:
        export = await client.export_chat(jid)
        with pytest.raises(ValueError, match="wamcp export --format parquet"):
            await client.export_chat(jid, format="parquet")
    finally:
        await client.disconnect()

    assert (export["format"], export["include_media"]) == ("jsonl", True)
    lines = [json.loads(line) for line in export["content"].splitlines()]
    assert [datetime.fromisoformat(m["timestamp"]) for m in lines] == [row["utc"] for row in rows]
    assert all(m["chat_jid"] == jid and "media_path" in m for m in lines)


async def test_health_check_reports_both_connections(demo: Demo, client: WhatsAppMCPClient) -> None:
    health = await client.health_check()

    assert health["mcp_connection"] is True
    assert health["whatsapp_connection"] == "unknown"
    assert health["profile"] == demo.mode
    assert health["error"] is None
    assert datetime.fromisoformat(health["checked_at"]).tzinfo is not None


async def test_authenticate_says_pairing_happens_in_the_bridge(client: WhatsAppMCPClient) -> None:
    result = await client.authenticate("+447700900123")

    assert result["status"] == "paired_externally"
    assert result["qr_code"] is None
    assert "QR code" in result["message"]


async def test_call_tool_returns_the_raw_result(
    demo: Demo, client: WhatsAppMCPClient, db_chats: dict[str, str | None]
) -> None:
    jid = next(iter(db_chats))

    result = await client.call_tool("get_chat", {"chat_jid": jid, "include_last_message": True})

    assert result["is_error"] is False
    assert jid in result["text"]
    if demo.mode == "structured":
        assert result["structured_content"]["result"]["jid"] == jid
    else:
        assert json.loads(result["text"])["jid"] == jid


async def test_disconnect_closes_and_a_later_call_reconnects(demo: Demo, anyio_backend: str) -> None:
    wa = WhatsAppMCPClient(demo.config())
    assert await wa.initialize()

    await wa.disconnect()
    status = await wa.get_connection_status()
    health = await wa.health_check()
    chats = await wa.list_chats(limit=3)
    await wa.disconnect()

    assert status["connected"] is False
    # health_check connects first, like every other call (the seed's health snippet asks a fresh client).
    assert health["mcp_connection"] is True
    assert len(chats) == 3
    assert wa.is_initialized is False


async def test_timestamps_are_utc_instants_of_the_stored_local_times(
    client: WhatsAppMCPClient, db_rows: list[dict[str, Any]]
) -> None:
    # A chat with messages on both sides of a DST change: the stored +00:00/+01:00 wall times map to one UTC line.
    summer = {row["chat_jid"] for row in db_rows if row["utc"].month == 7}
    winter = {row["chat_jid"] for row in db_rows if row["utc"].month == 1}
    jid = sorted(summer & winter)[0]

    messages = [message async for message in client.iter_messages(jid)]

    assert sorted(m.timestamp for m in messages) == sorted(row["utc"] for row in rows_of(db_rows, jid))
    assert all(m.timestamp.tzinfo == UTC for m in messages)


async def test_a_bare_break_out_of_the_concurrent_iterators_leaves_the_caller_running(
    client: WhatsAppMCPClient, caplog: pytest.LogCaptureFixture
) -> None:
    # No aclosing, no aclose(): the iterators are dropped mid-way and closed by the garbage collector's hook, in a
    # task of its own. Their readers (span walkers, pages asked for ahead) must stop without touching this task.
    async for _message in client.iter_all_messages(parallel=3, page_size=10):
        break
    async for _chat in client.iter_chats(pages_ahead=2, page_size=5):
        break
    gc.collect()
    await asyncio.sleep(0.3)  # the collector's closing tasks run meanwhile; a cancelled caller would stop here

    assert len([chat async for chat in client.iter_chats()]) > 5
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_account_walk_reads_only_the_chats_given_and_stops_cleanly_when_asked(
    client: WhatsAppMCPClient, db_rows: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    chats = [chat async for chat in client.iter_chats()]
    some = chats[: len(chats) // 3]
    wanted = {chat.jid for chat in some}

    read = [m async for m in client.iter_all_messages(chats=some, parallel=3)]
    walk = client.iter_all_messages(chats=chats, parallel=3)
    async for _first in walk:
        break
    await walk.aclose()  # the walk's readers are stopped here, in this task: nothing is left running

    assert {m.chat_jid for m in read} <= wanted
    assert Counter(m.chat_jid for m in read) == Counter(row["chat_jid"] for row in db_rows if row["chat_jid"] in wanted)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await client.list_chats(limit=1)  # the connection still serves calls
