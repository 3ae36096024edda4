"""The server's floor for extracting a text (lharries-format) demo account: the fastest any client could be.

Usage: ``python bench/extract_floor.py ACCOUNT.db {per-chat,walk} [demo-server arguments …]``

A client that does nothing but send the calls: raw JSON-RPC lines over the demo server's stdio, 16 calls in flight,
answers read and dropped unparsed (only checked for being results). It knows the account (it reads the generated
database directly), so it never needs to parse an answer to decide its next call. Whatever time it takes is the
server's: no client making the same calls can finish sooner on the same machine.

Plans (both list every chat first, in pages growing from 100 to 10,000 as ``wamcp extract`` asks for them):

``per-chat``  one ``list_messages`` per chat (limit 500), the calls ``wamcp extract`` makes on these accounts.
``walk``      the fewest calls that still tell every chat apart with lharries' tools: one keyset walk across all
              chats (limit 2,000, ``before`` bounds taken from the database), plus one call per chat for the chats
              that share a name with another, except one chat of each name (its messages are what the walk printed
              under that name minus the others': attribution by elimination, which ``wamcp`` does not do).

Prints one JSON line: the plan, calls made, seconds to the server's ``initialize`` answer, the listing's end and the
end, and CPU seconds of this process and of the server.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sqlite3
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

IN_FLIGHT = 16
CHAT_PAGE = 10_000
WALK_PAGE = 2_000


def _listing_pages(chats: int) -> list[tuple[int, int]]:
    """(limit, page) of each ``list_chats`` call: limits double from 100 while the offset is a multiple of them."""
    calls = []
    offset, limit = 0, 100
    while True:
        calls.append((limit, offset // limit))
        offset += limit
        if offset > chats:
            return calls
        bigger = min(limit * 2, CHAT_PAGE)
        limit = bigger if offset % bigger == 0 else limit


def _plan(account: Path, plan: str) -> tuple[int, list[dict[str, Any]]]:
    """The account's number of chats, and the ``list_messages`` arguments of every call after the listing."""
    with sqlite3.connect(account) as conn:
        chats = conn.execute("SELECT jid, COALESCE(name, '') FROM chats ORDER BY last_message_time DESC").fetchall()
        base = {"limit": 500, "page": 0, "include_context": False}
        if plan == "per-chat":
            return len(chats), [{**base, "chat_jid": jid} for jid, _ in chats]
        by_name: defaultdict[str, list[str]] = defaultdict(list)
        for jid, name in chats:
            by_name[name].append(jid)
        # every chat of a shared name but the first (any one will do: its messages are the walk's lines of that
        # name that the others' calls did not return)
        calls = [{**base, "chat_jid": jid} for jids in by_name.values() if len(jids) > 1 for jid in jids[1:]]
        stamps = [row[0] for row in conn.execute("SELECT timestamp FROM messages ORDER BY timestamp DESC")]
    walk: list[dict[str, Any]] = [{"limit": WALK_PAGE, "page": 0, "include_context": False}]
    for start in range(WALK_PAGE, len(stamps), WALK_PAGE):
        # ``before`` is exclusive: one second past this page's newest message, so no message falls between pages
        before = (datetime.fromisoformat(stamps[start]) + timedelta(seconds=1)).isoformat(" ")
        walk.append({"limit": WALK_PAGE, "page": 0, "include_context": False, "before": before})
    return len(chats), walk + calls


async def _run(account: Path, plan: str, server_args: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    chat_count, calls = _plan(account, plan)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "wamcp.demo", "demo-server", "--transport", "stdio", "--db", str(account), "--output", "text"),
        *server_args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**28,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    stdin, stdout = server.stdin, server.stdout
    ids = iter(range(1, 10**9))

    def send(method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if method != "notifications/initialized":
            message["id"] = next(ids)
        stdin.write(json.dumps(message).encode() + b"\n")

    async def answer() -> None:
        line = await stdout.readline()
        if not line.startswith(b'{"jsonrpc":"2.0","id":') or b'"isError":true' in line or b'"error":' in line[:40]:
            raise SystemExit(f"not a result: {line[:300]!r}")

    send(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "floor", "version": "0"}},
    )
    await answer()
    send("notifications/initialized")
    initialized = time.perf_counter() - started
    listing = _listing_pages(chat_count)
    for limit, page in listing:
        send(
            "tools/call",
            {
                "name": "list_chats",
                "arguments": {"limit": limit, "page": page, "include_last_message": True, "sort_by": "name"},
            },
        )
        await answer()
    listed = time.perf_counter() - started
    pending = iter(calls)
    in_flight = 0
    for arguments in pending:
        send("tools/call", {"name": "list_messages", "arguments": arguments})
        in_flight += 1
        if in_flight == IN_FLIGHT:
            break
    while in_flight:
        await answer()
        in_flight -= 1
        arguments = next(pending, None)
        if arguments is not None:
            send("tools/call", {"name": "list_messages", "arguments": arguments})
            in_flight += 1
    stdin.close()
    await server.wait()
    own = resource.getrusage(resource.RUSAGE_SELF)
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "plan": plan,
        "calls": len(listing) + len(calls),
        "initialized": initialized,
        "listed": listed,
        "wall": time.perf_counter() - started,
        "client_cpu": own.ru_utime + own.ru_stime,
        "server_cpu": child.ru_utime + child.ru_stime,
    }


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[2] not in ("per-chat", "walk"):
        raise SystemExit(__doc__.split("\n\n")[1])
    print(json.dumps(asyncio.run(_run(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))))


if __name__ == "__main__":
    main()
