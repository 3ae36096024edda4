"""The demo server's own stdio transport in a real process: fd 0/1 are the wire's only while it serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
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
