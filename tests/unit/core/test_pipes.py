"""JSON-RPC lines over pipes on the event loop: the same lines as the SDK's stdio transports, without threads."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from wamcp.core.transports.answers import plain_response
from wamcp.core.transports.pipes import parse_answer, parse_line, pipe_streams

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


_LINES = [
    b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi \\u00e9"}],"isError":false}}',
    b'{"jsonrpc": "2.0", "id": "req-7", "result": {}}',
    b'{"result":{"a":[1,2,{"b":null}]},"id":3,"jsonrpc":"2.0"}\r',
    b'{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"no such method"}}',
    b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}',
    b'{"jsonrpc":"2.0","id":5,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":true,"result":{}}',
    b'{"jsonrpc":"2.0","id":6.0,"result":{}}',
    b'{"jsonrpc":"2.0","id":null,"result":{}}',
    b'{"jsonrpc":"2.0","id":7,"result":[1]}',
    b'{"jsonrpc":"1.0","id":8,"result":{}}',
    b'{"jsonrpc":"2.0","id":9,"result":{},"extra":1}',
    b'{"jsonrpc":"2.0","result":{}}',
    b'[{"jsonrpc":"2.0","id":10,"result":{}}]',
    b"not json",
    b"",
    b'{"jsonrpc":"2.0","id":11,"result":{"text":"caf\xc3\xa9 \xff"}}',
    # Lines orjson refuses where a plain JSON reader may not: they take the SDK's path.
    b'{"jsonrpc":"2.0","id":13,"result":{"n":123456789012345678901234567890}}',
    b'{"jsonrpc":"2.0","id":14,"result":{"x":NaN,"y":-Infinity}}',
    b'{"jsonrpc":"2.0","id":15,"result":{"s":"\\ud800 lone"}}',
    b'{"jsonrpc":"2.0","id":16,"result":{"k":1,"k":2},"id":17}',
    b'  {"jsonrpc":"2.0","id":18,"result":{"f":1e400,"g":-0.0,"h":0.1}}  ',
]


def _shape(item: SessionMessage | Exception) -> Any:
    if isinstance(item, Exception):
        return "error"
    return type(item.message).__name__, item.message.model_dump(by_alias=True, exclude_unset=True)


@pytest.mark.parametrize("line", _LINES, ids=range(len(_LINES)))
def test_the_answer_fast_path_reads_every_line_as_the_sdk_does(line: bytes) -> None:
    # parse_answer skips the SDK's validation for plain answers only: whatever the line, the message (or the
    # refusal) must be the one the SDK's own validation gives.
    assert repr(_shape(parse_answer(line))) == repr(_shape(parse_line(line)))  # repr: NaN is not equal to itself


@pytest.mark.parametrize("line", _LINES, ids=range(len(_LINES)))
def test_an_sse_answer_as_text_reads_as_the_sdk_reads_it_with_the_request_id(line: bytes) -> None:
    # Streamable HTTP hands SSE data over as text and answers a request's own stream with that request's id.
    text = line.decode("utf-8", "replace")
    message = plain_response(text, request_id="req-7")
    if message is None:
        return  # the SDK's own path reads it
    expected = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    assert isinstance(expected, types.JSONRPCResponse)
    expected.id = "req-7"
    assert repr(message.model_dump(by_alias=True, exclude_unset=True)) == repr(
        expected.model_dump(by_alias=True, exclude_unset=True)
    )


def test_a_plain_answer_takes_the_fast_path_and_is_a_real_response() -> None:
    item = parse_answer(b'{"jsonrpc":"2.0","id":12,"result":{"content":[]}}')
    assert isinstance(item, SessionMessage)
    assert isinstance(item.message, types.JSONRPCResponse)
    assert (item.message.id, item.message.result) == (12, {"content": []})
    assert item.message.model_dump_json(by_alias=True, exclude_unset=True) == (
        '{"jsonrpc":"2.0","id":12,"result":{"content":[]}}'
    )


async def test_lines_sent_together_are_written_together_in_order_and_all_before_the_pipe_closes() -> None:
    """Many calls in flight send their requests in the same turn of the loop: they go out in one write (a pipe write
    that wakes the peer costs more than its bytes), each its own line, in the order sent; closing writes them first."""
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    received = bytearray()
    reads: list[int] = []

    def drain() -> None:
        with os.fdopen(out_read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 20):
                reads.append(len(chunk))
                received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    messages = [types.JSONRPCResponse(jsonrpc="2.0", id=i, result={"n": i}) for i in range(20)]
    try:
        async with pipe_streams(in_read, out_write) as (_read, write):
            with anyio.fail_after(10):
                async with anyio.create_task_group() as senders:
                    for message in messages:
                        senders.start_soon(write.send, SessionMessage(message))
    finally:
        os.close(in_write)
        reader.join(10)
    expected = [m.model_dump_json(by_alias=True, exclude_unset=True) for m in messages]
    assert received.decode().split("\n") == [*expected, ""]
    assert len(reads) == 1  # one write of all 20 lines (20 reads before)
