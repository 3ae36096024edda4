"""The fast read of a plain successful JSON-RPC answer, shared by the client transports that parse answers themselves.

The SDK's transports validate every incoming message against the union of all JSON-RPC message shapes: ~2.2 ms for an
answer holding a 500-message page, most of what a client reads. A plain answer, ``{"jsonrpc": "2.0", "id": <int|str>,
"result": {...}}``, needs no coercion, so :func:`plain_response` builds it without that validation once its envelope is
checked here (exactly three keys, the right types): ~0.6 ms for the same page. The session still validates each
``result`` against the request's result type, so only the envelope check is ours. No library offers this: it is the
SDK's own validation that it saves.
"""

from __future__ import annotations

import mcp_types as types
from pydantic_core import from_json

__all__ = ["plain_response"]


def plain_response(data: bytes | str, *, request_id: types.RequestId | None = None) -> types.JSONRPCResponse | None:
    """``data`` as a :class:`~mcp_types.JSONRPCResponse` when it is a plain successful answer, else None (the caller
    then takes the SDK's path, which decides what anything else is).

    Read by ``pydantic_core.from_json``, the JSON reader the SDK's validation itself uses, so big integers, NaN and
    duplicate keys come out alike; any text that reader refuses (invalid UTF-8, lone surrogates) returns None.
    ``request_id`` replaces the answer's id (as the SDK's SSE reader does for a request's own stream).
    """
    try:
        message = from_json(data)
    except ValueError:
        return None
    if type(message) is not dict or len(message) != 3 or message.get("jsonrpc") != "2.0":
        return None
    result, ident = message.get("result"), message.get("id")
    if type(result) is not dict or not (type(ident) is int or type(ident) is str):
        return None
    return types.JSONRPCResponse.model_construct(
        jsonrpc="2.0", id=ident if request_id is None else request_id, result=result
    )
