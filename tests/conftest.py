"""Shared fixtures: the anyio backend (asyncio only), and logging left as each test found it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

# Loggers whose level the CLI sets (wamcp.cli.logs.setup_logging); a CLI test must not change what later tests see.
_LOGGERS = ("", "wamcp", "httpx2", "httpcore2", "mcp", "uvicorn", "sse_starlette", "websockets")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in _LOGGERS}
    root_handlers = list(logging.getLogger().handlers)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h not in root_handlers]:
        root.removeHandler(handler)
