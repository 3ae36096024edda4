"""stdio transport: start the MCP server as a child process and speak JSON-RPC lines over its stdin/stdout.

On asyncio under POSIX the pipes are read and written by the event loop itself (:mod:`.pipes`), and plain
successful answers skip the SDK's per-line union validation: reading the answers was the largest cost of a long
extraction over stdio after the SDK's own result validation (1M messages: ~18 % of the client's CPU). Elsewhere
(Windows, trio) the SDK's ``stdio_client`` does the same job. The process is handled as the SDK does it: the
server's environment is the SDK's safe default environment with ``env`` merged over it; the server runs in its own
process group; closing ends its input, waits up to 2 s for it to exit, then terminates the group (SIGTERM, SIGKILL
2 s later), reading and dropping its output meanwhile so that it cannot block on a full pipe. Servers that ignore
end of input, like lharries', make every reconnect cost ~2 s; keep one session per job. A missing command surfaces
as :class:`FileNotFoundError` at open time and is mapped to ``MCPConnectionError`` naming the command by the session
layer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TextIO

import anyio
from mcp import StdioServerParameters, stdio_client
from mcp.client._transport import TransportStreams
from mcp.client.stdio import get_default_environment

from ...config import ServerConfig
from ...redact import get_logger, redact
from .base import HttpRefusal, stdio_command
from .pipes import Pipes, parse_answer

__all__ = ["StdioTransport"]

logger = get_logger(__name__)

#: How long the server may take to exit on its own once its input has ended (the SDK's grace period).
EXIT_GRACE = 2.0
#: How long after SIGTERM before SIGKILL, and how long after SIGKILL before giving the process up.
KILL_GRACE = 2.0
#: How long closing waits for requests already written to reach a server that stopped reading.
_INPUT_FLUSH_TIMEOUT = 0.5
_POLL_INTERVAL = 0.01

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


class _Exit(asyncio.SubprocessProtocol):
    """Notes when the server process has exited (the loop's child watcher reaps it)."""

    def __init__(self) -> None:
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        self.exited.set()


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
        return self._open_with_sdk() if sys.platform == "win32" or not _on_asyncio() else self._open()

    @asynccontextmanager
    async def _open_with_sdk(self) -> AsyncIterator[TransportStreams]:
        params = StdioServerParameters(command=self.command, args=self.args, env=self._env, cwd=self._cwd)
        async with stdio_client(params, errlog=_errlog()) as streams:
            yield streams

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        loop = asyncio.get_running_loop()
        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        try:
            process, watch = await loop.subprocess_exec(
                _Exit,
                self.command,
                *self.args,
                stdin=child_in,
                stdout=child_out,
                stderr=_errlog(),
                env=get_default_environment() | (self._env or {}),
                cwd=self._cwd,
                start_new_session=True,  # its own process group, so that closing stops its children too
            )
        except BaseException:
            for fd in (to_child, from_child):
                os.close(fd)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        try:
            # No await between the spawn and this try: a cancellation in the gap would leak the live process.
            pipes = await Pipes.open(from_child, to_child, parse=parse_answer)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _stop(process, watch)
            raise
        try:
            yield pipes.read_stream, pipes.write_stream
        finally:
            # Every wait below is bounded, and shielded: a cancelled caller must not leak a live server process.
            with anyio.CancelScope(shield=True):
                pipes.discard_input()
                await pipes.close_output(_INPUT_FLUSH_TIMEOUT)
                await _stop(process, watch)
                pipes.close_input()

    def __repr__(self) -> str:
        return f"StdioTransport({self.endpoint!r})"


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio, or no loop yet
        return False
    return True


async def _stop(process: asyncio.SubprocessTransport, watch: _Exit) -> None:
    """Wait for the server to exit after its input ended; then SIGTERM its process group, SIGKILL what is left."""
    if not await _exited(watch, EXIT_GRACE):
        # The SDK's terminate_posix_process_tree does this for anyio processes; this transport's process is the
        # loop's own, so the same escalation is written here: the group id is the leader's pid (new session).
        pgid = process.get_pid()
        if _signal_group(pgid, signal.SIGTERM):
            with anyio.move_on_after(KILL_GRACE):
                while _group_alive(pgid):  # noqa: ASYNC110 - nothing signals a whole group's end
                    await anyio.sleep(_POLL_INTERVAL)
            _signal_group(pgid, signal.SIGKILL)
        if not await _exited(watch, KILL_GRACE):
            logger.warning("MCP server process %d is still alive after SIGKILL; abandoning it", process.get_pid())
    process.close()


async def _exited(watch: _Exit, within: float) -> bool:
    with anyio.move_on_after(within):
        await watch.exited.wait()
    return watch.exited.is_set()


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal the whole process group; False once none of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # some members are not ours to signal; the rest got it
        pass
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
