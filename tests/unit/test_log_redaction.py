"""What reaches a log when a library user turns on DEBUG: tokens and phone numbers never do, whichever logger the
record comes from (ours, or the SDK's module loggers, which log whole messages)."""

from __future__ import annotations

import logging

import pytest

from wamcp.core import MCPClient

PHONE = "+447700900123"
TOKEN_LINE = "Authorization: Bearer s3cr3t-t0ken-value"


@pytest.mark.parametrize(
    "name", ["mcp.client.streamable_http", "mcp.client.sse", "mcp.shared.jsonrpc_dispatcher", "wamcp.core.client"]
)
def test_a_users_debug_log_of_the_sdk_is_redacted_once_a_client_exists(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    for module in ("mcp.client.streamable_http", "mcp.client.sse", "mcp.shared.jsonrpc_dispatcher"):
        __import__(module)  # the SDK modules a client uses, as an application that connects has imported them
    MCPClient()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger(name).debug("SSE message: %s from %s; %s", '{"text": "hi"}', PHONE, TOKEN_LINE)

    (record,) = [r for r in caplog.records if r.name == name]
    text = record.getMessage()
    assert "SSE message" in text
    assert PHONE not in text
    assert "s3cr3t-t0ken-value" not in text


def test_the_library_prints_nothing_unless_the_application_configures_logging() -> None:
    handlers = logging.getLogger("wamcp").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
