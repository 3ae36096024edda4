"""WhatsApp's own chat-export ``.txt`` format: a writer (what existing chat-analysis tools read) and a reader.

We write what an Android phone with an en-GB locale writes (WHATSAPP_SERVERS.md §3)::

    13/01/2024, 09:02 - Acme Store: Yes!
    second line of the same message

UTF-8 without BOM, ``\\n`` line ends, oldest message first, the business's local time to the minute. The one
thing to know: the format has no escaping, so we keep it unambiguous ourselves: author names lose ``:`` (replaced by
``∶``, U+2236) and line breaks; a content line that starts like a message header gets a WORD JOINER (U+2060) after
its first digit, which readers do not match as a date; empty bodies are never written. :func:`read_chat_export`
undoes exactly those guards, so write-then-read returns the original text (line breaks normalised to ``\\n``).
Pure standard library: the WhatsApp client and the store's exporter both use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol, TextIO

__all__ = [
    "DELETED_BODY",
    "EMPTY_BODY",
    "MEDIA_OMITTED",
    "ExportableMessage",
    "ExportedMessage",
    "format_chat_export",
    "iter_chat_export_lines",
    "read_chat_export",
    "write_chat_export",
]

MEDIA_OMITTED = "<Media omitted>"
DELETED_BODY = "This message was deleted"
#: Written for a message with neither text nor media (the format cannot carry an empty body).
EMPTY_BODY = "<Message omitted>"
_WORD_JOINER = "\u2060"
_RATIO = "\u2236"
# Every line break a reader might split on (str.splitlines and universal newlines), not only "\n".
_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# Anything a chat-export reader could take for the date at the start of a message, in any locale:
# 13/01/2024, 1/13/24, 13.01.24, 2024-01-13, optionally after "[" (iOS) — guarded on the first digit.
_DATE_START = re.compile(r"\[?\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_HEADER = re.compile(r"(\d{2})/(\d{2})/(\d{4}), (\d{2}):(\d{2}) - ")


class ExportableMessage(Protocol):
    """What the writer needs of a message (``wamcp.whatsapp.Message`` and store rows both fit)."""

    @property
    def timestamp(self) -> datetime: ...
    @property
    def sender(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def is_from_me(self) -> bool: ...
    @property
    def media_type(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ExportedMessage:
    """One message read back from an export: naive local time (minute resolution), author, text."""

    time: datetime
    author: str
    text: str


def _author(name: str) -> str:
    single = " ".join(_LINE_BREAKS.sub("\n", name).split("\n")).strip()
    return single.replace(":", _RATIO) or "Unknown"


def _guard_position(line: str) -> int:
    return 2 if line.startswith("[") else 1


def _guard(line: str) -> str:
    """Disarm a content line that a reader could take for a new message (see the module docstring)."""
    k = _guard_position(line)
    probe = line[:k] + line[k:].lstrip(_WORD_JOINER)
    if _DATE_START.match(probe):
        return line[:k] + _WORD_JOINER + line[k:]
    return line


def _unguard(line: str) -> str:
    k = _guard_position(line)
    if line[k : k + 1] == _WORD_JOINER:
        candidate = line[:k] + line[k + 1 :]
        if _DATE_START.match(line[:k] + candidate[k:].lstrip(_WORD_JOINER)):
            return candidate
    return line


def _body(message: ExportableMessage) -> str:
    if getattr(message, "deleted", False):
        return DELETED_BODY
    text = _LINE_BREAKS.sub("\n", message.content or "")
    if message.media_type:
        return f"{MEDIA_OMITTED}\n{text}" if text else MEDIA_OMITTED
    return text if text else EMPTY_BODY


def iter_chat_export_lines(
    messages: Iterable[ExportableMessage], *, business_name: str, zone: tzinfo | None = None
) -> Iterator[str]:
    """The export's lines (each ending ``\\n``), one message at a time: constant memory for any chat size.

    ``messages`` must come oldest first. ``business_name`` replaces ``Me`` for the business's own messages;
    ``zone`` is the business's time zone (default: this machine's).
    """
    own = _author(business_name)
    for message in messages:
        local = message.timestamp.astimezone(zone)
        author = own if message.is_from_me else _author(message.sender)
        first, *rest = _body(message).split("\n")
        yield f"{local:%d/%m/%Y, %H:%M} - {author}: {first}\n"
        for line in rest:
            yield _guard(line) + "\n"


def write_chat_export(
    messages: Iterable[ExportableMessage], out: TextIO, *, business_name: str, zone: tzinfo | None = None
) -> int:
    """Write the export to ``out`` (open it with ``encoding="utf-8", newline="\\n"``); returns the message count."""
    count = 0
    for line in iter_chat_export_lines(messages, business_name=business_name, zone=zone):
        if line[:1].isdigit() and _HEADER.match(line):
            count += 1
        out.write(line)
    return count


def format_chat_export(messages: Iterable[ExportableMessage], *, business_name: str, zone: tzinfo | None = None) -> str:
    """The whole export as one string."""
    return "".join(iter_chat_export_lines(messages, business_name=business_name, zone=zone))


def read_chat_export(text: str) -> list[ExportedMessage]:
    """Parse an export written by :func:`write_chat_export` (Android en-GB format); lines without a header
    continue the previous message, system lines (a header without ``author: ``) are skipped."""
    messages: list[ExportedMessage] = []
    author: str | None = None
    time: datetime | None = None
    lines: list[str] = []

    def flush() -> None:
        if author is not None and time is not None:
            messages.append(ExportedMessage(time, author, "\n".join(lines)))

    for raw in text.removeprefix("\ufeff").split("\n")[: -1 if text.endswith("\n") else None]:
        match = _HEADER.match(raw)
        if match is not None:
            rest = raw[match.end() :]
            name, sep, first = rest.partition(": ")
            if sep:
                flush()
                day, month, year, hour, minute = (int(g) for g in match.groups())
                time = datetime(year, month, day, hour, minute)
                author, lines = name, [first]
                continue
            flush()
            author, time, lines = None, None, []
            continue
        if author is not None:
            lines.append(_unguard(raw))
    flush()
    return messages
