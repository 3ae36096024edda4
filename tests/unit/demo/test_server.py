"""Demo server behaviour in-process: structured output, pairing, send/download, faults, tool errors."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, types

from wamcp.demo.faults import FaultConfig
from wamcp.demo.server import DemoServer, DemoServerConfig

from .golden import FIXTURE_DB

ISLA = "33606900592@s.whatsapp.net"
MEDIA_ID, MEDIA_CHAT = "74AD84F08808BE9C6EC114A1D6982A15", "2348038386756@s.whatsapp.net"

Connect = Callable[..., Any]


@pytest.fixture
def db_copy(tmp_path: Path) -> Path:
    path = tmp_path / "messages.db"
    shutil.copy(FIXTURE_DB, path)
    return path


@pytest.fixture
def connect(tmp_path: Path, db_copy: Path) -> Connect:
    @asynccontextmanager
    async def _connect(**overrides: Any) -> AsyncIterator[tuple[Client, DemoServer]]:
        config = DemoServerConfig(media_dir=tmp_path / "media", **overrides)
        demo = DemoServer(config, db_copy)
        try:
            async with Client(demo.server, mode="legacy") as client:
                yield client, demo
        finally:
            demo.close()

    return _connect


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.anyio
async def test_structured_output_carries_message_objects(connect: Connect) -> None:
    async with connect(output="structured") as (client, _):
        tools = (await client.list_tools()).tools
        assert all(t.output_schema is not None for t in tools)
        result = await client.call_tool(
            "list_messages",
            {"chat_jid": MEDIA_CHAT, "before": "2025-03-28 12:53:21", "limit": 3, "include_context": False},
        )
        assert not result.is_error
        messages = result.structured_content["result"]
        assert messages[0]["id"] == MEDIA_ID
        first = messages[0]
        assert first["timestamp"] == "2025-03-28T12:53:20+00:00"
        assert first["media_type"] == "audio"
        assert first["filename"]
        assert first["is_from_me"] is False
        assert messages[1]["sender_name"] == "Me"
        assert _text(result).startswith("[2025-03-28 12:53:20] Chat: João Tanaka")
        chats = await client.call_tool("list_chats", {"limit": 2})
        assert [c["jid"] for c in chats.structured_content["result"]] == [
            json.loads(b.text)["jid"] for b in chats.content if isinstance(b, types.TextContent)
        ]
        ctx = await client.call_tool("get_message_context", {"message_id": MEDIA_ID, "before": 1, "after": 1})
        assert ctx.structured_content["result"]["message"]["id"] == MEDIA_ID
        last = await client.call_tool("get_last_interaction", {"jid": ISLA})
        assert last.structured_content["result"]["chat_jid"] == ISLA
        none = await client.call_tool("get_chat", {"chat_jid": "nobody@s.whatsapp.net"})
        assert none.structured_content == {"result": None}
        assert (await client.call_tool("search_contacts", {"query": "Isla"})).structured_content["result"][0][
            "jid"
        ] == ISLA
        direct = await client.call_tool("get_direct_chat_by_contact", {"sender_phone_number": "33606900592"})
        assert direct.structured_content["result"]["jid"] == ISLA
        contact = await client.call_tool("get_contact_chats", {"jid": ISLA, "limit": 2})
        assert len(contact.structured_content["result"]) == 2


@pytest.mark.anyio
async def test_structured_page_agrees_with_its_lines_and_the_database(connect: Connect, db_copy: Path) -> None:
    # A whole page is built at once (timestamps formatted once, file names looked up in one query): each object
    # must still say what its own line says and what the database holds for that one message.
    async with connect(output="structured") as (client, _):
        result = await client.call_tool("list_messages", {"limit": 200, "include_context": False})
    objects = result.structured_content["result"]
    text = _text(result)
    assert len(objects) == 200
    with sqlite3.connect(db_copy) as db:
        stored = {
            (id_, chat): (media_type, filename)
            for id_, chat, media_type, filename in db.execute("SELECT id, chat_jid, media_type, filename FROM messages")
        }
    media = position = 0
    for obj in objects:  # the text is the objects' lines in order (contents may span lines)
        line = (
            f"[{obj['timestamp'][:10]} {obj['timestamp'][11:19]}] Chat: {obj['chat_name']} From: {obj['sender_name']}: "
        )
        media_type, filename = stored[obj["id"], obj["chat_jid"]]
        if media_type:
            media += 1
            assert obj["filename"] == (filename or "")
            line += f"[{media_type} - Message ID: {obj['id']} - Chat JID: {obj['chat_jid']}] "
        else:
            assert obj["filename"] is None
        line += f"{obj['content']}\n"
        assert text.startswith(line, position)
        position += len(line)
    assert position == len(text)
    assert media > 0


@pytest.mark.anyio
async def test_pairing_required_until_confirmed(connect: Connect) -> None:
    async with connect(require_pairing=True) as (client, _):
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"get_connection_status", "request_pairing", "confirm_pairing"} <= names
        status = json.loads(_text(await client.call_tool("get_connection_status", {})))
        assert status["status"] == "needs_pairing"
        assert status["account"] is None
        denied = await client.call_tool("list_chats", {})
        assert denied.is_error
        assert "authentication required" in _text(denied)
        assert "pairing" in _text(denied)
        wrong = json.loads(_text(await client.call_tool("confirm_pairing", {"code": "NOPE"})))
        assert wrong["success"] is False
        pairing = json.loads(_text(await client.call_tool("request_pairing", {"phone_number": "447700900100"})))
        assert pairing["qr_code"].startswith("2@")
        assert len(pairing["pairing_code"]) == 9
        assert json.loads(_text(await client.call_tool("confirm_pairing", {"code": "x"})))["success"] is False
        bad = await client.call_tool("confirm_pairing", {})
        assert bad.is_error
        pairing = json.loads(_text(await client.call_tool("request_pairing", {})))
        ok = json.loads(_text(await client.call_tool("confirm_pairing", {"code": pairing["pairing_code"].lower()})))
        assert ok["success"] is True
        status = json.loads(_text(await client.call_tool("get_connection_status", {})))
        assert status["status"] == "connected"
        assert status["account"] == "447700900100"
        assert status["messages"] == 5000
        assert len((await client.call_tool("list_chats", {"limit": 2})).content) == 2


@pytest.mark.anyio
async def test_confirm_without_request_and_default_tool_list(connect: Connect) -> None:
    async with connect(pairing_tools=True) as (client, _):
        result = json.loads(_text(await client.call_tool("confirm_pairing", {"code": "AAAA-BBBB"})))
        assert result == {"success": False, "message": "no pairing in progress: call request_pairing first"}
    async with connect() as (client, _):
        unknown = await client.call_tool("get_connection_status", {})
        assert unknown.is_error
        assert _text(unknown) == "Unknown tool: get_connection_status"


@pytest.mark.anyio
async def test_send_tools_store_messages_without_network(connect: Connect, db_copy: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")
    voice = tmp_path / "note.mp3"
    voice.write_bytes(b"ID3")
    async with connect() as (client, _):
        sent = json.loads(_text(await client.call_tool("send_message", {"recipient": "33606900592", "message": "Hi!"})))
        assert sent == {"success": True, "message": "Message sent to 33606900592"}
        assert (
            json.loads(_text(await client.call_tool("send_message", {"recipient": "", "message": "x"})))["success"]
            is False
        )
        f = json.loads(
            _text(await client.call_tool("send_file", {"recipient": "999@s.whatsapp.net", "media_path": str(photo)}))
        )
        assert f["success"] is True
        a = json.loads(
            _text(await client.call_tool("send_audio_message", {"recipient": "999", "media_path": str(voice)}))
        )
        assert a["success"] is True
        missing = json.loads(
            _text(await client.call_tool("send_file", {"recipient": "999", "media_path": str(tmp_path / "nope.pdf")}))
        )
        assert missing["success"] is False
        assert "not found" in missing["message"]
        assert (
            json.loads(_text(await client.call_tool("send_file", {"recipient": "999", "media_path": ""})))["message"]
            == "Media path must be provided"
        )
        assert (
            json.loads(_text(await client.call_tool("send_file", {"recipient": "", "media_path": "x"})))["message"]
            == "Recipient must be provided"
        )
        latest = _text(
            await client.call_tool("list_messages", {"chat_jid": ISLA, "limit": 1, "include_context": False})
        )
        assert latest.endswith("From: Me: Hi!\n")
        new_chat = await client.call_tool("list_messages", {"chat_jid": "999@s.whatsapp.net", "include_context": False})
        assert "[image - Message ID: 3EB0" in _text(new_chat)
        assert "[audio - Message ID: 3EB0" in _text(new_chat)
    conn = sqlite3.connect(db_copy)
    try:
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (5003,)
        assert conn.execute("SELECT name FROM chats WHERE jid = '999@s.whatsapp.net'").fetchone() == ("999",)
    finally:
        conn.close()


@pytest.mark.anyio
async def test_download_media_writes_only_inside_media_dir(connect: Connect, tmp_path: Path) -> None:
    async with connect() as (client, _):
        ok = json.loads(
            _text(await client.call_tool("download_media", {"message_id": MEDIA_ID, "chat_jid": MEDIA_CHAT}))
        )
        assert ok["success"] is True
        path = Path(ok["file_path"])
        assert path.is_relative_to((tmp_path / "media").resolve())
        for mid, chat in [("../../etc/passwd", MEDIA_CHAT), (MEDIA_ID, "../outside"), ("..", MEDIA_CHAT), ("a/b", "c")]:
            refused = json.loads(_text(await client.call_tool("download_media", {"message_id": mid, "chat_jid": chat})))
            assert refused["success"] is False
            assert "refusing" in refused["message"]
        text_only = json.loads(
            _text(await client.call_tool("download_media", {"message_id": "5B0E709A0BC61C7164AC", "chat_jid": ISLA}))
        )
        assert text_only == {"success": False, "message": "Failed to download media"}
    assert await anyio.Path(path).is_file()
    assert not await anyio.Path(tmp_path / "outside").exists()


def test_download_refuses_a_hostile_filename_from_the_database(db_copy: Path, tmp_path: Path) -> None:
    from wamcp.demo.bridge import Bridge
    from wamcp.demo.media import DownloadRefusedError, download_media

    conn = sqlite3.connect(db_copy)
    with conn:
        conn.execute("UPDATE messages SET filename = '../../evil.sh' WHERE id = ?", (MEDIA_ID,))
    conn.close()
    bridge = Bridge(db_copy, media_dir=tmp_path / "media")
    try:
        with pytest.raises(DownloadRefusedError):
            download_media(bridge, MEDIA_ID, MEDIA_CHAT)
    finally:
        bridge.close()
    assert not (tmp_path / "evil.sh").exists()


@pytest.mark.anyio
async def test_latency_knob_delays_each_call(connect: Connect) -> None:
    async with connect(faults=FaultConfig(latency_ms=150)) as (client, _):
        started = time.perf_counter()
        await client.call_tool("get_chat", {"chat_jid": ISLA})
        assert time.perf_counter() - started >= 0.15


@pytest.mark.anyio
async def test_error_rate_is_deterministic_per_seed(connect: Connect) -> None:
    outcomes: list[list[bool]] = []
    for _ in range(2):
        async with connect(faults=FaultConfig(error_rate=0.5, seed=11)) as (client, _):
            run = [(await client.call_tool("get_chat", {"chat_jid": ISLA})).is_error for _ in range(20)]
        outcomes.append(run)
    assert outcomes[0] == outcomes[1]
    assert 3 <= sum(outcomes[0]) <= 17
    async with connect(faults=FaultConfig(error_rate=1.0)) as (client, _):
        failed = await client.call_tool("get_chat", {"chat_jid": ISLA})
        assert _text(failed) == "Error executing tool get_chat: simulated server failure (demo fault --error-rate)"


@pytest.mark.anyio
async def test_rate_limit_on_stdio_style_transports_is_a_tool_error(connect: Connect) -> None:
    async with connect(faults=FaultConfig(rate_limit_after=3, retry_after=0.3)) as (client, _):
        results = [await client.call_tool("get_chat", {"chat_jid": ISLA}) for _ in range(5)]
        assert [r.is_error for r in results] == [False, False, False, True, True]
        assert "rate limit exceeded" in _text(results[3])
        await anyio.sleep(0.35)
        assert not (await client.call_tool("get_chat", {"chat_jid": ISLA})).is_error


@pytest.mark.anyio
async def test_malformed_rate_garbles_list_messages_lines(connect: Connect) -> None:
    args = {"limit": 50, "include_context": False}
    async with connect() as (client, _):
        clean = _text(await client.call_tool("list_messages", args))
    async with connect(faults=FaultConfig(malformed_rate=0.5, seed=3)) as (client, _):
        garbled = _text(await client.call_tool("list_messages", args))
    async with connect(faults=FaultConfig(malformed_rate=0.5, seed=3)) as (client, _):
        again = _text(await client.call_tool("list_messages", args))
    assert garbled == again
    assert garbled != clean
    assert "garbled-bridge-output" in garbled or garbled.count(" From: ") < clean.count(" From: ")


@pytest.mark.anyio
@pytest.mark.parametrize(("serial", "running"), [(True, ["a", "b"]), (False, ["a", "a", "b"])])
async def test_serial_queues_calls_per_connection_never_across_connections(
    tmp_path: Path, db_copy: Path, monkeypatch: pytest.MonkeyPatch, serial: bool, running: list[str]
) -> None:
    # Two calls on connection "a" and one on "b", all held inside the server until released: with --serial the
    # second call on "a" waits for the first, while "b" (another connection) is not held up by "a" at all.
    demo = DemoServer(DemoServerConfig(media_dir=tmp_path / "media", faults=FaultConfig(serial=serial)), db_copy)
    started: list[str] = []
    release, enough = anyio.Event(), anyio.Event()

    async def held(name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        assert arguments is not None
        started.append(arguments["chat_jid"])
        if len(started) >= len(running):
            enough.set()
        await release.wait()
        return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])

    monkeypatch.setattr(demo, "call", held)
    try:
        with anyio.fail_after(20):
            async with (
                Client(demo.server, mode="legacy") as a,
                Client(demo.server, mode="legacy") as b,
                anyio.create_task_group() as tg,
            ):
                for client, tag in ((a, "a"), (a, "a"), (b, "b")):
                    tg.start_soon(client.call_tool, "get_chat", {"chat_jid": tag})
                with anyio.move_on_after(5):
                    await enough.wait()
                await anyio.wait_all_tasks_blocked()  # every call that could start has started
                assert sorted(started) == running
                release.set()
            assert sorted(started) == ["a", "a", "b"]
    finally:
        demo.close()


def test_crash_after_exits_abruptly_on_call_n_plus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from wamcp.demo import faults as faults_module

    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(faults_module.os, "_exit", fake_exit)
    injector = faults_module.Faults(FaultConfig(crash_after=2))
    injector.before_call("a", count_rate_limit=False)
    injector.before_call("b", count_rate_limit=False)
    with pytest.raises(SystemExit):
        injector.before_call("c", count_rate_limit=False)
    assert exits == [70]
    assert FaultConfig(crash_after=2).active
    assert not FaultConfig().active


def test_garble_variants_cover_every_kind() -> None:
    from wamcp.demo.faults import Faults

    injector = Faults(FaultConfig(malformed_rate=1.0, seed=1))
    line = "[2025-01-01 10:00:00] Chat: Shop From: Ann: hi\n"
    outputs = {injector.garble(line) for _ in range(60)}
    assert len(outputs) == 3
    assert line not in outputs
    assert Faults(FaultConfig()).garble(line) == line


@pytest.mark.anyio
async def test_connections_to_the_http_servers_socket_send_without_nagle() -> None:
    # asyncio disables Nagle's algorithm only on accepted sockets whose protocol is TCP. With the listening socket
    # made with protocol 0, every call on a reused keep-alive connection waited 40 ms (a response's body held back
    # until the client's delayed ACK of its headers): 47 ms a sequential call over streamable HTTP instead of 4 ms.
    import asyncio
    import socket

    from wamcp.demo.server import _bind

    listener = _bind("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listener)
    async with server:
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(accepted, 10) != 0
        writer.close()
