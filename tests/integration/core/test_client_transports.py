"""MCPClient against real server subprocesses, the same behaviour checked on every transport.

Each test states what a user would check: results, errors and their messages, status() and timings (bounded, never
relying on speed beyond generous deadlines).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import anyio
import psutil
import pytest

from wamcp.core import (
    MCPAuthenticationError,
    MCPClient,
    MCPClientError,
    MCPConnectionError,
    MCPRateLimitError,
    MCPTimeoutError,
    MCPToolError,
)

from .conftest import NETWORK_TRANSPORTS, TOKEN, TRANSPORTS, Servers, Target, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_call_round_trip(target: Target) -> None:
    async with MCPClient() as client:
        client.add_server(target.config())
        result = await client.execute_tool(target.config().name, "echo", {"text": "héllo"})
        status = client.status(target.config().name)

    assert result["text"] == "héllo"
    assert result["content"] == [{"type": "text", "text": "héllo"}]
    assert result["structured_content"] == {"result": "héllo"}
    assert result["is_error"] is False
    assert result["server"] == f"test-{target.transport}"
    assert result["duration"] > 0
    assert status["state"] == "connected"
    assert status["generation"] == 1
    assert status["protocol_version"] == "2025-11-25"
    assert status["server_info"]["name"] == "wamcp-test-server"


async def test_fifty_concurrent_calls_share_one_session(target: Target) -> None:
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        results: dict[int, str] = {}

        async def call(i: int) -> None:
            results[i] = (await client.execute_tool(name, "echo", {"text": f"message {i}"}))["text"]

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(call, i)
        status = client.status(name)

    assert results == {i: f"message {i}" for i in range(50)}
    assert status["generation"] == 1
    assert status["in_flight"] == 0


@pytest.mark.parametrize("transport", ["sse", "streamable_http"])
async def test_concurrent_calls_do_not_wait_for_each_others_post(transport: str, servers: Servers) -> None:
    """Over a distant link each POST takes a round trip. The SDK's legacy SSE client posted every message one at a
    time, so 20 calls in flight took 20 round trips; they now overlap, as over streamable HTTP."""
    target = servers.target(transport, "--post-latency-ms", "150")
    async with MCPClient() as client:
        client.add_server(target.config(timeout=20.0))
        name = target.config().name
        await client.execute_tool(name, "echo", {"text": "warm"})  # connected, initialized
        results: dict[int, str] = {}

        async def call(i: int) -> None:
            results[i] = (await client.execute_tool(name, "echo", {"text": f"call {i}"}))["text"]

        started = time.monotonic()
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(call, i)
        elapsed = time.monotonic() - started

    assert results == {i: f"call {i}" for i in range(20)}
    assert elapsed < 20 * 0.150 / 2  # one after another: at least 3 s


@pytest.mark.parametrize("transport", NETWORK_TRANSPORTS)
async def test_sequential_calls_reuse_their_connections(transport: str, servers: Servers) -> None:
    """A long extraction makes ~100k calls: each must not leave a closed TCP connection behind (the SDK closes a
    streamable HTTP answer before its end, which made every call open a new connection and park a socket in
    TIME_WAIT for a minute, enough to run out of local ports at 1M messages)."""
    target = servers.target(transport)
    port = urlsplit(target.endpoint).port

    def closed_connections() -> int:
        return sum(
            1
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_TIME_WAIT and port in (c.laddr.port, c.raddr.port if c.raddr else None)
        )  # on either side: whichever closes first keeps the socket

    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        with anyio.fail_after(30):
            for i in range(200):
                assert (await client.execute_tool(name, "echo", {"text": f"call {i}"}))["text"] == f"call {i}"
        assert closed_connections() <= 5


@pytest.mark.parametrize(
    ("transport", "args"),
    [("stdio", ()), ("sse", ()), ("streamable_http", ()), ("streamable_http", ("--json-response",)), ("websocket", ())],
    ids=["stdio", "sse", "streamable_http-sse", "streamable_http-json", "websocket"],
)
async def test_plain_answers_skip_the_sdks_validation_of_every_message_shape(
    transport: str, args: tuple[str, ...], servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's transports validate every answer against all JSON-RPC message shapes (the streamable HTTP one also
    formats an SSE answer whole for a debug line) before the session validates its result again: for a 1M-message
    extraction over streamable HTTP ~9 s of ~53 s of client CPU. Plain answers skip that first pass on every
    transport; other messages still take it."""
    import mcp.client.streamable_http as sdk_http
    import mcp_types

    real = mcp_types.jsonrpc_message_adapter
    validated: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def validate_json(self, data: str | bytes, **options: Any) -> Any:
            validated.append(data if isinstance(data, str) else data.decode(errors="replace"))
            return real.validate_json(data, **options)

    monkeypatch.setattr(mcp_types, "jsonrpc_message_adapter", Recording())
    monkeypatch.setattr(sdk_http, "jsonrpc_message_adapter", Recording())
    target = servers.target(transport, *args)
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        with anyio.fail_after(30):
            for i in range(20):
                assert (await client.execute_tool(name, "echo", {"text": f"call {i}"}))["text"] == f"call {i}"
            with pytest.raises(MCPToolError):
                await client.execute_tool(name, "fail", {})

    assert not [answer for answer in validated if "call " in answer]


async def test_an_answer_of_several_megabytes_arrives_whole(target: Target) -> None:
    """A page of 500 long messages, sent as text and again as structured content, is a few MB. The SDK caps an SSE
    event at 1 MB, so over streamable HTTP and legacy SSE such an answer failed as a lost connection (and again on
    every retry)."""
    size = 3 * 1024 * 1024
    async with MCPClient() as client:
        client.add_server(target.config(timeout=30.0))
        with anyio.fail_after(60):
            result = await client.execute_tool(target.config().name, "big", {"size": size})

    assert len(result["text"]) == size
    assert result["text"][:28] == "abcdefghijklmnopqrstuvwxyzab"


async def test_tool_error_carries_server_text_and_is_not_retried(target: Target) -> None:
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        with pytest.raises(MCPToolError) as caught:
            await client.execute_tool(name, "fail", idempotent=True)
        metrics = client.metrics()

    assert "boom: this tool always fails" in caught.value.text
    assert caught.value.tool == "fail"
    assert metrics[name]["tools"]["fail"]["retries"] == 0
    assert metrics[name]["tools"]["fail"]["calls"] == 1


async def test_rate_limit_tool_error_starts_cooldown_visible_in_status(target: Target) -> None:
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        with pytest.raises(MCPRateLimitError, match="rate limit exceeded"):
            await client.execute_tool(name, "rate_limited")
        status = client.status(name)
        # The default cooldown_period (300 s) is longer than any call's timeout: the next call fails at once.
        started = time.monotonic()
        with pytest.raises(MCPRateLimitError, match="cooling down"):
            await client.execute_tool(name, "echo", {"text": "x"}, timeout=2)
        refused_after = time.monotonic() - started

    assert status["cooldown_until"] is not None
    assert status["cooldown_until"] > time.time() + 200
    assert status["rate_limit"]["cooldowns"] == 1
    assert refused_after < 0.5


async def test_call_timeout_raises_in_time_and_session_stays_usable(target: Target) -> None:
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        await client.connect(name)
        started = time.monotonic()
        with pytest.raises(MCPTimeoutError, match=r"within 0\.5 s"):
            await client.execute_tool(name, "slow", {"seconds": 5}, timeout=0.5)
        elapsed = time.monotonic() - started
        after = await client.execute_tool(name, "echo", {"text": "still here"})
        status = client.status(name)

    assert 0.4 < elapsed < 1.5
    assert after["text"] == "still here"
    assert status["generation"] == 1


async def test_a_timed_out_call_is_cancelled_on_the_server(target: Target) -> None:
    # A user's check: the server stops the work nobody waits for any more (the client sends
    # notifications/cancelled), instead of running every abandoned call to its end.
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        # The network servers serve the whole module: count from what earlier tests left.
        before = (await client.execute_tool(name, "stopped", {}))["structured_content"]["result"]
        with pytest.raises(MCPTimeoutError):
            await client.execute_tool(name, "slow", {"seconds": 30}, timeout=0.3)
        stopped = before
        deadline = time.monotonic() + 5
        while stopped == before and time.monotonic() < deadline:
            stopped = (await client.execute_tool(name, "stopped", {}))["structured_content"]["result"]
            await anyio.sleep(0.05)

    assert stopped == before + 1


async def test_request_ids_on_the_wire(target: Target) -> None:
    # Over stdio tool calls skip the SDK's per-request machinery (wamcp.core.session._LeanCalls) and carry
    # string ids of their own, which never collide with the SDK's integer ids; the others keep the SDK's path.
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        first = (await client.execute_tool(name, "request_id", {}))["text"]
        await client.list_tools(name)  # a request of the SDK's in between
        second = (await client.execute_tool(name, "request_id", {}))["text"]

    if target.transport == "stdio":
        assert first.startswith("wamcp-")
        assert second.startswith("wamcp-")
        assert int(second.removeprefix("wamcp-")) == int(first.removeprefix("wamcp-")) + 1
    else:
        assert first.isdigit()
        assert int(second) > int(first)


async def test_a_call_cut_short_by_closing_the_client_names_the_client_as_the_cause(target: Target) -> None:
    errors: list[BaseException] = []
    client = MCPClient()
    client.add_server(target.config())
    name = target.config().name
    await client.connect(name)

    async def call() -> None:
        try:
            await client.execute_tool(name, "slow", {"seconds": 5}, idempotent=False)
        except MCPClientError as err:
            errors.append(err)

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await anyio.sleep(0.3)
        await client.close()
    elapsed = time.monotonic() - started

    assert len(errors) == 1
    assert isinstance(errors[0], MCPConnectionError)
    assert "this client closed the connection" in str(errors[0])
    assert "server stopped" not in str(errors[0])
    assert elapsed < 4.5


async def test_session_renewal_lets_a_call_in_flight_finish(target: Target) -> None:
    async with MCPClient() as client:
        client.add_server(target.config(session_timeout=0.5))
        name = target.config().name
        await client.connect(name)
        # Not safe to repeat, so not retried: the call must finish on the session it started on.
        slow = await client.execute_tool(name, "slow", {"seconds": 1.0}, idempotent=False)
        # The expired session takes no new call: this one waits for the renewed session.
        # (A longer timeout: it covers a new stdio server process starting on a loaded machine.)
        after = await client.execute_tool(name, "echo", {"text": "renewed"}, timeout=15)
        status = client.status(name)

    assert slow["text"] == "slept 1.0"
    assert after["text"] == "renewed"
    assert status["generation"] >= 2


async def test_list_tools_and_health_check(target: Target) -> None:
    async with MCPClient() as client:
        client.add_server(target.config())
        name = target.config().name
        assert await client.health_check(name) is False  # not connected yet: no implicit connect
        tools = {tool["name"]: tool for tool in await client.list_tools(name)}
        healthy = await client.health_check(name)
        latency = client.status(name)["latency"]

    assert {"echo", "slow", "fail", "rate_limited", "counter", "pid"} <= set(tools)
    assert tools["echo"]["inputSchema"]["required"] == ["text"]
    assert tools["echo"]["description"] == "Return the text unchanged."
    assert healthy is True
    assert latency is not None
    assert latency < 1.0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reconnects_after_server_killed_mid_call(transport: str, servers: Servers) -> None:
    target = servers.target(transport)
    async with MCPClient() as client:
        client.add_server(target.config(timeout=8.0))
        name = target.config().name
        server_pid = (await client.execute_tool(name, "pid"))["structured_content"]["result"]
        outcome: list[BaseException] = []

        async def long_call() -> None:
            try:
                await client.execute_tool(name, "slow", {"seconds": 30})
            except MCPClientError as err:
                outcome.append(err)

        started = time.monotonic()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(long_call)
                while client.status(name)["in_flight"] == 0:  # noqa: ASYNC110 - polling a status dict, with a deadline
                    await anyio.sleep(0.01)
                await anyio.sleep(0.2)  # let the request reach the server
                if target.process is not None:
                    target.process.kill()
                else:
                    os.kill(server_pid, signal.SIGKILL)
        failed_after = time.monotonic() - started
        if target.process is not None:
            target.process.start()  # same port

        with anyio.fail_after(15):
            result = await client.execute_tool(name, "echo", {"text": "back"}, timeout=10)
        status = client.status(name)

    assert isinstance(outcome[0], MCPConnectionError)
    if transport == "stdio":  # the server is our child: its end is known, and said
        assert "the server process was killed by SIGKILL while calling tool 'slow'" in str(outcome[0])
    assert failed_after < 8.0
    assert result["text"] == "back"
    assert status["state"] == "connected"
    assert status["generation"] >= 2


@pytest.mark.parametrize(
    ("transport", "args"),
    [("sse", ()), ("streamable_http", ()), ("streamable_http", ("--json-response",)), ("websocket", ())],
    ids=["sse", "streamable_http-sse", "streamable_http-json", "websocket"],
)
async def test_a_server_restarted_between_calls_is_reconnected_by_the_next_call(
    transport: str, args: tuple[str, ...], servers: Servers
) -> None:
    """Over streamable HTTP nothing is open between calls, so a restart goes unseen until a call names the old
    session: the server answers 404 ("Session not found"), which came back as a tool error on every call until the
    next health check (30 s by default; off here). It is a lost connection: the client reconnects and retries."""
    target = servers.target(transport, *args)
    assert target.process is not None
    async with MCPClient() as client:
        client.add_server(target.config(timeout=5.0))
        name = target.config().name
        before = (await client.execute_tool(name, "pid"))["structured_content"]["result"]
        target.process.restart()  # same port, a new process that knows no session
        with anyio.fail_after(20):
            after = (await client.execute_tool(name, "pid", idempotent=True))["structured_content"]["result"]
        status = client.status(name)

    assert after != before
    assert status["state"] == "connected"
    assert status["generation"] == 2


async def test_silent_server_times_out_within_connect_timeout(silent_target: Target) -> None:
    target = silent_target
    async with MCPClient() as client:
        client.add_server(target.config(connect_timeout=1.0))
        started = time.monotonic()
        with pytest.raises(MCPTimeoutError) as caught:
            await client.connect(target.config().name)
        elapsed = time.monotonic() - started
        status = client.status(target.config().name)

    assert elapsed < 2.0
    assert target.config().name in str(caught.value)
    assert status["state"] == "failed"
    assert status["last_error"] is not None


async def test_first_call_to_a_silent_server_times_out_within_its_timeout(silent_target: Target) -> None:
    target = silent_target
    async with MCPClient() as client:
        client.add_server(target.config(connect_timeout=10.0))
        started = time.monotonic()
        with pytest.raises(MCPTimeoutError):
            await client.execute_tool(target.config().name, "echo", {"text": "x"}, timeout=1.0)
        elapsed = time.monotonic() - started
        closing = time.monotonic()
    closed_after = time.monotonic() - closing

    assert elapsed < 2.0
    assert closed_after < 3.0  # closing abandons the handshake still in progress instead of waiting it out


@pytest.mark.parametrize("transport", NETWORK_TRANSPORTS)
async def test_closed_port_fails_fast_naming_endpoint(transport: str, servers: Servers) -> None:
    scheme = "ws" if transport == "websocket" else "http"
    endpoint = f"{scheme}://127.0.0.1:{free_port()}"
    target = Target(transport, endpoint=endpoint)
    async with MCPClient() as client:
        client.add_server(target.config())
        started = time.monotonic()
        with pytest.raises(MCPConnectionError) as caught:
            await client.execute_tool(target.config().name, "echo", {"text": "x"})
        elapsed = time.monotonic() - started

    message = str(caught.value)
    assert endpoint in message
    assert transport in message
    assert "connection refused" in message
    assert "is the server running?" in message
    assert elapsed < 1.5


@pytest.mark.parametrize("transport", NETWORK_TRANSPORTS)
async def test_unresolvable_host_fails_fast_naming_endpoint(transport: str) -> None:
    scheme = "ws" if transport == "websocket" else "http"
    target = Target(transport, endpoint=f"{scheme}://no-such-host.invalid:3000")
    async with MCPClient() as client:
        client.add_server(target.config())
        started = time.monotonic()
        with pytest.raises(MCPConnectionError) as caught:
            await client.connect(target.config().name)
        elapsed = time.monotonic() - started

    assert "no-such-host.invalid:3000" in str(caught.value)
    assert "does not resolve" in str(caught.value)
    assert elapsed < 3.0


async def test_missing_stdio_command_names_it() -> None:
    target = Target("stdio", endpoint="wamcp-no-such-command --flag")
    async with MCPClient() as client:
        client.add_server(target.config())
        with pytest.raises(MCPConnectionError, match="wamcp-no-such-command") as caught:
            await client.connect(target.config().name)

    assert "not found" in str(caught.value)
    assert isinstance(caught.value.__cause__, BaseException)


async def test_bearer_token_is_required_and_accepted(token_target: Target) -> None:
    target = token_target
    async with MCPClient() as client:
        client.add_server(target.config(name="without"))
        client.add_server(target.config(name="with", auth_token=TOKEN))
        with pytest.raises(MCPAuthenticationError, match="401"):
            await client.connect("without")
        result = await client.execute_tool("with", "echo", {"text": "authorized"})

    assert result["text"] == "authorized"


@pytest.mark.parametrize("transport", NETWORK_TRANSPORTS)
async def test_forbidden_is_an_authentication_error(transport: str, servers: Servers) -> None:
    target = servers.target(transport, "--status-code", "403")
    async with MCPClient() as client:
        client.add_server(target.config())
        with pytest.raises(MCPAuthenticationError, match="403") as caught:
            await client.execute_tool(target.config().name, "echo", {"text": "x"})

    assert "auth_token" in str(caught.value)


@pytest.mark.parametrize("transport", NETWORK_TRANSPORTS)
async def test_http_429_starts_cooldown_with_retry_after(transport: str, servers: Servers) -> None:
    target = servers.target(transport, "--status-code", "429")
    async with MCPClient() as client:
        client.add_server(target.config())
        with pytest.raises(MCPRateLimitError) as caught:
            await client.connect(target.config().name)
        status = client.status(target.config().name)

    assert caught.value.retry_after == pytest.approx(7, abs=1)
    assert status["cooldown_until"] is not None
    assert 4 < status["rate_limit"]["cooldown_remaining"] <= 7


async def test_token_never_appears_in_logs_errors_or_reprs(
    token_target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    token = TOKEN
    target = token_target
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with MCPClient() as client:
        client.add_server(target.config(name="good", auth_token=token))
        client.add_server(target.config(name="bad", auth_token=token + "-wrong"))
        await client.execute_tool("good", "echo", {"text": "x"})
        with pytest.raises(MCPAuthenticationError) as caught:
            await client.connect("bad")
        texts += [str(caught.value), repr(caught.value), repr(client), str(client.status("good"))]
        texts += [str(client.status("bad")), repr(target.config(auth_token=token))]

    assert caplog.records, "expected DEBUG records from the client"
    for text in [caplog.text, *texts]:
        assert token not in text


@pytest.mark.parametrize("transport", ["sse", "streamable_http"])
async def test_http_429_during_a_session_starts_cooldown(transport: str, servers: Servers) -> None:
    target = servers.target(transport, "--status-code", "429", "--refuse-calls-after", "1")
    async with MCPClient() as client:
        client.add_server(target.config(timeout=1.5))
        name = target.config().name
        first = await client.execute_tool(name, "echo", {"text": "allowed"})
        started = time.monotonic()
        with pytest.raises(MCPRateLimitError, match="429"):
            await client.execute_tool(name, "echo", {"text": "refused"})
        elapsed = time.monotonic() - started
        status = client.status(name)

    assert first["text"] == "allowed"
    assert elapsed < 1.0  # at once, not by the call's 1.5 s timeout (the SDK's SSE client only logged it)
    assert status["cooldown_until"] is not None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("import sys; sys.stderr.write('boom: no module named whatsapp\\n'); sys.exit(3)", "exited with code 3"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "was killed by SIGKILL"),
    ],
    ids=["exit-3", "sigkill"],
)
async def test_a_stdio_server_that_stops_before_answering_is_named_with_its_exit_status(code: str, words: str) -> None:
    """The usual way a stdio server fails (a missing dependency, a wrong path): it writes its reason to stderr and
    exits. The error says that it exited and how, not only that "the connection closed"."""
    target = Target("stdio", endpoint="stops", command=sys.executable, args=["-c", code])
    async with MCPClient() as client:
        client.add_server(target.config())
        with anyio.fail_after(15), pytest.raises(MCPConnectionError) as caught:
            await client.connect(target.config().name)

    message = str(caught.value)
    assert f"the server process {words} while connecting" in message
    assert "run the command by hand" in message


async def test_a_stdio_program_that_prints_instead_of_answering_is_named_with_what_it_printed() -> None:
    """A program that is no MCP server (or a server that logs to its stdout) and never answers: the timeout says
    what it printed, so the user need not guess between "slow" and "not MCP"."""
    code = "import time; print('Listening on port 8080', flush=True); time.sleep(30)"
    target = Target("stdio", endpoint="prints", command=sys.executable, args=["-c", code])
    async with MCPClient() as client:
        client.add_server(target.config(connect_timeout=1.5))
        with anyio.fail_after(15), pytest.raises(MCPTimeoutError) as caught:
            await client.connect(target.config().name)

    message = str(caught.value)
    assert "connecting got no answer within 1.5 s" in message
    assert "it sent 1 message(s) that are not MCP's (the latest: 'Listening on port 8080')" in message
    assert "is this an MCP server?" in message
