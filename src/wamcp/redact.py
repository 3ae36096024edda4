"""Keep tokens and phone numbers out of logs, errors and reprs.

Secrets we know by value (auth tokens, the configured phone number) are registered with :func:`register_secret`
and replaced wherever they appear. Phone numbers we do not know are masked by shape: any run of 7–15 digits (an
optional ``+`` in front) keeps its last 4 digits. :class:`RedactingFilter` applies both to every log record of the
``wamcp`` logger tree; :func:`install_log_redaction` attaches it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

__all__ = [
    "RedactingFilter",
    "get_logger",
    "install_log_redaction",
    "mask_phone",
    "one_line",
    "redact",
    "redact_headers",
    "register_secret",
]

_PHONE_RE = re.compile(r"(?<![\w.])\+?\d{7,15}(?![\d])")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")
# A password in a URL (``scheme://user:password@host``).
_URL_PASSWORD_RE = re.compile(r"(://[^/@:\s'\"]+:)[^@/\s'\"]+@")
# Credentials in a URL's query (``...?token=...``), as some servers take them.
_QUERY_SECRET_RE = re.compile(
    r"(?i)([?&](?:access_token|token|auth|api_key|apikey|key|secret|password|sig|signature)=)[^&\s'\"#]+"
)
_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "x-auth-token"})

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` replaces it everywhere (ignores empty and very short values)."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def mask_phone(number: str) -> str:
    """``+447700900123`` -> ``+*******0123``: enough to tell numbers apart, not enough to call them."""
    digits = number.lstrip("+")
    prefix = "+" if number.startswith("+") else ""
    if len(digits) <= 4:
        return prefix + "*" * len(digits)
    return prefix + "*" * (len(digits) - 4) + digits[-4:]


def redact(text: str, *, phones: bool = True) -> str:
    """Return ``text`` with registered secrets, bearer tokens and (unless ``phones=False``) phone numbers masked."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _BEARER_RE.sub(r"\1***", text)
    text = _QUERY_SECRET_RE.sub(r"\1***", text)
    text = _URL_PASSWORD_RE.sub(r"\1***@", text)
    if phones:
        text = _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)
    return text


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """A copy of ``headers`` safe to print: credential headers become ``***``."""
    return {k: ("***" if k.lower() in _SENSITIVE_HEADERS else v) for k, v in headers.items()}


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with :func:`redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not kill logging
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            formatter = logging.Formatter()
            record.exc_text = formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


#: The libraries under wamcp whose loggers may carry message contents or credentials (the SDK logs whole messages
#: at DEBUG).
THIRD_PARTY_LOGGERS = ("mcp", "httpx2", "httpx", "httpcore", "websockets")


def install_log_redaction(logger_names: Iterable[str] = THIRD_PARTY_LOGGERS) -> None:
    """Attach one :class:`RedactingFilter` to each named logger and to every logger created so far below it
    (idempotent; the core client calls it when it is created, the CLI at start-up).

    A logger's filters see only records logged on that very logger, not its children's, so the SDK's module loggers
    (``mcp.client.streamable_http``, …) each need their own; wamcp's own modules get theirs from :func:`get_logger`.
    """
    prefixes = tuple(logger_names)
    known = [
        name for name in list(logging.root.manager.loggerDict) if name.startswith(tuple(p + "." for p in prefixes))
    ]
    for name in (*prefixes, *known):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with redaction attached: every wamcp module logs through one of these."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


def one_line(text: str, limit: int = 500) -> str:
    """``text`` redacted, its line breaks and runs of spaces made single spaces, cut to ``limit`` characters: a
    server's multi-line error text (pydantic's validation report, a traceback) as one line of an error message."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
