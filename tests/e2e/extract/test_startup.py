"""How ``wamcp extract`` starts: the stdio server first, the client's heavy imports while it starts.

The command lines import neither ``mcp`` nor the extraction layers until an extraction runs, so that the server
(spawned as soon as the config is read) starts up alongside them; the transport then takes that same process over.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .support import WAMCP, only_json_object, run_cli, server_messages, stdio_server, store_messages, write_config

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("module", ["wamcp.cli", "wamcp.cli.extractor", "whatsapp_mcp_extractor"])
def test_the_command_lines_load_without_the_mcp_sdk(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


_NOTING_WRAPPER = textwrap.dedent(
    """\
    import os, sys
    with open(sys.argv[1], "a") as f:
        f.write(f"{os.getpid()}\\n")
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
    """
)


def _noted(tmp_path: Path, bridge: Path, starts: Path) -> dict[str, Any]:
    """A demo server over ``bridge`` behind a wrapper that notes each start in ``starts`` (it execs the server, so
    the noted pid is the server's)."""
    wrapper = tmp_path / "noting_server.py"
    wrapper.write_text(_NOTING_WRAPPER)
    demo = stdio_server(bridge)
    return demo | {"command": sys.executable, "args": [str(wrapper), str(starts), *demo["args"]]}


def test_one_server_process_serves_each_run(account: Path, tmp_path: Path, env: dict[str, str]) -> None:
    starts = tmp_path / "starts.txt"
    config = write_config(tmp_path / "mcp_config.json", _noted(tmp_path, account, starts))
    command = [WAMCP, "extract", "--config", str(config), "--db", "store.db", "--json"]

    for run in (1, 2):
        result = run_cli(command, cwd=tmp_path, env=env, timeout=110)
        assert result.returncode == 0, result.stderr
        assert only_json_object(result.stdout)["status"] == "complete"
        assert len(starts.read_text().split()) == run  # the early start was taken over, not doubled
    assert store_messages(tmp_path / "store.db") == server_messages(account)


def test_each_account_gets_one_server_process(account: Path, tmp_path: Path, env: dict[str, str]) -> None:
    second = tmp_path / "second" / "messages.db"
    second.parent.mkdir()
    shutil.copyfile(account, second)
    accounts = {
        name: {"server": _noted(tmp_path, bridge, tmp_path / f"starts-{name}.txt")}
        for name, bridge in (("shop", account), ("cafe", second))
    }
    config = tmp_path / "mcp_config.json"
    write_config(config, {})
    data = json.loads(config.read_text())
    data["whatsapp"]["accounts"] = accounts
    config.write_text(json.dumps(data))

    result = run_cli(
        [WAMCP, "extract", "--config", str(config), "--db", "store.db", "--all", "--json"],
        cwd=tmp_path,
        env=env,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr
    assert only_json_object(result.stdout)["total"]["messages_new"] == 2 * sum(server_messages(account).values())
    for name in accounts:
        assert len((tmp_path / f"starts-{name}.txt").read_text().split()) == 1, name


@pytest.mark.parametrize("accounts", [False, True], ids=["one server", "--all"])
def test_the_command_starts_its_stdio_servers_early(
    account: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accounts: bool
) -> None:
    # In process, so that the early starts can be counted: `started_early` spawns through the module's `spawn`,
    # the transport through its own import of it. Every early start must be taken over (one process per server).
    from typer.testing import CliRunner

    from wamcp import stdio_process
    from wamcp.cli import app

    monkeypatch.chdir(tmp_path)
    early: list[int] = []
    real_spawn = stdio_process.spawn

    def noting_spawn(*args: Any) -> stdio_process.ServerProcess:
        process = real_spawn(*args)
        early.append(process.pid)
        return process

    monkeypatch.setattr(stdio_process, "spawn", noting_spawn)
    starts = tmp_path / "starts.txt"
    config = write_config(tmp_path / "mcp_config.json", _noted(tmp_path, account, starts))
    args = ["extract", "--config", str(config), "--db", "store.db", "--json"]
    if accounts:
        data = json.loads(config.read_text())
        server = data["whatsapp"].pop("server")
        data["whatsapp"]["accounts"] = {"shop": {"server": server}}
        config.write_text(json.dumps(data))
        args.append("--all")

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert early == [int(pid) for pid in starts.read_text().split()]  # one start, the early one
