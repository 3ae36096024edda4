"""The seed's synchronous API (``mcp_utils``): use_mcp_tool, initialize_whatsapp_mcp, cleanup_mcp_connections.

Every call runs on one background event-loop thread (:func:`wamcp.core.sync.get_runner`), never ``asyncio.run``
per call: the MCP session stays open between calls, calls from many threads are safe, and calling from inside a
running event loop (Jupyter) works because the caller's loop is not the one doing the work. Tools of the
WhatsApp server are routed through :class:`WhatsAppMCPClient`, so they return parsed, typed-as-dict results
(``list_chats`` → chat dicts, ``list_messages`` → message dicts) instead of the server's raw text.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import anyio

from ..config import RateLimits, ServerConfig, load_config
from ..core import MCPClient
from ..core.sync import get_runner
from ..errors import MCPClientError, MCPConnectionError, MCPTimeoutError
from ..redact import get_logger
from .client import WhatsAppMCPClient, get_whatsapp_mcp_client, reset_whatsapp_mcp_client
from .timeparse import ServerClock

__all__ = ["cleanup_mcp_connections", "initialize_whatsapp_mcp", "register_mcp_server", "use_mcp_tool"]

logger = get_logger(__name__)

#: Names a caller may use for the configured WhatsApp server besides its configured ``name``.
WHATSAPP_SERVER_ALIASES = frozenset({"whatsapp", "github.com/lharries/whatsapp-mcp", "lharries/whatsapp-mcp"})

_init_lock = threading.Lock()
#: The servers of :func:`register_mcp_server` (created on the runner's loop, used only there).
_generic: MCPClient | None = None

Route = Callable[[WhatsAppMCPClient, Mapping[str, Any]], Awaitable[Any]]


def _pick(arguments: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: arguments[name] for name in names if arguments.get(name) is not None}


async def _list_chats(client: WhatsAppMCPClient, arguments: Mapping[str, Any]) -> Any:
    return await client.list_chats(**_pick(arguments, "limit", "page", "include_last_message", "sort_by", "query"))


async def _list_messages(client: WhatsAppMCPClient, arguments: Mapping[str, Any]) -> Any:
    # include_context / context_* are accepted and ignored: the routed call returns the matching messages
    # only, each once (the raw server would interleave neighbours and repeat them).
    if arguments.get("sender_phone_number"):
        raise MCPClientError(
            "list_messages: filtering by sender_phone_number is not supported by the parsed route",
            tool="list_messages",
            hint="read the chat and filter on sender_jid, or get the server's raw text with "
            "get_whatsapp_mcp_client().call_tool('list_messages', {...})",
        )
    after, before = (_instant(client, name, arguments.get(name)) for name in ("after", "before"))
    chat_jid = arguments.get("chat_jid")
    return await client.get_chat_messages(
        str(chat_jid) if chat_jid else None,
        **_pick(arguments, "limit", "page", "query"),
        after=after,
        before=before,
    )


def _instant(client: WhatsAppMCPClient, name: str, value: Any) -> datetime | None:
    """``after``/``before`` as the seed passes them: ISO 8601 text (or a datetime). Text without an offset is the
    server's wall-clock time, as lharries reads it."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as err:
            raise MCPClientError(
                f"list_messages: {name}={value!r} is not an ISO 8601 time",
                tool="list_messages",
                hint="use e.g. 2025-03-01T09:00:00 (server time) or 2025-03-01T09:00:00+00:00",
            ) from err
    if moment.tzinfo is None:
        return ServerClock(client.config.server_timezone).to_utc(moment.isoformat())
    return moment


async def _search_contacts(client: WhatsAppMCPClient, arguments: Mapping[str, Any]) -> Any:
    return await client.search_contacts(str(arguments.get("query", "")))


_ROUTES: dict[str, Route] = {
    "list_chats": _list_chats,
    "list_messages": _list_messages,
    "search_contacts": _search_contacts,
}


def _is_whatsapp(client: WhatsAppMCPClient, server_name: str) -> bool:
    return server_name == client.config.server.name or server_name in WHATSAPP_SERVER_ALIASES


async def _ready_client() -> WhatsAppMCPClient:
    client = get_whatsapp_mcp_client()
    if not client.is_initialized and not await client.initialize():
        raise client.last_error or MCPConnectionError("the WhatsApp MCP client could not be initialized")
    return client


async def _use_tool(server_name: str, tool_name: str, arguments: Mapping[str, Any], timeout: float | None) -> Any:  # noqa: ASYNC109
    # The name is checked against the configuration before connecting: a typo must not cost a connection attempt
    # (or be reported as the configured server's connection failure).
    configured = get_whatsapp_mcp_client()
    if not _is_whatsapp(configured, server_name):
        if _generic is not None and server_name in _generic.servers:
            # a server registered with register_mcp_server: no WhatsApp routing, the core client's result dict
            return await _generic.execute_tool(server_name, tool_name, dict(arguments), timeout=timeout)
        raise MCPClientError(
            f"unknown MCP server {server_name!r}",
            server=server_name,
            hint=f"the configured server is {configured.config.server.name!r} (mcp_config.json: whatsapp.server.name);"
            " other MCP servers need mcp_utils.register_mcp_server(ServerConfig(name=..., ...)) first",
        )
    client = await _ready_client()
    route = _ROUTES.get(tool_name)
    try:
        with anyio.fail_after(timeout) if timeout is not None else _no_deadline():
            if route is not None:
                return await route(client, arguments)
            return await client.call_tool(tool_name, dict(arguments), timeout=timeout)
    except TimeoutError as err:
        if isinstance(err, MCPTimeoutError):
            raise
        raise MCPTimeoutError(
            f"{tool_name} on {server_name} took longer than {timeout:g} s", server=server_name, tool=tool_name
        ) from err
    finally:
        if not client.config.session_persistence:
            # session_persistence: false — each call gets its own session; the next one connects again.
            with anyio.CancelScope(shield=True):
                await client.disconnect()


def _no_deadline() -> anyio.CancelScope:
    return anyio.CancelScope()


def use_mcp_tool(
    server_name: str, tool_name: str, arguments: Mapping[str, Any] | None = None, timeout: float | None = None
) -> Any:
    """Call ``tool_name`` on ``server_name`` synchronously and return its result.

    Initializes from the configuration on first use. For the WhatsApp server, ``list_chats`` returns a list of
    chat dicts (``limit``, ``page``, ``include_last_message``, ``sort_by``, ``query`` honoured), ``list_messages`` a
    list of message dicts, newest first, timestamps ISO-8601 UTC (``chat_jid`` optional, ``query``, ``limit``,
    ``page``, ``after``/``before`` as ISO text, read in the server's time zone when they carry no offset;
    ``include_context`` is ignored: each matching message comes once; ``sender_phone_number`` raises, as the parsed
    route cannot honour it) and ``search_contacts`` a list of contact dicts. Any other tool returns the core
    client's result dict (``content``, ``structured_content``, ``text``). ``timeout`` (seconds) bounds this call
    and raises :class:`wamcp.errors.MCPTimeoutError`. An unknown ``server_name`` raises
    :class:`wamcp.errors.MCPClientError` before any connection is made.
    """
    return get_runner().run(_use_tool(server_name, tool_name, dict(arguments or {}), timeout))


def register_mcp_server(config: ServerConfig, *, rate_limits: RateLimits | None = None) -> None:
    """Make any MCP server callable by :func:`use_mcp_tool` under ``config.name`` (the seed's "WhatsApp-specific
    routing" applies only to the WhatsApp server; other servers' tools return the core client's result dict:
    ``content``, ``structured_content``, ``text``, ``is_error``, ``duration``).

    It connects on its first call and stays connected, like the WhatsApp server; ``rate_limits`` default to none.
    Registering a name again replaces a disconnected server of that name (a connected one raises
    :class:`~wamcp.errors.ConfigError`). :func:`cleanup_mcp_connections` closes it too.
    """
    get_runner().run(_register(config, rate_limits))


async def _register(config: ServerConfig, rate_limits: RateLimits | None) -> None:
    global _generic
    if _generic is None:
        _generic = MCPClient()
    _generic.add_server(config, rate_limits=rate_limits)


def initialize_whatsapp_mcp(
    endpoint: str | None = None,
    connection_type: str | None = None,
    auth_token: str | None = None,
    use_config: bool = True,
) -> bool:
    """Connect the process-wide WhatsApp client (arguments override the configuration); ``False`` on failure.

    With ``use_config=False`` the config file and environment are ignored and only the arguments and the
    defaults apply. The reason for a failure is logged and kept in ``get_whatsapp_mcp_client().last_error``.
    """
    overrides = {"server": {"endpoint": endpoint, "connection_type": connection_type, "auth_token": auth_token}}
    with _init_lock:
        try:
            config = (
                load_config(overrides=overrides)
                if use_config
                else load_config(overrides=overrides, use_file=False, environ={})
            )
        except MCPClientError as err:
            logger.error("cannot initialize the WhatsApp MCP client: %s", err)
            # Kept where the docstring says, also when no client exists yet (one is made without loading the
            # configuration that just failed to load).
            get_whatsapp_mcp_client().last_error = err
            return False
        client = get_whatsapp_mcp_client(config)
        if client.is_initialized:
            get_runner().run(client.disconnect())
        client.use_config(config)
        return bool(get_runner().run(client.initialize()))


def cleanup_mcp_connections() -> None:
    """Close every connection, forget the process-wide client and stop the background loop (idempotent)."""
    global _generic
    runner = get_runner()
    with _init_lock:
        client = get_whatsapp_mcp_client()
        if runner.is_running:
            try:
                runner.run(client.disconnect(), timeout=10.0)
            except MCPClientError as err:
                logger.warning("error while disconnecting: %s", err)
            if _generic is not None:
                try:
                    runner.run(_generic.close(), timeout=10.0)
                except MCPClientError as err:
                    logger.warning("error while disconnecting: %s", err)
        _generic = None
        reset_whatsapp_mcp_client()
        runner.stop()
