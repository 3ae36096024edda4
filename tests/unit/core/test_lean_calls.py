"""The lean tool-call path (``wamcp.core.session._LeanCalls``) against a scripted peer on memory streams.

The integration suite runs it against real servers over stdio; these tests pin the parts a real server rarely
shows: answers out of order, late answers, error answers, a connection lost with calls waiting, a cancelled caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import mcp_types as types
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp import MCPError
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from wamcp.core.session import _LeanCalls

pytestmark = pytest.mark.anyio


class _Tools:
    """Stands in for the SDK session's output-schema check (the one thing the lean path asks it for)."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def validate_tool_result(self, name: str, result: types.CallToolResult) -> None:
        self.checked.append(name)


def _answer(ident: str, text: str) -> SessionMessage:
    result = {"content": [{"type": "text", "text": text}], "isError": False}
    return SessionMessage(types.JSONRPCResponse(jsonrpc="2.0", id=ident, result=result))


async def _next(wire: MemoryObjectReceiveStream[SessionMessage]) -> Any:
    with anyio.fail_after(2):
        return (await wire.receive()).message


Parts = tuple[_LeanCalls, _Tools, MemoryObjectReceiveStream[SessionMessage]]


@pytest.fixture
def parts() -> Iterator[Parts]:
    send, wire = anyio.create_memory_object_stream[SessionMessage](10)
    tools = _Tools()
    with send, wire:
        yield _LeanCalls(tools, send), tools, wire  # type: ignore[arg-type]


async def test_answers_out_of_order_reach_their_own_callers(parts: Parts) -> None:
    lean, tools, wire = parts
    results: dict[str, str] = {}

    async def call(text: str) -> None:
        result = await lean.call_tool("echo", {"text": text}, 2.0)
        results[text] = result.content[0].text  # type: ignore[union-attr]

    async with anyio.create_task_group() as group:
        group.start_soon(call, "a")
        first = await _next(wire)
        group.start_soon(call, "b")
        second = await _next(wire)
        assert lean.take(_answer(second.id, "answer to b"))
        assert lean.take(_answer(first.id, "answer to a"))

    assert results == {"a": "answer to a", "b": "answer to b"}
    assert (first.method, first.params) == ("tools/call", {"name": "echo", "arguments": {"text": "a"}})
    assert first.id.startswith("wamcp-")
    assert first.id != second.id
    assert tools.checked == ["echo", "echo"]


async def test_no_arguments_are_left_out_of_the_request(parts: Parts) -> None:
    lean, _, wire = parts
    async with anyio.create_task_group() as group:
        group.start_soon(lean.call_tool, "ping_tool", None, 2.0)
        request = await _next(wire)
        lean.take(_answer(request.id, "ok"))

    assert request.params == {"name": "ping_tool"}


async def test_an_error_answer_raises_the_sdks_error_with_its_code_and_data(parts: Parts) -> None:
    lean, _, wire = parts
    errors: list[MCPError] = []

    async def call() -> None:
        with pytest.raises(MCPError) as caught:
            await lean.call_tool("echo", {}, 2.0)
        errors.append(caught.value)

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        request = await _next(wire)
        error = types.ErrorData(code=types.INVALID_PARAMS, message="text is required", data={"field": "text"})
        assert lean.take(SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=request.id, error=error)))

    assert (errors[0].error.code, errors[0].error.message) == (types.INVALID_PARAMS, "text is required")
    assert errors[0].error.data == {"field": "text"}


async def test_a_tool_error_result_is_returned_without_the_output_schema_check(parts: Parts) -> None:
    lean, tools, wire = parts
    results: list[types.CallToolResult] = []

    async def call() -> None:
        results.append(await lean.call_tool("fail", {}, 2.0))

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        request = await _next(wire)
        result = {"content": [{"type": "text", "text": "boom"}], "isError": True}
        lean.take(SessionMessage(types.JSONRPCResponse(jsonrpc="2.0", id=request.id, result=result)))

    assert results[0].is_error is True
    assert tools.checked == []


async def test_a_result_that_is_not_a_tool_result_is_refused(parts: Parts) -> None:
    lean, _, wire = parts
    async with anyio.create_task_group() as group:

        async def call() -> None:
            with pytest.raises(ValidationError):
                await lean.call_tool("echo", {}, 2.0)

        group.start_soon(call)
        request = await _next(wire)
        lean.take(SessionMessage(types.JSONRPCResponse(jsonrpc="2.0", id=request.id, result={"content": "nope"})))


async def test_a_timeout_cancels_the_call_on_the_server_and_drops_its_late_answer(parts: Parts) -> None:
    lean, _, wire = parts
    with pytest.raises(MCPError) as caught:
        await lean.call_tool("slow", {}, 0.05)
    request, cancel = await _next(wire), await _next(wire)

    assert caught.value.error.code == types.REQUEST_TIMEOUT
    assert cancel.method == "notifications/cancelled"
    assert cancel.params["requestId"] == request.id
    # The late answer is ours (the SDK must not see an answer it never asked for), and goes nowhere.
    assert lean.take(_answer(request.id, "too late")) is True
    async with anyio.create_task_group() as group:
        group.start_soon(lean.call_tool, "echo", {}, 2.0)
        later = await _next(wire)
        lean.take(_answer(later.id, "fine"))


async def test_a_cancelled_caller_cancels_its_call_on_the_server(parts: Parts) -> None:
    lean, _, wire = parts
    async with anyio.create_task_group() as group:
        group.start_soon(lean.call_tool, "slow", {}, 30.0)
        request = await _next(wire)
        group.cancel_scope.cancel()
    cancel = await _next(wire)

    assert cancel.method == "notifications/cancelled"
    assert cancel.params == {"requestId": request.id, "reason": "caller cancelled"}


async def test_a_lost_connection_fails_waiting_calls_and_later_ones(parts: Parts) -> None:
    lean, _, wire = parts
    codes: list[int] = []

    async def call() -> None:
        try:
            await lean.call_tool("slow", {}, 30.0)
        except MCPError as err:
            codes.append(err.error.code)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as group:
            group.start_soon(call)
            group.start_soon(call)
            await _next(wire)
            await _next(wire)
            lean.close()
        await call()

    assert codes == [types.CONNECTION_CLOSED] * 3


async def test_only_answers_to_its_own_calls_are_taken(parts: Parts) -> None:
    lean, _, _ = parts
    sdk_answer = types.JSONRPCResponse(jsonrpc="2.0", id=7, result={})
    other_string_id = types.JSONRPCResponse(jsonrpc="2.0", id="abc", result={})
    request = types.JSONRPCRequest(jsonrpc="2.0", id="wamcp-1", method="roots/list")
    notification = types.JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params={})

    assert lean.take(SessionMessage(sdk_answer)) is False
    assert lean.take(SessionMessage(other_string_id)) is False
    assert lean.take(SessionMessage(request)) is False
    assert lean.take(SessionMessage(notification)) is False
    assert lean.take(ValueError("junk line")) is False
