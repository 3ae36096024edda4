"""The extractor honours the configured rate limits: with the seed's defaults and a fake clock, N calls cannot end
sooner (in fake time) than the token buckets allow, whatever the extractor's concurrency."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wamcp.config import RateLimits, load_config
from wamcp.core import FakeClock, MCPClient, Metrics
from wamcp.demo import generate_database
from wamcp.extract import ExtractOptions, Extractor
from wamcp.store import Store
from wamcp.whatsapp import WhatsAppMCPClient

pytestmark = pytest.mark.integration


@pytest.mark.anyio
async def test_seed_default_rate_limits_bound_the_extraction_in_fake_time(tmp_path: Path) -> None:
    bridge = tmp_path / "messages.db"
    generate_database(bridge, messages=600, seed=3)
    overrides = {
        "server": {
            "name": "demo",
            "endpoint": "demo (stdio)",
            "connection_type": "stdio",
            "command": sys.executable,
            "args": ["-m", "wamcp.demo", "demo-server", "--transport", "stdio", "--db", str(bridge)],
            "health_check_interval": 0,
        },
        "server_timezone": "UTC",
        "profile": "lharries",
    }
    config = load_config(None, overrides=overrides, environ={}, use_file=False).config
    limits = config.rate_limits
    assert limits == RateLimits()  # the seed's defaults: 60 message calls/min, 30 chat calls/min, 2/s, burst 10
    clock = FakeClock()
    metrics = Metrics()
    core = MCPClient(clock=clock, metrics=metrics)
    client = WhatsAppMCPClient(config, mcp_client=core)
    try:
        assert await client.initialize(), client.last_error
        started = clock.monotonic()
        with Store.open(tmp_path / "store.db") as store:
            summary = await Extractor(client, store, ExtractOptions(max_chats=30, concurrency=8)).run()
            stored = store.count_messages()
        elapsed = clock.monotonic() - started
    finally:
        await client.disconnect()
        await core.close()
    assert summary.status == "complete"
    assert summary.chats_done == 30
    assert stored > 0

    tools = metrics.snapshot()["demo"]["tools"]
    message_calls = tools["list_messages"]["calls"]
    chat_calls = sum(tools.get(name, {"calls": 0})["calls"] for name in ("list_chats", "get_chat"))
    assert message_calls >= 30
    burst = limits.burst_limit
    assert limits.messages_per_minute is not None
    assert limits.chats_per_minute is not None
    assert limits.requests_per_second is not None
    # A bucket starts full (`burst` calls at once), then refills at its rate: N calls need (N - burst) / rate.
    floor = max(
        (message_calls - min(burst, limits.messages_per_minute)) / (limits.messages_per_minute / 60),
        (chat_calls - min(burst, limits.chats_per_minute)) / (limits.chats_per_minute / 60),
        (message_calls + chat_calls - burst) / limits.requests_per_second,
    )
    assert floor >= 20  # the limits really bind here
    assert elapsed >= floor - 1e-6
    # ...and the extractor does not wait much longer than it must: the buckets are its only brake.
    assert elapsed <= floor + 5
