"""A tiny test-side MCP WebSocket client transport (websockets + memory streams), independent of wamcp.core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import types
from mcp.shared.message import SessionMessage
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]


@asynccontextmanager
async def ws_transport(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[Streams]:
    async with connect(url, subprotocols=[Subprotocol("mcp")], additional_headers=headers) as ws:
        read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_in, write_out = anyio.create_memory_object_stream[SessionMessage](0)

        async def reader() -> None:
            async with read_in:
                try:
                    async for frame in ws:
                        message = types.jsonrpc_message_adapter.validate_json(frame, by_name=False)
                        await read_in.send(SessionMessage(message))
                except ConnectionClosed:
                    pass

        async def writer() -> None:
            async with write_out:
                try:
                    async for item in write_out:
                        await ws.send(item.message.model_dump_json(by_alias=True, exclude_unset=True))
                except ConnectionClosed:
                    pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            try:
                async with read_out, write_in:
                    yield read_out, write_in
            finally:
                tg.cancel_scope.cancel()
