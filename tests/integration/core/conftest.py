"""Fixtures that run the test MCP servers as subprocesses on free 127.0.0.1 ports, wait until they listen, and
always kill them. ``target`` is parametrized over every transport, so one suite covers stdio, SSE, streamable HTTP and
WebSocket; stdio servers are spawned by the client itself from the config.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wamcp.config import ServerConfig

REPO = Path(__file__).resolve().parents[3]
CURRENT_SERVER = REPO / "tests" / "servers" / "current_server.py"
OLD_SERVER = REPO / "tests" / "servers" / "old_server.py"
OLD_PYTHON = REPO / ".cache" / "mcp16" / "bin" / "python"
TRANSPORTS = ["stdio", "sse", "streamable_http", "websocket"]
NETWORK_TRANSPORTS = ["sse", "streamable_http", "websocket"]
_SERVER_FLAG = {"sse": "sse", "streamable_http": "http", "websocket": "websocket"}

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class ServerProcess:
    """One server subprocess on a fixed port: start (waits until it listens), kill, restart on the same port."""

    def __init__(self, argv: list[str], port: int) -> None:
        self.argv = argv
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; closed in close()

    def start(self, ready_timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log()}")
            if _listening(self.port):
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not listen on {self.port} within {ready_timeout} s: {self.log()}")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.kill()
        self._log.close()


@dataclass
class Target:
    """A server under test and how to configure a client for it."""

    transport: str
    endpoint: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    process: ServerProcess | None = None

    def config(self, **overrides: Any) -> ServerConfig:
        values: dict[str, Any] = {
            "name": f"test-{self.transport}",
            "endpoint": self.endpoint,
            "connection_type": self.transport,
            "timeout": 5.0,
            "connect_timeout": 5.0,
            "max_retries": 3,
            "retry_delay": 0.05,
            "health_check_interval": 0,
        }
        if self.command is not None:
            values["command"] = self.command
            values["args"] = self.args
        values.update(overrides)
        return ServerConfig(**values)


class Servers:
    """Starts targets for one test and kills every process at teardown."""

    def __init__(self) -> None:
        self._processes: list[ServerProcess] = []

    def target(
        self,
        transport: str,
        *args: str,
        python: str = sys.executable,
        script: Path = CURRENT_SERVER,
        path: str = "",
    ) -> Target:
        if transport == "stdio":
            argv = [str(script), "--transport", "stdio", *args]
            return Target("stdio", endpoint=f"{python} {script}", command=python, args=argv)
        port = free_port()
        process = ServerProcess(
            [python, str(script), "--transport", _SERVER_FLAG[transport], "--port", str(port), *args], port
        )
        self._processes.append(process)
        process.start()
        scheme = "ws" if transport == "websocket" else "http"
        return Target(transport, endpoint=f"{scheme}://127.0.0.1:{port}{path}", process=process)

    def close(self) -> None:
        for process in self._processes:
            process.close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    pool = Servers()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def shared_servers() -> Iterator[Servers]:
    pool = Servers()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module", params=TRANSPORTS)
def target(request: pytest.FixtureRequest, shared_servers: Servers) -> Target:
    """A healthy current-SDK server, one per transport and test module (tests must not break it)."""
    return shared_servers.target(request.param)


@pytest.fixture(scope="module", params=TRANSPORTS)
def silent_target(request: pytest.FixtureRequest, shared_servers: Servers) -> Target:
    """A server that accepts connections (or reads stdin) and never answers; shared, since it keeps no state."""
    return shared_servers.target(request.param, "--silent")


#: The bearer token the shared ``token_target`` servers require.
TOKEN = "tok-DO-NOT-LEAK-4242"


@pytest.fixture(scope="module", params=NETWORK_TRANSPORTS)
def token_target(request: pytest.FixtureRequest, shared_servers: Servers) -> Target:
    """A server that answers 401 unless the request carries ``Authorization: Bearer TOKEN``."""
    return shared_servers.target(request.param, "--token", TOKEN)


@pytest.fixture
def old_python() -> str:
    if not OLD_PYTHON.exists():
        pytest.fail(f"{OLD_PYTHON} is missing: run .ci/run once to create the mcp 1.6 venv for the old-server tests")
    return str(OLD_PYTHON)
