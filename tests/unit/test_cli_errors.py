"""The CLI's last line of defence: every error a command lets through is one line and an exit code."""

from __future__ import annotations

import pytest
import typer

from wamcp.cli._errors import ExitCode, guarded, state
from wamcp.errors import ConfigError, MCPConnectionError, MCPHandshakeError
from wamcp.whatsapp.jid import InvalidJIDError


def _raising(error: BaseException) -> typer.Exit:
    @guarded
    def command() -> None:
        raise error

    with pytest.raises(typer.Exit) as caught:
        command()
    return caught.value


@pytest.mark.parametrize(
    ("error", "code", "says"),
    [
        (ConfigError("bad key"), ExitCode.USAGE, "error: bad key"),
        (MCPConnectionError("refused"), ExitCode.CONNECT, "error: refused"),
        (MCPHandshakeError("not an MCP server"), ExitCode.CONNECT, "error: not an MCP server"),
        (InvalidJIDError("'x' is neither a JID nor a phone number"), ExitCode.USAGE, "neither a JID"),
        (PermissionError(13, "Permission denied", "/srv/out.csv"), ExitCode.USAGE, "Permission denied"),
        (OSError(28, "No space left on device"), ExitCode.USAGE, "No space left"),
        (ConnectionRefusedError(111, "Connection refused"), ExitCode.CONNECT, "Connection refused"),
        (RuntimeError("Attempted to exit cancel scope"), ExitCode.INTERNAL, "internal error, RuntimeError"),
        (KeyError("x"), ExitCode.INTERNAL, "internal error, KeyError"),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
    ],
)
def test_errors_become_one_line_and_their_exit_code(
    error: BaseException, code: ExitCode, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state.verbosity = 0
    assert _raising(error).exit_code == code
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or code is ExitCode.INTERNAL  # rich may wrap a long line


def test_an_internal_error_asks_for_a_report_and_masks_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    state.verbosity = 0
    _raising(ValueError("while reading http://u:hunter22@host/?token=abc123"))
    err = capsys.readouterr().err
    assert "please report it" in err
    assert "hunter22" not in err
    assert "abc123" not in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["status", "-q"], "`wamcp -q status …`"), (["report", "--verbose"], "`wamcp --verbose report …`")],
)
def test_a_global_option_after_the_command_says_where_it_goes(
    argv: list[str], says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wamcp.cli._errors import run_app
    from wamcp.cli.app import app

    monkeypatch.setattr("sys.argv", ["wamcp", *argv])

    assert run_app(app) == ExitCode.USAGE
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "it is an option of wamcp itself" in err
    assert says in err


def test_an_unknown_option_of_the_command_still_points_at_its_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wamcp.cli._errors import run_app
    from wamcp.cli.app import app

    monkeypatch.setattr("sys.argv", ["wamcp", "status", "--nope"])

    assert run_app(app) == ExitCode.USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert "No such option: --nope" in err
    assert "(see `wamcp status --help`)" in err
