"""Shared fixtures: the anyio backend (asyncio only) for async tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
