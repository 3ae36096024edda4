"""Per-chat reads against servers that answer fewer messages than asked for without declaring a maximum for ``limit``
(:class:`~wamcp.whatsapp.profiles.base.PageLengths`): every message is read, the cap is found and said once, and
what the check costs is one call per new longest page, none for pages shorter than one seen before."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wamcp.whatsapp.profiles import LharriesProfile, StructuredProfile
from wamcp.whatsapp.profiles.base import PageLengths
from wamcp.whatsapp.timeparse import ServerClock

from .lharries_format import PrintedMessage, format_listing
from .test_structured import text_result, tool

pytestmark = pytest.mark.anyio
START = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)


def _jid(chat: int) -> str:
    return f"44770090{chat:04d}@s.whatsapp.net"


class LharriesServer:
    """lharries' ``list_messages`` over chats of the given sizes, newest first, at most ``cap`` lines a call."""

    def __init__(self, sizes: list[int], cap: int | None = None) -> None:
        self.cap = cap
        self.calls: list[dict[str, Any]] = []
        self.messages = [
            PrintedMessage(
                (START - timedelta(minutes=7 * i + chat)).strftime("%Y-%m-%d %H:%M:%S"),
                _jid(chat),
                f"Customer {chat}",
                f"Customer {chat}",
                f"message {i} of chat {chat}",
            )
            for chat, size in enumerate(sizes)
            for i in range(size)
        ]

    async def __call__(self, tool_name: str, args: dict[str, Any]) -> dict[str, Any]:
        if tool_name == "get_chat":
            return {"content": []}
        assert tool_name == "list_messages"
        self.calls.append(args)
        rows = [m for m in self.messages if m.chat_jid == args["chat_jid"]]
        if "before" in args:
            rows = [m for m in rows if m.server_time < args["before"]]
        rows.sort(key=lambda m: m.server_time, reverse=True)
        limit = args["limit"] if self.cap is None else min(args["limit"], self.cap)
        return {"content": [], "text": format_listing(rows[:limit])}

    def chat(self, chat: int) -> list[str]:
        return sorted(m.content for m in self.messages if m.chat_jid == _jid(chat))


async def _read(profile: LharriesProfile, server: LharriesServer, chat: int) -> tuple[list[str], int]:
    before = len(server.calls)
    got = [m.content async for m in profile.iter_messages(server, _jid(chat), page_size=500)]
    return sorted(got), len(server.calls) - before


async def test_a_capped_lharries_server_is_read_to_the_end_and_the_cap_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = LharriesServer([30, 50, 11, 7], cap=12)
    profile = LharriesProfile(ServerClock("UTC"))
    with caplog.at_level(logging.WARNING):
        for chat in range(4):
            got, _calls = await _read(profile, server, chat)
            assert got == server.chat(chat)
    said = [r.getMessage() for r in caplog.records if "rows where" in r.getMessage()]
    assert len(said) == 1
    assert "list_messages answered 12 rows where 500 were asked for" in said[0]


async def test_the_check_costs_a_call_per_new_longest_page_only() -> None:
    server = LharriesServer([30, 20, 30, 45, 9, 44])
    profile = LharriesProfile(ServerClock("UTC"))
    costs = []
    for chat in range(6):
        got, calls = await _read(profile, server, chat)
        assert got == server.chat(chat)
        costs.append(calls)
    # 30: nothing longer seen yet, one call past it; 20: shorter than 30, the end; 30 again: as long as the longest,
    # so possibly a cap; 45: new longest; 9: too short to be anyone's cap; 44: shorter than 45.
    assert costs == [2, 1, 2, 2, 1, 1]


def test_page_lengths_rules() -> None:
    pages = PageLengths()
    assert not pages.uncertain("t", 9, 500)  # below what any server caps at
    assert pages.uncertain("t", 10, 500)
    assert not pages.uncertain("t", 500, 500)  # a full page is never the last
    assert not pages.uncertain("t", 499, 500)  # shorter than a page the tool answered before
    pages.capped("t", 40, 500, "server")
    assert pages.full_length("t", 500) == 40
    assert pages.full_length("t", 25) == 25
    assert not pages.uncertain("t", 40, 500)  # a page at the cap is full
    assert pages.full_length("other", 500) == 500


def _at(seconds_before: int) -> str:
    return (START - timedelta(seconds=seconds_before)).isoformat()


class OffsetServer:
    """A structured server paging one chat by ``offset`` only, at most ``cap`` rows whatever the limit."""

    def __init__(self, size: int, cap: int) -> None:
        self.cap = cap
        self.calls: list[dict[str, Any]] = []
        self.rows = [{"id": f"m{i}", "chat_jid": _jid(1), "content": f"m{i}", "timestamp": _at(i)} for i in range(size)]

    async def __call__(self, tool_name: str, args: dict[str, Any]) -> dict[str, Any]:
        assert tool_name == "list_messages"
        self.calls.append(args)
        start = args["offset"]
        return text_result(structured={"result": self.rows[start : start + min(args["limit"], self.cap)]})


@pytest.mark.parametrize(("size", "cap"), [(95, 20), (100, 20), (95, 10_000)])
async def test_a_structured_server_capped_and_paged_by_offset_is_read_without_gaps(size: int, cap: int) -> None:
    """By offset, the page after a suspect short one must start right after its rows: asking 500 again from offset
    500 would skip every row between the cap and 500."""
    server = OffsetServer(size, cap)
    profile = StructuredProfile([tool("list_messages", "chat_jid", "limit", "offset")])
    got = [m.id async for m in profile.iter_messages(server, _jid(1), page_size=500)]
    assert sorted(got) == sorted(r["id"] for r in server.rows)
    offsets = [args["offset"] for args in server.calls]
    if cap < size:
        assert offsets == list(range(0, size + 1, cap)) if size % cap else list(range(0, size + cap, cap))
    else:
        assert offsets == [0, size]  # one call past the first (and longest) page, which brings nothing


async def test_a_page_read_short_of_what_was_printed_asks_again_but_shows_no_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full page with a media line printed twice parses one message short: read on past it (that short page used to
    end the chat) without taking its length for a cap."""
    server = LharriesServer([120])
    media = server.messages[10]
    server.messages[10] = PrintedMessage(
        media.server_time, media.chat_jid, media.chat_name, media.sender, "photo", media_type="image", message_id="M10"
    )
    printed = server.__call__

    async def repeating(tool_name: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = await printed(tool_name, args)
        line = format_listing([server.messages[10]])
        if line in answer.get("text", ""):  # the page holds the media message: print it twice, one row less
            lines = answer["text"].splitlines(keepends=True)
            at = lines.index(line)
            answer["text"] = "".join([*lines[: at + 1], line, *lines[at + 1 : -1]])
        return answer

    profile = LharriesProfile(ServerClock("UTC"))
    with caplog.at_level(logging.WARNING):
        got = [m.content async for m in profile.iter_messages(repeating, _jid(0), page_size=50)]
    assert sorted(got) == server.chat(0)
    assert not [r for r in caplog.records if "rows where" in r.getMessage()]
