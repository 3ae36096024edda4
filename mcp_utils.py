"""Seed-compatible shim: synchronous helpers (re-exports :mod:`wamcp.whatsapp.facade`)."""

from wamcp.whatsapp.facade import cleanup_mcp_connections, initialize_whatsapp_mcp, register_mcp_server, use_mcp_tool

__all__ = ["cleanup_mcp_connections", "initialize_whatsapp_mcp", "register_mcp_server", "use_mcp_tool"]
