"""``wamcp config`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wamcp.cli import app

runner = CliRunner()


def test_config_init_writes_sample(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "init", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mcp_config_sample.json").exists()


def test_config_show_redacts_token_and_names_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCP_WHATSAPP_AUTH_TOKEN", "tok-very-secret")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"]["whatsapp"]["server"]["auth_token"] == "***"
    assert data["sources"]["server.auth_token"] == "env MCP_WHATSAPP_AUTH_TOKEN"
    assert "tok-very-secret" not in result.output


def test_config_show_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert "whatsapp.server.endpoint" in result.stdout


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"whatsapp": {"server": {"connection_type": "smoke-signals"}}}')
    result = runner.invoke(app, ["config", "show", "--config", str(bad)])
    assert result.exit_code == 2
    assert "smoke-signals" in result.output
    assert "Traceback" not in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("wamcp ")
