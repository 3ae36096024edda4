"""A test MCP server on mcp 1.6.0 FastMCP (protocol 2024-11-05), like lharries' server; run it with .cache/mcp16.

Run: ``.cache/mcp16/bin/python tests/servers/old_server.py --transport {stdio,sse,websocket} [--port N]``. Tools:
``echo``, ``slow``, ``fail``, ``counter``. The one thing to know: this file must import only what mcp 1.6 offers
(``mcp.server.fastmcp``, ``mcp.server.websocket``); it never runs under the project's own venv.
"""

from __future__ import annotations

import argparse
import os

import anyio
from mcp.server.fastmcp import FastMCP

STATE = {"counter": 0}


def build_server(port: int) -> FastMCP:
    server = FastMCP("wamcp-old-server", host="127.0.0.1", port=port, log_level="WARNING")

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    async def fail() -> str:
        """Always fails."""
        raise ValueError("boom: this old tool always fails")

    @server.tool()
    async def counter() -> int:
        """Count calls."""
        STATE["counter"] += 1
        return STATE["counter"]

    @server.tool()
    async def pid() -> int:
        """This server's process id."""
        return os.getpid()

    return server


def serve_websocket(server: FastMCP, port: int) -> None:
    import uvicorn
    from mcp.server.websocket import websocket_server
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    lowlevel = server._mcp_server

    async def endpoint(websocket) -> None:  # type: ignore[no-untyped-def]
        async with websocket_server(websocket.scope, websocket.receive, websocket.send) as (read, write):
            await lowlevel.run(read, write, lowlevel.create_initialization_options())

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", default="stdio", choices=["stdio", "sse", "websocket"])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    server = build_server(args.port)
    if args.transport == "websocket":
        serve_websocket(server, args.port)
    else:
        server.run(args.transport)


if __name__ == "__main__":
    main()
