"""What a person sees: one-line errors with the documented exit codes, and progress bars only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .support import (
    EXTRACTOR_SCRIPT,
    WAMCP,
    free_port,
    http_server,
    run_cli,
    run_side_by_side,
    stdio_server,
    user_env,
    write_config,
)

pytestmark = pytest.mark.e2e


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _assert_one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_bare_extractor_with_no_server_names_the_endpoint_and_suggests_demo(tmp_path: Path, home: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there once the probe socket is closed
    cases = {closed: user_env(home, MCP_WHATSAPP_ENDPOINT=closed)}
    if not _port_in_use(3000):  # the seed's default endpoint, when this machine leaves it free
        cases["http://localhost:3000"] = user_env(home)
    for case in cases:
        (tmp_path / _slug(case)).mkdir()
    results = run_side_by_side(
        [([sys.executable, str(EXTRACTOR_SCRIPT)], tmp_path / _slug(case), env) for case, env in cases.items()]
    )
    for endpoint, result in zip(cases, results, strict=True):
        assert result.returncode == 3, (endpoint, result.stderr)
        line = _assert_one_line(result.stderr)
        assert endpoint in line
        assert "--demo" in line
        assert result.stdout == ""
        assert not (tmp_path / _slug(endpoint) / "whatsapp.db").exists()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def test_unreachable_server_with_json_prints_a_failed_summary(tmp_path: Path, env: dict[str, str]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/mcp"
    result = run_cli(
        [WAMCP, "extract", "--json", "--mcp-endpoint", endpoint, "--mcp-connection", "streamable_http"],
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 3
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert endpoint in summary["error"]
    _assert_one_line(result.stderr)


def test_malformed_config_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    cases = {
        "invalid JSON": '{"whatsapp": {"server": {"endpoint": "http://x"',
        "carrier-pigeon": '{"whatsapp": {"server": {"connection_type": "carrier-pigeon"}}}',
    }
    for expected, text in cases.items():
        (tmp_path / _slug(expected)).mkdir()
        (tmp_path / _slug(expected) / "mcp_config.json").write_text(text, encoding="utf-8")
    results = run_side_by_side(
        [([sys.executable, str(EXTRACTOR_SCRIPT)], tmp_path / _slug(expected), env) for expected in cases]
    )
    for expected, result in zip(cases, results, strict=True):
        assert result.returncode == 2, (expected, result.stderr)
        line = _assert_one_line(result.stderr)
        assert expected in line


def _run_with_terminals(
    args: list[str], *, cwd: Path, env: dict[str, str], stdout_tty: bool, stderr_tty: bool
) -> tuple[int, str, str]:
    """Run ``args`` with stdout and/or stderr on a pseudo-terminal (the rest on pipes); return (code, out, err)."""
    streams: dict[str, tuple[int, int] | None] = {
        "stdout": pty.openpty() if stdout_tty else None,
        "stderr": pty.openpty() if stderr_tty else None,
    }
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=streams["stdout"][1] if streams["stdout"] else subprocess.PIPE,
        stderr=streams["stderr"][1] if streams["stderr"] else subprocess.PIPE,
    )
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    def drain(name: str, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side closed
                return
            if not data:
                return
            chunks[name].append(data)

    readers = []
    for name, pair in streams.items():
        if pair is not None:
            os.close(pair[1])
            fd = pair[0]
        else:
            pipe = proc.stdout if name == "stdout" else proc.stderr
            assert pipe is not None
            fd = pipe.fileno()
        reader = threading.Thread(target=drain, args=(name, fd), daemon=True)
        reader.start()
        readers.append(reader)
    try:
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for reader in readers:
        reader.join(10)
    for pair in streams.values():
        if pair is not None:
            os.close(pair[0])
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return (
        code,
        b"".join(chunks["stdout"]).decode(errors="replace"),
        b"".join(chunks["stderr"]).decode(errors="replace"),
    )


def test_progress_bars_only_when_stdout_and_stderr_are_terminals(
    served_account: tuple[Path, str], tmp_path: Path, env: dict[str, str]
) -> None:
    _bridge, url = served_account
    config = write_config(tmp_path / "mcp_config.json", http_server(url))
    cases = {
        "terminal": (True, True, []),
        "stdout piped": (False, True, []),
        "quiet": (True, True, ["--quiet"]),
    }
    results: dict[str, tuple[int, str, str]] = {}

    def run(name: str) -> None:
        stdout_tty, stderr_tty, extra = cases[name]
        db = f"{name.replace(' ', '-')}.db"
        args = [
            WAMCP,
            "extract",
            "--config",
            str(config),
            "--db",
            db,
            "--max-chats",
            "40",
            "--concurrency",
            "2",
            *extra,
        ]
        results[name] = _run_with_terminals(args, cwd=tmp_path, env=env, stdout_tty=stdout_tty, stderr_tty=stderr_tty)

    # The three runs go side by side: each is a separate user at a separate terminal.
    threads = [threading.Thread(target=run, args=(name,)) for name in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(100)
    assert set(results) == set(cases)
    for name, (code, _out, err) in results.items():
        assert code == 0, (name, err)

    _code, _out, terminal_err = results["terminal"]
    assert "ETA" in terminal_err  # the bars: chats and messages, with rate and ETA
    assert "extraction complete" in terminal_err  # the final summary
    _code, _piped_out, piped_err = results["stdout piped"]
    assert "ETA" not in piped_err
    assert "extraction complete" in piped_err  # the summary is still shown to the person at the terminal
    _code, quiet_out, quiet_err = results["quiet"]
    assert "ETA" not in quiet_err
    assert quiet_out.strip() == ""
    assert quiet_err.strip() == ""


def test_a_server_that_wants_its_phone_paired_fails_the_run_with_exit_3(
    account: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    # The chat listing is refused: nothing is synced, so this is no "partial" run (exit 1), which the documented
    # cron recipe treats as nothing to act on.
    config = write_config(tmp_path / "mcp_config.json", stdio_server(account, "--require-pairing"))
    result = run_cli([WAMCP, "extract", "-c", str(config), "--db", "s.db", "--json"], cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert "pairing required" in summary["error"]
    assert "pairing required" in _assert_one_line(result.stderr)
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_a_run_in_which_every_chat_fails_exits_3(account: Path, tmp_path: Path, env: dict[str, str]) -> None:
    # The server lists its chats, then says "slow down" for ten minutes to every call.
    server = stdio_server(account, "--rate-limit-after", "3", "--retry-after", "600")
    config = write_config(tmp_path / "mcp_config.json", server | {"max_retries": 0})  # no waiting out the cooldown
    result = run_cli([WAMCP, "extract", "-c", str(config), "--db", "s.db", "--json"], cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert summary["chats_done"] == 0
    assert summary["chats_failed"] == summary["chats_total"] > 0
    assert "every selected chat failed" in result.stderr
    assert result.stderr.count("slow down: pausing calls") == 1  # one cooldown, not one per refused call
    assert all(len(line) < 400 for line in result.stderr.splitlines())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--concurrency", "0"], "--concurrency"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--export", "xls"], "xls"),
        (["--chat", "not-a-jid"], "not-a-jid"),
    ],
)
def test_a_bad_flag_is_one_line_exit_2_and_a_failed_summary_with_json(
    tmp_path: Path, env: dict[str, str], args: list[str], expected: str
) -> None:
    result = run_cli([WAMCP, "extract", "--demo", "--db", "s.db", "--json", *args], cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert expected in _assert_one_line(result.stderr)
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert expected in summary["error"]
    assert not (tmp_path / "s.db").exists()  # nothing started, nothing created


def test_an_error_text_that_looks_like_markup_is_printed_as_it_is(tmp_path: Path, env: dict[str, str]) -> None:
    # A server's error text is printed through Rich: "[/x]" there once made printing the error fail.
    config = tmp_path / "mcp_config.json"
    config.write_text('{"whatsapp": {"server": {"connection_type": "[/x] [bold]pigeon"}}}', encoding="utf-8")
    result = run_cli([WAMCP, "extract", "-c", str(config), "--db", "s.db"], cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert "[/x] [bold]pigeon" in _assert_one_line(result.stderr)
