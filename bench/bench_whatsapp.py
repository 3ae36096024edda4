"""Benchmark reading whole WhatsApp histories: ``WhatsAppMCPClient.iter_messages`` next to a plain SDK loop.

Run: ``.venv/bin/python bench/bench_whatsapp.py [--quick] [--out docs/benchmarks/whatsapp.md]``.

For demo accounts of 10k, 100k and 1M messages (``--quick``: 10k and 100k), served by the demo server over stdio, it
reads every message of every chat twice, each in its own fresh process:

- **ours**: ``iter_chats`` then ``iter_messages`` per chat (keyset paging, every line parsed into a ``Message`` with
  its UTC time, derived id and de-duplication);
- **plain**: the official SDK's ``ClientSession`` over ``stdio_client`` (legacy handshake) that lists chats with
  ``page`` offsets and pages each chat with ``list_messages(limit=100, page=k, include_context=false)`` until the
  server says ``No messages to display.``; it parses nothing.

Targets: ours ≥ 3× the plain loop's messages/s at 100k, and our rate at 1M within 20 % of our rate at 10k (linear).
Client CPU per message is ``time.process_time()`` of the client process (the server is a separate process). When a
run would take too long, ``--sample-chats SIZE N`` reads a deterministic sample of N chats (every k-th chat by size
rank, so big and small chats are both in) without listing the account first: lharries' ``list_chats`` pages by
``OFFSET``, so listing 110k chats costs the server 0.3–1 s per deep page (~10 min per client at 1M). The report says so.
Databases are generated once into ``.cache/bench-whatsapp/`` with :func:`wamcp.demo.data.generate_database`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench-whatsapp"
SIZES = [10_000, 100_000, 1_000_000]
QUICK_SIZES = [10_000, 100_000]
SEED = 1
PLAIN_PAGE = 100
# The analysis of the figures (kept next to the code that produces them; update both together).
NOTES: list[str] = []


@dataclass
class Measurement:
    client: str
    size: int
    chats: int
    messages: int
    calls: int
    wall: float
    cpu: float
    list_wall: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.wall

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu / self.messages * 1e6


def database(size: int) -> Path:
    from wamcp.demo.data import generate_database

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"demo-{size}.db"
    if not path.exists():
        started = time.monotonic()
        generate_database(path, messages=size, seed=SEED, timezone="UTC")
        print(f"generated {path.name} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return path


def chat_sizes(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT chat_jid, COUNT(*) FROM messages GROUP BY chat_jid").fetchall())


def account_shape(db: Path) -> tuple[int, int]:
    """(chats, messages in the largest chat)."""
    sizes = chat_sizes(db)
    return len(sizes), max(sizes.values())


def sample(db: Path, count: int | None) -> list[str] | None:
    """Every k-th chat by size rank (largest first), so the sample has the same mix of big and small chats."""
    if count is None:
        return None
    sizes = chat_sizes(db)
    ranked = sorted(sizes, key=lambda jid: (-sizes[jid], jid))
    step = max(1, len(ranked) // count)
    return ranked[::step][:count]


# ---------------------------------------------------------------------------------------------- measured processes


async def measure_ours(db: Path, chats: list[str] | None) -> dict[str, Any]:
    from wamcp.config import WhatsAppConfig
    from wamcp.demo.launch import demo_server_command
    from wamcp.whatsapp import WhatsAppMCPClient

    argv = demo_server_command(transport="stdio", db=db, port=None)
    config = WhatsAppConfig(
        server={
            "name": "bench",
            "connection_type": "stdio",
            "endpoint": "stdio",
            "command": argv[0],
            "args": argv[1:],
            "health_check_interval": 0,
        },
        rate_limits={"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0},
        server_timezone="UTC",
    )
    client = WhatsAppMCPClient(config)
    assert await client.initialize(), client.last_error
    wall0 = time.perf_counter()
    # A sample is read without listing the account first (see the module docstring); each chat then costs one
    # get_chat call to learn its name, which the full listing would have taught.
    jids = chats if chats is not None else [chat.jid async for chat in client.iter_chats()]
    list_wall = time.perf_counter() - wall0
    calls0 = _tool_calls(client)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    messages = 0
    for jid in jids:
        async for _message in client.iter_messages(jid):
            messages += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    calls = _tool_calls(client) - calls0
    await client.disconnect()
    return {"chats": len(jids), "messages": messages, "calls": calls, "wall": wall, "cpu": cpu, "list_wall": list_wall}


def _tool_calls(client: Any) -> int:
    """Every tool call the core client made (list_messages, get_chat, …)."""
    metrics = client._mcp.metrics()  # a benchmark may look inside
    return int(metrics.get("bench", {}).get("calls", 0))


async def measure_plain(db: Path, chats: list[str] | None) -> dict[str, Any]:
    from mcp import ClientSession, stdio_client
    from mcp.types import TextContent

    from wamcp.demo.launch import stdio_parameters

    empty = "No messages to display."
    calls = 0
    async with stdio_client(stdio_parameters(db=db)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        wall0 = time.perf_counter()
        jids = chats if chats is not None else await _plain_chat_list(session)
        list_wall = time.perf_counter() - wall0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for jid in jids:
            page = 0
            while True:
                result = await session.call_tool(
                    "list_messages",
                    {"chat_jid": jid, "limit": PLAIN_PAGE, "page": page, "include_context": False},
                )
                calls += 1
                block = result.content[0] if result.content else None
                if not isinstance(block, TextContent) or block.text == empty:
                    break
                page += 1
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"chats": len(jids), "calls": calls, "wall": wall, "cpu": cpu, "list_wall": list_wall}


async def _plain_chat_list(session: Any) -> list[str]:
    from mcp.types import TextContent

    found: dict[str, None] = {}
    page = 0
    while True:
        listed = await session.call_tool("list_chats", {"limit": PLAIN_PAGE, "page": page})
        if not listed.content:
            return list(found)
        for block in listed.content:  # the chat list is needed to know what to page; nothing else is read
            if isinstance(block, TextContent):
                found[json.loads(block.text)["jid"]] = None
        page += 1


def measure_main(args: argparse.Namespace) -> None:
    chats = json.loads(Path(args.chats).read_text()) if args.chats else None
    run = measure_ours if args.measure == "ours" else measure_plain
    print(json.dumps(asyncio.run(run(Path(args.db), chats))))


# ---------------------------------------------------------------------------------------------- driver


def run_measurement(client: str, size: int, db: Path, chats: list[str] | None, timeout: float) -> Measurement:
    argv = [sys.executable, __file__, "--measure", client, "--db", str(db)]
    if chats is not None:
        chats_file = CACHE / f"sample-{size}.json"
        chats_file.write_text(json.dumps(chats))
        argv += ["--chats", str(chats_file)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    sizes = chat_sizes(db)
    expected = sum(sizes[jid] for jid in chats) if chats is not None else sum(sizes.values())
    if client == "ours" and data["messages"] != expected:
        raise SystemExit(f"ours read {data['messages']} messages, the database holds {expected}")
    data.setdefault("messages", expected)  # the plain loop parses nothing, so it cannot count: it reads them all
    return Measurement(
        client, size, data["chats"], data["messages"], data["calls"], data["wall"], data["cpu"], data["list_wall"]
    )


def report(
    results: list[Measurement],
    samples: dict[int, int | None],
    shapes: dict[int, tuple[int, int]],
    started: datetime,
) -> str:
    by = {(m.client, m.size): m for m in results}
    sizes = sorted({m.size for m in results})
    load = os.getloadavg()[0]
    lines = [
        "# WhatsApp client benchmark: reading whole histories",
        "",
        f"Written by `bench/bench_whatsapp.py` on {started:%Y-%m-%d %H:%M} UTC: Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (load average {load:.1f} at the end), demo server over stdio, one fresh process per "
        "measurement. The machine is shared with other jobs: treat single figures as ±15 %.",
        "",
        "**ours**: `iter_chats`, then `iter_messages(jid)` for every chat (keyset paging, 500 per page, every line "
        "parsed into a `Message` with its UTC time and id, duplicates dropped). **plain**: the official SDK's "
        "`ClientSession` over `stdio_client` (legacy handshake), chats listed with `page` offsets, each chat paged "
        f"with `list_messages(limit={PLAIN_PAGE}, page=k, include_context=false)` until `No messages to display.`; "
        "it parses nothing. Both first list every chat (timed apart: *chat list s*); *wall s*, *messages/s*, *calls* "
        "and client CPU cover reading the messages.",
        "",
        "| messages | chats read | client | chat list s | calls | wall s | messages/s | client CPU µs/message "
        "| ours ÷ plain |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for client in ("ours", "plain"):
            m = by.get((client, size))
            if m is None:
                continue
            ratio = ""
            if client == "ours" and ("plain", size) in by:
                ratio = f"{m.rate / by[('plain', size)].rate:.1f}×"
            lines.append(
                f"| {size:,} | {m.chats:,} | {client} | {m.list_wall:.1f} | {m.calls:,} | {m.wall:.1f} | "
                f"{m.rate:,.0f} | {m.cpu_us_per_message:.0f} | {ratio} |"
            )
    lines += ["", "## Targets", ""]
    if ("ours", 100_000) in by and ("plain", 100_000) in by:
        ratio = by[("ours", 100_000)].rate / by[("plain", 100_000)].rate
        lines.append(f"- ours ≥ 3× plain at 100k: **{ratio:.1f}×**, {'met' if ratio >= 3 else 'missed'}.")
    if ("ours", 1_000_000) in by and ("ours", 10_000) in by:
        drift = by[("ours", 1_000_000)].rate / by[("ours", 10_000)].rate - 1
        verdict = "met" if abs(drift) <= 0.2 or drift > 0 else "missed"
        lines.append(f"- ours at 1M within 20 % of ours at 10k (linear cost): **{drift:+.0%}**, {verdict}.")
    lines += ["", "## Account shapes", "", "| messages | chats | messages per chat (mean) | largest chat |"]
    lines.append("|---:|---:|---:|---:|")
    for size in sizes:
        chats, largest = shapes[size]
        lines.append(f"| {size:,} | {chats:,} | {size / chats:.1f} | {largest:,} |")
    lines += ["", "## Reading the results", "", *NOTES]
    sampled = {size: count for size, count in samples.items() if count is not None}
    if sampled:
        lines += ["", "## Samples", ""]
        for size, count in sampled.items():
            lines.append(
                f"- {size:,} messages: {count:,} chats are read, every k-th chat by size rank (largest first), so big "
                "and small chats are mixed as in the whole account. Both clients read the same sample, without "
                "listing the account first: lharries' `list_chats` pages by `OFFSET`, and at this size a deep page "
                "costs the server 0.3–1 s (~10 min per client for the whole list). Ours then learns each chat's name "
                "with one `get_chat` call (included in *calls*), and knows only the sample's names, not all of them."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k only")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the sizes")
    parser.add_argument("--sample-chats", type=int, nargs="*", default=[], help="SIZE=N pairs as SIZE N ...")
    parser.add_argument("--clients", nargs="*", default=["ours", "plain"])
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measurement")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "whatsapp.md")
    parser.add_argument("--json", type=Path, default=CACHE / "results.json", help="raw results (merged per run)")
    parser.add_argument("--measure", choices=["ours", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--chats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure_main(args)
        return
    started = datetime.now(UTC)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    pairs = args.sample_chats
    samples: dict[int, int | None] = {size: None for size in sizes}
    samples.update({pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)})
    previous: list[dict[str, Any]] = json.loads(args.json.read_text()) if args.json.exists() else []
    kept = {(r["client"], r["size"]): r for r in previous}
    results = []
    for size in sizes:
        db = database(size)
        chats = sample(db, samples.get(size))
        for client in args.clients:
            m = run_measurement(client, size, db, chats, args.timeout)
            print(
                f"{size:>9,} {client:5} chats={m.chats:,} calls={m.calls:,} wall={m.wall:.1f}s "
                f"{m.rate:,.0f} msg/s cpu={m.cpu_us_per_message:.0f}µs/msg",
                file=sys.stderr,
            )
            results.append(m)
            kept[(client, size)] = {**asdict(m), "sample": samples.get(size)}
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(list(kept.values()), indent=1))  # after each: a long run may be cut
    everything = [Measurement(**{k: v for k, v in r.items() if k != "sample"}) for r in kept.values()]
    all_samples = {r["size"]: r.get("sample") for r in kept.values()}
    shapes = {size: account_shape(database(size)) for size in all_samples}
    args.out.write_text(report(everything, all_samples, shapes, started), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
