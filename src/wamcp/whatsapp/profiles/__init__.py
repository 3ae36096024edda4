"""Server profiles: how one family of WhatsApp MCP servers names its tools, shapes its output and pages.

``lharries`` parses lharries/whatsapp-mcp's text format; ``structured`` decodes servers that answer in JSON or
``structuredContent``; :func:`detect_profile` picks one from the server's tool list (config ``profile`` overrides).
"""

from __future__ import annotations

from .base import ParseStats, Profile, ToolCaller, ToolResult
from .lharries import LharriesProfile

__all__ = ["LharriesProfile", "ParseStats", "Profile", "ToolCaller", "ToolResult"]
