"""Old and new servers, and transport auto-selection.

The old server runs on mcp 1.6.0 (protocol 2024-11-05, like lharries' server) from the ``.cache/mcp16`` venv that
``.ci/run`` creates; without it these tests fail and say so instead of skipping.
"""

from __future__ import annotations

import logging

import pytest

from wamcp.core import MCPClient, MCPTimeoutError, MCPToolError

from .conftest import OLD_SERVER, Servers, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.mark.parametrize("transport", ["stdio", "sse", "websocket"])
async def test_old_mcp16_server_speaks_2024_11_05(transport: str, servers: Servers, old_python: str) -> None:
    target = servers.target(transport, python=old_python, script=OLD_SERVER)
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        result = await client.execute_tool(name, "echo", {"text": "old friend"})
        with pytest.raises(MCPToolError) as caught:
            await client.execute_tool(name, "fail")
        tools = [tool["name"] for tool in await client.list_tools(name)]
        status = client.status(name)

    assert result["text"] == "old friend"
    assert result["structured_content"] is None  # mcp 1.6 has no structured output
    assert "boom: this old tool always fails" in caught.value.text
    assert {"echo", "slow", "fail", "counter"} <= set(tools)
    assert status["protocol_version"] == "2024-11-05"


@pytest.mark.parametrize("server_transport", ["streamable_http", "sse"])
async def test_auto_connection_type_finds_the_http_transport(server_transport: str, servers: Servers) -> None:
    target = servers.target(server_transport)
    async with MCPClient() as client:
        # The seed's style: a bare host:port endpoint, the client picks the path and the wire.
        client.add_server(target.config(connection_type="auto"))
        result = await client.execute_tool(target.config().name, "echo", {"text": "auto"})
        status = client.status(target.config().name)

    assert result["text"] == "auto"
    assert status["transport"] == server_transport


async def test_new_protocol_2026_can_be_chosen(servers: Servers) -> None:
    target = servers.target("streamable_http")
    async with MCPClient() as client:
        client.add_server(target.config(protocol="2026-07-28"))
        result = await client.execute_tool(target.config().name, "echo", {"text": "modern"})
        status = client.status(target.config().name)

    assert result["text"] == "modern"
    assert status["protocol_version"] == "2026-07-28"


async def test_fails_over_to_the_next_endpoint_when_the_first_is_down(servers: Servers) -> None:
    live = servers.target("streamable_http")
    down = f"http://127.0.0.1:{free_port()}"
    async with MCPClient() as client:
        client.add_server(live.config(endpoint=down, endpoints=[live.endpoint]))
        result = await client.execute_tool(live.config().name, "echo", {"text": "failover"})
        status = client.status(live.config().name)

    assert result["text"] == "failover"
    assert status["endpoint"] == f"{live.endpoint}/mcp"


async def test_junk_lines_on_a_stdio_servers_stdout_are_tolerated(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wamcp")
    target = servers.target("stdio")
    async with MCPClient() as client:
        client.add_server(target.config())
        first = await client.execute_tool(target.config().name, "junk", {"text": "after junk"})
        second = await client.execute_tool(target.config().name, "echo", {"text": "still fine"})
        status = client.status(target.config().name)

    assert first["text"] == "after junk"
    assert second["text"] == "still fine"
    assert status["generation"] == 1
    # Said once, as a warning naming what the server wrote (the SDK alone only ignores such lines).
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "not an MCP message" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "sqlite3.OperationalError: no such column: x" in warnings[0]


async def test_a_garbled_answer_times_out_saying_what_the_server_sent(servers: Servers) -> None:
    target = servers.target("stdio")
    async with MCPClient() as client:
        client.add_server(target.config(timeout=1.0, max_retries=1))
        # Connected first (within connect_timeout, not the call's 1 s): on a loaded machine the server's start-up
        # alone can take the whole second, and the call then timed out connecting, before asking for anything.
        await client.connect(target.config().name)
        with pytest.raises(MCPTimeoutError) as caught:
            await client.execute_tool(target.config().name, "garbled", {"seconds": 30}, idempotent=False)
        after = await client.execute_tool(target.config().name, "echo", {"text": "still fine"})

    message = str(caught.value)
    assert "got no answer within 1 s" in message
    assert "1 message(s) that are not MCP's" in message
    assert '"jsonrpc": "2.0", "id": 7, "resu' in message  # what came instead, cut short
    assert "write only MCP messages to its stdout" in message
    assert after["text"] == "still fine"
