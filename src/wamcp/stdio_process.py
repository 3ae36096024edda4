"""A stdio MCP server's child process: spawn it, hand it over, stop it.

The server gets the SDK's safe default environment with the configured variables over it, runs in its own process
group (so that stopping it stops its children too) and talks over two pipes. This module imports neither ``mcp`` nor
any layer: a command line can start the server *before* its own imports (``import mcp`` alone takes ~1 s) with
:func:`started_early`, so that the server's start-up and the client's run side by side instead of one after the
other. The stdio transport (:mod:`wamcp.core.transports.stdio`) takes such a process over with :func:`claim`, or
spawns one itself with :func:`spawn`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from .config import MCPConnectionType, ServerConfig
from .errors import ConfigError

__all__ = [
    "ServerProcess",
    "claim",
    "launch_parameters",
    "safe_environment",
    "server_errlog",
    "spawn",
    "started_early",
    "started_early_for",
    "stdio_command",
]

#: The variables a server inherits from this process, as the SDK's ``get_default_environment`` chooses them (a test
#: keeps the two equal; the SDK's own function cannot be used here without importing ``mcp``).
_INHERITED = (
    (
        "APPDATA",
        "HOMEDRIVE",
        "HOMEPATH",
        "LOCALAPPDATA",
        "PATH",
        "PATHEXT",
        "PROCESSOR_ARCHITECTURE",
        "SYSTEMDRIVE",
        "SYSTEMROOT",
        "TEMP",
        "USERNAME",
        "USERPROFILE",
    )
    if sys.platform == "win32"
    else ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")
)

#: How long an early process nobody took may take to exit once its input has ended, and after SIGTERM.
_STOP_GRACE = 2.0

_devnull: TextIO | None = None


def safe_environment() -> dict[str, str]:
    """The few variables of this process a server inherits (shell functions, ``()...`` values, are left out)."""
    return {
        name: value for name in _INHERITED if (value := os.environ.get(name)) is not None and not value.startswith("()")
    }


def server_errlog() -> TextIO:
    """Where servers write their logs: this process's stderr, or the null device if that has no descriptor."""
    # The child inherits this as its stderr, so it must be a real file descriptor (pytest's capsys is not); the
    # fallback is opened once and kept for the process lifetime.
    global _devnull
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        if _devnull is None:
            _devnull = open(os.devnull, "w")  # noqa: SIM115
        return _devnull
    return sys.stderr


@dataclass(eq=False)
class ServerProcess:
    """A running server and this side's ends of its pipes: write requests to ``to_child``, read ``from_child``.

    Whoever takes the descriptors over closes them; :meth:`close_pipes` is for a process nobody took.
    """

    popen: subprocess.Popen[bytes]
    to_child: int
    from_child: int
    _pipes_open: bool = field(default=True, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> bool:
        """True once the process has exited (and is reaped)."""
        return self.popen.poll() is not None

    def ended(self) -> str | None:
        """How the process ended (:func:`exit_description`), or None while it runs."""
        code = self.popen.poll()
        return None if code is None else exit_description(code)

    def signal_group(self, signum: int) -> bool:
        """Signal the server's whole process group; False once none of it is left."""
        try:
            os.killpg(self.popen.pid, signum)  # the group id is the leader's pid (own session)
        except ProcessLookupError:
            return False
        except PermissionError:  # some members are not ours to signal; the rest got it
            pass
        return True

    def group_alive(self) -> bool:
        """True while any process of the server's group is left (the leader is reaped first if it has exited)."""
        self.exited()
        return self.signal_group(0)

    def close_pipes(self) -> None:
        if self._pipes_open:
            self._pipes_open = False
            for fd in (self.to_child, self.from_child):
                os.close(fd)

    def stop_now(self) -> None:
        """Blocking stop of a process nobody took: end its input, wait, then SIGTERM and SIGKILL its group."""
        self.close_pipes()
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(_STOP_GRACE)
                return
            self.signal_group(signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(_STOP_GRACE)


def exit_description(returncode: int) -> str:
    """A process's exit status in words: a negative ``Popen.returncode`` is the signal that killed it."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    name = f"signal {-returncode}"
    with contextlib.suppress(ValueError):
        name = signal.Signals(-returncode).name
    return f"was killed by {name}"


def spawn(command: str, args: list[str], env: Mapping[str, str] | None, cwd: str | None) -> ServerProcess:
    """Start ``command args`` with its stdin and stdout on two new pipes; ``OSError`` if it cannot be started."""
    child_in, to_child = os.pipe()
    from_child, child_out = os.pipe()
    try:
        popen = subprocess.Popen(
            [command, *args],
            stdin=child_in,
            stdout=child_out,
            stderr=server_errlog(),
            env=safe_environment() | dict(env or {}),
            cwd=cwd,
            start_new_session=True,  # its own process group, so that stopping it stops its children too
        )
    except BaseException:
        for fd in (to_child, from_child):
            os.close(fd)
        raise
    finally:
        os.close(child_in)
        os.close(child_out)
    return ServerProcess(popen, to_child, from_child)


_Key = tuple[str, tuple[str, ...], tuple[tuple[str, str], ...], str | None]
_early: dict[_Key, ServerProcess] = {}


def _key(command: str, args: list[str], env: Mapping[str, str] | None, cwd: str | None) -> _Key:
    return command, tuple(args), tuple(sorted((env or {}).items())), cwd


def claim(command: str, args: list[str], env: Mapping[str, str] | None, cwd: str | None) -> ServerProcess | None:
    """The process :func:`started_early` started with exactly these parameters, now the caller's; else None."""
    return _early.pop(_key(command, args, env, cwd), None)


@contextlib.contextmanager
def started_early(command: str, args: list[str], env: Mapping[str, str] | None, cwd: str | None) -> Iterator[None]:
    """Start the server now; the first stdio connection with exactly these parameters inside the block takes it.

    A process nobody took is stopped when the block ends. If it cannot be started here, nothing happens: the
    connection then spawns it itself and reports the error in its own words. Not on Windows, where the transport is
    the SDK's and cannot take a process over.
    """
    key = _key(command, args, env, cwd)
    process = None
    if sys.platform != "win32" and key not in _early:
        with contextlib.suppress(OSError):
            process = _early[key] = spawn(command, args, env, cwd)
    try:
        yield
    finally:
        if process is not None and _early.get(key) is process:
            del _early[key]
            process.stop_now()


def stdio_command(config: ServerConfig) -> tuple[str, list[str]]:
    """The command line for a stdio server: ``command`` + ``args``, else the endpoint split like a shell would."""
    if config.command:
        return config.command, list(config.args)
    try:
        words = shlex.split(config.endpoint)
    except ValueError as err:
        raise ConfigError(f"stdio endpoint {config.endpoint!r} is not a valid command line: {err}") from err
    if not words:
        raise ConfigError("stdio server has no command", hint='set "command" (and "args") in the server config')
    if "://" in words[0]:
        # A URL as the program: a config that says stdio but names a network endpoint (often the default one).
        raise ConfigError(
            f"connection_type stdio starts a program, but no command is set and the endpoint {config.endpoint!r} is "
            "a URL",
            hint='set "command" (and "args") for a stdio server, or give its command line as the endpoint '
            '(--mcp-endpoint "uv run main.py"); for this URL, the connection_type that serves it',
        )
    return words[0], [*words[1:], *config.args]


def launch_parameters(config: ServerConfig) -> tuple[str, list[str], dict[str, str] | None, str | None]:
    """``(command, args, env, cwd)`` of a configured stdio server: what :func:`spawn`, :func:`claim` and
    :func:`started_early` take, derived in one place so that an early start and its connection always match."""
    command, args = stdio_command(config)
    return command, args, dict(config.env) or None, config.cwd


def started_early_for(server: ServerConfig) -> contextlib.AbstractContextManager[None]:
    """:func:`started_early` for a configured stdio server; nothing for the other transports or a bad command line."""
    if server.connection_type != MCPConnectionType.STDIO:
        return contextlib.nullcontext()
    try:
        launch = launch_parameters(server)
    except ConfigError:  # the connection reports it
        return contextlib.nullcontext()
    return started_early(*launch)
