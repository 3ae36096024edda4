"""The demo server's own stdio transport in a real process: fd 0/1 are the wire's only while it serves."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import stdio_client

from wamcp.demo import generate_database, stdio_parameters

_ECHO_SERVER = """
import anyio
from wamcp.demo.stdio import stdio_streams

async def main():
    async with stdio_streams() as (read, write):
        async for item in read:
            print("stray output while serving")  # must not reach the client
            await write.send(item)
    print("after serving")  # stdout is the wire again

anyio.run(main)
"""


def test_stray_output_while_serving_goes_to_stderr_not_to_the_wire() -> None:
    request = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"}) + "\n"
    done = subprocess.run(
        [sys.executable, "-c", _ECHO_SERVER], input=request, capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert json.loads(lines[0])["id"] == 3
    assert lines[1:] == ["after serving"]
    assert "stray output while serving" in done.stderr


def test_the_sdk_stdio_mode_answers_exactly_as_the_fast_pipes(tmp_path: Path) -> None:
    """``--sdk-stdio`` (the real server's transport and threads, for benchmarks) changes the cost, not the answers."""
    db = tmp_path / "messages.db"
    generate_database(db, messages=400, seed=4)

    async def answers(extra: list[str]) -> list[str]:
        params = stdio_parameters(db=db, extra_args=extra)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            calls = [
                ("list_chats", {"limit": 50, "sort_by": "name"}),
                ("list_messages", {"limit": 200, "include_context": False}),
            ]
            out = []
            for tool, arguments in calls:
                result = await session.call_tool(tool, arguments)
                out.append("".join(getattr(block, "text", "") for block in result.content))
            return out

    fast = anyio.run(answers, [])
    sdk = anyio.run(answers, ["--sdk-stdio"])
    assert fast == sdk
    assert "From: " in fast[1]


def _raw_answers(db: Path, extra: list[str], requests: list[dict[str, Any]]) -> list[str]:
    """The answer lines, as the server wrote them, to ``requests`` sent after the handshake."""
    params = stdio_parameters(db=db, extra_args=extra)
    handshake = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    wire = "".join(json.dumps(m) + "\n" for m in [*handshake, *requests])
    # Input stays open until every answer is in: at end of input the server stops, calls in flight or not.
    with subprocess.Popen(
        [params.command, *params.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        killer = threading.Timer(60, proc.kill)  # bounded: a server that stops answering fails the test
        killer.start()
        try:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(wire)
            proc.stdin.flush()
            lines = [proc.stdout.readline() for _ in range(1 + len(requests))]
            proc.stdin.close()
            proc.wait(30)
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
    assert all(lines), lines
    return sorted(lines[1:], key=lambda line: int(json.loads(line)["id"]))


@pytest.mark.parametrize("output", ["text", "structured"])
def test_short_calls_answered_on_the_spot_are_the_sdks_answers_byte_for_byte(tmp_path: Path, output: str) -> None:
    """The default stdio server answers short tool calls itself (``demo.stdio.InlineCalls``); ``--sdk-stdio``
    leaves every call to the SDK. The wire must not tell them apart."""
    db = tmp_path / "messages.db"
    generate_database(db, messages=400, seed=4)
    with sqlite3.connect(db) as conn:
        jids = [jid for (jid,) in conn.execute("SELECT jid FROM chats ORDER BY jid LIMIT 3")]
    calls: list[dict[str, Any]] = [
        {"name": "list_messages", "arguments": {"chat_jid": jids[0], "limit": 50, "include_context": False}},
        {"name": "list_messages", "arguments": {"chat_jid": jids[1], "limit": 2, "include_context": False}},
        {"name": "get_chat", "arguments": {"chat_jid": jids[2]}},
        {"name": "get_chat", "arguments": {"chat_jid": "nobody@s.whatsapp.net"}},
        {"name": "list_messages", "arguments": {"chat_jid": jids[0], "limit": "many"}},  # the tool's own error
        {"name": "list_messages", "arguments": {"limit": 20, "include_context": False}},  # not short: the SDK's
        {"name": "get_chat", "arguments": {"chat_jid": jids[2]}, "_meta": {"progressToken": 5}},  # the SDK's
        {"name": "get_chat", "arguments": ["not", "an", "object"]},  # the SDK refuses it
    ]
    requests = [{"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": p} for i, p in enumerate(calls)]

    inline = _raw_answers(db, ["--output", output], requests)
    sdk = _raw_answers(db, ["--output", output, "--sdk-stdio"], requests)

    assert inline == sdk
    assert '"isError":true' in inline[4].replace(" ", "")
    assert "error" in json.loads(inline[7])
