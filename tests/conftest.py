"""Shared fixtures: the anyio backend (asyncio only), and logging reset to how the session found it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

# Loggers whose level the CLI sets (wamcp.cli.logs.setup_logging). A CLI run inside a test, or inside a module-scoped
# fixture, must not change what later tests see, so each test ends by putting back the levels and root handlers
# recorded when this file was imported (before any test ran), not the ones its own start saw.
_LOGGERS = ("", "wamcp", "httpx2", "httpcore2", "mcp", "uvicorn", "sse_starlette", "websockets")
_PRISTINE_LEVELS = {name: logging.getLogger(name).level for name in _LOGGERS}
_PRISTINE_ROOT_HANDLERS = list(logging.getLogger().handlers)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    for name, level in _PRISTINE_LEVELS.items():
        logging.getLogger(name).setLevel(level)
    root = logging.getLogger()
    for handler in list(root.handlers):
        # pytest's own capture handlers are attached per test and removed by pytest; leave anything it owns.
        if handler not in _PRISTINE_ROOT_HANDLERS and "_pytest" not in type(handler).__module__:
            root.removeHandler(handler)
