"""The structured profile: §2 decoding rules, field aliases, paging and de-duplication; profile detection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamcp.errors import MCPToolError
from wamcp.whatsapp.models import Chat
from wamcp.whatsapp.profiles import LharriesProfile, StructuredProfile, build_profile, detect_profile_name, structured
from wamcp.whatsapp.profiles.base import ParseStats
from wamcp.whatsapp.profiles.structured import decode_result, parse_chat, parse_contact, parse_message
from wamcp.whatsapp.timeparse import ServerClock

pytestmark = pytest.mark.anyio
CLOCK = ServerClock("UTC")
CHAT = "447700900123@s.whatsapp.net"


def text_result(*texts: str, structured: Any = None) -> dict[str, Any]:
    return {
        "content": [{"type": "text", "text": t} for t in texts],
        "structured_content": structured,
        "text": "\n".join(texts),
    }


def test_decoding_rules() -> None:
    assert decode_result(text_result("x", structured={"result": [1]})) == [1]
    assert decode_result(text_result(structured={"a": 1, "b": 2})) == {"a": 1, "b": 2}
    assert decode_result(text_result('{"a": 1}', '{"a": 2}')) == [{"a": 1}, {"a": 2}]
    assert decode_result(text_result('[{"a": 1}]')) == [{"a": 1}]
    assert decode_result(text_result("No messages found")) is None
    assert decode_result(text_result()) is None
    stats = ParseStats()
    assert decode_result(text_result('{"a": 1}', "[2]"), stats) == [{"a": 1}]
    assert stats.bad_rows == 1


def test_message_fields_from_several_servers() -> None:
    loglux = parse_message(
        {"id": f"{CHAT}:ABC", "timestamp": 1711620000, "fromMe": 1, "body": "hi", "type": "chat"}, CLOCK
    )
    assert loglux.id == "ABC"
    assert loglux.chat_jid == CHAT
    assert loglux.is_from_me
    assert loglux.sender == "Me"
    assert loglux.media_type is None
    assert loglux.timestamp == datetime.fromtimestamp(1711620000, tz=UTC)
    gowa = parse_message(
        {
            "id": "X1",
            "chat_jid": "447700900999@c.us",
            "timestamp": "2025-03-28T13:23:05+02:00",
            "sender_jid": "447700900999@s.whatsapp.net",
            "content": "photo",
            "media_type": "image",
            "is_from_me": "0",
        },
        CLOCK,
    )
    assert gowa.chat_jid == "447700900999@s.whatsapp.net"
    assert gowa.timestamp == datetime(2025, 3, 28, 11, 23, 5, tzinfo=UTC)
    assert gowa.sender == "447700900999"
    assert gowa.media_type == "image"
    named = parse_message(
        {"id": "Y", "timestamp": "1711620000000", "sender": "Ana Lima", "text": "ms epoch"}, CLOCK, chat_jid=CHAT
    )
    assert named.sender == "Ana Lima"
    assert named.chat_jid == CHAT
    assert named.timestamp.year == 2024
    naive = parse_message({"id": "Z", "timestamp": "2025-07-01 12:00:00", "key": None}, ServerClock("Europe/London"))
    assert naive.timestamp == datetime(2025, 7, 1, 11, 0, tzinfo=UTC)
    with pytest.raises(KeyError):
        parse_message({"timestamp": 1}, CLOCK)
    with pytest.raises(KeyError):
        parse_message({"id": "no time"}, CLOCK)


def test_chat_and_contact_fields() -> None:
    chat = parse_chat(
        {"chat_jid": CHAT, "title": "Ana", "lastMessage": {"text": "hey"}, "conversationTimestamp": 1711620000},
        CLOCK,
    )
    assert chat.jid == CHAT
    assert chat.name == "Ana"
    assert chat.last_message == "hey"
    assert chat.last_message_time is not None
    with pytest.raises(KeyError):
        parse_chat({"name": "nobody"}, CLOCK)
    contact = parse_contact({"phone": "+44 7700 900123", "push_name": "Ana"})
    assert contact.jid == CHAT
    assert contact.name == "Ana"
    with pytest.raises(KeyError):
        parse_contact({"name": "x"})


def tool(name: str, *params: str) -> dict[str, Any]:
    return {"name": name, "inputSchema": {"properties": {p: {} for p in params}}, "outputSchema": None}


class Server:
    """A JSON server with page/limit paging, newest first, that repeats one message across pages."""

    def __init__(self, count: int, *, keyset: bool = False) -> None:
        start = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
        self.rows = [
            {
                "id": f"m{i}",
                "chat_jid": CHAT,
                "timestamp": (start - timedelta(seconds=i // 2)).isoformat(),
                "content": i,
            }
            for i in range(count)
        ]
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.keyset = keyset

    async def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, args))
        if name == "list_messages":
            rows = self.rows
            if "before" in args:
                limit_time = datetime.fromisoformat(args["before"])
                rows = [r for r in rows if datetime.fromisoformat(r["timestamp"]) < limit_time]
            start = args.get("page", 0) * args["limit"]
            chunk = rows[start : start + args["limit"]]
            if chunk and not self.keyset:
                chunk = [*chunk, self.rows[0]]  # an overlap the profile must drop
            return text_result(structured={"result": chunk})
        if name == "list_chats":
            page = args.get("page", 0)
            rows = [{"jid": f"4477009001{i:02d}@s.whatsapp.net", "name": f"c{i}"} for i in range(5)]
            return text_result(*(json.dumps(r) for r in rows[page * 2 : page * 2 + 2]))
        if name == "get_qr_code":
            return {"content": [{"type": "image", "data": "iVBOR", "mimeType": "image/png"}], "text": ""}
        if name == "check_auth_status":
            return text_result('{"connected": true}')
        if name == "search_contacts":
            return text_result(json.dumps([{"jid": CHAT, "name": "Ana"}, {"jid": CHAT}, {"name": "bad"}]))
        raise AssertionError(name)


async def test_page_paging_dedupes_and_stops() -> None:
    server = Server(25)
    profile = StructuredProfile(
        [tool("list_messages", "chat_jid", "limit", "page"), tool("list_chats", "limit", "page")]
    )
    got = [m async for m in profile.iter_messages(server, CHAT, page_size=10)]
    assert [m.id for m in got] == [f"m{i}" for i in range(25)]
    assert profile.stats.duplicates >= 2
    chats = [c async for c in profile.iter_chats(server, page_size=2)]
    assert len(chats) == 5


async def test_keyset_paging_with_before() -> None:
    server = Server(31, keyset=True)
    profile = StructuredProfile([tool("list_messages", "chat_jid", "limit", "before", "after")])
    got = [m async for m in profile.iter_messages(server, CHAT, page_size=10)]
    assert sorted(m.id for m in got) == sorted(f"m{i}" for i in range(31))
    assert all("page" not in args for _, args in server.calls)


async def test_pairing_status_and_contacts() -> None:
    server = Server(0)
    names = {"get_qr_code", "check_auth_status", "search_contacts"}
    profile = StructuredProfile([tool(n) for n in names] + [tool("search_contacts", "query")])
    paired = await profile.authenticate(server, "+447700900123", names)
    assert paired["status"] == "qr_required"
    assert paired["qr_code"].startswith("data:image/png;base64,")
    assert await profile.whatsapp_status(server, names) is True
    contacts = await profile.search_contacts(server, "ana")
    assert [c.jid for c in contacts] == [CHAT]
    assert profile.stats.bad_rows == 1
    assert profile.is_idempotent("list_messages")
    assert not profile.is_idempotent("send_message")
    assert not profile.is_idempotent("get_qr_code")


async def test_missing_tools_are_reported() -> None:
    profile = StructuredProfile([tool("something_else")])
    with pytest.raises(LookupError, match="none of the tools"):
        await profile.list_chats(Server(0))


def test_detection_picks_lharries_only_for_its_text_format(probe_calls: dict[int, Any]) -> None:
    from .conftest import PROBE

    lharries_tools = json.loads(PROBE.read_text(encoding="utf-8"))["tools"]
    assert detect_profile_name(lharries_tools) == "lharries"
    with_schema = [dict(t, outputSchema={"type": "object"}) for t in lharries_tools]
    assert detect_profile_name(with_schema) == "structured"
    assert detect_profile_name([]) == "structured"
    assert isinstance(build_profile("auto", lharries_tools, CLOCK), LharriesProfile)
    assert isinstance(build_profile("structured", lharries_tools, CLOCK), StructuredProfile)
    assert isinstance(build_profile("lharries", [], CLOCK), LharriesProfile)
    with pytest.raises(ValueError, match="unknown profile"):
        build_profile("demo", [], CLOCK)


async def test_get_chat_with_and_without_a_get_chat_tool() -> None:
    server = Server(0)
    listing_only = StructuredProfile([tool("list_chats", "limit", "page")])
    found = await listing_only.get_chat(server, "447700900101@s.whatsapp.net")
    assert found is not None
    assert found.name == "c1"
    assert await listing_only.get_chat(server, "1@s.whatsapp.net") is None

    async def get_chat(name: str, args: dict[str, Any]) -> dict[str, Any]:
        assert args == {"jid": CHAT}
        return text_result(json.dumps({"jid": CHAT, "name": "Ana"}))

    with_tool = StructuredProfile([tool("get_chat", "jid")])
    chat = await with_tool.get_chat(get_chat, CHAT)
    assert chat is not None
    assert chat.name == "Ana"


async def test_list_chats_sends_only_declared_arguments_and_counts_bad_rows() -> None:
    seen: list[dict[str, Any]] = []

    async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        seen.append(args)
        rows = [{"jid": CHAT, "name": "Ana"}, {"jid": CHAT, "name": "again"}, {"name": "no id"}]
        return text_result(structured={"chats": rows})

    profile = StructuredProfile([tool("list_chats", "limit", "offset", "query")])
    chats = await profile.list_chats(call, limit=5, page=2, query="an")
    assert [c.name for c in chats] == ["Ana"]
    assert seen == [{"limit": 5, "offset": 10, "query": "an"}]
    assert profile.stats.bad_rows == 1
    assert profile.stats.duplicates == 1
    unknown = StructuredProfile()
    assert await unknown.list_chats(call) == [chats[0]]
    assert seen[-1]["limit"] == 20


async def test_messages_without_paging_are_read_in_one_call() -> None:
    async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        rows = [
            {"id": f"{CHAT}:{i}", "timestamp": 1711620000 + i, "body": str(i), "fromMe": i % 2} for i in range(3)
        ] + [{"id": "bad"}]
        return text_result(json.dumps(rows))

    profile = StructuredProfile([tool("get_messages", "chat_jid", "limit")])
    got = [m async for m in profile.iter_messages(call, CHAT, page_size=2)]
    assert [m.id for m in got] == ["2", "1", "0"]
    assert profile.stats.bad_rows == 1
    since = datetime.fromtimestamp(1711620001, tz=UTC)
    assert [m.id async for m in profile.iter_messages(call, CHAT, since=since)] == ["2", "1"]
    status = StructuredProfile([tool("get_messages")])
    assert await status.whatsapp_status(call, set()) == "unknown"


async def test_structured_pages_with_bounds() -> None:
    server = Server(40, keyset=True)
    profile = StructuredProfile([tool("list_messages", "chat_jid", "limit", "before", "after")])
    start = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
    after = start - timedelta(seconds=15)
    pages = [p async for p in profile.iter_message_pages(server, CHAT, after=after, before=start, page_size=8)]
    got = [m for p in pages for m in p]
    assert all(after < m.timestamp < start for m in got)
    assert len({m.id for m in got}) == len(got)


class CappedServer:
    """A keyset server listing across chats, newest first, that answers at most ``cap`` rows whatever the limit."""

    def __init__(self, count: int, cap: int, *, refuses: bool = False) -> None:
        self.refuses = refuses
        start = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
        chats = [f"4477009001{i:02d}@s.whatsapp.net" for i in range(4)]
        self.rows = [
            {"id": f"m{i}", "chat_jid": chats[i % 4], "timestamp": (start - timedelta(seconds=3 * i)).isoformat()}
            for i in range(count)
        ]
        self.cap = cap
        self.calls = 0

    async def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.refuses and args["limit"] > self.cap:  # as FastMCP validates a declared maximum
            raise MCPToolError(f"Input validation error: {args['limit']} is greater than the maximum of {self.cap}")
        if name == "list_chats":
            chats = [{"jid": f"4477009001{i:02d}@s.whatsapp.net", "name": f"c{i}"} for i in range(4)]
            return text_result(structured={"result": chats[args["offset"] : args["offset"] + args["limit"]]})
        assert name == "list_messages"
        rows = self.rows
        if "chat_jid" in args:
            rows = [r for r in rows if r["chat_jid"] == args["chat_jid"]]
        if "before" in args:
            rows = [r for r in rows if r["timestamp"] < datetime.fromisoformat(args["before"]).isoformat()]
        if "after" in args:
            rows = [r for r in rows if r["timestamp"] > datetime.fromisoformat(args["after"]).isoformat()]
        return text_result(structured={"result": rows[: min(args["limit"], self.cap)]})


@pytest.mark.parametrize("parallel", [1, 3])
async def test_a_walk_across_chats_reads_past_a_server_that_caps_its_pages(parallel: int) -> None:
    """A server that answers fewer rows than asked for is not at its end until a page brings nothing new: the walk
    used to stop at the first short page, leaving every older message out of a run that called itself complete."""
    server = CappedServer(230, cap=40)
    profile = StructuredProfile([tool("list_messages", "chat_jid", "limit", "before", "after")])
    got = [m async for m in profile.iter_all_messages(server, page_size=100, chats=_four_chats(), parallel=parallel)]
    assert sorted(m.id for m in got) == sorted(r["id"] for r in server.rows)
    uncapped = CappedServer(230, cap=10_000)
    walked = [m async for m in profile.iter_all_messages(uncapped, page_size=100, chats=_four_chats())]
    assert len(walked) == 230
    assert uncapped.calls == 4  # three pages, and one that brings nothing new


@pytest.mark.parametrize(
    "limit_schema",
    [
        {"type": "integer", "maximum": 40},
        {"type": "integer", "exclusiveMaximum": 41},
        {"anyOf": [{"type": "integer", "maximum": 40, "minimum": 1}, {"type": "null"}], "default": None},
    ],
)
async def test_a_declared_maximum_limit_is_never_exceeded(limit_schema: dict[str, Any]) -> None:
    """A server declaring ``limit <= 40`` refuses more: the chat listing, the walk and per-chat reads all ask within it
    and still read everything."""
    server = CappedServer(230, cap=40, refuses=True)
    schema = {"properties": {"limit": limit_schema, "offset": {}, "before": {}, "after": {}, "chat_jid": {}}}
    profile = StructuredProfile(
        [
            {"name": "list_messages", "inputSchema": schema},
            {"name": "list_chats", "inputSchema": {"properties": {"limit": limit_schema, "offset": {}}}},
        ]
    )
    chats = [c async for c in profile.iter_chats(server, page_size=10_000)]
    assert len(chats) == 4
    walked = [m async for m in profile.iter_all_messages(server, page_size=2000, chats=_four_chats(), parallel=2)]
    assert sorted(m.id for m in walked) == sorted(r["id"] for r in server.rows)
    one = [m async for m in profile.iter_messages(server, chats[1].jid, page_size=500)]
    assert sorted(m.id for m in one) == sorted(r["id"] for r in server.rows if r["chat_jid"] == chats[1].jid)


def _four_chats() -> list[Chat]:
    newest = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
    return [Chat(jid=f"4477009001{i:02d}@s.whatsapp.net", name=f"c{i}", last_message_time=newest) for i in range(4)]


def test_rows_of_one_page_may_each_use_other_aliases() -> None:
    profile = StructuredProfile([])
    rows: list[dict[str, Any]] = [
        {"id": "A1", "chat_jid": CHAT, "timestamp": "2025-03-28T12:00:00+00:00", "sender": "447700900123"},
        {"message_id": "A2", "chatJid": "447700900999@c.us", "time": 1711627200, "from": "447700900999"},
        # Several aliases of a field in one row: the first that is neither null nor empty wins.
        {"id": "", "message_id": "A3", "chat_jid": None, "jid": CHAT, "date": "2025-03-28T12:00:01Z", "text": "t"},
        {"id": "A4", "chat_jid": "", "timestamp": 1711627202, "sender_jid": "", "sender": "447700900124"},
        {"id": "", "chat_jid": CHAT, "timestamp": 1711627203},  # no usable id
        {"id": "A1", "chat_jid": CHAT, "timestamp": "2025-03-28T12:00:00+00:00", "sender": "447700900123"},
    ]
    messages = profile._messages(rows, "list_messages", "120363000000000000@g.us")
    assert [m.id for m in messages] == ["A1", "A2", "A3", "A4", "A1"]
    assert [m.chat_jid for m in messages] == [
        CHAT,
        "447700900999@s.whatsapp.net",
        CHAT,
        "120363000000000000@g.us",  # an empty chat falls back to the chat asked for
        CHAT,
    ]
    assert [m.sender_jid for m in messages] == [
        CHAT,
        "447700900999@s.whatsapp.net",
        None,
        "447700900124@s.whatsapp.net",
        CHAT,
    ]
    assert messages[2].content == "t"
    assert messages[1].timestamp == datetime.fromtimestamp(1711627200, tz=UTC)
    assert profile.stats.bad_rows == 1


_ALIASES = {
    "id": ("id", "message_id", "messageId", "key"),
    "chat": ("chat_jid", "chatJid", "chat_id", "jid", "remoteJid", "chat"),
    "time": ("timestamp", "time", "date", "sent_at", "messageTimestamp"),
    "from_me": ("is_from_me", "from_me", "fromMe", "isFromMe"),
    "sender": ("sender_jid", "sender", "from", "author", "participant"),
    "sender_name": ("sender_name", "push_name", "pushName", "sender_display_name"),
    "content": ("content", "text", "body", "message", "caption"),
    "media": ("media_type", "mediaType", "type"),
    "chat_name": ("chat_name", "chatName"),
}


def _first_alias(row: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The rule each field follows, written out alias by alias (what parse_message did per row before)."""
    for name in names:
        if row.get(name) is not None and row.get(name) != "":
            return row[name]
    return None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(sorted({name for names in _ALIASES.values() for name in names} | {"other"})),
            st.sampled_from([None, "", "x", "0", 0, 1, True, False, "447700900123"]),
            max_size=12,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_field_lookup_by_row_shape_equals_alias_by_alias(rows: list[dict[str, Any]]) -> None:
    for row in rows * 2:  # the second time round, every shape is known
        got = structured._MESSAGE_FIELDS.values(row)
        expected = [_first_alias(row, names) for names in _ALIASES.values()]
        assert [None if value == "" else value for value in got] == expected


def test_normalized_jids_are_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structured, "_JIDS", {})
    monkeypatch.setattr(structured, "_MAX_JIDS", 3)
    for n in range(10):
        row = {"id": f"M{n}", "chat_jid": f"4477009001{n:02d}@c.us", "timestamp": 1711627200, "sender": "bad jid!"}
        message = parse_message(row, CLOCK)
        assert message.chat_jid == f"4477009001{n:02d}@s.whatsapp.net"
        assert (message.sender_jid, message.sender) == (None, "bad jid!")  # rejected, shown as a name
        assert len(structured._JIDS) <= 3
    assert "bad jid!" not in structured._JIDS


def test_lines_of_text_where_json_was_expected_are_warned_about_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The structured profile forced on a text server (lharries' format) read every answer as empty: a run stored
    # no message and called itself complete, without a word.
    from wamcp.whatsapp.profiles import structured

    monkeypatch.setattr(structured, "_TEXT_WARNED", set())
    lines = "[2025-03-28 10:59:00] Chat: Ana From: Ana: hi\n[2025-03-28 10:58:00] Chat: Ana From: Me: hello\n" * 2
    answer = {"content": [{"type": "text", "text": lines}], "structured_content": None}
    with caplog.at_level("DEBUG", logger="wamcp"):
        assert decode_result(answer, source="list_messages") is None
        assert decode_result(answer, source="list_messages") is None
        assert decode_result({"content": [{"type": "text", "text": "No messages found."}]}, source="search") is None
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "profile" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("tools", "finds"),
    [
        (["list_chats", "get_chat", "list_messages"], True),
        (["list_chats", "whatsapp_get_chat", "list_messages"], True),
        (["list_chats", "list_messages"], False),  # get_chat would list every chat to find one
    ],
)
def test_a_profile_finds_chats_by_jid_only_with_a_chat_tool(tools: list[str], finds: bool) -> None:
    assert StructuredProfile([tool(name) for name in tools]).finds_chats_by_jid() is finds


async def test_a_second_fuller_than_the_largest_page_allowed_does_not_end_the_chat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """30 messages in one second, a server that allows pages of 10: the page cannot grow past that second, so the
    read goes on below it (and says what it may have missed) instead of stopping the chat there."""
    start = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)
    crowded = [{"id": f"c{i}", "chat_jid": CHAT, "timestamp": start.isoformat()} for i in range(30)]
    older = [
        {"id": f"o{i}", "chat_jid": CHAT, "timestamp": (start - timedelta(seconds=i + 1)).isoformat()}
        for i in range(20)
    ]
    rows = crowded + older

    async def server(name: str, args: dict[str, Any]) -> dict[str, Any]:
        assert args["limit"] <= 10
        bound = datetime.fromisoformat(args["before"]) if "before" in args else None
        chunk = [r for r in rows if bound is None or datetime.fromisoformat(r["timestamp"]) < bound]
        return text_result(structured={"result": chunk[: args["limit"]]})

    schema = {"properties": {"limit": {"type": "integer", "maximum": 10}, "before": {}, "chat_jid": {}}}
    profile = StructuredProfile([{"name": "list_messages", "inputSchema": schema}])
    got = {m.id async for m in profile.iter_messages(server, CHAT, page_size=500)}
    assert {r["id"] for r in older} <= got
    assert len(got & {r["id"] for r in crowded}) == 10
    assert "more than 10 messages of one chat within one second" in caplog.text
