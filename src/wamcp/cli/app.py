"""The root ``wamcp`` Typer app: global options, logging set-up, and the sub-commands of each layer."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .._exiting import skip_final_collection
from . import check_cmd, config_cmd, demo_cmd, export_cmd, extract_cmd, pipeline_cmd, report_cmd, status_cmd
from ._errors import ExitCode, err_console, run_app, state
from .logs import Verbosity, setup_logging

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wamcp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Verbosity = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only; no progress bars.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    state.verbosity = verbose
    state.quiet = quiet
    setup_logging(verbose, quiet)


pipeline_cmd.register(app)
config_cmd.register(app)
demo_cmd.register(app)
extract_cmd.register(app)
check_cmd.register(app)
export_cmd.register(app)
report_cmd.register(app)
status_cmd.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        code = run_app(app, json_failure_commands=frozenset({"extract", "check"}))
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling starts (option parsing, start-up)
        err_console.print("interrupted")
        raise SystemExit(ExitCode.INTERRUPTED) from None
    finally:
        skip_final_collection()
    raise SystemExit(code)
