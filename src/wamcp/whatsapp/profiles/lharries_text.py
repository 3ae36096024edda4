"""lharries' ``list_messages`` text format: a strict parser, header disambiguation and derived message ids.

Each message prints as a header line, ``[YYYY-MM-DD HH:MM:SS] Chat: <name> From: <sender>: <content>``, and its
content continues raw on the lines after it (WHATSAPP_SERVERS.md §1). The format is ambiguous: a content line may
itself look like a header, and no parser can tell every such line from a real one (``a`` followed by a header-shaped
line is byte-identical to two messages). We therefore use every fact the *call* gives us. A line that parses as a
header is a new message only if it passes these rules, in order:

1. The first line of a listing is always a header.
2. When the call was for one chat, the line must name that chat (the name given, or learned from the first line),
   and a media header must carry that chat's JID; across chats, it must name a known chat when the names are known.
3. Its time must lie inside the call's ``after``/``before`` window.
4. Without ``include_context`` the server sorts newest first, so real headers have non-increasing times. When some
   candidates break that order we keep the longest non-increasing chain that starts at the first line; between
   chains of equal length we keep the later candidates, because header-shaped content is in practice a quote of an
   *older* message, written inside a newer one.
5. With a ``query`` (and no context) every real message's content contains it (SQLite ``LIKE``, ASCII case-folded).

Rejected candidates stay inside the previous message's content and are counted in ``stats.ambiguous_headers``. A
header-shaped line that names the right chat, lies in the window, keeps the order and (when searching) matches is
indistinguishable from a real message and *is* read as one: a known limit, documented in ``docs/whatsapp.md``.
Text messages carry no id: :func:`derive_message_id` gives them a stable one.
"""

from __future__ import annotations

import functools
import hashlib
import re
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ...redact import get_logger
from ..jid import USER_SUFFIX, is_group_jid, normalize_jid
from ..models import IdSource, Message
from ..timeparse import ServerClock
from .base import ParseStats

__all__ = ["EMPTY_LISTING", "derive_message_id", "parse_message_listing", "sender_jid_from_label"]

logger = get_logger(__name__)

#: What lharries prints instead of an empty listing (the whole text block, nothing else).
EMPTY_LISTING = "No messages to display."

# A fixed-width check of the 19 timestamp characters: anchored and without alternation, so it cannot backtrack.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_MEDIA_PREFIX = re.compile(r"\[([^\]\s]+) - Message ID: ([^\s\]]*) - Chat JID: ([^\s\]]*)\] ")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_LOG_EXCERPT = 160
_NO_INSTANT = datetime.min.replace(tzinfo=UTC)


def derive_message_id(chat_key: str, server_time: str, sender: str, content: str, duplicate_index: int) -> str:
    """The stable id of a message the server printed without one.

    ``chat_key`` is the chat JID (or, when the server did not say which chat, its name); ``server_time`` the
    server's wall-clock text to the second; ``duplicate_index`` counts earlier exact duplicates (same chat, second,
    sender and content) in the same listing, so two identical "ok" sent in one second stay two messages.
    """
    material = "\x1f".join((chat_key, server_time, sender, content, str(duplicate_index)))
    # The first 10 bytes in hex are the first 20 hex digits: the same id, without hex-encoding all 32 bytes.
    return "~" + hashlib.sha256(material.encode("utf-8", "surrogatepass")).digest()[:10].hex()


def _identity_sender(jid: str | None, sender: str) -> str:
    """The sender part of a derived id. In a direct chat only two people write, and lharries prints the customer
    by their (editable) chat name: "Me" or "them" is enough and keeps ids stable when the contact is renamed. In a
    group the printed name is all that tells members apart, so a renamed member's old messages get new ids."""
    if jid is not None and not jid.endswith("@g.us"):
        return "Me" if sender == "Me" else "them"
    return sender


@dataclass(slots=True)
class _Header:
    line: int
    server_time: str
    chat_name: str | None
    sender: str
    content: str
    instant: datetime = _NO_INSTANT


def _split_header(line: str, index: int, chat_name: str | None) -> _Header | None:
    """Parse one line as a header, or return None. ``chat_name`` (when known) must be the one printed."""
    if len(line) < 30 or line[0] != "[" or line[20:22] != "] " or not _TIMESTAMP.fullmatch(line, 1, 20):
        return None
    # Offsets into the line rather than slices of it: this runs for every line of every listing.
    if line.startswith("Chat: ", 22):
        if chat_name is not None:
            prefix_end = 28 + len(chat_name)
            if not line.startswith(chat_name, 28) or not line.startswith(" From: ", prefix_end):
                return None
            name: str | None = chat_name
            tail = prefix_end + 7
        else:
            split = line.find(" From: ", 28)
            if split < 0:
                return None
            name = line[28:split]
            tail = split + 7
    elif line.startswith("From: ", 22):
        # lharries leaves out "Chat: …" when the chat has no name.
        if chat_name:
            return None
        name = None
        tail = 28
    else:
        return None
    sep = line.find(": ", tail)
    if sep <= tail:
        return None
    return _Header(index, line[1:20], name, line[tail:sep], line[sep + 2 :])


def _longest_ordered_chain(times: list[str]) -> list[int]:
    """Indexes of the longest non-increasing chain starting at 0, preferring later elements on ties (rule 4)."""
    count = len(times)
    best = [0] * count
    parent = [-1] * count
    best[0] = 1
    for i in range(1, count):
        t = times[i]
        if t > times[0]:
            continue
        top = 0
        for j in range(i - 1, -1, -1):  # from the nearest: the first maximum found is the latest one
            if best[j] > top and times[j] >= t:
                top = best[j]
                parent[i] = j
        best[i] = top + 1 if top else 0
    end = max(range(count), key=lambda k: (best[k], k))
    chain: list[int] = []
    while end >= 0:
        chain.append(end)
        end = parent[end]
    chain.reverse()
    return chain


def sender_jid_from_label(label: str, chat_jid: str | None) -> str | None:
    if label == "Me":
        return None
    if label.isdigit() and 5 <= len(label) <= 15:
        return label + USER_SUFFIX
    if "@" in label:
        try:
            return normalize_jid(label)
        except ValueError:
            return None
    if chat_jid is not None and not is_group_jid(chat_jid):
        return chat_jid  # in a direct chat every message not from us is from the other party
    return None


def _excerpt(text: str) -> str:
    return text if len(text) <= _LOG_EXCERPT else text[:_LOG_EXCERPT] + "…"


def parse_message_listing(
    text: str,
    *,
    clock: ServerClock,
    chat_jid: str | None = None,
    chat_name: str | None = None,
    ordered: bool = True,
    query: str | None = None,
    before: str | None = None,
    after: str | None = None,
    chat_jids_by_name: Mapping[str, str] | None = None,
    known_chat_names: Collection[str] | None = None,
    known_sender_names: Collection[str] | None = None,
    keep_chat_names: Collection[str] | None = None,
    stats: ParseStats | None = None,
    source: str = "list_messages",
) -> list[Message]:
    """Parse one ``list_messages`` (or ``get_last_interaction``) text block into messages, in printed order.

    ``chat_jid``: the call was for this one chat (enables rule 2; ``chat_name`` is then learned from the first
    line unless given). ``ordered``: the call had ``include_context=false`` (enables rules 4 and 5; with context the
    server repeats messages, and exact repeats are dropped). ``before``/``after``: the call's window in the server's
    wall-clock text (``after`` is inclusive of its second, as lharries compares text). ``known_chat_names``: for
    cross-chat listings, the names of every chat (``""`` for a chat without one); a header naming another chat is
    content (rule 2 for many chats). ``known_sender_names``: display names the server may print as senders (it
    takes them from chat names); one holding ``": "`` is recognised whole instead of being cut at its first
    ``": "``. ``keep_chat_names``: the caller only wants the messages of chats printed with these names (an account
    walk keeps those whose name is unique); the others still delimit contents and count for order, but come out as
    stand-ins without JID, instant or content, whose ids (not derived ids: never to be stored) only tell them apart
    in and across pages. Never raises on bad input: lines that belong to no message are counted in
    ``stats.bad_lines`` and logged.
    """
    stats = stats if stats is not None else ParseStats()
    if not text or text == EMPTY_LISTING or text == EMPTY_LISTING + "\n":
        return []
    lines = text.split("\n")  # never splitlines(): content keeps \r, \x0b, \u2028 … as the sender wrote them
    if lines[-1] == "":
        lines.pop()  # every message ends with "\n"
    if not lines:
        return []

    # The first header fixes the chat (rule 2) and starts the listing (rule 1).
    first: _Header | None = None
    start = 0
    for start, line in enumerate(lines):
        if line.startswith("["):
            first = _split_header(line, start, chat_name)
            if first is None and chat_name is not None:
                # The chat may have been renamed since we learned its name: the first line is still a header.
                first = _split_header(line, start, None)
                if first is not None:
                    logger.info("%s: the chat is now printed as %r (was %r)", source, first.chat_name, chat_name)
            if first is not None and _with_instant(clock, first):
                break
            first = None
    if first is None:
        stats.bad_lines += len(lines)
        logger.warning("%s: no message header in %d line(s); first line: %r", source, len(lines), _excerpt(lines[0]))
        return []
    if start:
        stats.bad_lines += start
        logger.warning(
            "%s: %d line(s) before the first message header ignored; first: %r", source, start, _excerpt(lines[0])
        )
    expected_name = first.chat_name if (chat_jid is not None or chat_name is not None) else None
    if known_chat_names is not None and (first.chat_name or "") not in known_chat_names:
        resolved = _resolve_known_name(lines[start], start, known_chat_names)
        if resolved is not None:
            resolved.instant = first.instant
            first = resolved

    # lharries prints contacts by their chat name, which may itself hold ": " (e.g. "Lead From: FB ad").
    long_senders, plain_senders = _sender_index(frozenset(known_sender_names or ()))
    if long_senders:
        _fix_sender(first, long_senders, plain_senders)
    headers = [first]
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if not line.startswith("["):
            continue
        header = _split_header(line, index, expected_name)
        if header is None:
            continue
        if known_chat_names is not None and (header.chat_name or "") not in known_chat_names:
            header = _resolve_known_name(line, index, known_chat_names)
            if header is None:
                stats.ambiguous_headers += 1
                continue
        t = header.server_time
        if (before is not None and t >= before) or (after is not None and t < after):
            stats.ambiguous_headers += 1
            continue
        if chat_jid is not None and not _media_matches_chat(header.content, chat_jid):
            stats.ambiguous_headers += 1
            continue
        if keep_chat_names is not None and header.chat_name not in keep_chat_names:
            if not _valid_time(header.server_time):  # the same test as _with_instant's, without the conversion
                continue
        elif not _with_instant(clock, header):
            continue
        if long_senders:
            _fix_sender(header, long_senders, plain_senders)
        headers.append(header)

    if ordered and len(headers) > 1:
        times = [h.server_time for h in headers]
        if any(times[i] < times[i + 1] for i in range(len(times) - 1)):
            chain = _longest_ordered_chain(times)
            stats.ambiguous_headers += len(headers) - len(chain)
            logger.warning(
                "%s: %d header-shaped line(s) out of time order kept as message content",
                source,
                len(headers) - len(chain),
            )
            headers = [headers[i] for i in chain]

    contents = _assemble(lines, headers)
    if ordered and query and "%" not in query and "_" not in query:
        needle = query.translate(_ASCII_LOWER)
        # From the end, so a rejected header's lines join the content its predecessor is then checked with.
        for k in range(len(headers) - 1, 0, -1):
            if needle not in _media_stripped(contents[k]).translate(_ASCII_LOWER):
                stats.ambiguous_headers += 1
                rejected = headers.pop(k)
                continuation = contents.pop(k)[len(rejected.content) :]
                contents[k - 1] = contents[k - 1] + "\n" + lines[rejected.line] + continuation

    return _build_messages(headers, contents, chat_jid, ordered, chat_jids_by_name, stats, keep_chat_names)


@functools.lru_cache(maxsize=8)
def _sender_index(names: frozenset[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The known sender names holding ": " (longest first) and all of them, built once per set of names.

    Called for every listing of an account walk; rebuilding it each time made reading an account cost
    O(messages × chats). The profile passes the same frozenset object until it learns new chat names.
    """
    long_names = tuple(sorted((n for n in names if ": " in n), key=len, reverse=True))
    return long_names, names


def _fix_sender(header: _Header, long_names: tuple[str, ...], plain_names: frozenset[str]) -> None:
    """Re-split sender and content when the first ": " cut a known sender name that holds ": " itself."""
    if header.sender == "Me" or header.sender in plain_names:
        return
    joined = header.sender + ": " + header.content
    for name in long_names:
        if joined.startswith(name + ": "):
            header.sender = name
            header.content = joined[len(name) + 2 :]
            return


@functools.lru_cache(maxsize=8)
def _names_holding_from(names: frozenset[str]) -> tuple[str, ...]:
    """The known chat names holding " From: ", longest first (ties by text): built once per set of names."""
    return tuple(sorted((n for n in names if " From: " in n), key=lambda n: (-len(n), n)))


def _resolve_known_name(line: str, index: int, known: Collection[str]) -> _Header | None:
    """Re-split a header whose chat name holds " From: " (the first split cut it short) against the known names.

    Scanning every known name per line made an account walk cost O(lines × chats) (minutes at 1M messages); the
    names that can matter are indexed once per set of names (the walk passes one frozenset for all its pages).
    The longest name that fits wins, so the outcome never depends on a set's iteration order.
    """
    if isinstance(known, frozenset):
        candidates = _names_holding_from(known)
    else:
        candidates = tuple(sorted((n for n in known if " From: " in n), key=lambda n: (-len(n), n)))
    for name in candidates:
        header = _split_header(line, index, name)
        if header is not None:
            return header
    return None


def _valid_time(server_time: str) -> bool:
    try:
        datetime.fromisoformat(server_time)
    except ValueError:
        return False
    return True


def _with_instant(clock: ServerClock, header: _Header) -> bool:
    try:
        header.instant = clock.to_utc(header.server_time)
    except ValueError:
        return False
    return True


def _media_matches_chat(content: str, chat_jid: str) -> bool:
    if not content.startswith("["):
        return True
    match = _MEDIA_PREFIX.match(content)
    return match is None or match.group(3) == chat_jid


def _media_stripped(content: str) -> str:
    if content.startswith("["):
        match = _MEDIA_PREFIX.match(content)
        if match is not None:
            return content[match.end() :]
    return content


def _assemble(lines: list[str], headers: list[_Header]) -> list[str]:
    contents: list[str] = []
    for k, header in enumerate(headers):
        stop = headers[k + 1].line if k + 1 < len(headers) else len(lines)
        if stop == header.line + 1:
            contents.append(header.content)
        else:
            contents.append("\n".join([header.content, *lines[header.line + 1 : stop]]))
    return contents


def _build_messages(
    headers: list[_Header],
    contents: list[str],
    chat_jid: str | None,
    ordered: bool,
    chat_jids_by_name: Mapping[str, str] | None,
    stats: ParseStats,
    keep_chat_names: Collection[str] | None = None,
) -> list[Message]:
    messages: list[Message] = []
    occurrences: dict[tuple[str | None, str, str, str, str], int] = {}
    for header, content in zip(headers, contents, strict=True):
        if keep_chat_names is not None and header.chat_name not in keep_chat_names:
            stand_in = _stand_in(header, content, occurrences)
            if stand_in is None:
                stats.duplicates += 1
            else:
                messages.append(stand_in)
            continue
        media_type: str | None = None
        message_id: str | None = None
        id_source: IdSource = "server"
        jid = chat_jid
        if content.startswith("["):
            match = _MEDIA_PREFIX.match(content)
            if match is not None and (chat_jid is None or match.group(3) == chat_jid):
                media_type, message_id, jid = match.group(1), match.group(2), match.group(3)
                content = content[match.end() :]
        if jid is None and chat_jids_by_name is not None and header.chat_name is not None:
            jid = chat_jids_by_name.get(header.chat_name)
        sender = header.sender
        identity_sender = _identity_sender(jid, sender)
        key = (jid or header.chat_name, header.server_time, identity_sender, content, message_id or "")
        seen = occurrences.get(key, 0)
        occurrences[key] = seen + 1
        if seen and not ordered:
            stats.duplicates += 1  # with context the server repeats neighbours: same text = same message
            continue
        if message_id:
            if seen:
                stats.duplicates += 1
                continue
        else:
            message_id = derive_message_id(
                jid or header.chat_name or "", header.server_time, identity_sender, content, seen
            )
            id_source = "derived"
        # Positional arguments: a frozen dataclass builds about twice as fast without keyword matching.
        messages.append(
            Message(
                message_id,
                jid,
                header.instant,
                sender,
                content,
                sender == "Me",
                media_type,
                header.chat_name,
                sender_jid_from_label(sender, jid),
                id_source,
                header.server_time,
            )
        )
    stats.messages += len(messages)
    return messages


def _stand_in(
    header: _Header, content: str, occurrences: dict[tuple[str | None, str, str, str, str], int]
) -> Message | None:
    """A message the caller does not keep (``keep_chat_names``): its chat name, second and sender, and a cheap id
    (no hash), unique by chat name, second, sender, content and position among exact duplicates as derived ids are.
    None for a repeat of a media line (same id), which :func:`_build_messages` drops too: a page counts the same
    messages either way (the walk ends at a short page)."""
    # The same counter as the kept messages' keys; "\x00" where theirs hold a message id ("" or a server id) keeps
    # a stand-in's key apart from every kept message's.
    key = (header.chat_name, header.server_time, header.sender, content, "\x00")
    seen = occurrences.get(key, 0)
    occurrences[key] = seen + 1
    if seen and content.startswith("[") and _MEDIA_PREFIX.match(content) is not None:
        return None
    ident = "\x00".join(("", header.chat_name or "", header.server_time, header.sender, content, str(seen)))
    return Message(
        ident, None, _NO_INSTANT, header.sender, "", False, None, header.chat_name, None, "derived", header.server_time
    )
