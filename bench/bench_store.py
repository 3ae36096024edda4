"""Benchmark the store: bulk upsert in pages of 500, re-upsert of unchanged pages, export rate per format, peak RSS.

Run: ``.venv/bin/python bench/bench_store.py [--messages 1000000] [--out docs/benchmarks/store.md]``.

Each phase runs in its own child process so its peak RSS (``ru_maxrss``) is its own:

1. load: ``--messages`` messages over ``messages / 1000`` chats, each chat saved newest page first (as the extractor's
   backfill does) in pages of 500 through :meth:`Store.save_page`, each page with its sync state in one transaction.
   Only the ``save_page`` calls are timed; building the rows in Python is not.
2. re-upsert: the very same pages again; every row is unchanged, so each page must report 0 new, 0 updated.
3. export: every format of ``wamcp.store.export`` over the whole store, rows/s and output size.

Writes a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wamcp.store import MessageRow, Store, SyncState
from wamcp.store.export import FORMATS, export

PAGE = 500
PER_CHAT = 1000
DAY_MS = 86_400_000
START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
PHRASES = [
    "Hi, is this still available?",
    "Yes! We open at 9.",
    "Can you send me the price list please",
    "Thanks 🙏",
    "Order #4711 shipped today, tracking number follows in a minute",
    "ok",
    "Could you deliver on Saturday morning instead? I am not home on Friday.\nThanks a lot",
    "Sure, no problem.",
]


def chat_pages(chat: int) -> Iterator[tuple[str, list[MessageRow]]]:
    """One chat's messages in pages of PAGE, newest page first; deterministic per chat."""
    rng = random.Random(chat)
    jid = f"49151{chat:08d}@s.whatsapp.net" if chat % 10 else f"1203630{chat:011d}@g.us"
    start = START_MS + rng.randrange(60) * DAY_MS
    times = sorted(start + rng.randrange(30 * DAY_MS) for _ in range(PER_CHAT))
    rows = [
        MessageRow(
            jid,
            f"3EB0{rng.getrandbits(64):016X}",
            ts,
            None if mine else jid.split("@")[0],
            None if mine else "Customer",
            mine,
            rng.choice(PHRASES),
            "image" if rng.random() < 0.05 else None,
            None,
            "server",
        )
        for ts in times
        for mine in (rng.random() < 0.45,)
    ]
    for end in range(len(rows), 0, -PAGE):
        yield jid, rows[max(0, end - PAGE) : end]


def phase_upsert(db: Path, messages: int) -> dict[str, Any]:
    """Save every page; return seconds spent in save_page and the summed counts."""
    new = updated = rows = 0
    spent = cpu = 0.0
    with Store.open(db) as store:
        run = store.start_run("bench")
        for chat in range(messages // PER_CHAT):
            oldest: int | None = None
            for jid, page in chat_pages(chat):
                oldest = page[0].ts_ms
                state = SyncState(jid, newest_ts_ms=None, oldest_ts_ms=oldest, cursor=str(oldest))
                began, began_cpu = time.perf_counter(), time.process_time()
                result = store.save_page(jid, page, state=state, run_id=run)
                spent += time.perf_counter() - began
                cpu += time.process_time() - began_cpu
                new += result.new
                updated += result.updated
                rows += len(page)
        store.finish_run(run, status="complete", messages_new=new, messages_updated=updated)
    return {"seconds": spent, "cpu": cpu, "rows": rows, "new": new, "updated": updated}


def phase_export(db: Path, fmt: str, out_dir: Path) -> dict[str, Any]:
    target = out_dir / ("txt" if fmt == "txt" else f"all.{fmt}")
    with Store.open(db, readonly=True) as store:
        began, began_cpu = time.perf_counter(), time.process_time()
        result = export(store, fmt, target, business_name="Acme Store", zone=UTC)
        seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    size = sum(p.stat().st_size for p in result.files) if fmt == "txt" else target.stat().st_size
    return {"seconds": seconds, "cpu": cpu, "rows": result.messages, "bytes": size, "files": len(result.files)}


def child(args: argparse.Namespace) -> None:
    if args.phase == "upsert":
        report = phase_upsert(Path(args.db), args.messages)
    else:
        report = phase_export(Path(args.db), args.phase.removeprefix("export-"), Path(args.workdir))
    report["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report))


def run_phase(phase: str, db: Path, messages: int, workdir: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--phase", phase, "--db", str(db), "--messages", str(messages)]
    argv += ["--workdir", str(workdir)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{phase}: {report}", file=sys.stderr)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/store.md"))
    parser.add_argument("--quick", action="store_true", help="100k messages (what run_all.py --quick asks)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    if args.quick:
        args.messages = min(args.messages, 100_000)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wamcp-bench-store-") as tmp:
        workdir = Path(tmp)
        db = workdir / "store.db"
        load = run_phase("upsert", db, args.messages, workdir)
        again = run_phase("upsert", db, args.messages, workdir)
        db_bytes = db.stat().st_size
        exports = {fmt: run_phase(f"export-{fmt}", db, args.messages, workdir) for fmt in FORMATS}
    write_report(args, load, again, db_bytes, exports, load_before)


def write_report(
    args: argparse.Namespace,
    load: dict[str, Any],
    again: dict[str, Any],
    db_bytes: int,
    exports: dict[str, dict[str, Any]],
    load_before: float,
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mib = 1024 * 1024
    lines = [
        "# Store benchmark",
        "",
        f"Written by `bench/bench_store.py --messages {args.messages}` on {now}: Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs (load average {load_before:.1f} at the start), "
        "local disk. The machine is shared with other jobs, so treat single figures as ±20 %.",
        "",
        f"Data: {args.messages:,} messages in {args.messages // PER_CHAT:,} chats of {PER_CHAT:,}, saved chat by chat, "
        f"newest page first, in pages of {PAGE} with the page's sync state in the same transaction "
        f"(`BEGIN IMMEDIATE` … `COMMIT`, WAL, `synchronous=NORMAL`). Each phase runs in its own process.",
        "",
        "## Upserts",
        "",
        "| phase | rows | seconds in save_page | rows/s (wall) | rows/s (CPU) | new | updated | peak RSS | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| first load | {load['rows']:,} | {load['seconds']:.1f} | {load['rows'] / load['seconds']:,.0f} | "
        f"{load['rows'] / load['cpu']:,.0f} | {load['new']:,} | {load['updated']:,} | "
        f"{load['maxrss_kib'] / 1024:.0f} MB | ≥ 100,000 rows/s |",
        f"| same pages again (unchanged) | {again['rows']:,} | {again['seconds']:.1f} | "
        f"{again['rows'] / again['seconds']:,.0f} | {again['rows'] / again['cpu']:,.0f} | {again['new']:,} | "
        f"{again['updated']:,} | {again['maxrss_kib'] / 1024:.0f} MB | 0 new, 0 updated |",
        "",
        f"Database size after the load: {db_bytes / mib:,.0f} MB.",
        "",
        "## Exports of the whole store",
        "",
        "| format | rows | seconds | rows/s (wall) | rows/s (CPU) | output | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, rep in exports.items():
        files = f" in {rep['files']:,} files" if fmt == "txt" else ""
        lines.append(
            f"| {fmt} | {rep['rows']:,} | {rep['seconds']:.1f} | {rep['rows'] / rep['seconds']:,.0f} | "
            f"{rep['rows'] / rep['cpu']:,.0f} | {rep['bytes'] / mib:,.0f} MB{files} | "
            f"{rep['maxrss_kib'] / 1024:.0f} MB |"
        )
    lines += [
        "",
        "Peak RSS is the whole child process (Python, pyarrow, SQLite's 32 MiB page cache) and does not grow with the "
        "number of messages: every export streams the store in keyset batches of 5,000 (parquet: row groups of "
        "32,768).",
        "",
        "## What it took to get here",
        "",
        "The initial schema had a second, global index `messages(ts_ms)`. Because every chat's backfill covers the "
        "same time window, each page of 500 landed on ~500 different leaf pages of that index, so a commit wrote "
        "megabytes of WAL and the first load ran at ~30,000 rows/s. Migration 2 drops it (per-chat time queries use "
        "`messages(chat_jid, ts_ms)`); the first load then runs about four times faster. New stores also use 8 KiB "
        "pages (~8 % less CPU per row than 4 KiB).",
        "",
        "Wall-clock rates on this shared 2-CPU machine vary by ±40 % with the other jobs' load; the CPU-time rate "
        "(`time.process_time()` of the same calls) is the steadier figure. Commit cost is small: WAL with "
        "`synchronous=NORMAL` does not fsync on commit (a process crash loses nothing committed).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
