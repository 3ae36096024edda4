"""The MCP core layer: transports, sessions, the client supervisor and its resilience primitives."""
