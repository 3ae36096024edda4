"""``whatsapp-mcp-extractor`` and ``python whatsapp_mcp_extractor.py``: the seed's extractor command line.

Same engine and exit codes as ``wamcp extract``; with no flags it uses the configuration (the seed's default is
``http://localhost:3000`` over SSE) and, when nothing answers there, says so in one line and suggests ``--demo``.
"""

from __future__ import annotations

import typer

from .._exiting import skip_final_collection
from ._errors import run_app
from .extract_cmd import extract
from .logs import setup_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="whatsapp-mcp-extractor",
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Extract WhatsApp chats through an MCP server into a local SQLite store.",
    rich_markup_mode="markdown",  # as `wamcp`: the shared docstring's paragraphs reflow to the terminal's width
)
app.command(help=extract.__doc__)(extract)


def main() -> None:
    """Console-script entry point (and ``python whatsapp_mcp_extractor.py``)."""
    setup_logging(verbose=False, quiet=False)
    try:
        code = run_app(app, json_failure_commands=frozenset({app.registered_commands[0].name or "extract"}))
    finally:
        skip_final_collection()
    raise SystemExit(code)
