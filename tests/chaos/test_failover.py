"""Two endpoints for one server, the first killed (SIGKILL) mid-run: ``wamcp extract`` finishes on the second with
exit code 0, the store equals the source, and the user sees no error.

The core client's failover is tested at the call level in ``tests/integration/core/test_compat.py`` (first endpoint
down from the start) and pooled connections in ``tests/integration/pool/``; this is the whole CLI run with the
endpoint dying under it.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.extract.support import (
    WAMCP,
    server_messages,
    store_integrity,
    store_messages,
    user_env,
    write_config,
)
from wamcp.demo import DemoServerProcess, generate_database

from .driver import TRANSPORTS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

# What a user would read as something having gone wrong.
ALARMING = re.compile(r"error|fail|traceback|exception|cannot|refused", re.IGNORECASE)


def stored(store: Path) -> int:
    """Messages in the store so far (0 while the extractor is still creating it)."""
    try:
        return sum(store_messages(store).values()) if store.exists() else 0
    except sqlite3.OperationalError:
        return 0


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("failover") / "messages.db"
    generate_database(path, messages=600, seed=21)
    return path


# SSE: the seed's default transport, and the one whose SDK side logged tracebacks at the user on failover. The other
# transports fail over the same way (the client code is shared); run them with WAMCP_CHAOS_ALL_TRANSPORTS=1.
FAILOVER_TRANSPORTS = list(TRANSPORTS) if os.environ.get("WAMCP_CHAOS_ALL_TRANSPORTS") else ["sse"]


@pytest.mark.parametrize("transport", FAILOVER_TRANSPORTS)
def test_the_run_finishes_on_the_second_endpoint_when_the_first_dies(
    transport: str, account: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = user_env(home)
    store = tmp_path / "store.db"
    kind = TRANSPORTS[transport]
    slow = ["--latency-ms", "10"]  # long enough a run to kill the first server in the middle of it
    with (
        DemoServerProcess(transport=kind, db=account, extra_args=slow) as first,
        DemoServerProcess(transport=kind, db=account, extra_args=slow) as second,
    ):
        server = {"endpoint": first.url, "endpoints": [second.url], "connection_type": transport}
        config = write_config(tmp_path / "mcp_config.json", server | {"max_retries": 3, "retry_delay": 0.1})
        # Chat by chat (--max-chats): many calls, each committed with its cursor, so "mid-run" is easy to see.
        argv = [WAMCP, "extract", "--config", str(config), "--db", str(store), "--max-chats", "100000"]
        proc = subprocess.Popen(
            [*argv, "--concurrency", "2"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while stored(store) < 50:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the run did not get going"
                time.sleep(0.02)
            assert first.process is not None
            first.process.kill()  # SIGKILL: no goodbye
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        assert second.process is not None
        assert second.process.poll() is None

    assert proc.returncode == 0, err
    assert not ALARMING.findall(err), err
    assert "extraction complete" in err  # the summary table (stderr, so stdout stays clean for scripts)
    assert out == ""
    expected = server_messages(account)
    assert store_messages(store) == expected
    assert store_integrity(store) == ("ok", sum(expected.values()), sum(expected.values()))
