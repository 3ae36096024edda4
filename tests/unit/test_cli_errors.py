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
