"""MCP servers for the core tests, run as subprocesses: ``current_server`` (mcp 2.x) and ``old_server`` (mcp 1.6)."""
