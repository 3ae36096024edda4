"""The seed's ``mcp_client`` module: a re-export of :mod:`wamcp.core` (MCPClient, configs, errors, resilience)."""

from __future__ import annotations

from wamcp.core import *  # noqa: F403
from wamcp.core import __all__ as __all__
