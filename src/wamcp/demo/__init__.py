"""Embedded demo WhatsApp MCP server (lharries contract) and its synthetic bridge data."""

from __future__ import annotations

__all__: list[str] = []
