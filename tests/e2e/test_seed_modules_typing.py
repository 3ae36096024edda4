"""Code written against the seed's module names type-checks: ``mypy --strict`` sees wamcp's types through them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

USER_CODE = """
from mcp_client import MCPClient, MCPClientError
from mcp_config import ServerConfig, load_config
from mcp_utils import register_mcp_server, use_mcp_tool
from whatsapp_mcp_client import Message, WhatsAppMCPClient
from whatsapp_mcp_extractor import main

reveal_type(MCPClient().execute_tool)
reveal_type(WhatsAppMCPClient().iter_chats)
reveal_type(load_config)
reveal_type(use_mcp_tool)
reveal_type(main)
error: type[Exception] = MCPClientError
message: Message | None = None
register_mcp_server(ServerConfig(name="files"))
"""


def test_the_seeds_modules_give_mypy_wamcps_types(tmp_path: Path) -> None:
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(user)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "import-untyped" not in result.stdout
    assert '"def (server_name: builtins.str' in result.stdout or "def (server_name: str" in result.stdout
    assert "wamcp.whatsapp.models.Chat" in result.stdout
    assert "wamcp.config.LoadedConfig" in result.stdout
