"""Typed, immutable records of what a WhatsApp MCP server tells us: chats, messages and contacts.

Every timestamp is a timezone-aware UTC :class:`~datetime.datetime`; the profiles convert the server's own notion of
time (often naive local wall-clock text, see :mod:`wamcp.whatsapp.timeparse`) before building these. The records are
``dataclass(frozen=True, slots=True)`` rather than pydantic models because an extraction builds tens of thousands per
second and validation already happened in the parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Chat", "Contact", "IdSource", "Message"]

#: Where a message id came from: the server printed it, or we derived it (see ``docs/whatsapp.md``).
IdSource = Literal["server", "derived"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant(value: Any, key: str) -> datetime:
    """An ISO 8601 text (or a datetime) from a ``to_dict`` result, as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"{key} {value!r} has no UTC offset; to_dict() writes times like 2025-03-28T12:53:20+00:00")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Chat:
    """One conversation: a direct chat (``…@s.whatsapp.net``) or a group (``…@g.us``)."""

    jid: str
    name: str | None
    last_message_time: datetime | None = None
    last_message: str | None = None
    last_sender: str | None = None
    last_is_from_me: bool | None = None

    @property
    def is_group(self) -> bool:
        return self.jid.endswith("@g.us")

    def to_dict(self) -> dict[str, Any]:
        """The seed's chat dict: ``jid``, ``name``, ``last_message_time`` (ISO 8601 UTC), ``last_message``, …"""
        return {
            "jid": self.jid,
            "name": self.name,
            "last_message_time": _iso(self.last_message_time),
            "last_message": self.last_message,
            "last_sender": self.last_sender,
            "last_is_from_me": self.last_is_from_me,
            "is_group": self.is_group,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chat:
        """The chat that :meth:`to_dict` (or the seed's API) gave as ``data`` (``is_group`` follows the JID)."""
        when = data.get("last_message_time")
        return cls(
            data["jid"],
            data.get("name"),
            _instant(when, "last_message_time") if when else None,
            data.get("last_message"),
            data.get("last_sender"),
            data.get("last_is_from_me"),
        )


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """One message.

    ``sender`` is the label the server shows (a display name, a phone number, or ``"Me"`` on lharries);
    ``sender_jid`` is set only when the server says who it is. ``server_time`` is the server's own wall-clock text
    (``YYYY-MM-DD HH:MM:SS``) when it printed one: keyset paging sends it back verbatim, so it is kept exact.
    ``chat_jid`` is ``None`` only for cross-chat results of servers that print chat names instead of JIDs when the
    name could not be mapped back to one chat.
    """

    id: str
    chat_jid: str | None
    timestamp: datetime
    sender: str
    content: str
    is_from_me: bool
    media_type: str | None = None
    chat_name: str | None = None
    sender_jid: str | None = None
    id_source: IdSource = "server"
    server_time: str | None = None

    def __init__(
        self,
        id: str,
        chat_jid: str | None,
        timestamp: datetime,
        sender: str,
        content: str,
        is_from_me: bool,
        media_type: str | None = None,
        chat_name: str | None = None,
        sender_jid: str | None = None,
        id_source: IdSource = "server",
        server_time: str | None = None,
    ) -> None:
        # Written out rather than generated: the generated __init__ of a frozen dataclass sets each field through
        # object.__setattr__ (~4.3 µs a message here), the slots' own setters take ~1.3 µs, and an extraction builds
        # one Message per message. tests/unit/whatsapp/test_models.py keeps this signature equal to the fields.
        _set_id(self, id)
        _set_chat_jid(self, chat_jid)
        _set_timestamp(self, timestamp)
        _set_sender(self, sender)
        _set_content(self, content)
        _set_is_from_me(self, is_from_me)
        _set_media_type(self, media_type)
        _set_chat_name(self, chat_name)
        _set_sender_jid(self, sender_jid)
        _set_id_source(self, id_source)
        _set_server_time(self, server_time)

    @property
    def has_media(self) -> bool:
        return bool(self.media_type)

    def to_dict(self) -> dict[str, Any]:
        """The seed's message dict (timestamps as ISO 8601 UTC strings)."""
        return {
            "id": self.id,
            "chat_jid": self.chat_jid,
            "chat_name": self.chat_name,
            "timestamp": self.timestamp.isoformat(),
            "sender": self.sender,
            "sender_jid": self.sender_jid,
            "content": self.content,
            "is_from_me": self.is_from_me,
            "media_type": self.media_type,
            "id_source": self.id_source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """The message that :meth:`to_dict` (or the seed's API) gave as ``data``; ``timestamp`` must carry its
        offset (it comes back in UTC). ``server_time``, which ``to_dict`` leaves out, is ``None``."""
        return cls(
            data["id"],
            data.get("chat_jid"),
            _instant(data["timestamp"], "timestamp"),
            data.get("sender") or "",
            data.get("content") or "",
            bool(data.get("is_from_me")),
            data.get("media_type"),
            data.get("chat_name"),
            data.get("sender_jid"),
            data.get("id_source") or "server",
        )


(
    _set_id,
    _set_chat_jid,
    _set_timestamp,
    _set_sender,
    _set_content,
    _set_is_from_me,
    _set_media_type,
    _set_chat_name,
    _set_sender_jid,
    _set_id_source,
    _set_server_time,
) = (vars(Message)[field.name].__set__ for field in fields(Message))


@dataclass(frozen=True, slots=True)
class Contact:
    """A person the account can message (groups are not contacts)."""

    jid: str
    phone_number: str | None
    name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"jid": self.jid, "phone_number": self.phone_number, "name": self.name}
