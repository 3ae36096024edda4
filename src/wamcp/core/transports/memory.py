"""In-process transport: the client talks to an SDK server object in the same event loop, with fault knobs.

For fast unit tests of the client's logic (no process, no socket). The one thing to know: :meth:`MemoryTransport.drop`
ends the current connection the way a dead peer does (end of stream, pending requests fail with "Connection closed");
``fail_opens`` makes the next opens raise, ``swallow`` makes the server go silent (``swallow_methods`` only for some
requests) and ``stall`` makes it stop reading, so reconnect, give-up, health-check and backstop paths run in
milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from mcp.client._transport import TransportStreams
from mcp.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

from .base import HttpRefusal

__all__ = ["MemoryTransport"]


class MemoryTransport:
    """Serves ``server`` (an ``MCPServer`` or low-level ``Server``) over in-memory streams, one run per open."""

    kind = "memory"

    def __init__(self, server: Server[Any] | MCPServer, *, name: str = "memory") -> None:
        self._server: Server[Any] = server._lowlevel_server if isinstance(server, MCPServer) else server
        self._name = name
        self.opens = 0
        #: Exceptions raised by the next opens, first one first (simulates refused connections, DNS failures, ...).
        self.fail_opens: list[BaseException] = []
        self.last_refusal: HttpRefusal | None = None
        #: While True, requests vanish on their way to the server (a peer that hangs without closing).
        self.swallow = False
        #: Requests with these methods vanish, e.g. ``{"ping"}``: a server that answers calls but never a ping in time.
        self.swallow_methods: set[str] = set()
        #: While True, nothing is read from the client at all, so its writes block (a wedged pipe or socket).
        self.stall = False
        self._live: list[MemoryObjectSendStream[SessionMessage | Exception]] = []

    @property
    def endpoint(self) -> str:
        return f"memory://{self._name}"

    def drop(self) -> None:
        """Cut every live connection now: the client sees end of stream, as when a server dies."""
        for sink in self._live:
            sink.close()
        self._live.clear()

    def open(self) -> AbstractAsyncContextManager[TransportStreams]:
        return self._open()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        self.opens += 1
        if self.fail_opens:
            raise self.fail_opens.pop(0)
        to_client_sink, client_read = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        # Unbuffered, like the real transports: a peer that stops reading blocks the writer (see ``stall``).
        client_write, from_client = anyio.create_memory_object_stream[SessionMessage](0)
        to_server_sink, server_read = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        server_write, from_server = anyio.create_memory_object_stream[SessionMessage](16)

        async def client_to_server() -> None:
            async with from_client, to_server_sink:
                while True:
                    while self.stall:  # noqa: ASYNC110 - a test knob, flipped by the test at any time
                        await anyio.sleep(0.01)
                    try:
                        message = await from_client.receive()
                    except anyio.EndOfStream:
                        return
                    if self.swallow or getattr(message.message, "method", None) in self.swallow_methods:
                        continue
                    await to_server_sink.send(message)

        async def server_to_client() -> None:
            async with from_server:
                try:
                    async for message in from_server:
                        await to_client_sink.send(message)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass  # dropped: the client side is gone
            to_client_sink.close()

        async def serve() -> None:
            async with server_read, server_write:
                await self._server.run(server_read, server_write, self._server.create_initialization_options())

        self._live.append(to_client_sink)
        async with anyio.create_task_group() as tg, client_read, client_write:
            tg.start_soon(client_to_server)
            tg.start_soon(server_to_client)
            tg.start_soon(serve)
            try:
                yield client_read, client_write
            finally:
                tg.cancel_scope.cancel()
                if to_client_sink in self._live:
                    self._live.remove(to_client_sink)
                to_client_sink.close()

    def __repr__(self) -> str:
        return f"MemoryTransport({self.endpoint!r})"
