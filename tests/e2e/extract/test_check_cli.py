"""``wamcp check`` as a user runs it before a first extraction, against real demo servers in subprocesses."""

from __future__ import annotations

import json
import socket
import sys
from datetime import datetime
from pathlib import Path

import pytest

from wamcp.demo import DemoServerProcess

from .support import WAMCP, run_cli, server_chats, stdio_server, write_config

pytestmark = pytest.mark.e2e


def _newest_activity(bridge_db: Path) -> int:
    return max(last for _name, last in server_chats(bridge_db).values())


def test_a_working_server_is_usable_and_its_newest_chat_activity_is_the_servers(
    account: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "mcp_config.json", stdio_server(account))

    table = run_cli([WAMCP, "check", "--config", str(config)], cwd=tmp_path, env=env)
    as_json = run_cli([WAMCP, "check", "--config", str(config), "--json"], cwd=tmp_path, env=env)

    assert table.returncode == 0, table.stderr
    assert "usable" in table.stdout
    assert "not usable" not in table.stdout
    assert "lharries (12 tools)" in table.stdout
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["status"] == "ok"
    assert report["profile"] == "lharries"
    assert {"list_chats", "list_messages"} <= set(report["tools"])
    assert report["transport"] == "stdio"
    assert report["protocol_version"]
    assert int(datetime.fromisoformat(report["newest_activity"]).timestamp()) == _newest_activity(account)
    assert not (tmp_path / "whatsapp.db").exists(), "a check writes no store"


def test_the_demo_checks_out(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli([WAMCP, "check", "--demo", "--json"], cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "ok"


def test_a_server_that_is_not_running_exits_3_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"

    result = run_cli(
        [WAMCP, "check", "--mcp-endpoint", url, "--mcp-connection", "streamable_http"], cwd=tmp_path, env=env
    )
    as_json = run_cli(
        [WAMCP, "check", "--mcp-endpoint", url, "--mcp-connection", "streamable_http", "--json"], cwd=tmp_path, env=env
    )

    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error:")
    assert "connection refused" in errors[0]
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["status"] == "failed"


def test_a_server_that_wants_its_phone_paired_is_not_usable(account: Path, tmp_path: Path, env: dict[str, str]) -> None:
    config = write_config(tmp_path / "mcp_config.json", stdio_server(account, "--require-pairing"))

    result = run_cli([WAMCP, "check", "--config", str(config), "--json"], cwd=tmp_path, env=env)

    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert "pair" in report["error"]


def test_a_token_the_server_refuses_is_named(account: Path, tmp_path: Path, env: dict[str, str]) -> None:
    with DemoServerProcess(transport="http", db=account, token="s3cret-token") as server:
        refused = run_cli(
            [
                WAMCP,
                "check",
                "--mcp-endpoint",
                server.url,
                "--mcp-connection",
                "streamable_http",
                "--auth-token",
                "nope",
            ],
            cwd=tmp_path,
            env=env,
        )
        accepted = run_cli(
            [WAMCP, "check", "--mcp-endpoint", server.url, "--mcp-connection", "streamable_http", "--json"],
            cwd=tmp_path,
            env=env | {"MCP_WHATSAPP_AUTH_TOKEN": "s3cret-token"},
        )

    assert refused.returncode == 3
    assert "refused our credentials" in refused.stderr
    assert "nope" not in refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["status"] == "ok"


def test_every_account_is_checked_and_one_broken_account_fails_the_check(
    account: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    broken = {"endpoint": "broken", "connection_type": "stdio", "command": sys.executable, "args": ["-c", "exit(4)"]}
    config = write_config(tmp_path / "mcp_config.json", stdio_server(account))
    section = json.loads(config.read_text(encoding="utf-8"))
    section["whatsapp"]["accounts"] = {"shop": {"server": stdio_server(account)}, "broken": {"server": broken}}
    config.write_text(json.dumps(section), encoding="utf-8")

    every = run_cli([WAMCP, "check", "--config", str(config), "--all", "--json"], cwd=tmp_path, env=env)
    table = run_cli([WAMCP, "check", "--config", str(config), "--all"], cwd=tmp_path, env=env)
    shop = run_cli([WAMCP, "check", "--config", str(config), "--account", "shop", "--json"], cwd=tmp_path, env=env)
    unknown = run_cli([WAMCP, "check", "--config", str(config), "--account", "sales"], cwd=tmp_path, env=env)

    assert every.returncode == 3, every.stderr
    reports = json.loads(every.stdout)
    assert reports["status"] == "failed"
    assert reports["accounts"]["shop"]["status"] == "ok"
    assert reports["accounts"]["broken"]["status"] == "failed"
    assert "the server process exited with code 4" in reports["accounts"]["broken"]["error"]
    assert table.returncode == 3
    assert "account shop" in table.stdout
    assert "account broken: not usable" in " ".join(table.stdout.split())
    assert shop.returncode == 0, shop.stderr
    assert json.loads(shop.stdout)["status"] == "ok"
    assert unknown.returncode == 2
    assert "no account named 'sales' in the config (accounts: shop, broken)" in " ".join(unknown.stderr.split())


def test_all_without_accounts_in_the_config_is_a_usage_error(
    account: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "mcp_config.json", stdio_server(account))

    result = run_cli([WAMCP, "check", "--config", str(config), "--all"], cwd=tmp_path, env=env)

    assert result.returncode == 2
    assert "the config names no accounts" in result.stderr
