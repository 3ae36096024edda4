"""The core's public surface is pinned, so a refactor cannot silently break users (and the seed's mcp_client)."""

from __future__ import annotations

import mcp_client
import wamcp.core

EXPECTED = {
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
}


def test_core_exports_exactly_the_documented_names() -> None:
    assert set(wamcp.core.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(wamcp.core, name) is not None


def test_seed_module_re_exports_the_core() -> None:
    assert set(mcp_client.__all__) == EXPECTED
    assert mcp_client.MCPClient is wamcp.core.MCPClient
    assert mcp_client.MCPServerConfig is wamcp.core.ServerConfig
