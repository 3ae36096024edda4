"""Crash safety of ``wamcp extract`` against a real demo server over streamable HTTP.

The extractor is killed with SIGKILL at ten random moments of one extraction (each rerun resumes from the stored
cursors), and in another test the *server* is killed and restarted on the same port mid-run. Either way a final
normal run must leave exactly the server's messages: none lost, none duplicated, and a sound SQLite file.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.extract.support import (
    WAMCP,
    free_port,
    http_server,
    only_json_object,
    run_cli,
    server_messages,
    start_quietly,
    store_integrity,
    store_messages,
    user_env,
    write_config,
)
from wamcp.demo import DemoServerProcess, generate_database

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

KILLS = 10


@pytest.fixture
def account(tmp_path: Path) -> Path:
    path = tmp_path / "bridge" / "messages.db"
    path.parent.mkdir()
    generate_database(path, messages=1200, seed=11)
    return path


def _runs(store: Path) -> list[tuple[int, str]]:
    """``(id, status)`` of every run in the store, or nothing while the file does not exist yet."""
    if not store.exists():
        return []
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            return [(int(i), str(s)) for i, s in conn.execute("SELECT id, status FROM runs ORDER BY id")]
    except sqlite3.OperationalError:  # the schema is being created by the extractor right now
        return []


def _wait_for_run(store: Path, run_count: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait until the store records run number ``run_count`` (the extractor is past its start-up); False if the
    process ended first."""
    while time.monotonic() < deadline:
        if len(_runs(store)) >= run_count:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError(f"the extractor did not start run {run_count} in time")


def _extract_cmd(config: Path, store: Path, *extra: str) -> list[str]:
    return [WAMCP, "extract", "--config", str(config), "--db", str(store), "--quiet", *extra]


@pytest.mark.parametrize("output", ["text", "structured"])
def test_sigkill_at_ten_random_moments_then_a_normal_run_stores_exactly_the_server(
    account: Path, tmp_path: Path, output: str
) -> None:
    """``structured``: JSON rows that name their chat, so a fresh store's account walk reads every chat (in concurrent
    spans of time) and its rows are staged until it ends."""
    rng = random.Random(20261124)
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home)
    store = tmp_path / "store.db"
    # 250 ms per call and two chats at a time: one extraction takes several seconds, long enough for ten kills. A
    # fresh store's walk reads 2,000 messages a call, so this account's walk is a listing call and two walk calls
    # after its run is recorded: at 80 ms a call, a kill that came late (a loaded machine notices the run late) found
    # the whole account stored, and every later run had nothing left to do (CI failed: 6 of 10 kills landed).
    with DemoServerProcess(
        transport="http", db=account, extra_args=["--latency-ms", "250", "--output", output]
    ) as server:
        config = write_config(tmp_path / "mcp_config.json", http_server(server.url))
        if output == "structured":
            settings = json.loads(config.read_text(encoding="utf-8"))
            settings["whatsapp"]["profile"] = "structured"
            config.write_text(json.dumps(settings), encoding="utf-8")
        killed_mid_run = 0
        missed: list[tuple[int, int | None]] = []  # attempts that ended before their kill: (attempt, exit code)
        for attempt in range(1, KILLS + 1):
            # The first kills land in the account-wide walk of a fresh store (nothing is claimed until it ends);
            # the later runs select chats (--max-chats), which reads chat by chat, cursors moving page by page.
            selection = [] if attempt <= 3 else ["--max-chats", "100000"]
            proc = start_quietly(_extract_cmd(config, store, "--concurrency", "2", *selection), cwd=tmp_path, env=env)
            try:
                if _wait_for_run(store, attempt, proc, time.monotonic() + 60):
                    time.sleep(rng.uniform(0.0, 0.5))  # a random moment of the extraction, not a wait for anything
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        killed_mid_run += 1
                    else:
                        missed.append((attempt, proc.returncode))
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(30)
        assert killed_mid_run >= KILLS - 2, f"the kills should land inside the extraction; missed: {missed}"
        assert store_integrity(store)[0] == "ok"

        final = run_cli([*_extract_cmd(config, store), "--json"], cwd=tmp_path, env=env)
    assert final.returncode == 0, final.stderr
    summary = only_json_object(final.stdout)
    assert summary["status"] == "complete"
    expected = server_messages(account)
    assert store_messages(store) == expected
    verdict, count, keys = store_integrity(store)
    assert verdict == "ok"
    assert count == keys == sum(expected.values())
    statuses = [status for _id, status in _runs(store)]
    # Killed runs are found `running` and marked `interrupted` by the next run (a kill that landed after the run
    # was recorded complete, while the process was exiting, leaves it complete).
    assert KILLS - 2 <= statuses.count("interrupted") <= killed_mid_run
    assert statuses[-1] == "complete"


def test_server_killed_and_restarted_mid_run_then_a_rerun_converges(account: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home)
    store = tmp_path / "store.db"
    port = free_port()
    args = ["--port", str(port), "--latency-ms", "30"]
    server = DemoServerProcess(transport="http", db=account, extra_args=args).start()
    try:
        # Retries sized to outlast a server restart (a few seconds), so the run may finish by reconnecting.
        config = write_config(
            tmp_path / "mcp_config.json",
            http_server(server.url) | {"max_retries": 6, "retry_delay": 0.5, "timeout": 20},
        )
        proc = subprocess.Popen(
            [*_extract_cmd(config, store, "--concurrency", "2"), "--json"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert _wait_for_run(store, 1, proc, time.monotonic() + 60)
            deadline = time.monotonic() + 60
            while sum(store_messages(store).values()) == 0:  # the run is storing pages
                assert time.monotonic() < deadline
                assert proc.poll() is None
                time.sleep(0.02)
            assert server.process is not None
            server.process.kill()  # the server dies without a goodbye
            server.stop()
            server = DemoServerProcess(transport="http", db=account, extra_args=args).start()
            out, err = proc.communicate(timeout=100)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        assert proc.returncode in {0, 1, 3}, err
        assert "Traceback" not in err
        first = only_json_object(out)
        assert first["status"] in {"complete", "partial", "failed"}
        assert store_integrity(store)[0] == "ok"

        rerun = run_cli([*_extract_cmd(config, store), "--json"], cwd=tmp_path, env=env)
    finally:
        server.stop()
    assert rerun.returncode == 0, rerun.stderr
    assert only_json_object(rerun.stdout)["status"] == "complete"
    expected = server_messages(account)
    assert store_messages(store) == expected
    verdict, count, keys = store_integrity(store)
    assert verdict == "ok"
    assert count == keys == sum(expected.values())
