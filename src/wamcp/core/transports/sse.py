"""SSE transport (the older HTTP+SSE MCP wire): a GET event stream for answers, POSTs for requests.

Built on the SDK's ``sse_client`` with our own HTTP client factory, so headers, TLS and refusal recording match the
streamable-HTTP transport. The one thing to know: an HTTP error on a request POST after the stream is up is only
logged by the SDK, so the call in question ends by timeout; :attr:`last_refusal` lets the session name the real cause.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from mcp.client._transport import TransportStreams
from mcp.client.sse import sse_client

from ...config import MCPConnectionType
from .base import HttpTransport, http_client

__all__ = ["SSETransport"]


class SSETransport(HttpTransport):
    """Connects to ``<endpoint>`` (default path ``/sse``) with the configured headers and TLS settings."""

    kind = "sse"
    connection_type = MCPConnectionType.SSE

    def _factory(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        # The SDK enters (and closes) whatever this returns; our settings replace the ones it passes in.
        return http_client(self._config, self._refusals)

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[TransportStreams]:
        async with sse_client(
            self.url,
            timeout=self._config.connect_timeout,
            sse_read_timeout=max(300.0, self._config.timeout),
            httpx_client_factory=self._factory,
        ) as streams:
            yield streams
