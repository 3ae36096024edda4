"""Logging for the command line: rich on stderr, redacted, quiet by default."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.logging import RichHandler

from ..redact import RedactingFilter, install_log_redaction
from ._errors import err_console

__all__ = ["Verbosity", "setup_logging"]

#: The name of the handler setup_logging installs, so that a second call replaces it rather than adding another.
_HANDLER_NAME = "wamcp-cli"

# The --verbose/-v option of the root command and of `extract` (which takes it after the command, as the seed does).
Verbosity = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        metavar="",
        help="Debug logs and full error chains; -vv adds the network libraries' wire logs (HTTP, SSE, WebSocket).",
    ),
]


def setup_logging(verbose: int, quiet: bool) -> None:
    """Log to stderr through rich: warnings by default, errors only with --quiet; ``-v`` (``verbose=1``) adds our
    debug logs, ``-vv`` the network libraries' wire-level ones too (each HTTP exchange and MCP message over HTTP, SSE
    or WebSocket; over stdio wamcp reads the pipes itself and logs no message).

    The wire-level logs need their own level: over streamable HTTP they are ~10 lines per call, which buried our
    own lines and made a 1M-message extraction twice as slow (most of its time went to rendering them).
    """
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    handler: logging.Handler
    if err_console.is_terminal:
        handler = RichHandler(console=err_console, show_path=False, show_time=bool(verbose), markup=False)
    else:
        # A file or a pipe (cron, systemd, `2> log`): Rich would wrap each record at a guessed 80 columns, which
        # splits one event over several lines of the log; there a record is one line, with its time.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactingFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("wamcp").setLevel(level)
    wire = verbose >= 2
    for noisy in ("httpx2", "httpcore2", "uvicorn", "sse_starlette", "websockets"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if wire else logging.WARNING)
    # The SDK logs transport failures as ERRORs with tracebacks ("Error in post_writer"), although our client handles
    # each one (reconnect, retry, fail over) or reports it as its own one-line error: shown with --verbose only, and
    # its per-message debug lines with -vv.
    logging.getLogger("mcp").setLevel(logging.DEBUG if wire else logging.WARNING if verbose else logging.CRITICAL)
    install_log_redaction()
