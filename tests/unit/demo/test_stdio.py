"""The demo server's own stdio transport: the same JSON-RPC lines as the SDK's ``stdio_server``, without threads."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from wamcp.demo.server import DemoServer, DemoServerConfig, Transport, _bounded
from wamcp.demo.stdio import pipe_streams

from .golden import FIXTURE_DB

pytestmark = pytest.mark.anyio


def _request(request_id: int, name: str = "get_chat") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": {}}}


async def _read_all(chunks: list[bytes]) -> list[SessionMessage | Exception]:
    """Write ``chunks`` into the server's stdin pipe (then end it) and collect what the read stream yields."""
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()

    def feed() -> None:
        with os.fdopen(in_write, "wb", buffering=0) as pipe:
            for chunk in chunks:
                pipe.write(chunk)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        async with pipe_streams(in_read, out_write) as (read, _write):
            with anyio.fail_after(10):
                return [item async for item in read]
    finally:
        feeder.join()
        os.close(out_read)


def _ids(items: list[SessionMessage | Exception]) -> list[Any]:
    return [getattr(item.message, "id", None) if isinstance(item, SessionMessage) else item for item in items]


async def test_reads_one_message_per_line_however_the_bytes_arrive() -> None:
    first, second, third = (json.dumps(_request(i)).encode() for i in (1, 2, 3))
    chunks = [first[:10], first[10:] + b"\n" + second[:5], second[5:] + b"\r\n" + third]  # the last has no newline
    items = await _read_all(chunks)
    assert _ids(items) == [1, 2, 3]


async def test_a_line_that_is_not_json_rpc_is_handed_on_as_an_error_and_reading_goes_on() -> None:
    items = await _read_all([b"not json\n", json.dumps(_request(7)).encode() + b"\n"])
    assert isinstance(items[0], Exception)
    assert _ids(items[1:]) == [7]


async def test_many_lines_ahead_of_the_server_are_all_read() -> None:
    # More lines than the reader buffers before it pauses the pipe: pausing must not lose or reorder any.
    lines = b"".join(json.dumps(_request(i)).encode() + b"\n" for i in range(500))
    items = await _read_all([lines])
    assert _ids(items) == list(range(500))


async def test_writes_each_answer_as_the_sdk_does_even_past_the_pipe_buffer() -> None:
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    big = types.JSONRPCResponse(jsonrpc="2.0", id=1, result={"text": "x" * 300_000})  # more than a pipe holds
    small = types.JSONRPCResponse(jsonrpc="2.0", id=2, result={})
    received = bytearray()

    def drain() -> None:
        with os.fdopen(out_read, "rb") as pipe:
            received.extend(pipe.read())

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        async with pipe_streams(in_read, out_write) as (_read, write):
            with anyio.fail_after(10):
                await write.send(SessionMessage(big))
                await write.send(SessionMessage(small))
    finally:
        os.close(in_write)
        reader.join(10)
    expected = [m.model_dump_json(by_alias=True, exclude_unset=True) for m in (big, small)]
    assert received.decode().split("\n") == [*expected, ""]


def test_only_calls_bounded_by_their_page_run_on_the_event_loop() -> None:
    jid = "33606900592@s.whatsapp.net"
    assert _bounded("get_chat", {"chat_jid": jid})
    assert _bounded("list_messages", {"chat_jid": jid, "limit": 500, "before": "2025-01-01 00:00:00"})
    assert not _bounded("list_messages", {"chat_jid": jid, "query": "invoice"})  # a text search scans
    assert not _bounded("list_messages", {"limit": 20})  # across every chat
    assert not _bounded("list_messages", {"chat_jid": jid, "limit": 100_000})
    assert not _bounded("list_chats", {"limit": 20})  # pages by OFFSET


async def test_short_calls_over_stdio_need_no_worker_thread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hops: list[str] = []

    async def no_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(args[1])  # the tool name (call_tool's second argument)
        return func(*args)

    monkeypatch.setattr("wamcp.demo.server.anyio.to_thread.run_sync", no_thread)
    jid = "33606900592@s.whatsapp.net"
    cases: list[tuple[Transport, list[str]]] = [("stdio", ["list_chats"]), ("websocket", ["get_chat", "list_chats"])]
    for transport, expected in cases:
        hops.clear()
        demo = DemoServer(DemoServerConfig(transport=transport, media_dir=tmp_path), FIXTURE_DB)
        try:
            chat = await demo.call("get_chat", {"chat_jid": jid})
            listing = await demo.call("list_chats", {"limit": 5})
        finally:
            demo.close()
        assert not chat.is_error
        assert not listing.is_error
        assert hops == expected, transport
