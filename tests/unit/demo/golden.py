"""The real lharries server's probed outputs, and how we compare ours against them (shared by unit and integration)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp import types

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "lharries"
FIXTURE_DB = FIXTURES / "messages.db"


def probe() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "probe_output.json").read_text(encoding="utf-8"))
    return data


def probe_calls() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = probe()["calls"]
    return calls


def block_differences(call: dict[str, Any], result: types.CallToolResult) -> list[str]:
    """Empty when ``result`` reproduces the probed call: JSON blocks as data, text blocks byte for byte."""
    problems: list[str] = []
    if result.is_error != call["isError"]:
        problems.append(f"isError {result.is_error} != {call['isError']}")
    expected = [block["text"] for block in call["content"]]
    got = [block.text for block in result.content if isinstance(block, types.TextContent)]
    if len(got) != len(result.content):
        problems.append("non-text block")
    if len(got) != len(expected):
        problems.append(f"{len(got)} blocks != {len(expected)}")
    for i, (ours, theirs) in enumerate(zip(got, expected, strict=False)):
        try:
            same = json.loads(ours) == json.loads(theirs)
        except json.JSONDecodeError:
            same = ours == theirs
        if not same:
            problems.append(f"block {i}: {ours!r} != {theirs!r}")
    if result.structured_content is not None:
        problems.append("structuredContent present in text mode")
    return problems
