"""Pick a server profile from the server's tool list; the config's ``profile`` setting overrides the guess.

lharries (and servers that keep its tools and text format, such as ``wamcp demo-server``) is recognised by its
``list_messages`` tool with an ``include_context`` parameter and no output schema: its successors that return JSON
declare an output schema (FastMCP structured output). Everything else is decoded as ``structured``. Profiles from
other packages (:mod:`.plugins`, entry-point group ``wamcp.profiles``) are asked before these built-in rules, and the
config may name one; a broken plugin is skipped with a warning during detection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ...redact import get_logger
from ..timeparse import ServerClock
from .base import Profile
from .lharries import LharriesProfile
from .plugins import build_plugin_profile, detect_plugin_profile
from .structured import StructuredProfile

__all__ = ["ProfileName", "build_profile", "detect_profile_name"]

logger = get_logger(__name__)

ProfileName = Literal["lharries", "structured"]


def detect_profile_name(tools: Iterable[Mapping[str, Any]]) -> ProfileName:
    """``"lharries"`` for the text-format server family, else ``"structured"``."""
    by_name = {str(tool.get("name")): tool for tool in tools}
    listing = by_name.get("list_messages")
    if listing is not None and not listing.get("outputSchema"):
        properties = (listing.get("inputSchema") or {}).get("properties") or {}
        if "include_context" in properties and "list_chats" in by_name:
            return "lharries"
    return "structured"


def build_profile(
    setting: str,
    tools: Iterable[Mapping[str, Any]],
    clock: ServerClock,
    *,
    server_name: str = "WhatsApp MCP server",
) -> Profile:
    """The profile for ``setting`` and the server's tools.

    ``setting`` is ``"auto"`` (plugins that claim the server first, then the built-in rules), ``"lharries"``,
    ``"structured"`` or the name of a ``wamcp.profiles`` plugin. An unknown or broken plugin name raises
    :class:`~.plugins.ProfileSelectionError` (a ``ConfigError`` and a ``ValueError``).
    """
    tool_list = list(tools)
    if setting == "auto":
        claimed = detect_plugin_profile(tool_list, clock, server_name=server_name)
        if claimed is not None:
            return claimed
        name: str = detect_profile_name(tool_list)
        logger.info("server %s looks like the %s profile (%d tools)", server_name, name, len(tool_list))
    else:
        name = setting
    if name == "lharries":
        return LharriesProfile(clock, server_name=server_name)
    if name == "structured":
        return StructuredProfile(tool_list, clock, server_name=server_name)
    return build_plugin_profile(name, tool_list, clock, server_name=server_name)
