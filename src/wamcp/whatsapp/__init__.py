"""The WhatsApp layer: :class:`WhatsAppMCPClient` (the seed's API) over server profiles that parse into typed models.

Everything here returns timezone-aware UTC timestamps; server-local times are converted with ``server_timezone``.
"""

from __future__ import annotations

from .client import WhatsAppMCPClient, get_whatsapp_mcp_client, reset_whatsapp_mcp_client
from .jid import InvalidJIDError, InvalidPhoneNumberError, is_group_jid, normalize_jid, validate_phone_number
from .models import Chat, Contact, Message
from .profiles import LharriesProfile, ParseStats, Profile, StructuredProfile, detect_profile_name
from .timeparse import ServerClock

__all__ = [
    "Chat",
    "Contact",
    "InvalidJIDError",
    "InvalidPhoneNumberError",
    "LharriesProfile",
    "Message",
    "ParseStats",
    "Profile",
    "ServerClock",
    "StructuredProfile",
    "WhatsAppMCPClient",
    "detect_profile_name",
    "get_whatsapp_mcp_client",
    "is_group_jid",
    "normalize_jid",
    "reset_whatsapp_mcp_client",
    "validate_phone_number",
]
