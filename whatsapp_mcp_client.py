"""Seed-compatible module: ``from whatsapp_mcp_client import WhatsAppMCPClient`` re-exports :mod:`wamcp.whatsapp`."""

from __future__ import annotations

from wamcp.whatsapp import *  # noqa: F403
from wamcp.whatsapp import __all__ as __all__
