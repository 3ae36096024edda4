"""Benchmark the demo layer: data generation speed/memory, and deep-page cost of ``list_messages``.

Run: ``.venv/bin/python bench/bench_demo.py [--messages 1000000] [--repeats 5] [--out docs/benchmarks/demo.md]``.

1. Generation: ``python -m wamcp.demo demo-data`` for N messages in a child process; wall time and the child's peak
   RSS (psutil, polled every 20 ms). Targets for 1M: <= 60 s and <= 500 MB.
2. Server side: one ``list_messages`` page of 500 (``include_context=false``, the extractor's call) through the demo
   server's tool code, at the first page and at the last page, on the generated database. Keyset paging (``chat_jid``
   + ``before``, and ``before`` alone) must cost about the same at the end as at the start (target: last/first <= 2);
   offset paging (``page=N``) is shown for contrast: it grows with the offset, like the real server's.
Medians of ``--repeats`` runs after a warm-up. Writes a Markdown report.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from wamcp.demo.bridge import Bridge
from wamcp.demo.tools import call_tool

PAGE = 500


def generate(out: Path, messages: int, seed: int) -> tuple[float, float, int]:
    """Run the generator as a child process; return (wall seconds, CPU seconds, peak RSS bytes).

    CPU time is shown next to wall time because on a shared machine the wall time mostly measures the neighbours."""
    argv = [sys.executable, "-m", "wamcp.demo", "demo-data", "--out", str(out), "--messages", str(messages)]
    argv += ["--seed", str(seed)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = psutil.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, child.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if child.returncode != 0:
        raise SystemExit(f"generation failed: {child.stderr.read().decode() if child.stderr else ''}")
    if child.stderr is not None:
        child.stderr.close()
    return seconds, cpu, max(peak, int(after.ru_maxrss) * 1024)


def timed_call(bridge: Bridge, args: dict[str, Any], repeats: int) -> tuple[float, int]:
    """Median seconds of one list_messages call, and how many lines it returned."""
    base = {"limit": PAGE, "include_context": False}
    call_tool(bridge, "list_messages", {**base, **args})  # warm-up (page cache, sender-name snapshot)
    times = []
    lines = 0
    for _ in range(repeats):
        started = time.perf_counter()
        out = call_tool(bridge, "list_messages", {**base, **args})
        times.append(time.perf_counter() - started)
        lines = sum(1 for line in out.blocks[0].splitlines() if line.startswith("[")) if out.blocks else 0
    return statistics.median(times), lines


def keyset_before_last_page(db: Path, chat_jid: str | None) -> tuple[str, int]:
    """The ``before`` cursor a keyset pager holds when it reaches the last page, and the row count."""
    conn = sqlite3.connect(db)
    try:
        where = "WHERE chat_jid = ?" if chat_jid else ""
        params: tuple[Any, ...] = (chat_jid,) if chat_jid else ()
        total = conn.execute(f"SELECT COUNT(*) FROM messages {where}", params).fetchone()[0]
        # The last page holds the oldest <= PAGE rows; the cursor is the oldest timestamp of the page before it.
        skip = max(total - PAGE - 1, 0)
        row = conn.execute(
            f"SELECT timestamp FROM messages {where} ORDER BY timestamp DESC LIMIT 1 OFFSET ?", (*params, skip)
        ).fetchone()
        return str(row[0]).replace("+00:00", ""), int(total)
    finally:
        conn.close()


def biggest_chat(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT chat_jid FROM messages GROUP BY chat_jid ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
        return str(row[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/demo.md"))
    parser.add_argument("--quick", action="store_true", help="100k messages, 3 repeats (what run_all.py --quick asks)")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeats = min(args.messages, 100_000), min(args.repeats, 3)

    with tempfile.TemporaryDirectory(prefix="wamcp-bench-demo-") as tmp:
        db = Path(tmp) / "bench.db"
        gen_s, gen_cpu, gen_rss = generate(db, args.messages, args.seed)
        print(
            f"generated {args.messages} messages in {gen_s:.1f} s ({gen_cpu:.1f} s CPU), "
            f"peak RSS {gen_rss / 2**20:.0f} MB"
        )
        bridge = Bridge(db, media_dir=Path(tmp) / "media")
        rows: list[tuple[str, int, float, float, int]] = []
        try:
            chat = biggest_chat(db)
            for label, chat_jid in ((f"keyset, one chat ({chat})", chat), ("keyset, whole account", None)):
                cursor, total = keyset_before_last_page(db, chat_jid)
                scope = {"chat_jid": chat_jid} if chat_jid else {}
                first, n_first = timed_call(bridge, scope, args.repeats)
                last, n_last = timed_call(bridge, {**scope, "before": cursor}, args.repeats)
                rows.append((label, total, first, last, n_last))
                print(f"{label}: first {first * 1000:.1f} ms ({n_first}), last {last * 1000:.1f} ms ({n_last})")
            for label, chat_jid in ((f"offset, one chat ({chat})", chat), ("offset, whole account", None)):
                _, total = keyset_before_last_page(db, chat_jid)
                scope = {"chat_jid": chat_jid} if chat_jid else {}
                last_page = (total - 1) // PAGE
                first, _ = timed_call(bridge, scope, args.repeats)
                last, n_last = timed_call(bridge, {**scope, "page": last_page}, args.repeats)
                rows.append((label, total, first, last, n_last))
                print(f"{label}: first {first * 1000:.1f} ms, last (page {last_page}) {last * 1000:.1f} ms")
        finally:
            bridge.close()

    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}, Python {platform.python_version()}"
    keyset_ratios = [r[3] / r[2] for r in rows if r[0].startswith("keyset")]
    lines = [
        "# Demo layer benchmark",
        "",
        f"Produced by `bench/bench_demo.py` on {time.strftime('%Y-%m-%d')} ({machine}).",
        "",
        "## Generation",
        "",
        "| messages | wall seconds | CPU seconds | peak RSS (child) | target |",
        "|---:|---:|---:|---:|---|",
        f"| {args.messages:,} | {gen_s:.1f} | {gen_cpu:.1f} | {gen_rss / 2**20:.0f} MB | ≤ 60 s, ≤ 500 MB |",
        "",
        "Peak RSS is the larger of psutil's 20 ms samples and the child's `ru_maxrss`. Wall time depends on what else",
        "runs on the machine (see the load above); CPU time is what the generator itself needs.",
        "",
        f"## `list_messages`, page of {PAGE}, first vs last page (median of {args.repeats})",
        "",
        "Timed through the demo server's tool code (SQL + formatting, no transport), `include_context=false`.",
        "The last column counts lines starting with `[` (multi-line messages and header-like content add a few).",
        "",
        "| paging | rows in scope | first page ms | last page ms | last/first | `[`-lines on last page |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, total, first, last, n_last in rows:
        ratio = last / first
        lines.append(f"| {label} | {total:,} | {first * 1000:.1f} | {last * 1000:.1f} | {ratio:.2f} | {n_last} |")
    lines += [
        "",
        f"Keyset paging last/first: {', '.join(f'{r:.2f}' for r in keyset_ratios)} (target ≤ 2). Offset paging grows",
        "with the offset (SQLite walks every skipped row), which is why the extractor pages by `before`.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
