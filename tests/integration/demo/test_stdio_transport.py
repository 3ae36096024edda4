"""The demo server's own stdio transport in a real process: fd 0/1 are the wire's only while it serves."""

from __future__ import annotations

import json
import subprocess
import sys

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
