"""stdio transport: start the MCP server as a child process and speak JSON-RPC lines over its stdin/stdout.

Built on the SDK's ``stdio_client``. The one thing to know: closing waits for the child to exit after end-of-input
and only then terminates it (the SDK's 2 s grace), so servers that ignore EOF, like lharries', make every reconnect
cost ~2 s; keep one session per job. A missing command surfaces as :class:`FileNotFoundError` at open time and is
mapped to ``MCPConnectionError`` naming the command by the session layer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TextIO

from mcp import StdioServerParameters, stdio_client
from mcp.client._transport import TransportStreams

from ...config import ServerConfig
from ...redact import redact
from .base import HttpRefusal, stdio_command

__all__ = ["StdioTransport"]


_devnull: TextIO | None = None


def _errlog() -> TextIO:
    # The child inherits this as its stderr, so it must be a real file descriptor (pytest's capsys is not); the
    # fallback is opened once and kept for the process lifetime.
    global _devnull
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        if _devnull is None:
            _devnull = open(os.devnull, "w")  # noqa: SIM115
        return _devnull
    return sys.stderr


class StdioTransport:
    """Spawns ``command args`` (env merged over the SDK's safe default environment, optional cwd) per connection."""

    kind = "stdio"
    last_refusal: HttpRefusal | None = None

    def __init__(self, config: ServerConfig) -> None:
        self.command, self.args = stdio_command(config)
        self._env = dict(config.env) or None
        self._cwd = config.cwd

    @property
    def endpoint(self) -> str:
        return redact(" ".join([self.command, *self.args]), phones=False)

    def open(self) -> AbstractAsyncContextManager[TransportStreams]:
        return self._open()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        params = StdioServerParameters(command=self.command, args=self.args, env=self._env, cwd=self._cwd)
        async with stdio_client(params, errlog=_errlog()) as streams:
            yield streams

    def __repr__(self) -> str:
        return f"StdioTransport({self.endpoint!r})"
