"""Secrets never leave: a real extraction from a demo server that requires a bearer token, with the business's own
phone number configured (and sent to the server for pairing), run the ways a user runs it: ``-vv`` logs,
``--json``, progress bars on a terminal, exports in every format, ``config show``, ``check``, and runs with a wrong
token.
Every byte of every output (stdout, stderr, the terminal, exported files, the store) is searched for the token and
the phone number, with and without ``+``. (``wamcp report`` is left out to keep CI fast: it reads the same store.)

Also: a config file holding a token that other users can read makes the CLI warn (the loader's warning itself is
tested in ``tests/unit/test_config.py``). TLS (https/wss with a self-signed certificate refused by default, accepted
with a CA bundle) is tested in ``tests/integration/core/test_tls.py``.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.e2e.extract.support import WAMCP, only_json_object, run_cli, server_messages, store_messages, user_env
from wamcp.cli import app
from wamcp.demo import DemoServerProcess, generate_database
from wamcp.store.export import FORMATS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TOKEN = "wamcp-tok-5e3cr3t-Qx7Zp2"
WRONG_TOKEN = "wamcp-tok-wr0ng-Kd81Lm"
runner = CliRunner()


def run_on_terminal(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 90.0) -> tuple[int, bytes]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal (progress bars on); return (exit code, all output)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = bytearray()
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError as err:  # EIO: the child closed the terminal (it exited)
                if err.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            output += chunk
        code = proc.wait(timeout)
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    return code, bytes(output)


def leaks(data: bytes, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret.encode() in data]


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 1,000-message demo account and its business's phone number (digits, no ``+``)."""
    path = tmp_path_factory.mktemp("secrets") / "messages.db"
    result = generate_database(path, messages=1000, seed=31)
    return path, str(result.truth["business"]["phone"])


def test_the_token_and_the_phone_number_appear_in_no_output(
    account: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge, phone = account
    secrets = [TOKEN, WRONG_TOKEN, phone, "+" + phone]
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home, COLUMNS="100", TERM="xterm-256color")
    outputs: dict[str, bytes] = {}
    store = tmp_path / "whatsapp.db"

    server_args = ["--pairing-tools"]
    with DemoServerProcess(transport="http", db=bridge, token=TOKEN, extra_args=server_args) as server:
        section: dict[str, Any] = {
            "server": {"endpoint": server.url, "connection_type": "streamable_http", "auth_token": TOKEN},
            "rate_limits": {"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0},
            "server_timezone": "UTC",
            "profile": "lharries",
            "phone_number": "+" + phone,
            "auto_authenticate": True,  # so the number is really used: it goes to the server's request_pairing
        }
        config = tmp_path / "mcp_config.json"
        config.write_text(json.dumps({"whatsapp": section}), encoding="utf-8")
        config.chmod(0o644)  # readable by other users: the CLI must warn (once the run is over: chmod 600)

        extract = [WAMCP, "extract", "--config", str(config), "--db", str(store)]
        # -vv: our debug logs and the libraries' wire-level ones (every HTTP exchange and MCP message)
        verbose = run_cli([*extract, "--json", "-vv"], cwd=tmp_path, env=env)
        assert verbose.returncode == 0, verbose.stderr
        assert only_json_object(verbose.stdout)["status"] == "complete"
        assert "chmod 600" in verbose.stderr  # the world-readable token file is called out
        assert "request_pairing" in verbose.stderr  # the phone number really went to the server (masked in the log)
        outputs["extract --json -vv: stdout"] = verbose.stdout.encode()
        outputs["extract --json -vv: stderr"] = verbose.stderr.encode()
        config.chmod(0o600)

        code, terminal = run_on_terminal([*extract, "--full", "--export", "parquet"], cwd=tmp_path, env=env)
        assert code == 0, terminal.decode(errors="replace")
        assert b"\x1b[" in terminal  # rich drew on the terminal
        assert b"msg/s" in terminal  # ... the progress bars
        outputs["extract on a terminal (progress bars, summary)"] = terminal

        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        for name in ("MCP_CONFIG_FILE", "MCP_WHATSAPP_AUTH_TOKEN", "MCP_WHATSAPP_PHONE_NUMBER"):
            monkeypatch.delenv(name, raising=False)
        for fmt in FORMATS:
            out = tmp_path / f"export-{fmt}" if fmt == "txt" else tmp_path / f"export.{fmt}"
            result = runner.invoke(app, ["export", "--db", str(store), "--format", fmt, "--out", str(out)])
            assert result.exit_code == 0, result.output
            outputs[f"export {fmt}: output"] = result.output.encode()
        for arguments in (["config", "show", "--config", str(config)], ["config", "show", "--json", "-c", str(config)]):
            result = runner.invoke(app, arguments)
            assert result.exit_code == 0, result.output
            outputs[" ".join(arguments[:3])] = result.output.encode()

        wrong = dict(section, server=dict(section["server"], auth_token=WRONG_TOKEN))
        wrong_config = tmp_path / "wrong.json"
        wrong_config.write_text(json.dumps({"whatsapp": wrong}), encoding="utf-8")
        wrong_config.chmod(0o600)
        for extra in (["--json"], ["-vv"]):
            result = runner.invoke(app, ["extract", "--config", str(wrong_config), "--db", str(store), *extra])
            assert result.exit_code == 3, result.output
            outputs[f"extract with a wrong token {extra}"] = result.output.encode()
        for used, expected in ((config, 0), (wrong_config, 3)):
            for extra in ([], ["--json"], ["-vv"]):
                result = runner.invoke(app, ["check", "--config", str(used), *extra])
                assert result.exit_code == expected, result.output
                outputs[f"check {used.name} {extra}"] = result.output.encode()

    assert store_messages(store) == server_messages(bridge)

    files = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(home) and p != config]
    files = [p for p in files if p not in (wrong_config, bridge)]
    assert {p.suffix for p in files} >= {".json", ".jsonl", ".csv", ".parquet", ".txt", ".db"}
    for path in files:
        outputs[str(path.relative_to(tmp_path))] = path.read_bytes()

    found = {where: leaks(data, secrets) for where, data in outputs.items()}
    assert {where: what for where, what in found.items() if what} == {}
