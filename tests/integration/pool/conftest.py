"""Fixtures for the pool tests: the core suite's subprocess servers (127.0.0.1, always killed at teardown)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..core.conftest import NETWORK_TRANSPORTS, Servers, Target


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(params=NETWORK_TRANSPORTS)
def network_target(request: pytest.FixtureRequest, servers: Servers) -> Target:
    """A fresh current-SDK server per test over SSE, streamable HTTP and WebSocket."""
    return servers.target(request.param)
