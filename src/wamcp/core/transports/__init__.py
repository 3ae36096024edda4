"""Ways to reach an MCP server; each yields the SDK's stream pair and is chosen from the config by the factory.

The session only ever talks to the :class:`~wamcp.core.transports.base.Transport` protocol; tests swap in
:class:`~wamcp.core.transports.memory.MemoryTransport`.
"""

from __future__ import annotations

from .base import (
    DEFAULT_PATHS,
    HttpRefusal,
    Transport,
    create_endpoint_transports,
    create_transports,
    resolve_url,
)
from .memory import MemoryTransport
from .sse import SSETransport
from .stdio import StdioTransport
from .streamable_http import StreamableHTTPTransport
from .websocket import WebSocketTransport

__all__ = [
    "DEFAULT_PATHS",
    "HttpRefusal",
    "MemoryTransport",
    "SSETransport",
    "StdioTransport",
    "StreamableHTTPTransport",
    "Transport",
    "WebSocketTransport",
    "create_endpoint_transports",
    "create_transports",
    "resolve_url",
]
