"""The lharries profile's tool calls: context, chats, status, search, and keyset paging edge cases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wamcp.errors import MCPToolError
from wamcp.whatsapp.profiles.lharries import LharriesProfile, list_chats_arguments, list_messages_arguments
from wamcp.whatsapp.timeparse import ServerClock

from .lharries_format import PrintedMessage, format_listing

pytestmark = pytest.mark.anyio
CHAT = "447700900123@s.whatsapp.net"


def from_probe(call: dict[str, Any]) -> dict[str, Any]:
    texts = [block["text"] for block in call["content"]]
    return {"content": call["content"], "text": "\n".join(texts), "structured_content": None}


def caller(answers: dict[str, Any]) -> Any:
    """A tool caller answering from ``answers``; ``get_chat`` finds nothing unless given; records listing calls."""
    calls: list[tuple[str, dict[str, Any]]] = []
    answers = {"get_chat": {"content": []}, **answers}

    async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
        if tool != "get_chat":
            calls.append((tool, args))
        answer = answers[tool]
        result = answer(args) if callable(answer) else answer
        if isinstance(result, Exception):
            raise result
        return dict(result)

    call.calls = calls  # type: ignore[attr-defined]
    return call


async def test_message_context_from_the_probe(probe_calls: dict[int, Any]) -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    context = await profile.message_context(caller({"get_message_context": from_probe(probe_calls[7])}), "5B0E")
    assert context["message"].id == "5B0E709A0BC61C7164AC"
    assert [m.id for m in context["before"]] == ["D3FABFC0BB792F4ACBB28B65B436C1EF", "9627BD07BF0EC556FB4C"]
    assert context["before"][0].is_from_me
    assert len(context["after"]) == 2
    empty = await profile.message_context(caller({"get_message_context": {"content": []}}), "x")
    assert empty["message"] is None
    broken = {"content": [{"type": "text", "text": json.dumps({"message": {"id": "x"}})}]}
    assert (await profile.message_context(caller({"get_message_context": broken}), "x"))["message"] is None
    assert profile.stats.bad_rows == 1


async def test_get_chat_and_status(probe_calls: dict[int, Any]) -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    call = caller({"get_chat": from_probe(probe_calls[3]), "list_chats": from_probe(probe_calls[1])})
    chat = await profile.get_chat(call, "33606900592@c.us")
    assert chat is not None
    assert chat.name == "Isla Silva"
    assert await profile.get_chat(caller({"get_chat": from_probe(probe_calls[20])}), "0@s.whatsapp.net") is None
    assert await profile.whatsapp_status(call, set()) == "unknown"
    status_call = caller({"get_connection_status": {"content": [], "text": "connected", "structured_content": None}})
    assert await profile.whatsapp_status(status_call, {"get_connection_status"}) == "connected"
    assert profile.is_idempotent("get_chat")
    assert not profile.is_idempotent("send_message")
    assert not profile.is_idempotent("download_media")


async def test_search_maps_only_unique_chat_names(probe_calls: dict[int, Any]) -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    twins = [
        {"jid": "1@g.us", "name": "Same"},
        {"jid": "2@g.us", "name": "Same"},
        {"jid": "3@g.us", "name": None},
        {"jid": "1@g.us", "name": "Same"},
    ]
    listing = format_listing(
        [
            PrintedMessage("2025-03-28 10:00:00", "1@g.us", "Same", "Ana", "stall"),
            PrintedMessage("2025-03-28 09:00:00", "4@g.us", "Other", "Ana", "stall"),
        ]
    )
    call = caller(
        {
            "list_chats": {"content": [{"type": "text", "text": json.dumps(r)} for r in twins]},
            "list_messages": {"content": [], "text": listing},
        }
    )
    chats = [c async for c in profile.iter_chats(call, page_size=10)]
    assert [c.jid for c in chats] == ["1@g.us", "2@g.us", "3@g.us"]
    found = await profile.search_messages(call, "stall")
    assert [m.chat_jid for m in found] == [None, None]
    # "Other" was not listed, so it is looked up by name (this server knows no such chat).
    assert call.calls[-2:] == [
        ("list_messages", list_messages_arguments(query="stall", limit=20)),
        ("list_chats", list_chats_arguments(query="Other", limit=200, sort_by="name")),
    ]


def chats_answer(chats: list[dict[str, Any]]) -> Any:
    """A ``list_chats`` like lharries': the chats whose name or JID holds the query, sorted as asked, one page."""

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        query = (args.get("query") or "").lower()
        rows = [c for c in chats if query in (c["name"] or "").lower() or query in c["jid"]]
        if args["sort_by"] == "name":
            rows.sort(key=lambda c: c["name"] or "")
        start = args["page"] * args["limit"]
        return {"content": [{"type": "text", "text": json.dumps(r)} for r in rows[start : start + args["limit"]]]}

    return answer


async def test_a_fresh_search_looks_up_the_chat_names_it_has_not_listed() -> None:
    chats = [{"jid": f"{n}@s.whatsapp.net", "name": f"Ana {n}"} for n in range(30)]
    chats += [{"jid": "900@s.whatsapp.net", "name": "Ana 7"}]  # shares "Ana 7" with 7@
    printed = [
        PrintedMessage(f"2025-03-28 10:{n:02}:00", f"{n}@s.whatsapp.net", f"Ana {n}", "Me", "x", True)
        for n in (12, 7, 3)
    ]

    def run(lines: list[PrintedMessage]) -> Any:
        return caller(
            {"list_chats": chats_answer(chats), "list_messages": {"content": [], "text": format_listing(lines)}}
        )

    profile = LharriesProfile(ServerClock("UTC"))
    call = run(printed)
    found = await profile.search_messages(call, "x")
    assert [m.chat_jid for m in found] == ["12@s.whatsapp.net", None, "3@s.whatsapp.net"]
    # One lookup per name (by substring, as lharries: "Ana 1" would match "Ana 12" too; sorted by name).
    assert [args["query"] for tool, args in call.calls if tool == "list_chats"] == ["Ana 12", "Ana 3", "Ana 7"]
    again = await profile.search_messages(call, "x")
    assert [m.id for m in again] == [m.id for m in found]
    assert [tool for tool, _ in call.calls].count("list_chats") == 3  # learnt once: "Ana 7" is shared, not unknown

    # Many unknown names: every chat is listed once instead.
    many = [
        PrintedMessage(f"2025-03-28 11:{n:02}:00", f"{n}@s.whatsapp.net", f"Ana {n}", "Me", "x", True)
        for n in reversed(range(20))
    ]
    profile = LharriesProfile(ServerClock("UTC"))
    call = run(many)
    found = await profile.search_messages(call, "x")
    assert [m.chat_jid for m in found] == [f"{n}@s.whatsapp.net" if n != 7 else None for n in reversed(range(20))]
    assert all("query" not in args for tool, args in call.calls if tool == "list_chats")


async def test_after_a_full_listing_new_names_are_learnt_from_the_recent_chats_only() -> None:
    chats = [{"jid": f"{n}@s.whatsapp.net", "name": f"Ana {n}"} for n in range(500)]
    lines = [
        PrintedMessage("2025-03-28 10:00:00", f"{n}@s.whatsapp.net", f"Ana {n}", "Me", "x", True) for n in range(9)
    ]
    call = caller({"list_chats": chats_answer(chats), "list_messages": {"content": [], "text": format_listing(lines)}})
    profile = LharriesProfile(ServerClock("UTC"))
    await profile.search_messages(call, "x")  # 9 unknown names: every chat is listed
    assert sum(args.get("sort_by") == "name" for tool, args in call.calls if tool == "list_chats") >= 2

    # Ten chats new since, most recently active first (this fake lists by activity in list order).
    chats[:0] = [{"jid": f"{n}@s.whatsapp.net", "name": f"Bo {n}"} for n in range(900, 910)]
    newer = [
        PrintedMessage("2025-03-29 09:00:00", f"{n}@s.whatsapp.net", f"Bo {n}", "Me", "x", True)
        for n in range(900, 910)
    ]
    call = caller({"list_chats": chats_answer(chats), "list_messages": {"content": [], "text": format_listing(newer)}})
    found = await profile.search_messages(call, "x")

    assert [m.chat_jid for m in found] == [f"{n}@s.whatsapp.net" for n in range(900, 910)]
    # One page of the most recent chats, not another listing of all 510.
    assert [(args["sort_by"], args["page"]) for tool, args in call.calls if tool == "list_chats"] == [
        ("last_active", 0)
    ]


async def test_iter_messages_settles_an_ambiguous_short_page_with_one_more_call() -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    fake = "[2025-03-28 09:00:00] Chat: Ana From: Me: quoted"
    first = format_listing(
        [
            PrintedMessage("2025-03-28 10:00:00", CHAT, "Ana", "Ana", "look\n" + fake),
            PrintedMessage("2025-03-28 09:30:00", CHAT, "Ana", "Ana", "real"),
            PrintedMessage("2025-03-28 08:00:00", CHAT, "Ana", "Ana", "old"),
        ]
    )
    pages = iter([first, format_listing([PrintedMessage("2025-03-28 08:00:00", CHAT, "Ana", "Ana", "old")])])
    call = caller({"list_messages": lambda _args: {"content": [], "text": next(pages)}})
    got = [m async for m in profile.iter_messages(call, CHAT, page_size=10)]
    assert [m.content for m in got] == ["look\n" + fake, "real", "old"]
    assert len(call.calls) == 2
    assert call.calls[1][1]["before"] == "2025-03-28 08:00:01"


async def test_iter_messages_gives_up_on_an_endless_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wamcp.whatsapp.profiles.lharries._MAX_LIMIT", 8)
    same = [PrintedMessage("2025-03-28 10:00:00", CHAT, "Ana", "Ana", f"m{i}") for i in range(20)]

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [], "text": format_listing(same[: args["limit"]])}

    call = caller({"list_messages": answer})
    got = [m async for m in LharriesProfile(ServerClock("UTC")).iter_messages(call, CHAT, page_size=4)]
    assert len(got) == 8
    assert [args["limit"] for _, args in call.calls] == [4, 8]


async def test_tool_errors_propagate() -> None:
    call = caller({"list_messages": MCPToolError("bad date", tool="list_messages", text="Invalid date format")})
    with pytest.raises(MCPToolError):
        await LharriesProfile(ServerClock("UTC")).list_messages(call, chat_jid=CHAT)


async def test_a_renamed_chat_still_parses(probe_calls: dict[int, Any]) -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    profile._chat_names["33606900592@s.whatsapp.net"] = "Isla (old name)"
    call = caller({"list_messages": from_probe(probe_calls[2])})
    got = await profile.list_messages(call, chat_jid="33606900592@s.whatsapp.net", limit=5)
    assert len(got) == 5
    assert got[1].content.count("\n") == 4
    assert profile.stats.bad_lines == 0


async def test_json_answers_from_a_successor_are_decoded() -> None:
    rows = [
        {"id": "A", "chat_jid": CHAT, "timestamp": "2025-03-28T10:00:00+00:00", "content": "old", "is_from_me": 0},
        {"id": "B", "chat_jid": CHAT, "timestamp": "2025-03-28T11:00:00+00:00", "content": "new", "is_from_me": 1},
        {"chat_jid": CHAT},
    ]
    profile = LharriesProfile(ServerClock("UTC"))
    as_blocks = {"content": [{"type": "text", "text": json.dumps(r)} for r in rows], "text": json.dumps(rows[0])}
    got = await profile.list_messages(caller({"list_messages": as_blocks}), chat_jid=CHAT)
    assert [m.id for m in got] == ["B", "A"]
    assert profile.stats.bad_rows == 1
    structured = {"content": [], "text": "2 messages", "structured_content": {"result": rows[:1]}}
    assert [m.content for m in await profile.list_messages(caller({"list_messages": structured}))] == ["old"]
    assert profile.stats.bad_lines == 0


async def test_contact_chats_and_last_interaction(probe_calls: dict[int, Any]) -> None:
    profile = LharriesProfile(ServerClock("UTC"))
    call = caller(
        {
            "get_contact_chats": from_probe(probe_calls[27]),
            "get_last_interaction": lambda args: from_probe(probe_calls[28 if args["jid"] else 24]),
        }
    )
    chats = await profile.contact_chats(call, "4915161481100")
    assert [c.jid for c in chats] == [
        "120363712009030789@g.us",
        "120363380498379864@g.us",
        "4915161481100@s.whatsapp.net",
    ]
    last = await profile.last_interaction(call, "4915161481100")
    assert last is not None
    assert last.chat_jid == "4915161481100@s.whatsapp.net"  # mapped by the chat name learned above
    assert last.content == "Olá! Vocês entregam em Lisboa?"
    assert await profile.last_interaction(call, "") is None


def _chat_server(names: list[str], *, long_from: int | None = None) -> Any:
    """``list_chats`` over ``names`` with lharries' ``page`` x ``limit`` offsets; chats from ``long_from`` on carry a
    10 kB last message (their answers are large)."""

    def answer(args: dict[str, Any]) -> dict[str, Any]:
        start = args["page"] * args["limit"]
        blocks = []
        for i, name in enumerate(names[start : start + args["limit"]], start):
            last = "x" * 10_000 if long_from is not None and i >= long_from else "hi"
            row = {"jid": f"4477009{i:05d}@s.whatsapp.net", "name": name, "last_message_time": None}
            blocks.append({"type": "text", "text": json.dumps({**row, "last_message": last})})
        return {"content": blocks}

    return caller({"list_chats": answer})


@pytest.mark.parametrize(("chats", "long_from"), [(25_000, None), (3_000, 1_200), (999, None)])
async def test_iter_chats_grows_and_shrinks_its_pages_on_exact_offsets(chats: int, long_from: int | None) -> None:
    """Every chat exactly once, every offset a multiple of the limit asked for, pages growing while answers are
    small (up to page_size) and shrinking under the byte budget when they get large."""
    from wamcp.whatsapp.profiles.base import CHAT_PAGE_BYTES

    names = [f"Customer {i:05d}" for i in range(chats)]
    call = _chat_server(names, long_from=long_from)
    got = [chat.name async for chat in LharriesProfile(ServerClock("UTC")).iter_chats(call, page_size=10_000)]
    assert got == names
    limits = [args["limit"] for _, args in call.calls]
    offset = 0
    for _, args in call.calls:
        assert offset == args["page"] * args["limit"]  # lharries' offsets land where the last page ended
        offset += args["limit"]
    assert max(limits) <= 10_000
    if chats > 20_000:
        assert max(limits) >= 4_000  # small answers: the pages grew
        assert len(call.calls) < chats / 1_000
    if long_from is not None:
        assert limits[-1] * 10_000 <= 2 * CHAT_PAGE_BYTES  # 10 kB chats: pages of ~50, not thousands
