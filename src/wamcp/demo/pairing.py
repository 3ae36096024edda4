"""The demo's pretend WhatsApp pairing: status, a QR payload and a pairing code, confirmed by a tool call.

Pairing-capable servers (FelixIsaac, aldinokemal, loglux; WHATSAPP_SERVERS.md §2) report ``connected`` or
``needs_pairing`` and hand out a QR payload or a code for the phone. Here the "phone" is the ``confirm_pairing``
tool: pass it the code from ``request_pairing`` and the account becomes connected for the rest of the process.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import mcp.types as types

__all__ = ["PAIRING_REQUIRED_TEXT", "Pairing", "pairing_tools"]

#: Text of the error every message tool returns while pairing is required.
PAIRING_REQUIRED_TEXT = (
    "authentication required: WhatsApp pairing required (status needs_pairing) - call request_pairing, "
    "scan the QR code or enter the pairing code, then confirm_pairing"
)

_NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def pairing_tools() -> list[types.Tool]:
    """The three extra tools (listed only when pairing is enabled, so the default list equals the real server's)."""
    return [
        types.Tool(
            name="get_connection_status",
            description="Whether the WhatsApp account is connected or needs pairing, with its number and counts.",
            input_schema=_NO_ARGS,
        ),
        types.Tool(
            name="request_pairing",
            description="Start pairing: returns a QR payload to render and an 8-character pairing code.",
            input_schema={
                "type": "object",
                "properties": {"phone_number": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}},
            },
        ),
        types.Tool(
            name="confirm_pairing",
            description="Finish pairing with the code from request_pairing (stands in for the phone scanning it).",
            input_schema={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
        ),
    ]


@dataclass
class _Pending:
    code: str
    qr: str


class Pairing:
    """Pairing state of the demo account (shared by all connections)."""

    def __init__(self, *, required: bool, seed: int) -> None:
        self.connected = not required
        self._seed = seed
        self._attempt = 0
        self._pending: _Pending | None = None
        self._lock = threading.Lock()

    def request(self, phone: str | None) -> dict[str, Any]:
        with self._lock:
            self._attempt += 1
            digest = hashlib.sha256(f"wamcp-demo:{self._seed}:{self._attempt}:{phone}".encode()).hexdigest().upper()
            code = f"{digest[:4]}-{digest[4:8]}"
            # Shaped like a WhatsApp multi-device QR payload: ref, noise key, identity key, adv secret.
            qr = f"2@{digest[8:40]},{digest[40:56]}=,{digest[56:64]}=,demo{self._attempt}"
            self._pending = _Pending(code, qr)
        return {
            "status": "connected" if self.connected else "needs_pairing",
            "qr_code": qr,
            "pairing_code": code,
            "expires_in": 60.0,
            "message": "Scan the QR code or enter the pairing code, then call confirm_pairing with the code.",
        }

    def confirm(self, code: str) -> dict[str, Any]:
        with self._lock:
            pending = self._pending
            if pending is None:
                return {"success": False, "message": "no pairing in progress: call request_pairing first"}
            if code.strip().upper() != pending.code:
                return {"success": False, "message": "wrong pairing code"}
            self.connected = True
            self._pending = None
        return {"success": True, "message": "paired: the account is connected"}

    def status(self, phone: str, chats: int, messages: int) -> dict[str, Any]:
        return {
            "status": "connected" if self.connected else "needs_pairing",
            "connected": self.connected,
            "account": phone if self.connected else None,
            "chats": chats,
            "messages": messages,
        }
