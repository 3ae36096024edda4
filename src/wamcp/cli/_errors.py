"""Exit codes and the one place where exceptions become a one-line message for people.

0 complete; 1 partial (some chats failed, the rest is stored); 2 usage or configuration error;
3 the server cannot be used (unreachable, refusing to authenticate or needing its phone paired, failing the run's
chat listing or every chat); 4 an internal error (a bug); 130 interrupted; 141 standard output was closed by its
reader (``| head``). ``--verbose`` adds the exception chain.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from enum import IntEnum
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from .._help import flags_without_placeholder
from ..errors import (
    ConfigError,
    MCPClientError,
    StoreError,
)
from ..redact import redact

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1
    USAGE = 2
    CONNECT = 3
    INTERNAL = 4
    INTERRUPTED = 130
    BROKEN_PIPE = 141  # what a shell reports for a process ended by SIGPIPE


def exit_code_for(error: BaseException) -> ExitCode:
    """Map an error class to the documented exit code."""
    if isinstance(error, ConfigError | StoreError | ValueError):  # ValueError: a bad value given (a JID, a number)
        return ExitCode.USAGE
    if isinstance(error, MCPClientError | ConnectionError):
        # An error that ends a whole run is the server's: unreachable, refusing us (a token, a phone to pair), or
        # failing what the run depends on (a chat listing that reports an error). Never 1: that says the named chats
        # failed and the rest is stored, which a nightly job may take as no reason to wake anybody.
        return ExitCode.CONNECT
    if isinstance(error, OSError):
        # A path that cannot be read or written, a full disk: nothing was "partial" about it, and what to fix is
        # on this machine, as with a bad option.
        return ExitCode.USAGE
    return ExitCode.INTERNAL


#: Click's base of usage errors. Typer vendors Click in its newer releases and re-exports only some of its
#: exceptions, so the class is found through one it does export (the same class in either case).
_CLICK_EXCEPTION: type[Any] = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException")


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, the message redacted and taken literally (a server's text may hold
    ``[...]``, which Rich would read as markup: a stray ``[/x]`` made printing the error fail)."""
    err_console.print(f"[bold red]error:[/] {escape(redact(message))}", markup=True, highlight=False)


#: The root command's own options, which a command that does not repeat them refuses after its name.
_GLOBAL_OPTIONS = frozenset({"-q", "--quiet", "-v", "--verbose", "-vv", "--version"})


def run_app(app: typer.Typer, *, json_failure_commands: frozenset[str] = frozenset()) -> int:
    """Run a Typer app and return its exit code, with command-line mistakes (an unknown flag, a value out of range)
    as one ``error:`` line naming the command's ``--help``, exit 2, instead of Typer's framed usage panel.

    For the commands in ``json_failure_commands`` given ``--json``, stdout also gets the ``{"status": "failed"}``
    object a run that cannot start prints, so a nightly job's log has its line whatever went wrong.
    """
    try:
        result = flags_without_placeholder(typer.main.get_command(app))(standalone_mode=False)
    except _CLICK_EXCEPTION as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # compared by name, as Typer does: the help is printed
            return int(ExitCode.USAGE)
        ctx = getattr(err, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        option = getattr(err, "option_name", None)
        if option in _GLOBAL_OPTIONS and ctx is not None and ctx.parent is not None:
            # `wamcp report -q`: an option of `wamcp` itself, given after the command
            root = ctx.parent.command_path
            where = f"; it is an option of {root} itself: `{root} {option} {ctx.info_name} …`"
        message = redact(f"{err.format_message()}{where}")
        if ctx is not None and ctx.command.name in json_failure_commands and "--json" in sys.argv[1:]:
            typer.echo(json.dumps({"status": "failed", "error": message}))
        print_error(message)
        return int(err.exit_code)
    except typer.Abort:
        err_console.print("interrupted")
        return int(ExitCode.INTERRUPTED)
    return result if isinstance(result, int) else 0


def report_error(error: BaseException, *, verbose: bool) -> ExitCode:
    """Print ``error: <one line>`` on stderr (the chain too with ``verbose``) and return its exit code."""
    code = exit_code_for(error)
    print_error(str(error) or type(error).__name__)
    if verbose:
        cause = error.__cause__ or error.__context__
        while cause is not None:
            err_console.print(f"  caused by {type(cause).__name__}: {redact(str(cause))}", markup=False)
            cause = cause.__cause__ or cause.__context__
        logging.getLogger("wamcp").debug("full traceback", exc_info=error)
    return code


class _State:
    verbosity: int = 0  # how many -v: 1 our debug logs and error chains, 2 the libraries' wire-level logs too
    quiet: bool = False

    @property
    def verbose(self) -> bool:
        return self.verbosity > 0


state = _State()


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator for command bodies: known errors become one line and an exit code, Ctrl-C exits 130."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # SIGTERM (systemd, `timeout`, `kill`) stops a command the way Ctrl-C does: what was read is kept, the run
        # is marked interrupted, exit 130. Python's default would end the process at once. Passed on as SIGINT, so
        # that whoever handles Ctrl-C at that moment (asyncio cancels its main task cleanly) handles it.
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _as_sigint) if in_main else None
        # A background job of a script (``wamcp extract &`` in a non-interactive shell) starts with SIGINT ignored,
        # and Python then leaves it ignored: SIGTERM passed on as SIGINT did nothing and the run went on to its end.
        # Handled for the command's duration instead (so Ctrl-C in the script's terminal stops such a job cleanly too).
        int_ignored = in_main and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if int_ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # Whoever read standard output stopped early (`wamcp export --out - | head`): not an error worth a line.
            # Standard output is pointed at /dev/null so that the interpreter's final flush cannot fail again.
            _silence_stdout()
            raise typer.Exit(ExitCode.BROKEN_PIPE) from None
        except (MCPClientError, OSError) as err:
            raise typer.Exit(report_error(err, verbose=state.verbose)) from None
        except Exception as err:  # a bug of ours: still one line for people, the traceback with --verbose
            print_error(
                f"internal error, {type(err).__name__}: {str(err) or 'no message'} "
                "(a bug: please report it with the output of --verbose)"
            )
            if state.verbose:
                logging.getLogger("wamcp").error("traceback", exc_info=err)
            raise typer.Exit(ExitCode.INTERNAL) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if int_ignored:
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return wrapper


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind sys.stdout (a test's capture)
        pass
    finally:
        os.close(devnull)


def _as_sigint(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> typer.Exit:
    """Print one error line and return the ``typer.Exit`` to raise."""
    print_error(message)
    return typer.Exit(code)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
