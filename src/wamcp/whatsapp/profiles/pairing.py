"""Pairing and connection-status tools, shared by every profile: servers that pair by QR code expose a tool for it.

Servers differ in names (``login_qr`` on go-whatsapp-web-multidevice, ``get_qr_code`` on whatsapp-mcp-stream,
``request_pairing`` on our demo server) and in shape (an image block, a JSON object, a plain sentence). We call the
first one the server lists and report what it returned; servers without one (lharries pairs in its Go bridge) are
reported truthfully as ``paired_externally``.
"""

from __future__ import annotations

import json
from typing import Any

from ...redact import get_logger
from .base import ToolCaller, ToolResult

__all__ = ["PAIRING_TOOLS", "STATUS_TOOLS", "request_pairing", "whatsapp_status"]

logger = get_logger(__name__)

PAIRING_TOOLS = ("request_pairing", "login_qr", "get_qr_code", "pair", "get_pairing_code")
_PAIRED = frozenset({"connected", "authenticated", "paired", "logged_in", "open"})
STATUS_TOOLS = ("get_connection_status", "check_auth_status", "status", "get_status", "connection_status")


def _first_object(result: ToolResult) -> dict[str, Any]:
    structured = result.get("structured_content")
    if isinstance(structured, dict):
        inner = structured.get("result") if len(structured) == 1 else None
        return inner if isinstance(inner, dict) else structured
    for block in result.get("content") or []:
        if block.get("type") == "text":
            try:
                value = json.loads(block.get("text", ""))
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


async def request_pairing(call: ToolCaller, phone_number: str, tool_names: set[str], server: str) -> dict[str, Any]:
    """Ask the server for a pairing QR code (or code) for ``phone_number``; see the module docstring."""
    tool = next((name for name in PAIRING_TOOLS if name in tool_names), None)
    if tool is None:
        return {
            "status": "paired_externally",
            "authenticated": None,
            "qr_code": None,
            "pairing_code": None,
            "phone_number": phone_number,
            "message": (
                f"{server} has no pairing tool: WhatsApp is paired in the server's own bridge. Start the bridge and "
                "scan the QR code it prints in its terminal (WhatsApp > Settings > Linked devices > Link a device)."
            ),
        }
    result = await call(tool, {"phone_number": phone_number} if tool in ("request_pairing", "pair") else {})
    data = _first_object(result)
    qr_code = data.get("qr_code") or data.get("qr")
    for block in result.get("content") or []:
        if block.get("type") == "image" and not qr_code:
            qr_code = f"data:{block.get('mimeType', 'image/png')};base64,{block.get('data', '')}"
    if not qr_code and not data:
        qr_code = (result.get("text") or "").strip() or None
    state = str(data.get("status") or data.get("state") or "").lower()
    already = bool(data.get("authenticated") or data.get("paired") or data.get("connected")) or state in _PAIRED
    return {
        "status": "authenticated" if already else ("qr_required" if qr_code else "pending"),
        "authenticated": already,
        "qr_code": qr_code,
        "pairing_code": data.get("pairing_code") or data.get("code"),
        "phone_number": phone_number,
        "message": str(data.get("message") or f"pairing requested through the server's {tool} tool"),
        "tool": tool,
    }


async def whatsapp_status(call: ToolCaller, tool_names: set[str]) -> bool | str | None:
    """``True``/``False`` from the server's status tool, its status word when it gives one, ``None`` without one."""
    tool = next((name for name in STATUS_TOOLS if name in tool_names), None)
    if tool is None:
        return None
    result = await call(tool, {})
    data = _first_object(result)
    for key in ("connected", "authenticated", "logged_in", "is_connected", "is_logged_in"):
        if key in data:
            return bool(data[key])
    state = data.get("status") or data.get("state") or (result.get("text") or "").strip()
    return str(state) if state else None
