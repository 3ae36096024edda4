"""``demo.stdio.InlineCalls``: which requests the demo answers on the spot and which go on to the SDK."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp.shared.message import SessionMessage

from wamcp.demo.stdio import InlineCalls

pytestmark = pytest.mark.anyio


def _request(ident: int, params: dict[str, Any] | None, method: str = "tools/call") -> SessionMessage:
    return SessionMessage(types.JSONRPCRequest(jsonrpc="2.0", id=ident, method=method, params=params))


INITIALIZED = SessionMessage(types.JSONRPCNotification(jsonrpc="2.0", method="notifications/initialized"))


async def _route(items: list[SessionMessage | Exception]) -> tuple[list[Any], list[Any], list[str]]:
    """Feed ``items`` through InlineCalls: (what reached the SDK, what was answered on the spot, calls answered)."""
    into, inner = anyio.create_memory_object_stream[SessionMessage | Exception](len(items))
    out, written = anyio.create_memory_object_stream[SessionMessage](len(items))
    answered: list[str] = []

    def answer(name: str, arguments: dict[str, Any] | None) -> Awaitable[dict[str, Any]] | None:
        if name == "slow_tool":
            return None

        async def result() -> dict[str, Any]:
            if name == "broken_tool":
                raise OSError("disk I/O error")
            answered.append(name)
            return {"content": [{"text": f"{name} {arguments}", "type": "text"}], "isError": False}

        return result()

    with into, inner, out, written:
        for item in items:
            into.send_nowait(item)
        into.close()
        stream = InlineCalls(inner, out, answer)
        passed = [item async for item in stream]
        out.close()
        answers = [item.message async for item in written]
    return [p.message if isinstance(p, SessionMessage) else p for p in passed], answers, answered


async def test_tool_calls_after_the_handshake_are_answered_on_the_spot() -> None:
    passed, answers, answered = await _route([INITIALIZED, _request(7, {"name": "get_chat", "arguments": {"a": 1}})])

    assert [type(p) for p in passed] == [types.JSONRPCNotification]
    assert answered == ["get_chat"]
    assert answers[0].id == 7
    assert answers[0].result["content"][0]["text"] == "get_chat {'a': 1}"


async def test_the_sdk_gets_what_it_must_decide() -> None:
    junk = ValueError("not JSON-RPC")
    items: list[SessionMessage | Exception] = [
        _request(1, {"name": "get_chat"}),  # before the handshake: the SDK refuses it
        INITIALIZED,
        _request(2, {"name": "slow_tool", "arguments": {}}),  # the server leaves it to the SDK
        _request(3, {"name": "get_chat", "arguments": {}, "_meta": {"progressToken": 1}}),
        _request(4, {"name": "get_chat", "arguments": ["a", "list"]}),
        _request(5, {"arguments": {}}),
        _request(6, None),
        _request(7, {"name": "x"}, method="tools/list"),
        junk,
        _request(8, {"name": "broken_tool", "arguments": {}}),  # failed here: the SDK answers its error
    ]

    passed, answers, answered = await _route(items)

    assert [getattr(p, "id", "note") for p in passed] == [1, "note", 2, 3, 4, 5, 6, 7, "note", 8]
    assert passed[-2] is junk
    assert answers == []
    assert answered == []
