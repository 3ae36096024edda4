"""The one exception tree of wamcp.

Every foreign exception (SDK, httpx2, websockets, sqlite3, OS) is translated into one of these at the layer boundary
that meets it, and chained with ``raise ... from err``. Messages are written for the person who must act: what
failed, against which server, tool or file, and what to try. Never put a token or a phone number in a message; use
:mod:`wamcp.redact` when echoing user input.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "MCPAuthenticationError",
    "MCPClientError",
    "MCPConnectionError",
    "MCPHandshakeError",
    "MCPProtocolError",
    "MCPRateLimitError",
    "MCPTimeoutError",
    "MCPToolError",
    "StoreBusyError",
    "StoreError",
]


class MCPClientError(Exception):
    """Root of every error raised by wamcp.

    ``server`` and ``tool`` name where it happened when known; ``hint`` says what to try.
    """

    def __init__(
        self,
        message: str,
        *,
        server: str | None = None,
        tool: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.server = server
        self.tool = tool
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} — {self.hint}"
        return self.message


class MCPConnectionError(MCPClientError):
    """The server cannot be reached, the connection dropped, or the supervisor gave up reconnecting."""


class MCPTimeoutError(MCPClientError, TimeoutError):
    """A request or connection attempt took longer than its timeout."""


class MCPAuthenticationError(MCPClientError):
    """The server refused our credentials (HTTP 401/403) or WhatsApp pairing is required."""


class MCPRateLimitError(MCPClientError):
    """The server said we are calling too fast (HTTP 429 or a rate-limit tool error).

    ``retry_after`` is the cooldown in seconds the server asked for, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        server: str | None = None,
        tool: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, server=server, tool=tool, hint=hint)
        self.retry_after = retry_after


class MCPToolError(MCPClientError):
    """The tool ran and reported an error (``isError`` result). Never retried; ``text`` is the server's own text."""

    def __init__(
        self,
        message: str,
        *,
        server: str | None = None,
        tool: str | None = None,
        hint: str | None = None,
        text: str = "",
    ) -> None:
        super().__init__(message, server=server, tool=tool, hint=hint)
        self.text = text


class MCPProtocolError(MCPClientError):
    """The server answered with something we cannot understand (garbled output, wrong shape)."""


class MCPHandshakeError(MCPProtocolError):
    """What answers at the endpoint does not complete an MCP handshake: not an MCP server (a web page, another
    API), or one speaking a protocol we do not. Connecting failed, so the CLI treats it as such (exit code 3)."""


class ConfigError(MCPClientError):
    """The configuration is invalid: names the file or variable, the key, the bad value and what is allowed."""


class StoreError(MCPClientError):
    """The local SQLite store cannot be opened, migrated or written."""


class StoreBusyError(StoreError):
    """Another process is extracting the same account into the same store (see :mod:`wamcp.store.runlock`)."""
