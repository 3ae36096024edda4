"""The demo server's stdio transport: JSON-RPC lines on the event loop's own pipe transports, no worker threads.

The SDK's ``stdio_server`` reads stdin and writes stdout through anyio file wrappers, i.e. a worker-thread hop per
line read, per line written and per flush, behind two memory streams: at one small tool call per chat that was most
of the demo server's CPU per call (GIL hand-offs between the loop and the worker threads), which made the demo
server, not the client under test, the bottleneck of ``bench/bench_whatsapp.py``. So the demo serves its stdin and
stdout with :func:`wamcp.core.transports.pipes.pipe_streams` (the loop reads and writes the descriptors itself; the
same lines as ``stdio_server``, each validated by the SDK's own ``jsonrpc_message_adapter``).
Like ``stdio_server`` it moves fd 0 to the null device and fd 1 to stderr while it serves, so that stray output of
the process cannot corrupt the protocol, and puts them back afterwards. When stdin or stdout is not a pipe or a
socket (a terminal, a regular file), and on Windows, :func:`stdio_streams` falls back to the SDK's ``stdio_server``:
the loop cannot watch a regular file, and a terminal's non-blocking flag would leak to the shell that shares it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio.lowlevel
import mcp.types as types
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage

from ..core.transports.base import ReceivingStream
from ..core.transports.pipes import pipe_streams

__all__ = ["InlineCalls", "stdio_streams"]

#: A tool call's result as the SDK would write it, or None for a call it leaves to the SDK.
InlineAnswer = Callable[[str, "dict[str, Any] | None"], "Awaitable[dict[str, Any]] | None"]


class InlineCalls(ReceivingStream[SessionMessage | Exception]):
    """The read stream handed to the SDK's ``Server.run``, answering short tool calls itself on the way.

    Why: once the calls themselves run on the event loop (one chat's page: ~0.1 ms of SQL), the SDK's handling
    around each one (the dispatcher's task and context per request, the request's surface check and parameter
    model, the response's surface check and dump) was about half of the demo server's CPU per call, which made
    the demo, not the client under test, the limit of a chat-by-chat extraction. A call ``answer`` takes is
    answered here with what the SDK would have written (the same result, keys in the SDK's order:
    tests/integration/demo compares the two byte for byte); everything else, the handshake included, goes on to the
    SDK. Only after the client's ``notifications/initialized`` (before it the SDK must refuse tool calls), only
    requests whose ``params`` are a tool name and an argument object (no ``_meta``: progress tokens and the like
    are the SDK's to honour).
    """

    def __init__(
        self, inner: ReadStream[SessionMessage | Exception], write: WriteStream[SessionMessage], answer: InlineAnswer
    ) -> None:
        self._inner = inner
        self._write = write
        self._answer = answer
        self._ready = False

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, SessionMessage):
                return item
            message = item.message
            if not self._ready:
                if isinstance(message, types.JSONRPCNotification) and message.method == "notifications/initialized":
                    self._ready = True
                return item
            if not isinstance(message, types.JSONRPCRequest) or message.method != "tools/call":
                return item
            params = message.params
            if params is None or params.keys() - {"name", "arguments"}:
                return item
            name, arguments = params.get("name"), params.get("arguments")
            if not isinstance(name, str) or not (arguments is None or isinstance(arguments, dict)):
                return item
            pending = self._answer(name, arguments)
            if pending is None:
                return item
            try:
                result = await pending
            except Exception:  # e.g. a damaged database: the SDK runs the (read-only) call again and answers its error
                return item
            await self._write.send(SessionMessage(types.JSONRPCResponse(jsonrpc="2.0", id=message.id, result=result)))
            # Let the loop write it now: answering every queued request first would hold the first answers back
            # until the last is ready, and the client would wait, then work while this server waits (measured: the
            # chat-by-chat phase of a 1M-message extraction took 44 s instead of 31 s).
            await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await self._inner.aclose()


def _is_pipe_or_socket(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextlib.contextmanager
def _claimed_std_fds() -> Iterator[tuple[int, int]]:
    """Private duplicates of fd 0 and 1 for the protocol; fd 0 reads the null device and fd 1 writes to stderr
    meanwhile (as ``stdio_server`` arranges it), both restored on exit."""
    import fcntl  # POSIX only: stdio_streams serves Windows through the SDK's stdio_server

    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
    finally:
        os.close(null)
    try:
        yield wire_in, wire_out
    finally:
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)


@contextlib.asynccontextmanager
async def stdio_streams() -> AsyncIterator[tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]]:
    """The server's (read, write) streams over this process's stdin and stdout (for ``Server.run``)."""
    if sys.platform == "win32" or not (_is_pipe_or_socket(0) and _is_pipe_or_socket(1)):
        async with stdio_server() as streams:
            yield streams
        return
    with _claimed_std_fds() as (wire_in, wire_out):
        async with pipe_streams(wire_in, wire_out) as streams:
            yield streams
