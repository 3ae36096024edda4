"""Our demo server on the probe's database reproduces every probed call of the real lharries server (in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from wamcp.demo.server import DemoServer, DemoServerConfig

from .golden import FIXTURE_DB, block_differences, probe, probe_calls


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    demo = DemoServer(DemoServerConfig(media_dir=tmp_path / "media"), FIXTURE_DB)
    try:
        async with Client(demo.server, mode="legacy") as c:
            yield c
    finally:
        demo.close()


@pytest.mark.anyio
@pytest.mark.parametrize("call", probe_calls(), ids=lambda c: f"{c['n']:02d}-{c['tool']}")
async def test_reproduces_probed_call(client: Client, call: dict[str, Any]) -> None:
    result = await client.call_tool(call["tool"], call["arguments"])
    assert block_differences(call, result) == []


@pytest.mark.anyio
async def test_tool_list_matches_real_server(client: Client) -> None:
    listed = {t.name: t for t in (await client.list_tools()).tools}
    expected = {t["name"]: t for t in probe()["tools"]}
    assert set(listed) == set(expected)
    for name, tool in expected.items():
        assert listed[name].input_schema == tool["inputSchema"], name
        assert listed[name].output_schema is None
