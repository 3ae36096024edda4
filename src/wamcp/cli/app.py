"""The root ``wamcp`` Typer app: global options, logging set-up, and the sub-commands of each layer."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from .. import __version__
from ..redact import RedactingFilter, install_log_redaction
from . import config_cmd, demo_cmd, export_cmd, extract_cmd, report_cmd
from ._errors import err_console, state

app = typer.Typer(
    name="wamcp",
    help=(
        "Pull WhatsApp conversations out of a WhatsApp MCP server into a local SQLite store, "
        "and turn them into a business report.\n\n"
        "Try it with no phone: `wamcp demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def setup_logging(verbose: bool, quiet: bool) -> None:
    """Log to stderr through rich: warnings by default, debug with --verbose, errors only with --quiet."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    handler = RichHandler(console=err_console, show_path=False, show_time=verbose, markup=False)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, RichHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("wamcp").setLevel(level)
    for noisy in ("httpx2", "httpcore2", "mcp", "uvicorn", "sse_starlette", "websockets"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    install_log_redaction()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wamcp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and full error chains.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only; no progress bars.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    state.verbose = verbose
    setup_logging(verbose, quiet)


config_cmd.register(app)
demo_cmd.register(app)
extract_cmd.register(app)
export_cmd.register(app)
report_cmd.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
