"""Server profiles: how one family of WhatsApp MCP servers names its tools, shapes its output and pages.

``lharries`` parses lharries/whatsapp-mcp's text format; ``structured`` decodes servers that answer in JSON or
``structuredContent``; :func:`detect_profile` picks one from the server's tool list (config ``profile`` overrides).
"""

from __future__ import annotations

from .base import ParseStats, Profile, ToolCaller, ToolResult
from .detect import build_profile, detect_profile_name
from .lharries import LharriesProfile
from .structured import StructuredProfile

__all__ = [
    "LharriesProfile",
    "ParseStats",
    "Profile",
    "StructuredProfile",
    "ToolCaller",
    "ToolResult",
    "build_profile",
    "detect_profile_name",
]
