"""MCP servers for the tests, run as subprocesses: ``current_server`` (mcp 2.x) and ``old_server`` (mcp 1.6) for the
core tests; ``capped_server``, a structured WhatsApp server whose ``limit`` declares a maximum, for the extractor's."""
