"""The WhatsApp layer: :class:`WhatsAppMCPClient` (the seed's API) over server profiles that parse into typed models.

Everything here returns timezone-aware UTC timestamps; server-local times are converted with ``server_timezone``.
"""

from __future__ import annotations

from .jid import InvalidJIDError, InvalidPhoneNumberError, is_group_jid, normalize_jid, validate_phone_number
from .models import Chat, Contact, Message
from .profiles import LharriesProfile, ParseStats, Profile
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
    "is_group_jid",
    "normalize_jid",
    "validate_phone_number",
]
