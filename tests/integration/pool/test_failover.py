"""Endpoint failover against real servers: when the endpoint in use dies, the client moves to the next one at once."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from wamcp.core import FakeClock, MCPClient

from ..core.conftest import Servers

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110 - polling client status, bounded by the deadline
            await anyio.sleep(0.01)


@pytest.mark.parametrize("transport", ["streamable_http", "websocket"])
async def test_a_killed_endpoint_fails_over_to_the_next_without_backing_off(transport: str, servers: Servers) -> None:
    primary, backup = servers.target(transport), servers.target(transport)
    clock = FakeClock()  # every backoff the client takes is recorded here
    config = primary.config(endpoints=[backup.endpoint], retry_delay=5.0)
    async with MCPClient(clock=clock) as client:
        client.add_server(config, idempotent=lambda _tool: True)
        before = await client.execute_tool(config.name, "echo", {"text": "before"})
        on_primary = client.status(config.name)["endpoint"]
        assert primary.process is not None
        primary.process.kill()
        # An HTTP client only learns of the death from its next request; this call meets it and is retried.
        after = await client.execute_tool(config.name, "echo", {"text": "after"})
        await wait_for(lambda: client.status(config.name)["state"] == "connected")
        status = client.status(config.name)
        metrics = client.metrics()

    assert before["text"] == "before"
    assert on_primary.startswith(primary.endpoint)
    assert after["text"] == "after"
    assert status["endpoint"].startswith(backup.endpoint)
    assert status["generation"] == 2
    # Nothing waited: not the reconnect (the dead endpoint was not retried first, the backup was tried at once), and
    # not the call's retry, which goes at once when the connection it ran on was lost (0 s, or no retry at all when
    # the supervisor had already failed over).
    assert metrics[config.name]["retries"] == len(clock.sleeps)
    assert set(clock.sleeps) <= {0.0}
