"""``wamcp extract`` as a user runs it: the store equals the server's messages, reruns are free, options select.

The comparison is always against the demo bridge database read directly with sqlite3: every
(chat_jid, UTC second, content, is_from_me), as a multiset.
"""

from __future__ import annotations

import collections
import csv
import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from wamcp.cli import app
from wamcp.demo import DemoServerProcess
from wamcp.store import Store

from .support import (
    WAMCP,
    http_server,
    only_json_object,
    run_cli,
    server_chats,
    server_messages,
    start_quietly,
    stdio_server,
    store_integrity,
    store_messages,
    write_config,
)

pytestmark = pytest.mark.e2e

runner = CliRunner()


@pytest.fixture(autouse=True)
def _user_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process runs see no config file and no MCP_* variables, like a fresh user."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in ("MCP_CONFIG_FILE", "MCP_WHATSAPP_ENDPOINT", "MCP_WHATSAPP_CONNECTION_TYPE", "MCP_WHATSAPP_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def extract(config: Path, db: Path, *args: str) -> dict[str, Any]:
    """Run ``wamcp extract --json`` in this process; return the JSON summary (exit code under ``"exit_code"``)."""
    result = runner.invoke(app, ["extract", "--config", str(config), "--db", str(db), "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return only_json_object(result.stdout) | {"exit_code": result.exit_code, "stderr": result.stderr}


def test_demo_extract_stores_exactly_the_demo_database(tmp_path: Path, env: dict[str, str], home: Path) -> None:
    first = run_cli([WAMCP, "extract", "--demo", "--db", "store.db", "--json"], cwd=tmp_path, env=env, timeout=110)
    assert first.returncode == 0, first.stderr
    summary = only_json_object(first.stdout)  # --json: one object on stdout, nothing else
    demo_db = home / ".cache" / "wamcp" / "demo" / "demo-20000-1-UTC.db"
    expected = server_messages(demo_db)
    assert summary["status"] == "complete"
    assert summary["messages_new"] == sum(expected.values()) == 20_000
    assert summary["chats_failed"] == 0
    assert summary["errors"] == {}
    assert store_messages(tmp_path / "store.db") == expected
    assert store_integrity(tmp_path / "store.db") == ("ok", 20_000, 20_000)
    assert "\x1b[" not in first.stderr  # no progress bars when not on a terminal

    # Nothing new on the server: the rerun lists only the chats active lately (the first run listed every chat
    # moments ago), skips each of them and adds nothing.
    second = run_cli([WAMCP, "extract", "--demo", "--db", "store.db", "--json"], cwd=tmp_path, env=env, timeout=110)
    assert second.returncode == 0, second.stderr
    again = only_json_object(second.stdout)
    assert again["status"] == "complete"
    assert (summary["listing"], again["listing"]) == ("all", "recent")
    assert again["chats_total"] == again["chats_skipped"] < summary["chats_total"]
    assert (again["messages_new"], again["messages_updated"], again["pages"]) == (0, 0, 0)
    assert store_messages(tmp_path / "store.db") == expected


def test_a_server_answering_plain_json_is_extracted_exactly(account: Path, tmp_path: Path) -> None:
    """Streamable HTTP servers may answer each call with one JSON body (``json_response=True``) instead of an SSE
    stream; the extraction is the same."""
    with DemoServerProcess(transport="http", db=account, extra_args=["--json-response"]) as server:
        config = write_config(tmp_path / "mcp_config.json", http_server(server.url))
        summary = extract(config, tmp_path / "s.db")
        rerun = extract(config, tmp_path / "s.db")
    assert summary["exit_code"] == 0, summary
    assert store_messages(tmp_path / "s.db") == server_messages(account)
    assert rerun["messages_new"] == 0


def test_chat_option_extracts_only_the_named_chats(served_account: tuple[Path, str], tmp_path: Path) -> None:
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    everything = server_messages(bridge)
    by_size = collections.Counter(key[0] for key in everything.elements())
    wanted = [jid for jid, _ in by_size.most_common(2)]
    summary = extract(config, tmp_path / "s.db", "--chat", wanted[0], "--chat", wanted[1])
    assert summary["exit_code"] == 0, summary
    assert summary["chats_total"] == 2
    expected = collections.Counter({k: n for k, n in everything.items() if k[0] in wanted})
    assert store_messages(tmp_path / "s.db") == expected


def test_verbose_shows_our_debug_logs_and_vv_adds_the_wire(
    served_account: tuple[Path, str], tmp_path: Path, env: dict[str, str]
) -> None:
    # Over streamable HTTP the libraries log ~10 lines per call at debug level: with -v they buried our own lines
    # (and a large run spent most of its time printing them), so they need -vv.
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    jid = next(iter(server_messages(bridge)))[0]
    runs = {}
    for flag in ("-v", "-vv"):
        db = tmp_path / f"store{flag}.db"
        args = [WAMCP, "extract", "--config", str(config), "--db", str(db), "--chat", jid, "--quiet", flag]
        runs[flag] = run_cli(args, cwd=tmp_path, env=env)
        assert runs[flag].returncode == 0, runs[flag].stderr
    ours = "connected to"
    wire = ("send_request_headers", "receive_response_headers")
    assert ours in runs["-v"].stderr
    assert not any(line in runs["-v"].stderr for line in wire)
    assert ours in runs["-vv"].stderr
    assert all(line in runs["-vv"].stderr for line in wire)


def test_max_chats_keeps_the_most_recently_active_chats(served_account: tuple[Path, str], tmp_path: Path) -> None:
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    summary = extract(config, tmp_path / "s.db", "--max-chats", "5")
    assert summary["exit_code"] == 0, summary
    stored = store_messages(tmp_path / "s.db")
    chats = {key[0] for key in stored}
    assert len(chats) == 5
    last_times = sorted((last for _name, last in server_chats(bridge).values()), reverse=True)
    assert all(server_chats(bridge)[jid][1] >= last_times[4] for jid in chats)
    expected = collections.Counter({k: n for k, n in server_messages(bridge).items() if k[0] in chats})
    assert stored == expected


def test_runs_after_a_selective_one_still_bring_every_chat(served_account: tuple[Path, str], tmp_path: Path) -> None:
    """A --max-chats run, then a --max-history run that finds nothing in its window (a quiet day), then a plain
    run, all within the hour between full listings: the plain run must still bring every chat, and say so."""
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    assert extract(config, tmp_path / "s.db", "--max-chats", "3")["exit_code"] == 0
    assert extract(config, tmp_path / "q.db", "--max-history", "0.001")["messages_new"] == 0
    for db in ("s.db", "q.db"):
        summary = extract(config, tmp_path / db)
        assert (summary["exit_code"], summary["status"]) == (0, "complete"), summary
        assert store_messages(tmp_path / db) == server_messages(bridge)


def test_max_history_keeps_only_the_last_hours(served_account: tuple[Path, str], tmp_path: Path) -> None:
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    everything = server_messages(bridge)
    # Put the window's start in the middle of a quiet night of the data (more than an hour without messages), so
    # the few seconds between computing it here and in the extractor cannot change which messages are inside.
    seconds = sorted({key[1] for key in everything})
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(seconds) if b - a > 3600]
    _gap, before_gap, after_gap = gaps[len(gaps) * 3 // 4]
    cutoff = (before_gap + after_gap) / 2
    hours = (datetime.now(UTC).timestamp() - cutoff) / 3600
    summary = extract(config, tmp_path / "s.db", "--max-history", f"{hours:.6f}")
    assert summary["exit_code"] == 0, summary
    expected = collections.Counter({k: n for k, n in everything.items() if k[1] > cutoff})
    assert 0 < sum(expected.values()) < sum(everything.values())
    assert store_messages(tmp_path / "s.db") == expected


def test_full_refetches_every_chat_and_changes_nothing(served_account: tuple[Path, str], tmp_path: Path) -> None:
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    first = extract(config, tmp_path / "s.db")
    assert first["exit_code"] == 0, first
    full = extract(config, tmp_path / "s.db", "--full")
    assert full["exit_code"] == 0, full
    assert full["chats_skipped"] == 0
    assert full["pages"] >= full["chats_total"] == first["chats_total"]
    assert (full["messages_new"], full["messages_updated"]) == (0, 0)
    assert store_messages(tmp_path / "s.db") == server_messages(bridge)


def _exported(fmt: str, out: Path) -> collections.Counter[tuple[str, int, str, bool]]:
    def key(row: dict[str, Any]) -> tuple[str, int, str, bool]:
        mine = row["is_from_me"]
        mine = mine if isinstance(mine, bool) else str(mine).lower() in {"1", "true"}
        return row["chat_jid"], int(row["ts_ms"]) // 1000, row["content"] or "", mine

    if fmt == "json":
        rows: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    elif fmt == "csv":
        with out.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = pq.read_table(out).to_pylist()
    return collections.Counter(key(row) for row in rows)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_export_after_extract_holds_every_message(served_account: tuple[Path, str], tmp_path: Path, fmt: str) -> None:
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    summary = extract(config, tmp_path / "s.db", "--export", fmt)
    assert summary["exit_code"] == 0, summary
    out = tmp_path / f"s-export.{fmt}"
    assert _exported(fmt, out) == server_messages(bridge)


def test_export_txt_writes_one_chat_export_per_chat(served_account: tuple[Path, str], tmp_path: Path) -> None:
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    summary = extract(config, tmp_path / "s.db", "--export", "txt")
    assert summary["exit_code"] == 0, summary
    files = list((tmp_path / "s-export").glob("*.txt"))
    chats_with_messages = {key[0] for key in server_messages(bridge)}
    assert len(files) == len(chats_with_messages)
    assert all(f.read_text(encoding="utf-8").strip() for f in files)


def test_unknown_export_format_is_a_usage_error(served_account: tuple[Path, str], tmp_path: Path) -> None:
    _bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    result = runner.invoke(app, ["extract", "--config", str(config), "--db", "s.db", "--export", "xls"])
    assert result.exit_code == 2
    assert "xls" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.db").exists()


def test_a_failing_chat_exits_1_and_the_rest_is_stored(account: Path, tmp_path: Path) -> None:
    # One chat holds a row the server cannot read (as a corrupt bridge row would): every listing that reaches it
    # fails, the account-wide walk included, so the extractor falls back to chat by chat and only that chat fails.
    with sqlite3.connect(account) as conn:
        (broken,) = conn.execute(
            "SELECT chat_jid FROM messages GROUP BY chat_jid HAVING count(*) > 3 ORDER BY chat_jid LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE messages SET timestamp = '2025-01-01 broken' WHERE rowid = "
            "(SELECT rowid FROM messages WHERE chat_jid = ? ORDER BY timestamp LIMIT 1)",
            (broken,),
        )

    with DemoServerProcess(transport="http", db=account) as server:
        config = write_config(tmp_path / "mcp_config.json", http_server(server.url))
        summary = extract(config, tmp_path / "s.db")
    assert summary["exit_code"] == 1, summary
    assert summary["status"] == "partial"
    assert list(summary["errors"]) == [broken]
    assert summary["chats_done"] == summary["chats_total"] - 1
    number, domain = broken.split("@")
    assert f"{number[-4:]}@{domain}" in summary["stderr"]  # named on stderr (logs mask most of a number)
    with sqlite3.connect(account) as conn:
        conn.execute("DELETE FROM messages WHERE timestamp = '2025-01-01 broken'")
    assert store_messages(tmp_path / "s.db") == server_messages(account, skip_chats=[broken])


def test_rerun_after_a_failed_chat_completes_it(account: Path, tmp_path: Path) -> None:
    """A data engineer's nightly job: a chat that failed is simply retried by the next run."""

    with sqlite3.connect(account) as conn:
        (broken,) = conn.execute("SELECT jid FROM chats ORDER BY jid LIMIT 1").fetchone()
        (saved,) = conn.execute(
            "SELECT timestamp FROM messages WHERE chat_jid = ? ORDER BY timestamp LIMIT 1", (broken,)
        ).fetchone()
        conn.execute(
            "UPDATE messages SET timestamp = '2025-01-01 broken' WHERE chat_jid = ? AND timestamp = ?", (broken, saved)
        )
    with DemoServerProcess(transport="http", db=account) as server:
        config = write_config(tmp_path / "mcp_config.json", http_server(server.url))
        assert extract(config, tmp_path / "s.db")["exit_code"] == 1
        with sqlite3.connect(account) as conn:
            conn.execute("UPDATE messages SET timestamp = ? WHERE timestamp = '2025-01-01 broken'", (saved,))
        again = extract(config, tmp_path / "s.db")
    assert again["exit_code"] == 0, again
    assert again["chats_skipped"] == again["chats_total"] - 1
    assert store_messages(tmp_path / "s.db") == server_messages(account)


def test_max_history_in_the_future_of_the_data_stores_nothing(served_account: tuple[Path, str], tmp_path: Path) -> None:
    _bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    newest = max(last for _name, last in server_chats(_bridge).values())
    hours = (datetime.now(UTC) - datetime.fromtimestamp(newest, UTC) - timedelta(hours=1)).total_seconds() / 3600
    summary = extract(config, tmp_path / "s.db", "--max-history", f"{hours:.3f}")
    assert summary["exit_code"] == 0, summary
    assert summary["messages_new"] == 0
    assert store_messages(tmp_path / "s.db") == collections.Counter()


def test_an_unknown_chat_jid_is_named_and_exits_1(served_account: tuple[Path, str], tmp_path: Path) -> None:
    bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    real = next(iter(server_chats(bridge)))
    summary = extract(config, tmp_path / "s.db", "--chat", real, "--chat", "447700900000@s.whatsapp.net")
    assert summary["exit_code"] == 1, summary
    assert list(summary["errors"]) == ["447700900000@s.whatsapp.net"]
    assert summary["chats_done"] == summary["chats_total"] == 1
    expected = collections.Counter({k: n for k, n in server_messages(bridge).items() if k[0] == real})
    assert store_messages(tmp_path / "s.db") == expected


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_sigterm_stops_a_run_like_ctrl_c(account: Path, tmp_path: Path, env: dict[str, str], sigint: str) -> None:
    """systemd and `timeout` stop jobs with SIGTERM: the run ends as interrupted (exit 130, a JSON line for the
    job's log), keeps what it read, and the next run completes the store exactly. Also for a background job of a
    script (`wamcp extract &` in a non-interactive shell), which starts with SIGINT ignored."""
    # --max-chats selects every chat, so all are read one by one (no account walk, whose rows are stored only when
    # it ends, ~0.5 s before the end of a plain run here): rows are stored from the first seconds, and ~4.5 s of
    # reading follow before the run would end by itself.
    with DemoServerProcess(transport="http", db=account, extra_args=["--latency-ms", "30"]) as server:
        config = write_config(tmp_path / "mcp_config.json", http_server(server.url))
        argv = [WAMCP, "extract", "--config", str(config), "--db", "s.db", "--json", "--concurrency", "2"]
        argv += ["--max-chats", "1000"]
        if sigint == "ignored":  # as a non-interactive shell starts `wamcp extract &`
            ignore = (
                "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                "os.execv(sys.argv[1], sys.argv[1:])"
            )
            argv = [sys.executable, "-c", ignore, *argv]
        process = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _stored_any(tmp_path / "s.db"):
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
        assert process.returncode == 130, stderr
        line = only_json_object(stdout.decode())
        assert line["status"] == "interrupted"
        assert b"Traceback" not in stderr
        with sqlite3.connect(tmp_path / "s.db") as conn:
            assert conn.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
            stored = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        # the job's log says what the stopped run did: every message it counted is in the store
        assert (line["run_id"], line["messages_new"], line["chats_total"]) == (1, stored, len(server_chats(account)))
        assert 0 < line["chats_done"] < line["chats_total"]
        write_config(config, http_server(server.url))
        rerun = run_cli([WAMCP, "extract", "--config", str(config), "--db", "s.db", "--json"], cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert store_messages(tmp_path / "s.db") == server_messages(account)


def _stored_any(db: Path) -> bool:
    """Some chat's messages are committed (the run is well under way)."""
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as conn:
            return bool(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.Error:
        return False


def test_a_second_run_on_the_same_store_is_refused_until_the_first_ends(
    account: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """A cron job that overlaps the previous run: the second run says in one line that another is syncing this
    store, exits 2 and records nothing (both used to read the whole server, each marking the other's run
    interrupted). The lock dies with its holder: after a SIGKILL the next run goes ahead and completes the store."""
    # 100 ms a call, two chats at a time: the first run takes ~9 s, while the second run and a status start and end
    # (at 30 ms, ~2.5 s, the first run ended first once, on a machine busy with other tests).
    with DemoServerProcess(transport="http", db=account, extra_args=["--latency-ms", "100"]) as server:
        config = write_config(tmp_path / "mcp_config.json", http_server(server.url))
        argv = [WAMCP, "extract", "--config", str(config), "--db", "s.db", "--json"]
        first = start_quietly([*argv, "--concurrency", "2", "--max-chats", "1000"], cwd=tmp_path, env=env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _stored_any(tmp_path / "s.db"):
                time.sleep(0.05)
            second = run_cli(argv, cwd=tmp_path, env=env)
            looking = run_cli([WAMCP, "status", "--db", "s.db", "--json"], cwd=tmp_path, env=env)
            assert first.poll() is None, "the first run ended before the second one started"
            first.kill()  # SIGKILL: no chance to release anything itself
            first.wait(timeout=30)
            after = run_cli([WAMCP, "status", "--db", "s.db", "--json"], cwd=tmp_path, env=env)
        finally:
            first.kill()
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert lines[0].startswith("error: another wamcp extract is syncing"), second.stderr
        assert f"pid {first.pid}" in lines[0]
        assert only_json_object(second.stdout)["status"] == "failed"
        # `wamcp status` named the running extraction, and after the kill calls its run killed
        status = json.loads(looking.stdout)
        assert status["accounts"][0]["running"]["pid"] == first.pid
        assert [(r["status"], r["killed"]) for r in status["runs"]] == [("running", False)]
        assert json.loads(after.stdout)["accounts"][0]["running"] is None
        assert [(r["status"], r["killed"]) for r in json.loads(after.stdout)["runs"]] == [("running", True)]
        third = run_cli(argv, cwd=tmp_path, env=env)
    assert third.returncode == 0, third.stderr
    assert store_messages(tmp_path / "s.db") == server_messages(account)
    with sqlite3.connect(tmp_path / "s.db") as conn:
        # the killed run, then the one after it: the refused run left no trace
        assert conn.execute("SELECT status FROM runs ORDER BY id").fetchall() == [("interrupted",), ("complete",)]


def test_all_accounts_held_by_another_run_exit_2_like_a_single_account(account: Path, tmp_path: Path) -> None:
    """A nightly `wamcp extract --all` that overlaps the previous one: every account is being synced by the other
    process, so this run did nothing and must exit 2 as a refused single-account run does, not 1 ("partial: the
    rest is stored"). With one account free, that one is synced and the run is partial (exit 1)."""
    config = tmp_path / "mcp_config.json"
    write_config(config, {"connection_type": "stdio"})
    section = json.loads(config.read_text(encoding="utf-8"))
    section["whatsapp"]["accounts"] = {name: {"server": stdio_server(account)} for name in ("sales", "support")}
    config.write_text(json.dumps(section), encoding="utf-8")
    db = tmp_path / "s.db"
    with Store.open(db) as other, other.for_account("sales").run_lock():  # the other process's run of "sales"
        alone = extract(config, db, "--account", "sales")
        with other.for_account("support").run_lock():
            both = extract(config, db, "--all")
        one_free = extract(config, db, "--all")
    assert (alone["exit_code"], alone["status"]) == (2, "failed"), alone
    assert "another wamcp extract is syncing account 'sales'" in alone["accounts"]["sales"]["error"]
    assert (both["exit_code"], both["status"]) == (2, "failed"), both
    assert {name: a["status"] for name, a in both["accounts"].items()} == {"sales": "failed", "support": "failed"}
    assert (one_free["exit_code"], one_free["status"]) == (1, "partial"), one_free
    assert one_free["accounts"]["support"]["status"] == "complete"


def test_a_run_interrupted_while_connecting_reports_no_run_of_another_process(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """SIGTERM while the server is still starting: this run recorded nothing, so its JSON line names no run. A run
    another process started meanwhile (an overlapping cron job) is not this one's and must not be reported as the
    interrupted run with that run's counts."""
    started = tmp_path / "server-started"
    hang = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"  # never answers
    server = {"endpoint": "hung (stdio)", "connection_type": "stdio", "command": sys.executable, "args": ["-c", hang]}
    config = write_config(tmp_path / "mcp_config.json", {**server, "timeout": 60})
    argv = [WAMCP, "extract", "--config", str(config), "--db", "s.db", "--json"]
    process = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not started.exists():
            time.sleep(0.05)
        assert started.exists(), "the stdio server was never started"
        with Store.open(tmp_path / "s.db") as other, other.run_lock():
            theirs = other.start_run("the other process")
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert only_json_object(stdout.decode()) == {"status": "interrupted", "db": "s.db"}, f"run {theirs} is not ours"


def test_a_stdio_server_that_exits_at_start_is_reported_with_its_own_words_and_exit_status(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The usual failure of a lharries install: `uv run main.py` in the wrong directory, or a missing dependency.
    The user sees what the server wrote, then one line saying it exited and how; exit code 3; no traceback."""
    fails = "import sys; sys.stderr.write('ModuleNotFoundError: no module named fastmcp\\n'); sys.exit(2)"
    server = {"endpoint": "broken", "connection_type": "stdio", "command": sys.executable, "args": ["-c", fails]}
    config = write_config(tmp_path / "mcp_config.json", server)

    result = run_cli([WAMCP, "extract", "--config", str(config), "--db", "s.db"], cwd=tmp_path, env=env)

    assert result.returncode == 3, result.stderr
    assert "ModuleNotFoundError: no module named fastmcp" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "the server process exited with code 2 while connecting" in errors[0]
    assert "Traceback" not in result.stderr
