"""Benchmark ``wamcp extract``: full and incremental extraction of generated demo accounts, and the obvious script.

Usage: ``.venv/bin/python bench/bench_extract.py [--quick] [--sizes 100000 1000000] [--repeat N]``; a partial
re-run (``--sizes``, ``--transports``, ``--outputs``, ``--no-baseline``) with ``--merge`` replaces only its own rows
of the raw figures (``docs/benchmarks/extract.json``) and keeps the others, each row stamped with its date and commit.

Each extraction is the real command line (``wamcp extract --config … --db … --json --quiet``) in its own process,
against the demo server over stdio (the extractor spawns it) or streamable HTTP (a separate server process), with
rate limits off. Peak RSS is sampled (psutil, every 20 ms) on the extractor's own process only, never on the
server. "Extraction" time is the run itself as the JSON summary reports it; "end to end" adds interpreter start-up,
imports, connecting and the chat listing. The incremental run is the same command again with nothing new.

The baseline is the script a user would write with the official SDK: ``ClientSession`` over stdio, ``list_chats``
by ``page``, then per chat ``list_messages`` by ``page`` with ``limit=100`` until a short page, and one ``INSERT``
per message (committed per chat). It is given ``include_context=false`` (the server's default, ``true``, would
also repeat neighbours). Demo accounts are generated into ``bench/results/`` once (``wamcp demo-data``).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import hashlib
import itertools
import json
import os
import platform
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WAMCP = str(Path(sys.executable).parent / "wamcp")
# The analysis below the tables, written by hand from the figures (update it with them).
NOTES = ROOT / "bench" / "notes" / "extract.md"
# The fastest possible client against the text account (see its docstring).
FLOOR = ROOT / "bench" / "extract_floor.py"
# Extra demo-server arguments for stdio (``--sdk-stdio``: the SDK's stdio transport, as the real lharries server).
SERVER_EXTRA: list[str] = []
NO_LIMITS = {"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0}


def compile_sources() -> None:
    """Write the bytecode of the wamcp being measured, as an installed package has it: a fresh clone has none, and
    with PYTHONDONTWRITEBYTECODE set (as on the machines these figures come from) every process compiled all of
    wamcp it imported at start-up (~0.1 s more for each extractor and demo-server process)."""
    import wamcp

    compileall.compile_dir(Path(wamcp.__file__).parent, quiet=1)


def account(messages: int) -> Path:
    """The generated demo account of this size (seed 1, UTC), made once."""
    path = RESULTS / f"extract-account-{messages}.db"
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "wamcp.demo", "demo-data", "--out", str(path), "--messages", str(messages)],
            check=True,
        )
    return path


def write_config(path: Path, server: dict[str, Any], output: str = "text") -> Path:
    section = {
        "server": {"health_check_interval": 0, "timeout": 120, **server},
        "rate_limits": NO_LIMITS,
        "server_timezone": "UTC",
        "profile": "lharries" if output == "text" else "structured",
    }
    path.write_text(json.dumps({"whatsapp": section}), encoding="utf-8")
    return path


def host_reference() -> float:
    """CPU seconds of a fixed job (JSON, hashing, SQLite inserts, plain Python loops; about a quarter of a second
    on the 2-core benchmark machine), best of three. The shared host's speed swings ~1.8× within an hour; timed next
    to each run, it tells rows taken at different speeds apart (lower = faster host)."""
    rows = [(f"{i % 997}@s.whatsapp.net", f"{i:032X}", 1_700_000_000_000 + i, "hello " * 6) for i in range(80_000)]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        text = json.dumps(rows)
        json.loads(text)
        hashlib.sha256(text.encode()).hexdigest()
        with contextlib.closing(sqlite3.connect(":memory:")) as db:
            db.execute("CREATE TABLE t (a, b, c, d)")
            db.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
            db.execute("SELECT a, count(*) FROM t GROUP BY a ORDER BY a").fetchall()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.process_time() - start)
    return best


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(args: list[str], server_pid: int | None = None, *, json_summary: bool = True) -> dict[str, Any]:
    """Run ``args``; return wall time, the extractor process's peak RSS and CPU time, the server's CPU time (a
    child the extractor spawned, or ``server_pid``), exit code and its JSON stdout.

    CPU seconds are the steadier figures on a shared machine: other jobs stretch wall time, far less CPU time.
    """
    server = psutil.Process(server_pid) if server_pid is not None else None
    server_cpu0 = _cpu(server) if server is not None else 0.0
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    own_cpu = 0.0
    children: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, own_cpu
        known: dict[int, psutil.Process] = {}
        try:
            handle = psutil.Process(proc.pid)
            for tick in itertools.count():
                if done.is_set():
                    return
                peak = max(peak, handle.memory_info().rss)
                own_cpu = _cpu(handle)
                # Looking for children scans every process on the machine (~1 ms, 5 % of a core at this rate, taken
                # from the processes measured): only until the first is found, then every half second.
                if not known or tick % 25 == 0:
                    known.update((child.pid, child) for child in handle.children(recursive=True))
                for pid, child in known.items():
                    with contextlib.suppress(psutil.Error):  # a child that just ended keeps its last reading
                        children[pid] = _cpu(child)
                done.wait(0.02)
        except psutil.Error:
            return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {err[-2000:]}")
    server_cpu = _cpu(server) - server_cpu0 if server is not None else sum(children.values())
    return {
        "wall": wall,
        "peak_rss_mb": peak / 2**20,
        "client_cpu": own_cpu,
        "server_cpu": server_cpu,
        "summary": json.loads(out.splitlines()[-1]) if json_summary else out,
    }


def bench_wamcp(messages: int, transport: str, output: str = "text") -> dict[str, Any]:
    bridge = account(messages)
    store = RESULTS / f"extract-store-{messages}-{transport}-{output}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    server_proc = None
    if transport == "stdio":
        args = ["-m", "wamcp.demo", "demo-server", "--transport", "stdio", "--db", str(bridge), "--output", output]
        args += SERVER_EXTRA
        server: dict[str, Any] = {"endpoint": "demo", "connection_type": "stdio", "command": sys.executable}
        server["args"] = args
        if os.environ.get("PYTHONPATH"):
            # The SDK spawns stdio servers with a minimal environment: pass PYTHONPATH on, so that a worktree's
            # sources are measured on both sides, not the installed package's.
            server["env"] = {"PYTHONPATH": os.environ["PYTHONPATH"]}
    else:
        sys.path.insert(0, str(ROOT / "src"))
        from wamcp.demo import DemoServerProcess

        extra = ["--output", output] + (["--json-response"] if transport == "http-json" else [])
        server_proc = DemoServerProcess(transport="http", db=bridge, extra_args=extra).start()
        server = {"endpoint": server_proc.url, "connection_type": "streamable_http"}
    try:
        config = write_config(RESULTS / f"extract-config-{transport}-{output}.json", server, output)
        command = [WAMCP, "extract", "--config", str(config), "--db", str(store), "--json", "--quiet"]
        pid = server_proc.pid if server_proc is not None else None
        reference = host_reference()
        full = measure(command, pid)
        rerun = measure(command, pid)
    finally:
        if server_proc is not None:
            server_proc.stop()
    summary = full["summary"]
    assert summary["messages_new"] == messages, summary
    assert rerun["summary"]["messages_new"] == 0, rerun["summary"]
    return {
        "messages": messages,
        "transport": transport,
        "output": output,
        "chats": summary["chats_total"],
        "full_wall": full["wall"],
        "full_extract": summary["duration"],
        "full_rss_mb": full["peak_rss_mb"],
        "full_client_cpu": full["client_cpu"],
        "full_server_cpu": full["server_cpu"],
        "rerun_client_cpu": rerun["client_cpu"],
        "rerun_server_cpu": rerun["server_cpu"],
        "rerun_wall": rerun["wall"],
        "rerun_extract": rerun["summary"]["duration"],
        "rerun_pages": rerun["summary"]["pages"],
        "host_ref_s": reference,
    }


BASELINE = textwrap.dedent(
    """
    import re, sqlite3, sys, time
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    bridge, out, output = sys.argv[1], sys.argv[2], sys.argv[3]
    HEADER = re.compile(r"^\\[(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d)\\] Chat: (.*?) From: (.*?): (.*)$")

    async def main():
        db = sqlite3.connect(out)
        db.execute("CREATE TABLE IF NOT EXISTS messages (chat_jid TEXT, ts TEXT, sender TEXT, content TEXT)")
        params = StdioServerParameters(command=sys.executable,
            args=["-m", "wamcp.demo", "demo-server", "--transport", "stdio", "--db", bridge, "--output", output,
                  *sys.argv[4:]])
        started = time.perf_counter()
        stored = 0
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                chats, page = [], 0
                while True:
                    result = await session.call_tool("list_chats", {"limit": 100, "page": page})
                    batch = [block.text for block in result.content]
                    if not batch:
                        break
                    import json
                    chats += [json.loads(text)["jid"] for text in batch]
                    if len(batch) < 100:
                        break
                    page += 1
                for jid in dict.fromkeys(chats):
                    page = 0
                    while True:
                        result = await session.call_tool("list_messages",
                            {"chat_jid": jid, "limit": 100, "page": page, "include_context": False})
                        count = 0
                        if output == "structured":  # a JSON server: the rows are there to take
                            for row in (result.structured_content or {}).get("result") or []:
                                db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)",
                                           (jid, row["timestamp"], row["sender"], row["content"]))
                                count += 1
                        else:
                            text = "".join(block.text for block in result.content)
                            lines = [] if text == "No messages to display." else text.split("\\n")
                            for line in lines:
                                match = HEADER.match(line)
                                if match:
                                    db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)",
                                               (jid, match[1], match[3], match[4]))
                                    count += 1
                        db.commit()
                        stored += count
                        if count < 100:
                            break
                        page += 1
        print(stored, time.perf_counter() - started)

    anyio.run(main)
    """
)


def bench_baseline(messages: int, output: str = "text") -> dict[str, Any]:
    bridge = account(messages)
    out = RESULTS / f"extract-baseline-{messages}-{output}.db"
    out.unlink(missing_ok=True)
    script = RESULTS / "extract_baseline.py"
    script.write_text(BASELINE, encoding="utf-8")
    run = measure([sys.executable, str(script), str(bridge), str(out), output, *SERVER_EXTRA], json_summary=False)
    stored, extract = run["summary"].split()
    return {
        "messages": messages,
        "output": output,
        "stored": int(stored),
        "wall": run["wall"],
        "extract": float(extract),
        "client_cpu": run["client_cpu"],
        "server_cpu": run["server_cpu"],
    }


def bench_pairs(messages: int, output: str, repeat: int) -> dict[str, Any]:
    """The obvious script and ``wamcp extract`` (stdio) run back to back ``repeat`` times: each pair shares the
    machine's state of the moment, so the speed-up is taken per pair (this machine's speed drifts by 1.5x within
    an hour). Returns the pair with the median wall-time speed-up, all pairs' speed-ups attached."""
    pairs = []
    for _ in range(max(1, repeat)):
        script = bench_baseline(messages, output)
        floors = bench_floors(messages) if output == "text" else {}
        ours = bench_wamcp(messages, "stdio", output)
        print(json.dumps({"script": script, "floors": floors, "wamcp_wall": ours["full_wall"]}), flush=True)
        pairs.append((script["wall"] / ours["full_wall"], script, ours, floors))
    pairs.sort(key=lambda pair: pair[0])
    _, script, ours, floors = pairs[(len(pairs) - 1) // 2]
    return {
        **script,
        "paired": {key: ours[key] for key in ("full_wall", "full_client_cpu", "full_server_cpu")},
        "speedups": [ratio for ratio, _, _, _ in pairs],
        **(
            {
                "floors": floors,
                # the most any client could show in each pair: the script against the faster floor
                "floor_speedups": [s["wall"] / min(f["wall"] for f in fl.values()) for _, s, _, fl in pairs],
            }
            if floors
            else {}
        ),
    }


def bench_floors(messages: int) -> dict[str, dict[str, Any]]:
    """The server's floor for the text account (``bench/extract_floor.py``): a client that only sends the calls,
    once with wamcp's plan (one call per chat) and once with the fewest calls lharries' tools allow."""
    floors = {}
    for plan in ("per-chat", "walk"):
        args = [sys.executable, str(FLOOR), str(account(messages)), plan, *SERVER_EXTRA]
        run = measure(args)
        floors[plan] = {key: run[key] for key in ("wall", "client_cpu", "server_cpu")} | {
            "calls": run["summary"]["calls"]
        }
    return floors


def _cpu_cell(r: dict[str, Any], run: str) -> str:
    if f"{run}_client_cpu" not in r:
        return ""
    return f"{r[f'{run}_client_cpu']:.1f} + {r[f'{run}_server_cpu']:.1f}"


def _baseline_cpu(b: dict[str, Any]) -> str:
    return f"{b['client_cpu']:.1f} + {b['server_cpu']:.1f}" if "client_cpu" in b else ""


def _cpu_speedup(b: dict[str, Any], ours: dict[str, Any]) -> str:
    if "client_cpu" not in b or "full_client_cpu" not in ours:
        return ""
    script = b["client_cpu"] + b["server_cpu"]
    return f"{script / (ours['full_client_cpu'] + ours['full_server_cpu']):.1f}×"


def _floor_cells(b: dict[str, Any]) -> str:
    """The floor runs of the pair shown, and the script's time over the faster floor (range over all pairs)."""
    floors = b.get("floors")
    if not floors:
        return "– | –"
    walls = " / ".join(
        f"{floors[plan]['wall']:.1f} s ({floors[plan]['calls']:,} calls)" for plan in ("per-chat", "walk")
    )
    ratios = b["floor_speedups"]
    best = b["wall"] / min(f["wall"] for f in floors.values())
    spread = f" ({min(ratios):.1f}–{max(ratios):.1f}×)" if len(ratios) > 1 else ""
    return f"{walls} | {best:.1f}×{spread}"


def _cpu_ratio(r: dict[str, Any]) -> str:
    if "full_client_cpu" not in r:
        return ""
    full = r["full_client_cpu"] + r["full_server_cpu"]
    rerun = r["rerun_client_cpu"] + r["rerun_server_cpu"]
    return f"{100 * rerun / full:.1f}%"


def _spread(r: dict[str, Any]) -> str:
    runs = r.get("full_wall_runs") or []
    if len(runs) < 2:
        return ""
    return f" ({min(runs):.1f}–{max(runs):.1f} in {len(runs)} runs)"


def _when_measured(rows: list[dict[str, Any]], baselines: list[dict[str, Any]]) -> list[str]:
    """Which rows were measured when, on which commit (rows merged from several runs with ``--merge``)."""
    labelled = [(r, f"{r['messages']:,} {r['transport']} {r.get('output', 'text')}") for r in rows]
    labelled += [(b, f"the script pairs, {b.get('output', 'text')}") for b in baselines]
    runs: dict[tuple[str, str], list[str]] = {}
    for entry, label in labelled:
        if "measured" in entry:
            runs.setdefault((entry["measured"]["date"], entry["measured"]["commit"]), []).append(label)
    if not runs:
        return []
    return [
        "",
        "When each row was measured (the time its cell finished, and the code's commit):",
        "",
        *(f"- {date}, `{commit}`: {'; '.join(cells)}" for (date, commit), cells in sorted(runs.items())),
    ]


def render(
    rows: list[dict[str, Any]],
    baselines: list[dict[str, Any]],
    server_extra: list[str] | None = None,
    measured: dict[str, Any] | None = None,
) -> str:
    """The page; ``measured`` holds the date and load average of the measurement (``--report-only`` runs later)."""
    measured = measured or {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": os.getloadavg()}
    load = ", ".join(f"{x:.1f}" for x in measured["load"])
    with_reference = any("host_ref_s" in r for r in rows)
    lines = [
        "# Benchmark: `wamcp extract`",
        "",
        "Generated by `bench/bench_extract.py`: each command in a fresh process; where a cell was run several times "
        "(`--repeat`), the row is the run with the median end-to-end time and the range of all runs follows it.",
        f"Machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; last run {measured['date']}, load average at its end: {load} (shared machine: "
        "wall times are noisy).",
        "",
        "Demo accounts from `wamcp demo-data --messages N --seed 1` (~9 messages per chat). Rate limits off, default "
        "concurrency (16 chats in flight). *Extraction* is the run as its JSON summary reports it; *end to end* "
        "adds start-up (imports, spawning/connecting the server) and is what `time wamcp extract` shows. Peak RSS "
        "is the extractor process alone (sampled every 20 ms)."
        + (
            " *Host reference*: CPU seconds of a fixed job (`host_reference`) timed just before the row's run; the "
            "shared host's speed swings ~1.8× within an hour, and rows with a lower reference ran on a faster host."
            if with_reference
            else ""
        ),
        "",
        "*Server output*: `text` is the demo server's default, lharries' text format (a cross-chat listing names "
        "chats, not JIDs, so chats sharing a name are read one call per chat); `structured` is the same server with "
        "`--output structured` (JSON rows that name their chat, read in one walk across chats).",
        *(
            [
                "*Transport* `http` is streamable HTTP answered as SSE streams (the SDK's default); `http-json` is the "
                "same server with `--json-response`, which answers each call with one plain JSON body."
            ]
            if any(r["transport"] == "http-json" for r in rows)
            else []
        ),
        "",
        *(
            [
                "**Demo server run with `--sdk-stdio`**: the SDK's `stdio_server` (a worker thread per line) and every "
                "call on a thread, as the real lharries server (mcp 1.6) serves; the demo's default pipes cost ~0.4 ms "
                "of server CPU per small call instead of ~1 ms.",
                "",
            ]
            if server_extra
            else []
        ),
        "| messages | chats | transport | server output | full: extraction | full: end to end | msg/s (extraction) "
        "| msg/s (end to end) | peak RSS | CPU s: extractor + server | rerun, nothing new: extraction / end to end "
        "| rerun / full (wall) | rerun / full (CPU) |" + (" host reference |" if with_reference else ""),
        "|---:|---:|:--|:--|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if with_reference else ""),
    ]
    for r in rows:
        reference = f" {r['host_ref_s']:.3f} s |" if "host_ref_s" in r else " – |"
        lines.append(
            f"| {r['messages']:,} | {r['chats']:,} | {r['transport']} | {r.get('output', 'text')} "
            f"| {r['full_extract']:.1f} s "
            f"| {r['full_wall']:.1f} s{_spread(r)} | {r['messages'] / r['full_extract']:,.0f} "
            f"| {r['messages'] / r['full_wall']:,.0f} "
            f"| {r['full_rss_mb']:.0f} MB | {_cpu_cell(r, 'full')} "
            f"| {r['rerun_extract']:.2f} s / {r['rerun_wall']:.1f} s "
            f"| {100 * r['rerun_wall'] / r['full_wall']:.1f}% | {_cpu_ratio(r)} |"
            + (reference if with_reference else "")
        )
    if baselines:
        lines += [
            "",
            "## Against the obvious script (official SDK, `page` offsets, limit 100, one INSERT per message)",
            "",
            "Each script run is paired with a `wamcp extract` run right after it (stdio, same account); the row is "
            "the pair with the median speed-up, the range of all pairs follows it. For the text account each pair "
            "also runs the server's floor (`bench/extract_floor.py`) between the two: a client that only sends the "
            "calls and drops the answers unread, once with wamcp's calls (one a chat) and once with the fewest that "
            "lharries' tools allow (a walk across chats, and one call for every chat that shares its name but one "
            "of each name). No client making those calls can finish sooner, so the script's time over the faster "
            "floor is the largest speed-up any client could show in that pair.",
            "",
            "| messages | server output | script: end to end | script msg/s | script rows | wamcp stdio: end to end "
            "| speed-up (wall) | CPU s, script + its server | CPU s, wamcp + its server | speed-up (CPU) "
            "| server floor: wamcp's calls / fewest calls | most any client could show |",
            "|---:|:--|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for b in baselines:
            output = b.get("output", "text")
            key = (b["messages"], "stdio", output)
            ours = b.get("paired") or next(
                (r for r in rows if (r["messages"], r["transport"], r.get("output", "text")) == key), None
            )
            if ours is None:
                continue
            speedups = b.get("speedups") or []
            spread = ""
            if len(speedups) > 1:
                spread = f" ({min(speedups):.1f}–{max(speedups):.1f}× in {len(speedups)} pairs)"
            lines.append(
                f"| {b['messages']:,} | {output} | {b['wall']:.1f} s | {b['stored'] / b['wall']:,.0f} "
                f"| {b['stored']:,} | {ours['full_wall']:.1f} s | {b['wall'] / ours['full_wall']:.1f}×{spread} "
                f"| {_baseline_cpu(b)} | {_cpu_cell(ours, 'full')} | {_cpu_speedup(b, ours)} | {_floor_cells(b)} |"
            )
    lines += _when_measured(rows, baselines)
    if server_extra:
        lines += ["", "The analysis of both pages is in [extract.md](extract.md)."]
    elif NOTES.exists():
        lines += ["", NOTES.read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines) + "\n"


def _stamp() -> dict[str, str]:
    """When and on which code a row was measured (rows of several runs can share a page: ``--merge``)."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit or "unknown"}


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """A table row's cell: account size, transport and server output (a baseline has no transport)."""
    return (row["messages"], row.get("transport", "stdio"), row.get("output", "text"))


def merge_raw(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new``'s rows and baselines, plus ``old``'s for every cell ``new`` did not measure, in the table's order.

    A partial re-run (one transport, one size) then updates its rows and keeps the rest; each row carries its own
    ``measured`` stamp, so the page can say when and on which code each was taken."""
    # As a full run lists them: by size, then server output, then transport.
    outputs = {"text": 0, "structured": 1}
    transports = {"stdio": 0, "http": 1, "http-json": 2}

    def merged(key: str) -> list[dict[str, Any]]:
        cells = {row_key(r): r for r in old.get(key, [])}
        cells.update({row_key(r): r for r in new.get(key, [])})
        return sorted(cells.values(), key=lambda r: (r["messages"], outputs[row_key(r)[2]], transports[row_key(r)[1]]))

    if old.get("server_extra", []) != new.get("server_extra", []):
        raise SystemExit(
            f"--merge: the raw figures were measured with server arguments {old.get('server_extra')}, this run with "
            f"{new.get('server_extra')}; give this run its own --raw and --out"
        )
    return {**old, **new, "rows": merged("rows"), "baselines": merged("baselines")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--transports",
        nargs="+",
        default=["stdio", "http"],
        choices=["stdio", "http", "http-json"],
        help="http-json: streamable HTTP from a server that answers plain JSON (demo-server --json-response)",
    )
    parser.add_argument("--outputs", nargs="+", default=["text", "structured"], choices=["text", "structured"])
    parser.add_argument("--http-max", type=int, default=None, help="skip streamable HTTP above this many messages")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "extract.md")
    parser.add_argument(
        "--raw",
        type=Path,
        default=ROOT / "docs" / "benchmarks" / "extract.json",
        help="also write the numbers here (committed beside the page, so --report-only works on any checkout)",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite --out from --raw, measure nothing")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of --raw that this run does not measure (a partial re-run updates only its own cells)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per cell; the table shows the median run and the range"
    )
    parser.add_argument(
        "--sdk-stdio", action="store_true", help="serve stdio as the real lharries server does (demo --sdk-stdio)"
    )
    args = parser.parse_args()
    if args.report_only:
        if not args.raw.exists():
            raise SystemExit(f"no raw figures at {args.raw}: measure first (without --report-only)")
        raw = json.loads(args.raw.read_text(encoding="utf-8"))
        page = render(raw["rows"], raw["baselines"], raw.get("server_extra"), raw.get("measured"))
        args.out.write_text(page, encoding="utf-8")
        print(f"wrote {args.out}")
        return
    if args.sdk_stdio:
        SERVER_EXTRA.append("--sdk-stdio")
    compile_sources()
    sizes = [100_000] if args.quick else args.sizes
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in sizes:
        for output in args.outputs:
            for transport in args.transports:
                if transport != "stdio" and args.http_max is not None and size > args.http_max:
                    continue
                runs = []
                for _ in range(args.repeat):
                    runs.append(bench_wamcp(size, transport, output))
                    print(json.dumps(runs[-1]), flush=True)
                # The run with the median end-to-end time stands for the cell; the others give its spread.
                row = dict(sorted(runs, key=lambda r: r["full_wall"])[(len(runs) - 1) // 2])
                row["full_wall_runs"] = [r["full_wall"] for r in runs]
                row["measured"] = _stamp()
                rows.append(row)
    baselines = [
        {**bench_pairs(100_000, output, args.repeat), "measured": _stamp()}
        for output in ([] if args.no_baseline else args.outputs)
    ]
    measured = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": os.getloadavg()}
    raw = {"rows": rows, "baselines": baselines, "server_extra": SERVER_EXTRA, "measured": measured}
    if args.merge and args.raw.exists():
        raw = merge_raw(json.loads(args.raw.read_text(encoding="utf-8")), raw)
    args.raw.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    args.out.write_text(render(raw["rows"], raw["baselines"], SERVER_EXTRA, measured), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
