"""Streamable HTTP transport (the current MCP HTTP wire): every request is a POST answered by JSON or an SSE stream.

Built on the SDK's ``streamable_http_client`` with an injected ``httpx2.AsyncClient`` (the SDK takes no headers or TLS
options), which this transport creates and closes per connection. The one thing to know: the SDK answers a 401/403/429
POST with a generic "Server returned an error response", so :attr:`last_refusal` keeps the real status for the session's
error mapping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client

from ...config import MCPConnectionType
from .base import HttpTransport, http_client

__all__ = ["StreamableHTTPTransport"]


class StreamableHTTPTransport(HttpTransport):
    """Connects to ``<endpoint>`` (default path ``/mcp``) with the configured headers and TLS settings."""

    kind = "streamable_http"
    connection_type = MCPConnectionType.STREAMABLE_HTTP

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        # We own the client's lifecycle: the SDK only closes clients it created itself.
        async with (
            http_client(self._config, self._refusals, reuse_event_stream_connections=True) as client,
            streamable_http_client(self.url, http_client=client) as streams,
        ):
            yield streams
