"""Logging for the command line: rich on stderr, redacted, quiet by default."""

from __future__ import annotations

import logging

from rich.logging import RichHandler

from ..redact import RedactingFilter, install_log_redaction
from ._errors import err_console

__all__ = ["setup_logging"]


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
    for noisy in ("httpx2", "httpcore2", "uvicorn", "sse_starlette", "websockets"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    # The SDK logs transport failures as ERRORs with tracebacks ("Error in post_writer"), although our client handles
    # each one (reconnect, retry, fail over) or reports it as its own one-line error: shown with --verbose only.
    logging.getLogger("mcp").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    install_log_redaction()
