"""``server_timezone`` against the offsets lharries prints: its chat times carry the bridge's offset, its message
times none, so a wrong zone (it defaults to this machine's) shifts every message and a walk bounded by the chats'
times misses the newest ones. The client cannot know the bridge's zone, but it can say when the two disagree."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from wamcp.whatsapp.profiles.lharries import LharriesProfile
from wamcp.whatsapp.timeparse import ServerClock

from .test_lharries_profile import caller

pytestmark = pytest.mark.anyio


def chats_answer(*times: str) -> dict[str, Any]:
    rows = [
        {"jid": f"4477009001{i:02d}@s.whatsapp.net", "name": f"C{i}", "last_message_time": t, "last_message": "x"}
        for i, t in enumerate(times)
    ]
    return {"content": [{"type": "text", "text": json.dumps(row)} for row in rows]}


@pytest.mark.parametrize(
    ("zone", "times", "warned"),
    [
        ("UTC", ["2025-04-07T10:24:00+01:00"], True),  # a bridge in London in summer, the extractor on UTC
        ("Europe/London", ["2025-04-07T10:24:00+01:00", "2025-01-07T10:24:00+00:00"], False),  # BST and GMT
        ("Europe/London", ["2025-01-07T10:24:00+01:00"], True),  # +01:00 in January is not London's
        ("UTC", ["2025-03-31T10:58:00Z"], False),  # what the real server prints on a UTC bridge
        ("America/New_York", ["2025-03-31T10:58:00Z"], False),  # "Z": lharries' literal, not checked
    ],
)
async def test_a_zone_that_disagrees_with_the_printed_offsets_is_warned_about_once(
    zone: str, times: list[str], warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    profile = LharriesProfile(ServerClock(zone))
    call = caller({"list_chats": chats_answer(*times)})
    with caplog.at_level(logging.WARNING, logger="wamcp"):
        await profile.list_chats(call, limit=10)
        await profile.list_chats(call, limit=10)
    warnings = [r.getMessage() for r in caplog.records if "server_timezone" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0)
    if warned:
        assert zone in warnings[0]
        assert "+01:00" in warnings[0]
