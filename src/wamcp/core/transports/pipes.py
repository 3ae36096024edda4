"""JSON-RPC lines over a pair of pipe descriptors, read and written by the event loop itself (no worker threads).

Both ends of a stdio connection use it: the demo server on its own stdin/stdout, the client on the pipes of the
server process it spawns. The SDK's stdio transports read and write through anyio file wrappers or stream readers
behind two memory streams, i.e. a task or thread hop per line and a full ``jsonrpc_message_adapter`` validation of
every line; no library offers line-framed JSON-RPC over pipes for the SDK's stream protocols, so this module does it
on ``asyncio`` pipe transports. It speaks exactly what the SDK's stdio transports speak: one message per line, UTF-8
(decoded with replacement characters), ``\\r\\n`` accepted, a line that does not validate handed on as the exception,
messages written as the SDK writes them. The one thing to know: :func:`parse_line` validates every line as the SDK
does (what a server reads), :func:`parse_answer` takes a plain successful answer, the bulk of what a client reads,
without that validation (:mod:`.answers`) and hands everything else to :func:`parse_line`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from collections.abc import AsyncIterator, Callable

import anyio
import mcp_types as types
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage

from .answers import plain_response
from .base import ClosingStream, ReceivingStream

__all__ = ["LineParser", "Pipes", "parse_answer", "parse_line", "pipe_streams"]

#: Lines read ahead of the consumer before the loop stops reading the pipe (the SDK reads one ahead) ...
_READ_AHEAD_LINES = 64
#: ... or bytes: a client's answers may be pages of a megabyte, and a busy session must not queue dozens of them.
_READ_AHEAD_BYTES = 4 * 1024 * 1024
#: How long closing waits for buffered output to reach a peer that stopped reading.
FLUSH_TIMEOUT = 2.0

LineParser = Callable[[bytes], "SessionMessage | Exception"]


def parse_line(line: bytes) -> SessionMessage | Exception:
    """One line as the SDK's stdio transports read it: validated as any JSON-RPC message, or the validation error."""
    text = line.decode("utf-8", "replace")
    if text.endswith("\r"):
        text = text[:-1]  # the SDK's text wrapper reads "\r\n" as a newline
    try:
        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except Exception as exc:  # the SDK hands any invalid line on as its exception
        return exc
    return SessionMessage(message)


def parse_answer(line: bytes) -> SessionMessage | Exception:
    """:func:`parse_line` with :func:`~.answers.plain_response`'s fast path for a plain successful answer; anything
    else (and any line that reader refuses) takes the SDK's path, so the SDK decides what those are."""
    message = plain_response(line)
    return SessionMessage(message) if message is not None else parse_line(line)


class _LineReader(asyncio.Protocol):
    """Splits the bytes of a pipe into lines and queues them, pausing the pipe while too many wait."""

    def __init__(self) -> None:
        self.lines: collections.deque[bytes] = collections.deque()
        self.eof = False
        self._queued_bytes = 0
        self._partial = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._paused = False
        self._discarding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._partial:
                self._partial += data[start:end]
                self._push(bytes(self._partial))
                self._partial.clear()
            else:
                self._push(data[start:end])
            start = end + 1
        if start < len(data):
            self._partial += data[start:]
        if (
            not self._paused
            and self._transport is not None
            and (len(self.lines) > _READ_AHEAD_LINES or self._queued_bytes > _READ_AHEAD_BYTES)
        ):
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def _push(self, line: bytes) -> None:
        self.lines.append(line)
        self._queued_bytes += len(line)

    def eof_received(self) -> bool | None:
        self._end()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if not self.eof:
            self.eof = True
            if self._partial:  # a last line without its newline still counts, as with a text file's iteration
                self._push(bytes(self._partial))
                self._partial.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def discard(self) -> None:
        """From now on read and drop everything (a peer flushing its last output must not block on a full pipe)."""
        self._discarding = True
        self.lines.clear()
        self._partial.clear()
        self._queued_bytes = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    async def next_line(self) -> bytes | None:
        """The next line without its newline, or None at end of input."""
        while not self.lines:
            if self.eof or self._discarding:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        line = self.lines.popleft()
        self._queued_bytes -= len(line)
        if (
            self._paused
            and self._transport is not None
            and len(self.lines) <= _READ_AHEAD_LINES // 2
            and self._queued_bytes <= _READ_AHEAD_BYTES // 2
        ):
            self._paused = False
            self._transport.resume_reading()
        return line


class _LineWriter(asyncio.Protocol):
    """Waits out the pipe's back-pressure: the transport buffers what the pipe does not take at once."""

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


class _ReadStream(ReceivingStream[SessionMessage | Exception]):
    """``ReadStream[SessionMessage | Exception]`` over the line reader (the SDK's stream protocol)."""

    def __init__(self, reader: _LineReader, parse: LineParser) -> None:
        self._reader = reader
        self._parse = parse
        self._closed = False

    async def receive(self) -> SessionMessage | Exception:
        if self._closed:
            raise anyio.ClosedResourceError
        line = await self._reader.next_line()
        if line is None:
            raise anyio.EndOfStream
        return self._parse(line)

    async def aclose(self) -> None:
        self._closed = True


class _WriteStream(ClosingStream):
    """``WriteStream[SessionMessage]``: one line per message, written by the loop (the transport buffers).

    The lines sent during one turn of the event loop go out in one ``write``: a pipe write that wakes the peer
    costs its writer far more than the bytes (a 1M-message text extraction's ~93k requests: ~5 s of the client's
    CPU in ``write``), and with many calls in flight, several requests (or a server's answers) are often ready in
    the same turn. Order is kept; :meth:`flush` writes what waits at once (before closing).
    """

    def __init__(self, transport: asyncio.WriteTransport, protocol: _LineWriter) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False
        self._waiting: list[bytes] = []

    async def send(self, item: SessionMessage, /) -> None:
        if self._closed or self._protocol.closed or self._transport.is_closing():
            raise anyio.ClosedResourceError
        line = item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self.flush)
        self._waiting.append(line.encode("utf-8"))
        await self._protocol.writable()
        if self._protocol.closed:
            raise anyio.BrokenResourceError from self._protocol.lost

    def flush(self) -> None:
        """Write the lines sent since the last write (nothing once the pipe is closing)."""
        if not self._waiting:
            return
        data = b"".join(self._waiting)
        self._waiting.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    async def aclose(self) -> None:
        self._closed = True


class Pipes:
    """The two streams over an open pipe pair, and the steps of closing it (each safe to repeat)."""

    def __init__(
        self,
        read_transport: asyncio.ReadTransport,
        reader: _LineReader,
        write_transport: asyncio.WriteTransport,
        writer: _LineWriter,
        parse: LineParser,
    ) -> None:
        self._read_transport = read_transport
        self._reader = reader
        self._write_transport = write_transport
        self._writer = writer
        self.read_stream: ReadStream[SessionMessage | Exception] = _ReadStream(reader, parse)
        self._lines_out = _WriteStream(write_transport, writer)
        self.write_stream: WriteStream[SessionMessage] = self._lines_out

    @classmethod
    async def open(cls, read_fd: int, write_fd: int, parse: LineParser = parse_line) -> Pipes:
        """Watch ``read_fd`` and ``write_fd`` (pipes or sockets) on the running loop; the result owns them."""
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
        return cls(read_transport, reader, write_transport, writer, parse)

    def discard_input(self) -> None:
        """Keep reading but drop every line: the read stream ends, the peer can still flush its output and exit."""
        self._reader.discard()

    async def close_output(self, flush_timeout: float = FLUSH_TIMEOUT) -> None:
        """End the output (the peer reads end of input) once what is buffered is written, or after ``flush_timeout``."""
        # close() writes out what the transport still buffers, then closes the pipe: wait for that, bounded, as a
        # peer that stopped reading would hold it forever; then drop the rest.
        self._lines_out.flush()  # lines sent in this turn of the loop, not handed to the transport yet
        self._write_transport.close()
        with anyio.move_on_after(flush_timeout, shield=True):
            await self._writer.gone.wait()
        if not self._writer.gone.is_set():
            self._write_transport.abort()

    def close_input(self) -> None:
        self._read_transport.close()


@contextlib.asynccontextmanager
async def pipe_streams(
    read_fd: int, write_fd: int
) -> AsyncIterator[tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]]:
    """A server's (read, write) streams over two pipe (or socket) descriptors, which they own and close."""
    pipes = await Pipes.open(read_fd, write_fd)
    try:
        yield pipes.read_stream, pipes.write_stream
    finally:
        pipes.close_input()
        await pipes.close_output()
