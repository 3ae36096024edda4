"""The lharries text format: golden outputs of the real server, the header-disambiguation rules, and properties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wamcp.whatsapp.profiles.base import ParseStats
from wamcp.whatsapp.profiles.lharries import (
    derive_message_id,
    json_rows,
    parse_chat_rows,
    parse_contact_rows,
    parse_message_listing,
    parse_message_row,
)
from wamcp.whatsapp.timeparse import ServerClock

from .lharries_format import EMPTY, PrintedMessage, format_listing

UTC_CLOCK = ServerClock("UTC")


def listing(call: dict[str, Any], **kwargs: Any) -> tuple[list[Any], ParseStats]:
    stats = ParseStats()
    args = call["arguments"]
    messages = parse_message_listing(
        call["content"][0]["text"],
        clock=kwargs.pop("clock", UTC_CLOCK),
        chat_jid=args.get("chat_jid"),
        ordered=args.get("include_context", True) is False,
        query=args.get("query"),
        before=args.get("before"),
        stats=stats,
        **kwargs,
    )
    return messages, stats


# --- golden: the real server's outputs ------------------------------------------------------------------------------


def test_call2_gives_five_messages_the_second_with_five_lines(probe_calls: dict[int, Any]) -> None:
    messages, stats = listing(probe_calls[2])
    assert len(messages) == 5
    assert messages[1].content.split("\n") == [
        "Hi, here's my address for delivery:",
        "12 Harbour Street",
        "Flat 3B",
        "Bristol BS1 4AA",
        "United Kingdom",
    ]
    assert messages[0].timestamp == datetime(2025, 3, 28, 13, 23, 5, tzinfo=UTC)
    assert [m.is_from_me for m in messages] == [False, False, True, False, True]
    assert messages[2].sender == "Me"
    assert messages[2].sender_jid is None
    assert messages[0].sender_jid == "33606900592@s.whatsapp.net"
    assert {m.chat_jid for m in messages} == {"33606900592@s.whatsapp.net"}
    assert all(m.id_source == "derived" and m.id.startswith("~") and len(m.id) == 21 for m in messages)
    assert stats.bad_lines == 0
    assert stats.ambiguous_headers == 0


def test_call29_media_line_carries_server_id_and_chat(probe_calls: dict[int, Any]) -> None:
    messages, _ = listing(probe_calls[29])
    assert len(messages) == 3
    media = messages[0]
    assert media.id == "74AD84F08808BE9C6EC114A1D6982A15"
    assert media.id_source == "server"
    assert media.media_type == "audio"
    assert media.chat_jid == "2348038386756@s.whatsapp.net"
    assert media.content == ""
    assert media.server_time == "2025-03-28 12:53:20"
    assert messages[1].content == "Tracking: RN338193220GB"


def test_call37_fake_header_stays_in_content_when_chat_is_known(probe_calls: dict[int, Any]) -> None:
    call = dict(probe_calls[37], arguments={"chat_jid": "4915161481100@s.whatsapp.net", "include_context": False})
    messages, stats = listing(call)
    assert len(messages) == 1
    assert messages[0].content == (
        "Forwarding what you sent earlier:\n[2024-12-23 14:47:15] Chat: Orders From: Me: confirmed, ships Monday"
    )
    assert stats.ambiguous_headers == 0  # rejected by the chat name (rule 2), not a judgement call


def test_call37_fake_header_stays_in_content_by_the_query_rule(probe_calls: dict[int, Any]) -> None:
    messages, stats = listing(probe_calls[37])
    assert len(messages) == 1
    assert messages[0].content.endswith("confirmed, ships Monday")
    assert stats.ambiguous_headers == 1


def test_call37_without_any_hint_reads_two_messages(probe_calls: dict[int, Any]) -> None:
    # the documented limit: nothing tells the fake header apart
    messages, _ = listing(probe_calls[37], chat_jids_by_name={"Orders": "1@g.us"})
    messages = parse_message_listing(probe_calls[37]["content"][0]["text"], clock=UTC_CLOCK)
    assert [m.chat_name for m in messages] == ["Siobhán Khan", "Orders"]


def test_call12_empty_listing_is_no_messages(probe_calls: dict[int, Any]) -> None:
    messages, stats = listing(probe_calls[12])
    assert messages == []
    assert stats.bad_lines == 0


def test_context_listing_drops_repeated_neighbours(probe_calls: dict[int, Any]) -> None:
    messages, stats = listing(probe_calls[9])
    assert len(messages) == 4
    assert len({m.id for m in messages}) == 4
    assert stats.duplicates == 4
    group, _ = listing(probe_calls[26])
    assert [m.content for m in group] == [
        "Who's doing Saturday's stall?",
        "Thanks everyone!",
        "Invoice sent to the group email",
    ]


def test_cross_chat_listing_keeps_chat_names_and_maps_unique_names(probe_calls: dict[int, Any]) -> None:
    messages, _ = listing(probe_calls[10], chat_jids_by_name={"Pottery class — Tues 7pm": "120363380498379864@g.us"})
    assert [m.chat_name for m in messages] == ["Pottery class — Tues 7pm"] * 2
    assert messages[0].chat_jid == "120363380498379864@g.us"
    assert messages[0].sender_jid == "5511996659917@s.whatsapp.net"
    assert messages[1].sender == "李小龙"
    assert messages[1].sender_jid is None


def test_ids_are_stable_and_independent_of_page_position(probe_calls: dict[int, Any]) -> None:
    full, _ = listing(probe_calls[2])
    page = parse_message_listing(
        "".join(probe_calls[2]["content"][0]["text"].splitlines(keepends=True)[6:]),
        clock=UTC_CLOCK,
        chat_jid="33606900592@s.whatsapp.net",
    )
    assert [m.id for m in page] == [m.id for m in full[2:]]


def test_server_timezone_turns_wall_time_into_utc(probe_calls: dict[int, Any]) -> None:
    messages, _ = listing(probe_calls[2], clock=ServerClock("Europe/Madrid"))
    assert messages[0].timestamp == datetime(2025, 3, 28, 12, 23, 5, tzinfo=UTC)
    assert messages[0].server_time == "2025-03-28 13:23:05"


def test_chat_rows_dedupe_and_read_z_as_server_local(probe_calls: dict[int, Any]) -> None:
    stats = ParseStats()
    rows = json_rows(probe_calls[32], stats, "list_chats")
    chats = parse_chat_rows(rows, ServerClock("Europe/Paris"), stats)
    assert len(chats) == 1
    assert stats.duplicates == 1
    assert chats[0].last_message_time == datetime(2025, 1, 6, 8, 17, 42, tzinfo=UTC)  # 09:17:42 Paris (UTC+1)
    first = parse_chat_rows(json_rows(probe_calls[1], stats, "list_chats"), UTC_CLOCK, stats)
    assert len(first) == 5
    assert first[0].is_group
    assert first[0].last_is_from_me is True
    assert first[1].last_message == "👍👍"
    ghost = parse_chat_rows(json_rows(probe_calls[33], stats, "get_chat"), UTC_CLOCK, stats)
    assert ghost[0].last_message is None
    assert ghost[0].last_is_from_me is None
    assert json_rows(probe_calls[19], stats, "list_chats") == []


def test_contact_rows(probe_calls: dict[int, Any]) -> None:
    stats = ParseStats()
    contacts = parse_contact_rows(json_rows(probe_calls[8], stats, "search_contacts"), stats)
    assert [(c.jid, c.phone_number, c.name) for c in contacts] == [
        ("33606900592@s.whatsapp.net", "33606900592", "Isla Silva")
    ]


def test_message_context_rows(probe_calls: dict[int, Any]) -> None:
    stats = ParseStats()
    (row,) = json_rows(probe_calls[36], stats, "get_message_context")
    message = parse_message_row(row["message"], UTC_CLOCK)
    assert message.content == "line one from Windows\r\nline two\r\n"
    assert message.sender_jid == "12025550278@s.whatsapp.net"
    (row,) = json_rows(probe_calls[35], stats, "get_message_context")
    own = parse_message_row(row["message"], UTC_CLOCK)
    assert own.content == EMPTY
    assert own.is_from_me
    assert own.sender == "Me"
    assert own.id_source == "server"


def test_bad_json_blocks_are_counted() -> None:
    stats = ParseStats()
    result = {"content": [{"type": "text", "text": "Database error: boom"}, {"type": "text", "text": "[1, 2]"}]}
    assert json_rows(result, stats, "list_chats") == []
    assert stats.bad_rows == 2
    assert parse_chat_rows([{"name": "no jid"}], UTC_CLOCK, stats) == []
    assert parse_contact_rows([{"name": "nobody"}], stats) == []
    assert stats.bad_rows == 4


# --- the disambiguation rules ---------------------------------------------------------------------------------------

CHAT = "447700900123@s.whatsapp.net"


def msg(time: str, content: str, *, chat_name: str = "Ana", sender: str = "Ana", **kw: Any) -> PrintedMessage:
    return PrintedMessage(f"2025-03-28 {time}", CHAT, chat_name, sender, content, **kw)


def parse(text: str, **kw: Any) -> tuple[list[Any], ParseStats]:
    stats = ParseStats()
    kw.setdefault("chat_jid", CHAT)
    return parse_message_listing(text, clock=UTC_CLOCK, stats=stats, **kw), stats


def test_same_chat_fake_header_newer_than_its_message_stays_content() -> None:
    fake = "[2025-03-28 11:00:00] Chat: Ana From: Me: I will reply later"
    text = format_listing([msg("10:00:00", "quoting the future:\n" + fake), msg("09:00:00", "older")])
    messages, stats = parse(text)
    assert [m.content for m in messages] == ["quoting the future:\n" + fake, "older"]
    assert stats.ambiguous_headers == 1


def test_longest_ordered_chain_prefers_treating_an_older_quote_as_content() -> None:
    quote = "[2025-03-28 09:00:00] Chat: Ana From: Me: an old answer"
    text = format_listing([msg("10:00:00", "you said\n" + quote), msg("09:30:00", "real"), msg("08:00:00", "x")])
    messages, stats = parse(text)
    assert [m.server_time[11:] for m in messages] == ["10:00:00", "09:30:00", "08:00:00"]
    assert messages[0].content.endswith("an old answer")
    assert stats.ambiguous_headers == 1


def test_window_rejects_headers_outside_before_and_after() -> None:
    fake = "[2025-03-28 12:00:00] Chat: Ana From: Ana: too new"
    text = format_listing([msg("10:00:00", "a\n" + fake)])
    messages, _ = parse(text, before="2025-03-28 11:00:00", after="2025-03-28 09:00:00")
    assert len(messages) == 1
    old = "[2025-03-28 08:00:00] Chat: Ana From: Ana: too old"
    messages, _ = parse(format_listing([msg("10:00:00", "a\n" + old)]), after="2025-03-28 09:00:00")
    assert len(messages) == 1


def test_media_header_of_another_chat_stays_content() -> None:
    fake = "[2025-03-28 09:00:00] Chat: Ana From: Ana: [image - Message ID: ABC - Chat JID: 1@s.whatsapp.net] "
    messages, stats = parse(format_listing([msg("10:00:00", "b\n" + fake)]))
    assert len(messages) == 1
    assert stats.ambiguous_headers == 1


def test_identical_messages_in_one_second_are_two_messages() -> None:
    text = format_listing([msg("10:00:00", "ok"), msg("10:00:00", "ok")])
    messages, _ = parse(text)
    assert len({m.id for m in messages}) == 2
    assert messages[1].id == derive_message_id(
        CHAT, "2025-03-28 10:00:00", "them", "ok", 1
    )  # direct chat: "them", not the label


def test_header_without_chat_name_and_no_messages_literal() -> None:
    text = format_listing([msg("10:00:00", EMPTY, chat_name=""), msg("09:00:00", "", chat_name="")])
    messages, _ = parse(text)
    assert [m.content for m in messages] == [EMPTY, ""]
    assert messages[0].chat_name is None


def test_junk_before_first_header_is_counted_not_dropped_silently(caplog: pytest.LogCaptureFixture) -> None:
    text = "Database error: x\n" + format_listing([msg("10:00:00", "hello")])
    messages, stats = parse(text)
    assert len(messages) == 1
    assert stats.bad_lines == 1
    assert "before the first message header" in caplog.text
    messages, stats = parse("total garbage\nno header at 447700900123\n")
    assert messages == []
    assert stats.bad_lines == 2
    assert "447700900123" not in caplog.text  # phone numbers are redacted in logs


def test_invalid_dates_are_not_headers() -> None:
    fake = "[2025-02-30 09:00:00] Chat: Ana From: Ana: impossible date"
    messages, _ = parse(format_listing([msg("10:00:00", "a\n" + fake)]))
    assert len(messages) == 1
    messages, stats = parse(fake + "\n")
    assert messages == []
    assert stats.bad_lines == 1


# --- properties -----------------------------------------------------------------------------------------------------

_names = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), min_size=1, max_size=12)
_senders = _names.filter(lambda s: ": " not in s and s != "Me" and not s.endswith(":"))
_times = st.builds(
    lambda h, m, s: f"2025-03-28 {h:02d}:{m:02d}:{s:02d}",
    st.integers(0, 22),
    st.integers(0, 59),
    st.integers(0, 59),
)


@st.composite
def _content(draw: st.DrawFn, chat_name: str) -> str:
    """Arbitrary text with header look-alikes the rules can tell apart (foreign chat, newer than the page)."""
    pieces = draw(
        st.lists(
            st.one_of(
                st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
                st.just(EMPTY),
                st.just("\r\n"),
                st.just("\n"),
                st.builds(
                    lambda t, n: f"\n[{t}] Chat: {n} From: Me: quoted", _times, _names.filter(lambda n: n != chat_name)
                ),
                st.just(f"\n[2025-03-28 23:59:59] Chat: {chat_name} From: Me: from the future"),
                st.builds(lambda t: f"\n[{t}] From: Bob: no chat name", _times),
            ),
            max_size=5,
        )
    )
    return "".join(pieces)


@st.composite
def _pages(draw: st.DrawFn) -> tuple[str, list[PrintedMessage]]:
    chat_name = draw(_names)
    count = draw(st.integers(1, 6))
    times = sorted(draw(st.lists(_times, min_size=count, max_size=count)), reverse=True)
    page = []
    for index, time in enumerate(times):
        media = draw(st.sampled_from([None, None, "image", "audio"]))
        page.append(
            PrintedMessage(
                server_time=time,
                chat_jid=CHAT,
                chat_name=chat_name,
                sender=draw(_senders),
                content=draw(_content(chat_name)),
                is_from_me=draw(st.booleans()),
                media_type=media,
                message_id=f"{index:02X}" + draw(st.text("0123456789ABCDEF", min_size=6, max_size=30)) if media else "",
            )
        )
    return chat_name, page


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pages())
def test_any_content_round_trips_through_the_server_format(case: tuple[str, list[PrintedMessage]]) -> None:
    _, page = case
    messages, stats = parse(format_listing(page))
    assert [(m.server_time, m.sender, m.content, m.is_from_me, m.media_type) for m in messages] == [
        (p.server_time, p.label, p.content, p.is_from_me, p.media_type) for p in page
    ]
    assert [m.id for m in messages if m.id_source == "server"] == [p.message_id for p in page if p.media_type]
    assert len({m.id for m in messages}) == len(page)
    assert stats.bad_lines == 0


@settings(max_examples=300, deadline=None)
@given(st.text(), st.booleans(), st.sampled_from([None, CHAT]), st.sampled_from([None, "x", "%"]))
def test_garbage_never_crashes_the_parser(text: str, ordered: bool, chat_jid: str | None, query: str | None) -> None:
    stats = ParseStats()
    messages = parse_message_listing(
        text, clock=UTC_CLOCK, chat_jid=chat_jid, ordered=ordered, query=query, stats=stats
    )
    if not messages and text.strip() and text != EMPTY:
        assert stats.bad_lines > 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "[2025-03-28 10:00:00] Chat: Ana From: Ana: a",
                "[2025-03-28 09:00:00] Chat: Ana From: Me: b",
                "[2025-03-28 11:00:00] Chat: Bo From: Me: c",
                "[2025-03-28 09:30:00] From: Me: d",
                "plain",
                "",
                "[",
                "[2025-03-28 09:00:00] Chat: Ana",
            ]
        ),
        max_size=12,
    ),
    st.booleans(),
)
def test_header_soup_is_parsed_without_losing_lines(lines: list[str], ordered: bool) -> None:
    stats = ParseStats()
    text = "\n".join(lines) + "\n"
    messages = parse_message_listing(text, clock=UTC_CLOCK, chat_jid=CHAT, ordered=ordered, stats=stats)
    if ordered:  # every line is either bad, a header, or inside some message's content
        consumed = sum(1 + m.content.count("\n") for m in messages) + stats.bad_lines
        assert consumed == len(lines) or not lines


def test_known_names_holding_colons_and_from() -> None:
    lead = "Lead From: FB ad"
    text = format_listing(
        [
            PrintedMessage("2025-03-28 10:00:00", "1@g.us", "Stall", lead, "Are you open?"),
            PrintedMessage("2025-03-28 09:00:00", "2@s.whatsapp.net", lead, lead, "hi: there"),
            PrintedMessage(
                "2025-03-28 08:00:00", "1@g.us", "Stall", "Bob", "x\n[2025-03-28 07:00:00] Chat: Nope From: Me: q"
            ),
        ]
    )
    naive = parse_message_listing(text, clock=UTC_CLOCK)
    assert naive[0].sender == "Lead From"  # the documented limit without names
    stats = ParseStats()
    messages = parse_message_listing(
        text,
        clock=UTC_CLOCK,
        known_chat_names={"Stall", lead},
        known_sender_names={"Stall", lead, "Bob"},
        chat_jids_by_name={"Stall": "1@g.us", lead: "2@s.whatsapp.net"},
        stats=stats,
    )
    assert [(m.chat_name, m.sender, m.content) for m in messages] == [
        ("Stall", lead, "Are you open?"),
        (lead, lead, "hi: there"),
        ("Stall", "Bob", "x\n[2025-03-28 07:00:00] Chat: Nope From: Me: q"),
    ]
    assert [m.chat_jid for m in messages] == ["1@g.us", "2@s.whatsapp.net", "1@g.us"]
    assert stats.ambiguous_headers == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.just('{"jid": 5}'), st.just("[1]"), st.just('{"name": "x"}'))))
def test_json_garbage_never_crashes(blocks: list[str]) -> None:
    stats = ParseStats()
    rows = json_rows({"content": [{"type": "text", "text": b} for b in blocks]}, stats, "list_chats")
    parse_chat_rows(rows, UTC_CLOCK, stats)
    parse_contact_rows(rows, stats)
    assert stats.bad_rows + stats.chats + stats.duplicates >= 0


def test_derived_ids_stay_the_ids_stores_already_hold() -> None:
    # Stores key messages by these ids: the same inputs must give the same id in every version.
    assert derive_message_id("33606900592@s.whatsapp.net", "2025-03-31 10:58:00", "them", "Bonjour 🙂", 0) == (
        "~ae8fd419e58b35347932"
    )


# --- an account walk keeps some chats only ---------------------------------------------------------------------------

_WALK_NAMES = ["Ana", "Ana", "Bo From: Li", "Cy", "Dee"]  # "Ana" twice: two chats, one name


@st.composite
def _walk_page(draw: st.DrawFn) -> list[PrintedMessage]:
    count = draw(st.integers(1, 8))
    times = sorted(draw(st.lists(_times, min_size=count, max_size=count)), reverse=True)
    page = []
    for index, time in enumerate(times):
        chat = draw(st.integers(0, len(_WALK_NAMES) - 1))
        name = _WALK_NAMES[chat]
        quote = draw(st.sampled_from(_WALK_NAMES))
        content = draw(
            st.sampled_from(
                [
                    "ok",
                    "ok",
                    "two\nlines",
                    f"see\n[{time}] Chat: {quote} From: Me: a quoted header",
                    "bad date\n[2025-02-30 09:00:00] Chat: Cy From: Cy: not a header",
                ]
            )
        )
        media = draw(st.sampled_from([None, None, "image"]))
        page.append(
            PrintedMessage(
                time, f"{chat}@s.whatsapp.net", name, name, content, draw(st.booleans()), media, f"ID{index}"
            )
        )
    return page


@settings(max_examples=300, deadline=None)
@given(_walk_page(), st.sets(st.sampled_from(["Ana", "Bo From: Li", "Cy", "Dee", ""])))
def test_a_walk_that_keeps_some_chats_reads_those_as_a_full_parse_does(
    page: list[PrintedMessage], keep: set[str]
) -> None:
    text = format_listing(page)
    known = frozenset(_WALK_NAMES)
    by_name = {"Bo From: Li": "2@s.whatsapp.net", "Cy": "3@s.whatsapp.net", "Dee": "4@s.whatsapp.net"}

    def walk(keep_chat_names: frozenset[str] | None) -> list[Any]:
        return parse_message_listing(
            text,
            clock=UTC_CLOCK,
            chat_jids_by_name=by_name,
            known_chat_names=known,
            known_sender_names=known,
            keep_chat_names=keep_chat_names,
        )

    full, kept, again = walk(None), walk(frozenset(keep)), walk(frozenset(keep))

    # The same messages in the same places: contents split alike, whatever the others' contents look like.
    assert [m.server_time for m in kept] == [m.server_time for m in full]
    assert [m.chat_name for m in kept] == [m.chat_name for m in full]
    for whole, part in zip(full, kept, strict=True):
        if whole.chat_name in keep:
            assert part == whole
        else:
            assert (part.chat_jid, part.content) == (None, "")
    # Stand-ins are told apart, never look like stored ids, and are the same on every read of the page.
    assert len({m.id for m in kept}) == len(kept)
    assert all(m.id.startswith("\x00") for m in kept if m.chat_name not in keep)
    assert [m.id for m in again] == [m.id for m in kept]


def test_a_walk_that_keeps_some_chats_counts_a_repeated_media_line_once_as_a_full_parse_does() -> None:
    line = "[2025-03-28 10:00:00] Chat: Ana From: Ana: [image - Message ID: AB12 - Chat JID: 1@s.whatsapp.net] hi\n"
    text = "[2025-03-28 10:00:01] Chat: Cy From: Me: first\n" + line + line
    known = frozenset({"Ana", "Cy"})

    full = parse_message_listing(text, clock=UTC_CLOCK, known_chat_names=known)
    kept = parse_message_listing(text, clock=UTC_CLOCK, known_chat_names=known, keep_chat_names=frozenset({"Cy"}))

    assert len(full) == len(kept) == 2
    assert kept[0] == full[0]
