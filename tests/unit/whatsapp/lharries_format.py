"""A test-side copy of how lharries/whatsapp-mcp prints ``list_messages`` (WHATSAPP_SERVERS.md §1), from the spec.

Used to round-trip generated messages through our parser and to answer a fake core client. Not production code.
"""

from __future__ import annotations

from dataclasses import dataclass

EMPTY = "No messages to display."


@dataclass(frozen=True)
class PrintedMessage:
    server_time: str  # "YYYY-MM-DD HH:MM:SS" in the server's zone
    chat_jid: str
    chat_name: str | None
    sender: str  # the label lharries prints for others (a name or the raw phone)
    content: str
    is_from_me: bool = False
    media_type: str | None = None
    message_id: str = ""

    @property
    def label(self) -> str:
        return "Me" if self.is_from_me else self.sender


def format_message(message: PrintedMessage) -> str:
    head = f"[{message.server_time}] "
    if message.chat_name:
        head += f"Chat: {message.chat_name} "
    prefix = ""
    if message.media_type:
        prefix = f"[{message.media_type} - Message ID: {message.message_id} - Chat JID: {message.chat_jid}] "
    return f"{head}From: {message.label}: {prefix}{message.content}\n"


def format_listing(messages: list[PrintedMessage]) -> str:
    if not messages:
        return EMPTY
    return "".join(format_message(m) for m in messages)
