"""The 12 lharries/whatsapp-mcp tools: argument schemas, validation and output blocks, byte for byte.

The real server is FastMCP on ``mcp`` 1.6.0, which turns a tool's return value into content like this: ``None`` and
``[]`` give no blocks, a list gives one block per item, a string gives one text block, anything else one text block of
``json.dumps`` of its pydantic-JSON form (so datetimes become ``2025-03-31T10:58:00Z`` and 0/1 stay integers).
A raised exception becomes ``isError`` with ``Error executing tool <name>: <message>``. :func:`call_tool` reproduces
that from our own code, so the low-level SDK server can serve it without adding ``structuredContent`` or output
schemas (which a 2.3.0 ``MCPServer`` would add).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import mcp.types as types
import pydantic
import pydantic_core

from .bridge import Bridge, BridgeChat, BridgeMessage, MessageNotFoundError
from .media import DownloadRefusedError, download_media

__all__ = [
    "LHARRIES_TOOL_NAMES",
    "STRUCTURED_OUTPUT_SCHEMA",
    "ToolCallError",
    "ToolOutput",
    "call_tool",
    "format_message_line",
    "lharries_tools",
    "tool_error",
]

#: The one output schema of ``--output structured``: every tool returns ``{"result": ...}``.
STRUCTURED_OUTPUT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"result": {}}, "required": ["result"]}


class ToolCallError(Exception):
    """A tool failed the way the real server's tools fail: ``isError`` with this text after the standard prefix."""


@dataclass
class ToolOutput:
    """What a tool produced before it becomes a ``CallToolResult``."""

    blocks: list[str]
    structured: Any = None
    is_error: bool = False

    def to_result(self, structured_mode: bool) -> types.CallToolResult:
        content: list[types.ContentBlock] = [types.TextContent(text=b) for b in self.blocks]
        if structured_mode and not self.is_error:
            return types.CallToolResult(content=content, structured_content={"result": self.structured})
        return types.CallToolResult(content=content, is_error=self.is_error)

    def wire(self, structured_mode: bool) -> dict[str, Any]:
        """:meth:`to_result` as the SDK's server writes it on a 2025 session (its dump, then its per-version
        serializer, which orders the keys), built directly: tests/integration/demo compares the two byte for byte."""
        result: dict[str, Any] = {
            "content": [{"text": block, "type": "text"} for block in self.blocks],
            "isError": self.is_error,
        }
        if structured_mode and not self.is_error:
            result["structuredContent"] = {"result": self.structured}
        return result


def tool_error(tool: str, message: str) -> ToolOutput:
    """The real server's error shape."""
    return ToolOutput([f"Error executing tool {tool}: {message}"], is_error=True)


def _model(name: str, **fields: Any) -> type[pydantic.BaseModel]:
    # The model name is what FastMCP 1.6 names it: it shows in schema titles and validation messages.
    return pydantic.create_model(f"{name}Arguments", **fields)


_OPT_STR = (str | None, None)
_ARG_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "search_contacts": _model("search_contacts", query=(str, ...)),
    "list_messages": _model(
        "list_messages",
        after=_OPT_STR,
        before=_OPT_STR,
        sender_phone_number=_OPT_STR,
        chat_jid=_OPT_STR,
        query=_OPT_STR,
        limit=(int, 20),
        page=(int, 0),
        include_context=(bool, True),
        context_before=(int, 1),
        context_after=(int, 1),
    ),
    "list_chats": _model(
        "list_chats",
        query=_OPT_STR,
        limit=(int, 20),
        page=(int, 0),
        include_last_message=(bool, True),
        sort_by=(str, "last_active"),
    ),
    "get_chat": _model("get_chat", chat_jid=(str, ...), include_last_message=(bool, True)),
    "get_direct_chat_by_contact": _model("get_direct_chat_by_contact", sender_phone_number=(str, ...)),
    "get_contact_chats": _model("get_contact_chats", jid=(str, ...), limit=(int, 20), page=(int, 0)),
    "get_last_interaction": _model("get_last_interaction", jid=(str, ...)),
    "get_message_context": _model("get_message_context", message_id=(str, ...), before=(int, 5), after=(int, 5)),
    "send_message": _model("send_message", recipient=(str, ...), message=(str, ...)),
    "send_file": _model("send_file", recipient=(str, ...), media_path=(str, ...)),
    "send_audio_message": _model("send_audio_message", recipient=(str, ...), media_path=(str, ...)),
    "download_media": _model("download_media", message_id=(str, ...), chat_jid=(str, ...)),
}

_DESCRIPTIONS = {
    "search_contacts": "Find contacts (direct chats) whose name or number contains the query.",
    "list_messages": (
        "Messages matching the filters, newest first, as formatted lines. Dates are ISO-8601 and strict; pages are "
        "limit-sized. include_context adds each match's neighbours."
    ),
    "list_chats": "Chats matching the query, most recently active first (or by name), one JSON object per chat.",
    "get_chat": "One chat's metadata and last message, by JID.",
    "get_direct_chat_by_contact": "The direct chat whose JID contains this phone number.",
    "get_contact_chats": "Chats in which this JID or number took part (one entry per matching message).",
    "get_last_interaction": "The most recent message sent by or in this JID, as one formatted line.",
    "get_message_context": "A message with the messages just before and after it in its chat.",
    "send_message": "Send a text message to a phone number (digits only) or a JID. The demo only records it.",
    "send_file": "Send an image, video or document by absolute path. The demo only records it.",
    "send_audio_message": "Send an audio file as a voice message. The demo only records it.",
    "download_media": "Save a media message's file locally and return its path.",
}

LHARRIES_TOOL_NAMES: tuple[str, ...] = tuple(_ARG_MODELS)


def lharries_tools(structured: bool) -> list[types.Tool]:
    """The tool list: the real server's input schemas; output schemas only in structured mode."""
    return [
        types.Tool(
            name=name,
            description=_DESCRIPTIONS[name],
            input_schema=model.model_json_schema(),
            output_schema=STRUCTURED_OUTPUT_SCHEMA if structured else None,
        )
        for name, model in _ARG_MODELS.items()
    ]


def _json_block(value: Any) -> str:
    """FastMCP 1.6's text for a non-string value: ``json.dumps(pydantic_core.to_jsonable_python(value))``."""
    try:
        # The tools build plain JSON values (str, int, float, bool, None, lists and dicts of them), which
        # to_jsonable_python returns as they are: skipping it saves ~20 % of the block's cost (~1.7 us a message,
        # ~5 % of the server's CPU in a structured walk). Anything else takes the full formula.
        return json.dumps(value)
    except TypeError:
        return json.dumps(pydantic_core.to_jsonable_python(value))


def _blocks(value: Any) -> list[str]:
    """FastMCP 1.6's conversion of a return value into text blocks."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [block for item in value for block in _blocks(item)]
    if isinstance(value, str):
        return [value]
    return [_json_block(value)]


def _line_time(timestamp: datetime, iso: str | None = None) -> str:
    """``timestamp`` as the real server prints it (``%Y-%m-%d %H:%M:%S``), cut from its ISO form (``iso`` when the
    caller has it): strftime costs twice as much, and the text is the same for four-digit years."""
    if timestamp.year < 1000:  # strftime does not pad the year; isoformat does
        return f"{timestamp:%Y-%m-%d %H:%M:%S}"
    text = iso if iso is not None else timestamp.isoformat(timespec="seconds")
    return f"{text[:10]} {text[11:19]}"


def format_message_line(message: BridgeMessage, sender_label: str, iso: str | None = None) -> str:
    """One ``list_messages`` line (with its newline); only media lines carry the message id and chat JID. ``iso``:
    the timestamp's ``isoformat()`` when the caller already made it."""
    head = f"[{_line_time(message.timestamp, iso)}] "
    if message.chat_name:
        head += f"Chat: {message.chat_name} "
    media = ""
    if message.media_type:
        media = f"[{message.media_type} - Message ID: {message.id} - Chat JID: {message.chat_jid}] "
    return f"{head}From: {sender_label}: {media}{message.content}\n"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _message_object(
    bridge: Bridge,
    m: BridgeMessage,
    sender_name: str | None = None,
    iso: str | None = None,
    filenames: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """One message as structured output. What the caller already has saves lookups: ``sender_name`` (its sender
    label), ``iso`` (its timestamp's ``isoformat()``), ``filenames`` (:meth:`Bridge.media_filenames` of its page)."""
    filename = None
    if m.media_type:
        if filenames is None:
            filenames = bridge.media_filenames([m])
        filename = filenames.get((m.id, m.chat_jid))
    return {
        "id": m.id,
        "chat_jid": m.chat_jid,
        "chat_name": m.chat_name,
        "timestamp": _iso(m.timestamp) if iso is None else iso,
        "sender": m.sender,
        "sender_name": bridge.sender_label(m) if sender_name is None else sender_name,
        "content": m.content,
        "is_from_me": bool(m.is_from_me),
        "media_type": m.media_type or None,
        "filename": filename,
    }


def _chat_object(c: BridgeChat) -> dict[str, Any]:
    return {
        "jid": c.jid,
        "name": c.name,
        "last_message_time": _iso(c.last_message_time),
        "last_message": c.last_message,
        "last_sender": c.last_sender,
        "last_is_from_me": None if c.last_is_from_me is None else bool(c.last_is_from_me),
        "is_group": c.jid.endswith("@g.us"),
    }


def _parse_date(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as err:
        raise ToolCallError(f"Invalid date format for '{name}': {value}. Please use ISO-8601 format.") from err


# -- the tools: each returns (value for the 1.6 conversion, structured payload) -------------------------------------
_Result = tuple[Any, Any]


@dataclass(frozen=True)
class _Options:
    garble: Callable[[str], str] | None
    structured: bool
    page_cap: int | None = None


def _list_messages(bridge: Bridge, a: Any, o: _Options) -> _Result:
    found = bridge.list_messages(
        after=_parse_date("after", a.after),
        before=_parse_date("before", a.before),
        sender_phone_number=a.sender_phone_number,
        chat_jid=a.chat_jid,
        query=a.query,
        # A cap in the code, as some servers write `limit = min(limit, 100)`: pages (and page offsets) in its rows.
        limit=a.limit if o.page_cap is None else min(a.limit, o.page_cap),
        page=a.page,
    )
    shown: list[BridgeMessage] = []
    if a.include_context and found:
        for m in found:
            ctx = bridge.message_context(m.id, a.context_before, a.context_after)
            shown.extend(ctx.before)
            shown.append(ctx.message)
            shown.extend(ctx.after)
    else:
        shown = found
    if not shown:
        return "No messages to display.", []
    labels = [bridge.sender_label(m) for m in shown]  # once per message, for its line and its object
    if not o.structured:
        return _joined_lines(shown, labels, None, o), None
    isos = [m.timestamp.isoformat() for m in shown]  # once per message, for its line and its object
    filenames = bridge.media_filenames([m for m in shown if m.media_type])
    objects = [
        _message_object(bridge, m, label, iso, filenames) for m, label, iso in zip(shown, labels, isos, strict=True)
    ]
    return _joined_lines(shown, labels, isos, o), objects


def _joined_lines(shown: list[BridgeMessage], labels: list[str], isos: list[str] | None, o: _Options) -> str:
    given: Sequence[str | None] = [None] * len(shown) if isos is None else isos
    lines = [format_message_line(m, label, iso) for m, label, iso in zip(shown, labels, given, strict=True)]
    if o.garble is not None:
        lines = [o.garble(line) for line in lines]
    return "".join(lines)


def _list_chats(bridge: Bridge, a: Any, o: _Options) -> _Result:
    chats = bridge.list_chats(
        query=a.query,
        limit=a.limit if o.page_cap is None else min(a.limit, o.page_cap),
        page=a.page,
        include_last_message=a.include_last_message,
        sort_by=a.sort_by,
    )
    # None: the real server's SQL error for include_last_message=false, which it turns into no blocks.
    chats = chats or []
    return chats, [_chat_object(c) for c in chats]


def _get_chat(bridge: Bridge, a: Any, _o: _Options) -> _Result:
    chat = bridge.get_chat(a.chat_jid, a.include_last_message)
    return chat, _chat_object(chat) if chat else None


def _direct_chat(bridge: Bridge, a: Any, _o: _Options) -> _Result:
    chat = bridge.direct_chat_by_contact(a.sender_phone_number)
    return chat, _chat_object(chat) if chat else None


def _contact_chats(bridge: Bridge, a: Any, _o: _Options) -> _Result:
    chats = bridge.contact_chats(a.jid, a.limit, a.page)
    return chats, [_chat_object(c) for c in chats]


def _search_contacts(bridge: Bridge, a: Any, _o: _Options) -> _Result:
    contacts = bridge.search_contacts(a.query)
    return contacts, [pydantic_core.to_jsonable_python(c) for c in contacts]


def _last_interaction(bridge: Bridge, a: Any, o: _Options) -> _Result:
    m = bridge.last_interaction(a.jid)
    if m is None:
        return None, None
    return format_message_line(m, bridge.sender_label(m)), _message_object(bridge, m) if o.structured else None


def _message_context(bridge: Bridge, a: Any, o: _Options) -> _Result:
    try:
        ctx = bridge.message_context(a.message_id, a.before, a.after)
    except MessageNotFoundError as err:
        raise ToolCallError(str(err)) from err
    if not o.structured:
        return ctx, None
    structured = {
        "message": _message_object(bridge, ctx.message),
        "before": [_message_object(bridge, m) for m in ctx.before],
        "after": [_message_object(bridge, m) for m in ctx.after],
    }
    return ctx, structured


def _send_message(bridge: Bridge, a: Any, _o: _Options) -> _Result:
    if not a.recipient:
        out = {"success": False, "message": "Recipient must be provided"}
    else:
        bridge.store_sent(a.recipient, a.message)
        out = {"success": True, "message": f"Message sent to {a.recipient}"}
    return out, out


def _send_media(bridge: Bridge, a: Any, _o: _Options) -> _Result:
    path = Path(a.media_path) if a.media_path else None
    if not a.recipient:
        out: dict[str, Any] = {"success": False, "message": "Recipient must be provided"}
    elif path is None:
        out = {"success": False, "message": "Media path must be provided"}
    elif not path.is_file():
        out = {"success": False, "message": f"Media file not found: {a.media_path}"}
    else:
        bridge.store_sent(a.recipient, "", path)
        out = {"success": True, "message": f"File sent to {a.recipient}"}
    return out, out


def _download(bridge: Bridge, a: Any, _o: _Options) -> _Result:
    try:
        path = download_media(bridge, a.message_id, a.chat_jid)
    except DownloadRefusedError as err:
        out: dict[str, Any] = {"success": False, "message": str(err)}
        return out, out
    if path is None:
        out = {"success": False, "message": "Failed to download media"}
    else:
        out = {"success": True, "message": "Media downloaded successfully", "file_path": str(path)}
    return out, out


_TOOLS: dict[str, Callable[[Bridge, Any, _Options], _Result]] = {
    "search_contacts": _search_contacts,
    "list_messages": _list_messages,
    "list_chats": _list_chats,
    "get_chat": _get_chat,
    "get_direct_chat_by_contact": _direct_chat,
    "get_contact_chats": _contact_chats,
    "get_last_interaction": _last_interaction,
    "get_message_context": _message_context,
    "send_message": _send_message,
    "send_file": _send_media,
    "send_audio_message": _send_media,
    "download_media": _download,
}


def _validation_text(err: pydantic.ValidationError) -> str:
    # The real server runs pydantic 2.11; its messages link to that version's docs. Match them byte for byte.
    return str(err).replace(f"errors.pydantic.dev/{pydantic.VERSION.rsplit('.', 1)[0]}/", "errors.pydantic.dev/2.11/")


def call_tool(
    bridge: Bridge,
    name: str,
    arguments: dict[str, Any] | None,
    garble: Callable[[str], str] | None = None,
    structured: bool = False,
    page_cap: int | None = None,
) -> ToolOutput:
    """Run one lharries tool synchronously (call it from a worker thread); ``structured`` also builds the
    ``structuredContent`` payload (skipped otherwise: it costs extra lookups per message); ``page_cap`` caps
    ``list_messages`` and ``list_chats`` pages without the schema saying so."""
    model = _ARG_MODELS.get(name)
    if model is None:
        return ToolOutput([f"Unknown tool: {name}"], is_error=True)
    try:
        args = model.model_validate(arguments or {})
    except pydantic.ValidationError as err:
        return tool_error(name, _validation_text(err))
    try:
        value, payload = _TOOLS[name](bridge, args, _Options(garble, structured, page_cap))
    except ToolCallError as err:
        return tool_error(name, str(err))
    return ToolOutput(_blocks(value), payload)
