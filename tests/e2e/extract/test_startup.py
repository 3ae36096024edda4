"""How ``wamcp extract`` starts: the stdio server first, the client's heavy imports while it starts.

The command lines import neither ``mcp`` nor the extraction layers until an extraction runs, so that the server
(spawned as soon as the config is read) starts up alongside them; the transport then takes that same process over.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .support import WAMCP, only_json_object, run_cli, server_messages, stdio_server, store_messages, write_config

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("module", ["wamcp.cli", "wamcp.cli.extractor", "whatsapp_mcp_extractor"])
def test_the_command_lines_load_without_the_mcp_sdk(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_one_server_process_serves_each_run(account: Path, tmp_path: Path, env: dict[str, str]) -> None:
    # The demo server behind a wrapper that notes each start (same process: it execs the server).
    wrapper = tmp_path / "noting_server.py"
    wrapper.write_text(
        textwrap.dedent(
            """\
            import os, sys
            with open(sys.argv[1], "a") as f:
                f.write(f"{os.getpid()}\\n")
            os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
            """
        )
    )
    starts = tmp_path / "starts.txt"
    demo = stdio_server(account)
    server = demo | {"command": sys.executable, "args": [str(wrapper), str(starts), *demo["args"]]}
    config = write_config(tmp_path / "mcp_config.json", server)
    command = [WAMCP, "extract", "--config", str(config), "--db", "store.db", "--json"]

    for run in (1, 2):
        result = run_cli(command, cwd=tmp_path, env=env, timeout=110)
        assert result.returncode == 0, result.stderr
        assert only_json_object(result.stdout)["status"] == "complete"
        assert len(starts.read_text().split()) == run  # the early start was taken over, not doubled
    assert store_messages(tmp_path / "store.db") == server_messages(account)
