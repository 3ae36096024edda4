"""``--help`` of every command: value options name their value, flags show no placeholder (Typer would print
``--demo <bool>``, as if the flag took a value)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from wamcp.cli import app
from wamcp.cli._errors import run_app
from wamcp.cli.extractor import app as extractor_app

# Typer's own type labels: <bool>, <str>, <int>, <float>, <path>, <int range>, <list[str]>, ...
_TYPE_LABEL = re.compile(r"<(?:bool|str|int|float|path|list\[)[^>]*>")


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


def _help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], which: typer.Typer, *argv: str) -> str:
    monkeypatch.setattr(sys, "argv", ["prog", *argv, "--help"])
    monkeypatch.setenv("COLUMNS", "200")
    assert run_app(which) == 0
    return capsys.readouterr().out


def _option_line(text: str, option: str) -> str:
    return next(line for line in text.splitlines() if re.search(rf"│ {re.escape(option)}\b", line))


@pytest.mark.parametrize(
    "path", list(_command_paths(typer.main.get_command(app))), ids=lambda p: " ".join(p) or "wamcp"
)
def test_no_command_prints_type_labels(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(monkeypatch, capsys, app, *path)
    assert "Show this message and exit." in text
    assert _TYPE_LABEL.findall(text) == []


def test_extract_options_read_as_documented(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(monkeypatch, capsys, app, "extract")
    for option, value in {
        "--mcp-endpoint": "URL",
        "--max-chats": "N",
        "--max-history": "HOURS",
        "--chat": "JID",
    }.items():
        assert re.search(rf"{option}\s+{value}\s", _option_line(text, option)), option
    for flag in ("--demo", "--full", "--json", "--help"):
        # nothing between the flag and its description
        assert re.search(rf"│ {flag}\s{{3,}}[A-Z]", _option_line(text, flag)), flag


def test_seed_extractor_help_has_no_type_labels(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(monkeypatch, capsys, extractor_app)
    assert "--mcp-endpoint" in text
    assert _TYPE_LABEL.findall(text) == []


@pytest.mark.parametrize("command", ["demo-server", "demo-data"])
def test_demo_module_help_has_no_type_labels(command: str) -> None:
    """``python -m wamcp.demo`` (what the stdio launcher runs) has its own entry point: the same help there."""
    done = subprocess.run(
        [sys.executable, "-m", "wamcp.demo", command, "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--seed" in done.stdout
    assert _TYPE_LABEL.findall(done.stdout) == []
