"""The MCP core layer: transports, sessions, the client supervisor and its resilience primitives.

Import from here (or the seed-compatible top-level ``mcp_client``); the submodules are implementation detail. The one
thing to know: :class:`MCPClient` owns each server's connection in a background supervisor task, so always ``close()``
it (or use ``async with``).
"""

from __future__ import annotations

from ..config import MCPConnectionType, MCPServerConfig, RateLimits, ServerConfig
from ..errors import (
    ConfigError,
    MCPAuthenticationError,
    MCPClientError,
    MCPConnectionError,
    MCPHandshakeError,
    MCPProtocolError,
    MCPRateLimitError,
    MCPTimeoutError,
    MCPToolError,
)
from .client import MCPClient
from .clock import Clock, FakeClock, SystemClock
from .metrics import Metrics
from .ratelimit import RateLimiter, TokenBucket, tool_category
from .retry import RetryPolicy, is_transient
from .sync import SyncRunner
from .transports import MemoryTransport, Transport

__all__ = [
    "Clock",
    "ConfigError",
    "FakeClock",
    "MCPAuthenticationError",
    "MCPClient",
    "MCPClientError",
    "MCPConnectionError",
    "MCPConnectionType",
    "MCPHandshakeError",
    "MCPProtocolError",
    "MCPRateLimitError",
    "MCPServerConfig",
    "MCPTimeoutError",
    "MCPToolError",
    "MemoryTransport",
    "Metrics",
    "RateLimiter",
    "RateLimits",
    "RetryPolicy",
    "ServerConfig",
    "SyncRunner",
    "SystemClock",
    "TokenBucket",
    "Transport",
    "is_transient",
    "tool_category",
]
