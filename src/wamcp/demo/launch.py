"""Start the demo server in a subprocess and learn its URL: for tests, benchmarks and ``wamcp demo``.

``with DemoServerProcess(transport="http") as server: server.url`` waits for the server's readiness line on stderr
(``wamcp-demo-server listening on <url>``, printed once it accepts connections), never sleeps, and always stops the
process on exit (SIGTERM, then SIGKILL after a grace period). For stdio, the client must own the pipes: use
:func:`stdio_parameters` with the SDK's ``stdio_client`` instead.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from mcp import StdioServerParameters

from .server import READY_PREFIX

__all__ = ["DemoServerProcess", "demo_server_command", "stdio_parameters"]


def demo_server_command(
    *,
    transport: str = "http",
    db: Path | None = None,
    messages: int | None = None,
    seed: int | None = None,
    token: str | None = None,
    port: int | None = 0,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The argv that runs ``wamcp demo-server`` with these options (``python -m wamcp.demo``)."""
    argv = [sys.executable, "-m", "wamcp.demo", "demo-server", "--transport", transport]
    if port is not None:
        argv += ["--port", str(port)]
    if db is not None:
        argv += ["--db", str(db)]
    if messages is not None:
        argv += ["--messages", str(messages)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if token is not None:
        argv += ["--token", token]
    return argv + list(extra_args)


def stdio_parameters(
    *, db: Path | None = None, extra_args: Sequence[str] = (), env: dict[str, str] | None = None
) -> StdioServerParameters:
    """``StdioServerParameters`` for a stdio demo server (give them to ``mcp.Client`` or ``stdio_client``)."""
    argv = demo_server_command(transport="stdio", db=db, port=None, extra_args=extra_args)
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env)


class DemoServerProcess:
    """A demo server subprocess on a free 127.0.0.1 port; ``url`` is set once it is ready."""

    def __init__(
        self,
        *,
        transport: str = "http",
        db: Path | None = None,
        messages: int | None = None,
        seed: int | None = None,
        token: str | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        if transport == "stdio":
            raise ValueError("DemoServerProcess serves network transports; use stdio_parameters() for stdio")
        self.argv = demo_server_command(
            transport=transport, db=db, messages=messages, seed=seed, token=token, extra_args=extra_args
        )
        self.transport = transport
        self.ready_timeout = ready_timeout
        self.env = env
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.stderr_lines: collections.deque[str] = collections.deque(maxlen=500)
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server bound."""
        return int(self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def _drain(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        for line in self.process.stderr:
            line = line.rstrip("\n")
            self.stderr_lines.append(line)
            if not self._ready.is_set() and line.startswith(READY_PREFIX):
                self.url = line[len(READY_PREFIX) :].strip()
                self._ready.set()
        self._ready.set()  # EOF: wake the waiter, which then sees the process died

    def start(self) -> DemoServerProcess:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
        )
        self._reader = threading.Thread(target=self._drain, name="demo-server-stderr", daemon=True)
        self._reader.start()
        if not self._ready.wait(self.ready_timeout) or not self.url:
            tail = "\n".join(list(self.stderr_lines)[-20:])
            self.stop()
            raise RuntimeError(f"demo server did not become ready ({' '.join(self.argv)}):\n{tail}")
        return self

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(grace)
        if self._reader is not None:
            self._reader.join(grace)
        if proc.stderr is not None:
            proc.stderr.close()
        return proc.returncode

    def __enter__(self) -> DemoServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
