"""``WhatsAppMCPClient``: the seed's WhatsApp API (plain dicts) and typed iterators, over the core ``MCPClient``.

The client owns no parsing: after connecting it lists the server's tools, picks a profile (``profile`` in the
config, ``auto`` by default; see :mod:`wamcp.whatsapp.profiles.detect`) and lets the profile turn our operations into
tool calls and their output into :mod:`wamcp.whatsapp.models`. The one thing to know: full histories are read with
:meth:`WhatsAppMCPClient.iter_messages`, which pages by time (keyset) and is linear in the chat's size; the seed's
``page`` argument is kept for one-screen reads only.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from ..chat_export import format_chat_export
from ..config import LoadedConfig, MCPConnectionType, RateLimits, WhatsAppConfig, load_config
from ..core import MCPClient
from ..core.transports.base import display_endpoint
from ..errors import ConfigError, MCPClientError, MCPConnectionError
from ..redact import get_logger
from .jid import normalize_jid, validate_phone_number
from .models import Chat, Contact, Message
from .profiles.base import (
    ParseStats,
    Profile,
    ToolResult,
    accepts_keyword,
    closing_when_done,
)
from .profiles.detect import build_profile
from .profiles.lharries import LHARRIES_TOOLS, LharriesProfile
from .timeparse import ServerClock

__all__ = ["ExportFormat", "WhatsAppMCPClient", "get_whatsapp_mcp_client"]

logger = get_logger(__name__)

ExportFormat = Literal["json", "jsonl", "csv", "txt"]
_EXPORT_FORMATS: frozenset[str] = frozenset(get_args(ExportFormat))
_READ_PREFIXES = ("list_", "get_", "search_", "read_", "check_")
_CSV_FIELDS = (
    "id",
    "timestamp",
    "chat_jid",
    "chat_name",
    "sender",
    "sender_jid",
    "is_from_me",
    "media_type",
    "content",
)


def _default_idempotent(tool: str) -> bool:
    """Before the profile is known: read tools are retry-safe, anything else (``send_*``, pairing) is not."""
    return tool in LHARRIES_TOOLS or tool.startswith(_READ_PREFIXES)


class WhatsAppMCPClient:
    """Talks to one WhatsApp MCP server.

    ``config``: the effective configuration (default: :func:`wamcp.config.load_config` at :meth:`initialize`).
    ``mcp_client``: an existing core client to use (it is then not closed by :meth:`disconnect`; its server is
    registered unless one of that name already is). ``profile``: force a profile instead of detecting one.
    """

    def __init__(
        self,
        config: WhatsAppConfig | LoadedConfig | None = None,
        *,
        mcp_client: MCPClient | None = None,
        profile: Profile | None = None,
    ) -> None:
        self._config = _unwrap(config)
        self._mcp = mcp_client
        self._owns_mcp = mcp_client is None
        self._profile = profile
        self._profile_given = profile is not None
        self._server_changed = False
        self._tool_names: set[str] = set()
        self._initialized = False
        self.last_error: MCPClientError | None = None

    # ------------------------------------------------------------------ properties

    @property
    def config(self) -> WhatsAppConfig:
        if self._config is None:
            self._config = load_config().config
        return self._config

    @property
    def server_name(self) -> str:
        return self.config.server.name

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            raise MCPConnectionError(
                "the WhatsApp client is not initialized", hint="await client.initialize() first (or any read call)"
            )
        return self._profile

    @property
    def stats(self) -> ParseStats:
        """Parse counters of the active profile (unparseable lines, ambiguous headers, duplicates, …)."""
        return self.profile.stats

    @property
    def is_initialized(self) -> bool:
        return self._initialized

    def __repr__(self) -> str:
        # Never the config's repr: no token, no phone number; the endpoint as displayed (credentials masked).
        if self._config is None:
            return f"<{type(self).__name__} not configured yet>"
        server = self._config.server
        profile = getattr(self._profile, "name", None) if self._profile is not None else None
        return (
            f"<{type(self).__name__} server={server.name!r} {server.connection_type.value} "
            f"endpoint={display_endpoint(server.endpoint)!r} initialized={self._initialized} profile={profile!r}>"
        )

    # ------------------------------------------------------------------ lifecycle

    async def initialize(
        self,
        endpoint: str | None = None,
        connection_type: MCPConnectionType | str | None = None,
        auth_token: str | None = None,
    ) -> bool:
        """Connect to the configured server (arguments override the config) and pick its profile.

        Returns ``False`` when the server cannot be reached or answers nonsense; the reason is logged and kept in
        :attr:`last_error` (the seed's contract is a bool).
        """
        try:
            previous = self._config
            config = self._effective_config(endpoint, connection_type, auth_token)
            self._config = config
            if self._mcp is None:
                self._mcp = MCPClient()
                self._owns_mcp = True
            name = config.server.name
            changed = self._server_changed or (previous is not None and config.server != previous.server)
            if name in self._mcp.servers and changed:
                # New endpoint, transport or token: the registered server must be replaced, not reused.
                self._server_changed = False
                await self._mcp.disconnect(name)
                self._mcp.add_server(config.server, rate_limits=config.rate_limits, idempotent=self._is_idempotent)
                if not self._profile_given:
                    self._profile = None
            elif name not in self._mcp.servers:
                self._mcp.add_server(config.server, rate_limits=config.rate_limits, idempotent=self._is_idempotent)
            await self._mcp.connect(name)
            tools = await self._mcp.list_tools(name)
            self._tool_names = {str(tool["name"]) for tool in tools}
            if self._profile is None:
                clock = ServerClock(config.server_timezone)
                self._profile = build_profile(config.profile, tools, clock, server_name=name)
                if isinstance(self._profile, LharriesProfile):
                    self._profile.calls_limited = _calls_limited(config.rate_limits)
            self._initialized = True
            self.last_error = None
        except MCPClientError as err:
            self.last_error = err
            logger.error("cannot initialize the WhatsApp MCP client: %s", err)
            return False
        if config.auto_authenticate and config.phone_number:
            try:
                result = await self.authenticate(config.phone_number)
            except MCPClientError as err:  # connected all the same: pairing can be retried with authenticate()
                logger.warning("auto-authentication failed: %s", err)
            else:
                logger.info("auto-authentication: %s", result.get("status"))
        return True

    def use_config(self, config: WhatsAppConfig | LoadedConfig) -> None:
        """Use ``config`` from the next :meth:`initialize` on (the sync facade reloads the configuration this way)."""
        chosen = config.config if isinstance(config, LoadedConfig) else config
        if self._config is not None and self._config.server != chosen.server:
            self._server_changed = True
        self._config = chosen
        if not self._profile_given:
            self._profile = None  # its clock follows server_timezone, and the server may be another one

    def _effective_config(
        self, endpoint: str | None, connection_type: MCPConnectionType | str | None, auth_token: str | None
    ) -> WhatsAppConfig:
        try:
            kind = MCPConnectionType(connection_type).value if connection_type is not None else None
        except ValueError as err:
            allowed = ", ".join(member.value for member in MCPConnectionType)
            raise ConfigError(
                f"connection_type {connection_type!r} is not valid",
                hint=f"expected one of: {allowed} (http = streamable_http)",
            ) from err
        server: dict[str, Any] = {"endpoint": endpoint, "connection_type": kind, "auth_token": auth_token}
        overrides = {key: value for key, value in server.items() if value is not None}
        if self._config is None:
            return load_config(overrides={"server": overrides}).config
        if not overrides:
            return self._config
        data = self._config.model_dump()
        if self._config.server.auth_token is not None:
            data["server"]["auth_token"] = self._config.server.auth_token.get_secret_value()
        data["server"].update(overrides)
        try:
            return WhatsAppConfig(**data)
        except ValueError as err:  # pydantic's ValidationError: a bad endpoint or token
            raise ConfigError(f"invalid server settings for initialize(): {err}") from err

    def _is_idempotent(self, tool: str) -> bool:
        if self._profile is not None:
            return self._profile.is_idempotent(tool)
        return _default_idempotent(tool)

    async def _ensure_ready(self) -> MCPClient:
        if not self._initialized and not await self.initialize():
            raise self.last_error or MCPConnectionError("the WhatsApp MCP client could not be initialized")
        assert self._mcp is not None  # set by initialize()
        return self._mcp

    async def _call(self, tool: str, arguments: dict[str, Any]) -> ToolResult:
        mcp = await self._ensure_ready()
        return await mcp.execute_tool(self.server_name, tool, arguments)

    async def disconnect(self) -> None:
        """Close the connection (and the core client, when this object created it)."""
        if self._mcp is not None:
            if self._owns_mcp:
                await self._mcp.close()
                self._mcp = None
            elif self.server_name in self._mcp.servers:
                await self._mcp.disconnect(self.server_name)
        self._initialized = False

    async def __aenter__(self) -> WhatsAppMCPClient:
        await self._ensure_ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    # ------------------------------------------------------------------ the seed's API

    async def call_tool(
        self,
        tool_name: str,
        arguments: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - passed on to the core client's per-call deadline
    ) -> dict[str, Any]:
        """Call any tool of the server as is and return the core client's result dict (``content``,
        ``structured_content``, ``text``, ...): for tools this layer does not wrap, such as ``send_message``."""
        mcp = await self._ensure_ready()
        return await mcp.execute_tool(self.server_name, tool_name, arguments or {}, timeout)

    async def authenticate(self, phone_number: str) -> dict[str, Any]:
        """Validate ``phone_number`` (E.164) and start pairing.

        Servers with a pairing tool return ``{"status": "qr_required", "qr_code": ..., ...}`` (or
        ``"authenticated"``); servers that pair in their own bridge (lharries) return ``"paired_externally"`` with a
        message saying where the QR code is shown. Raises ``InvalidPhoneNumberError`` for a bad number.
        """
        number = validate_phone_number(phone_number)
        await self._ensure_ready()
        return await self.profile.authenticate(self._call, number, self._tool_names)

    async def list_chats(
        self,
        limit: int = 20,
        page: int = 0,
        include_last_message: bool = True,
        sort_by: str = "last_active",
        *,
        query: str | None = None,
    ) -> list[dict[str, Any]]:
        """One page of chats as the seed's dicts (``jid``, ``name``, ``last_message_time`` ISO UTC, …); ``query``
        keeps chats whose name or JID contains it, as the server's ``list_chats`` does."""
        await self._ensure_ready()
        chats = await self.profile.list_chats(
            self._call, limit=limit, page=page, include_last_message=include_last_message, sort_by=sort_by, query=query
        )
        return [chat.to_dict() for chat in chats]

    async def get_chat_messages(
        self,
        chat_jid: str | None,
        limit: int = 20,
        page: int = 0,
        *,
        before: datetime | None = None,
        after: datetime | None = None,
        query: str | None = None,
    ) -> list[dict[str, Any]]:
        """One page of a chat's messages (``chat_jid=None``: of all chats), newest first, as dicts (see
        :meth:`iter_messages` for whole histories)."""
        await self._ensure_ready()
        messages = await self.profile.list_messages(
            self._call,
            chat_jid=normalize_jid(chat_jid) if chat_jid else None,
            query=query,
            limit=limit,
            page=page,
            before=before,
            after=after,
        )
        return [message.to_dict() for message in messages]

    async def search_messages(self, query: str, chat_jid: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Messages containing ``query`` (all chats, or one), newest first."""
        await self._ensure_ready()
        messages = await self.profile.list_messages(
            self._call, chat_jid=normalize_jid(chat_jid) if chat_jid else None, query=query, limit=limit
        )
        return [message.to_dict() for message in messages]

    async def search_contacts(self, query: str) -> list[dict[str, Any]]:
        await self._ensure_ready()
        return [contact.to_dict() for contact in await self.profile.search_contacts(self._call, query)]

    async def export_chat(
        self,
        chat_jid: str,
        format: str | None = None,  # the seed's parameter name, shadowing the builtin on purpose
        include_media: bool | None = None,
        *,
        business_name: str = "Business",
    ) -> dict[str, Any]:
        """A whole chat, oldest first, as ``json``, ``jsonl``, ``csv`` or WhatsApp's own ``txt`` export format.

        ``format`` and ``include_media`` default to the configuration's ``export_format`` and ``include_media``.
        Returns ``{"chat_jid", "chat_name", "format", "content": str, "message_count", "exported_at",
        "include_media"}``. Without ``include_media`` media messages keep their type but no file; with it, servers
        that offer ``download_media`` are asked for each media file and ``media_path`` is filled in (json, jsonl,
        csv). In ``txt``, the business's own messages appear under ``business_name``. Parquet is binary: export
        the store with ``wamcp export --format parquet`` instead.
        """
        if format is None:
            format = self.config.export_format
        if include_media is None:
            include_media = self.config.include_media
        if format not in _EXPORT_FORMATS:
            hint = (
                "; parquet is binary: use `wamcp export --format parquet` on the store" if format == "parquet" else ""
            )
            raise ValueError(f"unknown export format {format!r}: expected json, jsonl, csv or txt{hint}")
        jid = normalize_jid(chat_jid)
        await self._ensure_ready()
        chat = await self.profile.get_chat(self._call, jid)
        messages = [message async for message in self.iter_messages(jid)]
        messages.reverse()
        media_paths: dict[str, str] = {}
        if include_media:
            media_paths = await self._download_media(messages)
        rows = [dict(message.to_dict(), media_path=media_paths.get(message.id)) for message in messages]
        if format == "json":
            payload = {"chat": chat.to_dict() if chat else {"jid": jid}, "messages": rows}
            content = json.dumps(payload, ensure_ascii=False, indent=2)
        elif format == "jsonl":
            content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        elif format == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=[*_CSV_FIELDS, "media_path"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            content = buffer.getvalue()
        else:
            zone = getattr(self.profile, "clock", ServerClock(self.config.server_timezone)).zone
            content = format_chat_export(messages, business_name=business_name, zone=zone)
        return {
            "chat_jid": jid,
            "chat_name": chat.name if chat else None,
            "format": format,
            "content": content,
            "message_count": len(messages),
            "exported_at": datetime.now(UTC).isoformat(),
            "include_media": include_media,
        }

    async def _download_media(self, messages: list[Message]) -> dict[str, str]:
        if "download_media" not in self._tool_names:
            logger.warning("include_media: the server has no download_media tool; exporting without files")
            return {}
        paths: dict[str, str] = {}
        for message in messages:
            if not message.media_type or message.id_source != "server" or message.chat_jid is None:
                continue
            try:
                result = await self._call("download_media", {"message_id": message.id, "chat_jid": message.chat_jid})
            except MCPClientError as err:
                logger.warning("cannot download media of message %s: %s", message.id, err)
                continue
            data = _first_json_object(result)
            path = data.get("file_path") or data.get("path")
            if path:
                paths[message.id] = str(path)
        return paths

    async def get_connection_status(self) -> dict[str, Any]:
        """Where we are connected, with which profile, the core client's status and the parse counters."""
        status: dict[str, Any] = {
            "initialized": self._initialized,
            "server": self.server_name,
            "endpoint": self.config.server.endpoint,
            "connection_type": self.config.server.connection_type.value,
            "profile": self._profile.name if self._profile is not None else None,
            "tools": sorted(self._tool_names),
        }
        if self._mcp is not None and self.server_name in self._mcp.servers:
            core = self._mcp.status(self.server_name)
            status.update(
                state=core.get("state"), connected=core.get("state") == "connected", endpoint=core.get("endpoint")
            )
            status["mcp"] = core
        else:
            status.update(state="disconnected", connected=False)
        if self._profile is not None:
            status["parse_stats"] = self._profile.stats.as_dict()
        return status

    async def health_check(self) -> dict[str, Any]:
        """``{"mcp_connection": bool, "whatsapp_connection": bool | str, ...}``.

        ``whatsapp_connection`` is the server's own answer where it has a status tool; lharries has none, so it is
        ``"unknown"`` when a read works (the bridge's database is readable) and ``False`` when it fails. Like every
        other method it connects first when the client is not connected (also after :meth:`disconnect`).
        """
        mcp_ok = False
        whatsapp: bool | str = False
        error: str | None = None
        if not self._initialized:
            # Like every other method, connect first: the seed's health snippet asks a fresh client.
            await self.initialize()
        if self._initialized and self._mcp is not None:
            mcp_ok = await self._mcp.health_check(self.server_name)
            if mcp_ok:
                try:
                    whatsapp = await self.profile.whatsapp_status(self._call, self._tool_names)
                except MCPClientError as err:
                    error = str(err)
        else:
            error = str(self.last_error) if self.last_error else "not initialized"
        return {
            "mcp_connection": mcp_ok,
            "whatsapp_connection": whatsapp,
            "server": self.server_name,
            "profile": self._profile.name if self._profile is not None else None,
            "checked_at": datetime.now(UTC).isoformat(),
            "error": error,
        }

    # ------------------------------------------------------------------ typed API

    async def iter_chats(
        self, *, page_size: int = 100, pages_ahead: int = 0, by_activity: bool = False
    ) -> AsyncIterator[Chat]:
        """Every chat once, as :class:`Chat`; with ``by_activity``, most recently active first where the server can
        sort so (lharries' ``sort_by=last_active``; check the order if it matters), for callers that stop early.

        ``pages_ahead`` > 0 asks for that many listing pages before the current one is answered, so the server
        works while this process parses (such a page is sized from an older answer, so it may overshoot the
        profile's byte budget a little). Stopping early (``break``) cancels the pages asked for ahead;
        ``contextlib.aclosing`` does it at once rather than when the iterator is collected.
        """
        await self._ensure_ready()
        listing = self.profile.iter_chats
        extra: dict[str, Any] = {"ahead": pages_ahead} if pages_ahead > 0 and accepts_keyword(listing, "ahead") else {}
        if by_activity and accepts_keyword(listing, "by_activity"):
            extra["by_activity"] = True
        async with closing_when_done(listing(self._call, page_size=page_size, **extra)) as chats:
            async for chat in chats:
                yield chat

    async def find_chats(self, chat_jids: Iterable[str]) -> list[Chat] | None:
        """The named chats, each asked for by its JID (those the server does not know are left out), or None when
        this server's profile cannot do that without listing every chat: then list them with :meth:`iter_chats`.

        lharries' profile says None: it parses a chat's text with the names of every listed chat, so reading chats
        without the listing could give its messages other derived ids than a full run does.
        """
        await self._ensure_ready()
        finds = getattr(self.profile, "finds_chats_by_jid", None)
        if finds is None or not finds():
            return None
        chats: list[Chat] = []
        for jid in chat_jids:
            chat = await self.profile.get_chat(self._call, normalize_jid(jid))
            if chat is not None:
                chats.append(chat)
        return chats

    async def iter_messages(
        self, chat_jid: str, since: datetime | None = None, *, page_size: int = 500
    ) -> AsyncIterator[Message]:
        """Every message of one chat once, newest first, as :class:`Message` (UTC timestamps).

        Linear in the chat's size (keyset paging, see ``docs/whatsapp.md``); ``since`` (aware datetime) stops at
        messages older than it, inclusive at one-second resolution.
        """
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
        await self._ensure_ready()
        async for message in self.profile.iter_messages(
            self._call, normalize_jid(chat_jid), since=since, page_size=page_size
        ):
            yield message

    def iter_message_pages(
        self,
        chat_jid: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[Sequence[Message]]:
        """One chat's messages strictly between ``after`` and ``before`` (aware datetimes, compared at the server's
        one-second resolution), newest first, one list per server page, each message once: what the extractor
        stores page by page. Same linear keyset paging as :meth:`iter_messages`. Bad arguments raise here, before
        any iteration."""
        for bound in (after, before):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("after and before must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
        jid = normalize_jid(chat_jid)
        if self._initialized:
            # The profile's own iterator, not a generator around it: the extractor reads every chat this way
            # (~91k chats at 1M messages), and each async generator layer costs a chat read its set-up and hand-offs.
            return self.profile.iter_message_pages(self._call, jid, after=after, before=before, page_size=page_size)
        return self._message_pages_once_ready(jid, after=after, before=before, page_size=page_size)

    async def _message_pages_once_ready(
        self, jid: str, *, after: datetime | None, before: datetime | None, page_size: int
    ) -> AsyncIterator[Sequence[Message]]:
        await self._ensure_ready()
        async for page in self.profile.iter_message_pages(
            self._call, jid, after=after, before=before, page_size=page_size
        ):
            yield page

    async def iter_all_messages(
        self,
        since: datetime | None = None,
        *,
        page_size: int = 500,
        chats: list[Chat] | None = None,
        parallel: int = 1,
    ) -> AsyncIterator[Message]:
        """Every message of every chat (``chats``, default: all), each once, in no guaranteed order.

        On lharries this is one keyset walk across all chats plus per-chat walks for chats whose name is not
        unique: far fewer calls than :meth:`iter_messages` per chat when most chats are small. Messages newer
        than the newest one the chat list reports are left for the next run. ``parallel`` > 1 reads the walk
        across chats as that many concurrent walks over disjoint spans of time: client and server work at once
        instead of taking turns.
        """
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware (e.g. datetime(..., tzinfo=UTC))")
        await self._ensure_ready()
        walk = self.profile.iter_all_messages
        # Plugin profiles written before ``parallel`` existed walk one span at a time.
        extra = {"parallel": parallel} if parallel > 1 and accepts_keyword(walk, "parallel") else {}
        walked = walk(self._call, since=since, page_size=page_size, chats=chats, **extra)
        async with closing_when_done(walked) as messages:
            async for message in messages:
                yield message

    async def get_contacts(self, query: str) -> list[Contact]:
        await self._ensure_ready()
        return await self.profile.search_contacts(self._call, query)


def _calls_limited(limits: RateLimits) -> bool:
    """Whether ``limits`` pace the calls that read messages (``messages_per_minute`` or ``requests_per_second``)."""
    return bool(limits.messages_per_minute) or bool(limits.requests_per_second)


def _unwrap(config: WhatsAppConfig | LoadedConfig | None) -> WhatsAppConfig | None:
    return config.config if isinstance(config, LoadedConfig) else config


def _first_json_object(result: ToolResult) -> Mapping[str, Any]:
    structured = result.get("structured_content")
    if isinstance(structured, dict):
        return structured
    try:
        value = json.loads(result.get("text") or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_instance: WhatsAppMCPClient | None = None
_instance_lock = threading.Lock()


def get_whatsapp_mcp_client(config: WhatsAppConfig | LoadedConfig | None = None) -> WhatsAppMCPClient:
    """The process-wide client (created on first use from ``config`` or the loaded configuration)."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = WhatsAppMCPClient(config)
        return _instance


def reset_whatsapp_mcp_client() -> None:
    """Forget the process-wide client (after :meth:`WhatsAppMCPClient.disconnect`); tests and the sync facade use it."""
    global _instance
    with _instance_lock:
        _instance = None
