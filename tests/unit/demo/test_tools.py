"""The demo's text lines print times exactly as the real server's ``strftime("%Y-%m-%d %H:%M:%S")`` does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydantic_core
import pytest

from wamcp.demo.bridge import BridgeMessage
from wamcp.demo.tools import _json_block, format_message_line

TIMES = [
    datetime(2025, 3, 28, 12, 53, 20, tzinfo=UTC),
    datetime(2025, 3, 28, 12, 53, 20, 999_999, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    datetime(1969, 12, 31, 23, 59, 59),
    datetime(1000, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 0, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 1),
]


@pytest.mark.parametrize("when", TIMES, ids=str)
def test_line_time_is_strftime(when: datetime) -> None:
    message = BridgeMessage(timestamp=when, sender="1", content="hi", is_from_me=0, chat_jid="1@s.whatsapp.net", id="A")
    expected = f"[{when.strftime('%Y-%m-%d %H:%M:%S')}] From: Me: hi\n"
    assert format_message_line(message, "Me") == expected
    assert format_message_line(message, "Me", when.isoformat()) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"id": "3EB0", "is_from_me": True, "sender_name": None, "content": "£43.99 — ok", "n": 3, "x": 1.5},
        [{"a": [1, 2, (3, 4)]}, {"k": "v"}],
        {"when": datetime(2025, 1, 8, 14, 18, 47, tzinfo=UTC), "raw": b"bytes", "path": Path("/tmp/a b")},
    ],
)
def test_json_blocks_are_fastmcp_16s_text(value: Any) -> None:
    assert _json_block(value) == json.dumps(pydantic_core.to_jsonable_python(value))
