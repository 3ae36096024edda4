"""stdio transport: start the MCP server as a child process and speak JSON-RPC lines over its stdin/stdout.

On asyncio under POSIX the pipes are read and written by the event loop itself (:mod:`.pipes`), and plain
successful answers skip the SDK's per-line union validation: reading the answers was the largest cost of a long
extraction over stdio after the SDK's own result validation (1M messages: ~18 % of the client's CPU). Elsewhere
(Windows, trio) the SDK's ``stdio_client`` does the same job. The process is handled as the SDK does it
(:mod:`wamcp.stdio_process`): the server's environment is the SDK's safe default environment with ``env`` merged
over it; the server runs in its own process group; closing ends its input, waits up to 2 s for it to exit, then
terminates the group (SIGTERM, SIGKILL 2 s later), reading and dropping its output meanwhile so that it cannot block
on a full pipe. A server a command line started early (:func:`wamcp.stdio_process.started_early`) with the same
parameters is taken over instead of spawning another. Servers that ignore end of input, like lharries', make every
reconnect cost ~2 s; keep one session per job. A missing command surfaces as :class:`FileNotFoundError` at open time
and is mapped to ``MCPConnectionError`` naming the command by the session layer; a server that exits is named with
its exit status (:attr:`StdioTransport.server_ended`), which is what a user needs when it stops before answering.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from mcp import StdioServerParameters, stdio_client
from mcp.client._transport import TransportStreams

from ...config import ServerConfig
from ...redact import get_logger, redact
from ...stdio_process import ServerProcess, claim, launch_parameters, server_errlog, spawn
from .base import HttpRefusal
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


class StdioTransport:
    """Spawns ``command args`` (env merged over the SDK's safe default environment, optional cwd) per connection."""

    kind = "stdio"
    last_refusal: HttpRefusal | None = None

    def __init__(self, config: ServerConfig) -> None:
        self._launch = launch_parameters(config)
        self.command, self.args, self._env, self._cwd = self._launch
        self._process: ServerProcess | None = None  # the latest connection's server

    @property
    def server_ended(self) -> str | None:
        """How the latest connection's server process ended ("exited with code 1", "was killed by SIGKILL"), or
        None while it runs (or where the SDK runs it: Windows, trio)."""
        return None if self._process is None else self._process.ended()

    async def wait_ended(self, within: float) -> str | None:
        """:attr:`server_ended`, waiting up to ``within`` seconds for a server that closed its output to exit."""
        if self._process is not None:
            await _exited(self._process, within)
        return self.server_ended

    @property
    def endpoint(self) -> str:
        return redact(" ".join([self.command, *self.args]), phones=False)

    def open(self) -> AbstractAsyncContextManager[TransportStreams]:
        return self._open_with_sdk() if sys.platform == "win32" or not _on_asyncio() else self._open()

    @asynccontextmanager
    async def _open_with_sdk(self) -> AsyncIterator[TransportStreams]:
        params = StdioServerParameters(command=self.command, args=self.args, env=self._env, cwd=self._cwd)
        async with stdio_client(params, errlog=server_errlog()) as streams:
            yield streams

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        process = claim(*self._launch) or spawn(*self._launch)
        self._process = process
        try:
            # No await between the spawn and this try: a cancellation in the gap would leak the live process.
            pipes = await Pipes.open(process.from_child, process.to_child, parse=parse_answer)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _stop(process)
            raise
        try:
            yield pipes.read_stream, pipes.write_stream
        finally:
            # Every wait below is bounded, and shielded: a cancelled caller must not leak a live server process.
            with anyio.CancelScope(shield=True):
                pipes.discard_input()
                await pipes.close_output(_INPUT_FLUSH_TIMEOUT)
                await _stop(process)
                pipes.close_input()

    def __repr__(self) -> str:
        return f"StdioTransport({self.endpoint!r})"


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio, or no loop yet
        return False
    return True


async def _stop(process: ServerProcess) -> None:
    """Wait for the server to exit after its input ended; then SIGTERM its process group, SIGKILL what is left."""
    if not await _exited(process, EXIT_GRACE):
        # The SDK's terminate_posix_process_tree does this for anyio processes; this transport's process is a plain
        # Popen (it may have been started before the event loop), so the same escalation is written here.
        if process.signal_group(signal.SIGTERM):
            with anyio.move_on_after(KILL_GRACE):
                while process.group_alive():  # noqa: ASYNC110 - nothing signals a whole group's end
                    await anyio.sleep(_POLL_INTERVAL)
            process.signal_group(signal.SIGKILL)
        if not await _exited(process, KILL_GRACE):
            logger.warning("MCP server process %d is still alive after SIGKILL; abandoning it", process.pid)


async def _exited(process: ServerProcess, within: float) -> bool:
    # Polled: a Popen has no exit notification on the loop (the loop's child watcher only knows its own children).
    with anyio.move_on_after(within):
        while not process.exited():  # noqa: ASYNC110
            await anyio.sleep(_POLL_INTERVAL)
    return process.exited()
