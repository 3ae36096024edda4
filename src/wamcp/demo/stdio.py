"""The demo server's stdio transport: JSON-RPC lines on the event loop's own pipe transports, no worker threads.

The SDK's ``stdio_server`` reads stdin and writes stdout through anyio file wrappers, i.e. a worker-thread hop per
line read, per line written and per flush, behind two memory streams: at one small tool call per chat that was most
of the demo server's CPU per call (GIL hand-offs between the loop and the worker threads), which made the demo
server, not the client under test, the bottleneck of ``bench/bench_whatsapp.py``. No library offers line-framed
JSON-RPC over pipes for the SDK's stream protocols, so this module does it on ``asyncio`` pipe transports: the
loop reads and writes the descriptors itself. It speaks exactly what ``stdio_server`` speaks: one message per line,
UTF-8 decoded with replacement characters, each line validated by the SDK's own ``jsonrpc_message_adapter`` (a line
that does not validate is handed on as the exception, as the SDK does), answers written as the SDK writes them.
Like ``stdio_server`` it moves fd 0 to the null device and fd 1 to stderr while it serves, so that stray output of
the process cannot corrupt the protocol, and puts them back afterwards. When stdin or stdout is not a pipe or a
socket (a terminal, a regular file), and on Windows, :func:`stdio_streams` falls back to the SDK's ``stdio_server``:
the loop cannot watch a regular file, and a terminal's non-blocking flag would leak to the shell that shares it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from types import TracebackType

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage

__all__ = ["pipe_streams", "stdio_streams"]

#: Lines read ahead of the server before the loop stops reading stdin (the SDK reads one ahead).
_READ_AHEAD_LINES = 64
#: How long closing waits for buffered answers to reach a client that stopped reading.
_FLUSH_TIMEOUT = 2.0


class _LineReader(asyncio.Protocol):
    """Splits the bytes of stdin into lines and queues them, pausing the pipe while too many wait."""

    def __init__(self) -> None:
        self.lines: collections.deque[bytes] = collections.deque()
        self.eof = False
        self._partial = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._partial:
                self._partial += data[start:end]
                self.lines.append(bytes(self._partial))
                self._partial.clear()
            else:
                self.lines.append(data[start:end])
            start = end + 1
        if start < len(data):
            self._partial += data[start:]
        if len(self.lines) > _READ_AHEAD_LINES and self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self._end()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if not self.eof:
            self.eof = True
            if self._partial:  # a last line without its newline still counts, as with a text file's iteration
                self.lines.append(bytes(self._partial))
                self._partial.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_line(self) -> bytes | None:
        """The next line without its newline, or None at end of input."""
        while not self.lines:
            if self.eof:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        line = self.lines.popleft()
        if self._paused and len(self.lines) <= _READ_AHEAD_LINES // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return line

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _LineWriter(asyncio.Protocol):
    """Waits out stdout's back-pressure: the transport buffers what the pipe does not take at once."""

    def __init__(self) -> None:
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.lost: Exception | None = None
        self.closed = False
        self.gone = asyncio.Event()  # the pipe is closed, everything buffered written (or the reader left)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self._can_write.set()
        self.gone.set()

    async def writable(self) -> None:
        await self._can_write.wait()


class _ReadStream:
    """``ReadStream[SessionMessage | Exception]`` over the line reader (the SDK's stream protocol)."""

    def __init__(self, reader: _LineReader) -> None:
        self._reader = reader
        self._closed = False

    async def receive(self) -> SessionMessage | Exception:
        if self._closed:
            raise anyio.ClosedResourceError
        line = await self._reader.next_line()
        if line is None:
            raise anyio.EndOfStream
        text = line.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]  # the SDK's text wrapper reads "\r\n" as a newline
        try:
            message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
        except Exception as exc:  # the SDK hands any invalid line on as its exception
            return exc
        return SessionMessage(message)

    def __aiter__(self) -> _ReadStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> _ReadStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


class _WriteStream:
    """``WriteStream[SessionMessage]``: one line per message, written by the loop (the transport buffers)."""

    def __init__(self, transport: asyncio.WriteTransport, protocol: _LineWriter) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    async def send(self, item: SessionMessage, /) -> None:
        if self._closed or self._protocol.closed:
            raise anyio.ClosedResourceError
        line = item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
        self._transport.write(line.encode("utf-8"))
        await self._protocol.writable()
        if self._protocol.closed:
            raise anyio.BrokenResourceError from self._protocol.lost

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> _WriteStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


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


@contextlib.asynccontextmanager
async def pipe_streams(
    read_fd: int, write_fd: int
) -> AsyncIterator[tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]]:
    """JSON-RPC line streams over two pipe (or socket) descriptors, which they own and close."""
    loop = asyncio.get_running_loop()
    # The file objects own the descriptors: closing a transport closes its pipe, hence its descriptor.
    read_pipe, write_pipe = os.fdopen(read_fd, "rb", buffering=0), os.fdopen(write_fd, "wb", buffering=0)
    try:
        read_transport, reader = await loop.connect_read_pipe(_LineReader, read_pipe)
    except BaseException:
        read_pipe.close()
        write_pipe.close()
        raise
    try:
        write_transport, writer = await loop.connect_write_pipe(_LineWriter, write_pipe)
    except BaseException:
        read_transport.close()
        write_pipe.close()
        raise
    try:
        yield _ReadStream(reader), _WriteStream(write_transport, writer)
    finally:
        read_transport.close()
        # close() writes out what the transport still buffers, then closes the pipe: wait for that (bounded, as a
        # client that stopped reading would hold it forever), or the loop may end with answers unsent.
        write_transport.close()
        with anyio.move_on_after(_FLUSH_TIMEOUT, shield=True):
            await writer.gone.wait()
