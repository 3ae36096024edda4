"""A ``list_messages`` answer damaged in transit or by a flaky server (the demo's ``--malformed-rate`` faults) is read
again instead of being stored: a garbled header otherwise glues its message onto the previous one (wrong content,
one message lost) and makes a full page look short, which ends the chat's walk early."""

from __future__ import annotations

from typing import Any

import pytest

from wamcp.demo.faults import FaultConfig, Faults
from wamcp.errors import MCPProtocolError
from wamcp.whatsapp.profiles.lharries import LharriesProfile
from wamcp.whatsapp.timeparse import ServerClock

from .lharries_format import PrintedMessage, format_message
from .test_lharries_profile import caller

pytestmark = pytest.mark.anyio
CHAT = "447700900123@s.whatsapp.net"
MESSAGES = [
    PrintedMessage(f"2025-03-28 10:{59 - i:02d}:00", CHAT, "Ana", "Ana" if i % 2 else "Me", f"message {i}")
    for i in range(30)
]
# Each of the demo server's three kinds of damage, applied to the second message's line.
DAMAGE = {
    "header cut before From": lambda line: line[: line.find(" From: ")] + "\n",
    "junk line before the header": lambda line: "\ufffd\x00garbled-bridge-output {{ \n" + line,
    "timestamp brackets lost": lambda line: line.replace("] Chat: ", " Chat ", 1).replace("[", "", 1),
}


def listing(messages: list[PrintedMessage], damage: Any = None) -> str:
    lines = [format_message(m) for m in messages]
    if damage is not None:
        lines[1] = damage(lines[1])
    return "".join(lines)


def answers(*texts: str) -> Any:
    """``list_messages`` answers in turn: ``texts`` (each sliced to the call's limit), then clean pages."""
    queue = list(texts)

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        before = args.get("before")
        page = [m for m in MESSAGES if before is None or m.server_time < before][: args["limit"]]
        text = queue.pop(0) if queue and before is None else listing(page)
        return {"content": [], "text": text}

    return answer


@pytest.mark.parametrize("kind", sorted(DAMAGE))
async def test_a_damaged_page_is_read_again_and_nothing_is_lost_or_glued(kind: str) -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    call = caller({"list_messages": answers(listing(MESSAGES[:10], DAMAGE[kind]))})
    got = [m async for m in profile.iter_messages(call, CHAT, page_size=10)]
    assert [m.content for m in got] == [m.content for m in MESSAGES]
    assert len({m.id for m in got}) == len(MESSAGES)
    first_page_reads = [args for _tool, args in call.calls if "before" not in args]
    assert len(first_page_reads) == 2  # the damaged answer, then the clean one


async def test_the_same_odd_answer_on_every_read_is_taken_as_the_servers_word() -> None:
    # A content line that starts like a header but is none is odd, not damage, when the server says it every time.
    odd = listing(MESSAGES[:3]).replace("message 0", "message 0\n[2025-01-01 00:00:00] Chat: quoted", 1)
    profile = LharriesProfile(ServerClock("UTC"))
    call = caller({"list_messages": lambda _args: {"content": [], "text": odd}})
    got = await profile.list_messages(call, chat_jid=CHAT, limit=10)
    assert [m.content for m in got] == ["message 0\n[2025-01-01 00:00:00] Chat: quoted", "message 1", "message 2"]
    assert len(call.calls) == 3


@pytest.mark.parametrize("kind", sorted(DAMAGE))
async def test_damage_that_repeats_once_is_not_taken_for_the_servers_word(kind: str) -> None:
    # Random damage to one line of a small page comes back identical now and then (a 5 % line fault rate did it to
    # a few chats of a thousand): when two equal reads sufficed, the glued message was stored and the chat, marked
    # complete, never read again.
    damaged = listing(MESSAGES[:3], DAMAGE[kind])
    clean = listing(MESSAGES[:3])
    texts = [damaged, damaged, clean]
    profile = LharriesProfile(ServerClock("UTC"))
    call = caller({"list_messages": lambda _args: {"content": [], "text": texts.pop(0)}})
    got = await profile.list_messages(call, chat_jid=CHAT, limit=10)
    assert [m.content for m in got] == ["message 0", "message 1", "message 2"]
    assert len(call.calls) == 3


async def test_a_listing_damaged_differently_on_every_read_fails_the_call() -> None:
    faults = Faults(FaultConfig(malformed_rate=0.5, seed=3))
    clean = [format_message(m) for m in MESSAGES[:10]]
    profile = LharriesProfile(ServerClock("UTC"))
    call = caller({"list_messages": lambda _args: {"content": [], "text": "".join(map(faults.garble, clean))}})
    with pytest.raises(MCPProtocolError, match="damaged"):
        await profile.list_messages(call, chat_jid=CHAT, limit=10)
    assert len(call.calls) == 3


async def test_a_clean_page_is_read_once() -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    call = caller({"list_messages": answers()})
    got = [m async for m in profile.iter_messages(call, CHAT, page_size=50)]
    assert len(got) == len(MESSAGES)
    first_page_reads = [args for _tool, args in call.calls if "before" not in args]
    assert len(first_page_reads) == 1
    # The one other call asks past the short page, which might be a server's undeclared cap (test_page_caps.py).
    assert [args["before"] for _tool, args in call.calls if "before" in args] == [MESSAGES[-1].server_time[:-2] + "01"]
