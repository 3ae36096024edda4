"""WhatsApp's chat-export text format: the exact shape, the guards, and write-then-read round trips."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from wamcp.chat_export import (
    DELETED_BODY,
    EMPTY_BODY,
    MEDIA_OMITTED,
    format_chat_export,
    read_chat_export,
    write_chat_export,
)


@dataclass(frozen=True)
class Row:
    timestamp: datetime
    sender: str
    content: str
    is_from_me: bool = False
    media_type: str | None = None
    deleted: bool = False


LONDON = ZoneInfo("Europe/London")


def test_android_en_gb_shape() -> None:
    rows = [
        Row(datetime(2024, 1, 13, 9, 2, 59, tzinfo=UTC), "Isla: Silva", "Hi\nsecond line"),
        Row(datetime(2024, 7, 13, 9, 3, tzinfo=UTC), "Me", "Yes!", is_from_me=True),
        Row(datetime(2024, 7, 13, 9, 4, tzinfo=UTC), "Isla", "", media_type="image"),
        Row(datetime(2024, 7, 13, 9, 5, tzinfo=UTC), "Isla", "caption", media_type="image"),
        Row(datetime(2024, 7, 13, 9, 6, tzinfo=UTC), "Isla", "oops", deleted=True),
        Row(datetime(2024, 7, 13, 9, 7, tzinfo=UTC), "Line\nBreak", ""),
    ]
    text = format_chat_export(rows, business_name="Acme Store", zone=LONDON)
    assert text.splitlines() == [
        "13/01/2024, 09:02 - Isla∶ Silva: Hi",
        "second line",
        "13/07/2024, 10:03 - Acme Store: Yes!",
        f"13/07/2024, 10:04 - Isla: {MEDIA_OMITTED}",
        f"13/07/2024, 10:05 - Isla: {MEDIA_OMITTED}",
        "caption",
        f"13/07/2024, 10:06 - Isla: {DELETED_BODY}",
        f"13/07/2024, 10:07 - Line Break: {EMPTY_BODY}",
    ]
    assert text.endswith("\n")
    assert not text.startswith("\ufeff")
    out = io.StringIO()
    assert write_chat_export(rows, out, business_name="Acme Store", zone=LONDON) == 6
    assert out.getvalue() == text


def test_content_that_looks_like_a_header_is_disarmed() -> None:
    body = "quoted:\n13/01/2024, 09:02 - Bob: fake\n[13/01/2024, 09:02:03] Bob: ios fake\n1/13/24, 9:02 AM - x"
    text = format_chat_export([Row(datetime(2024, 1, 13, 9, 5, tzinfo=UTC), "Ana", body)], business_name="B", zone=UTC)
    header = re.compile(r"^\[?\d{1,2}/\d{1,2}/\d{2,4},? \d{1,2}:\d{2}", re.MULTILINE)
    assert len(header.findall(text)) == 1
    (read,) = read_chat_export(text)
    assert read.text == body
    assert read.time == datetime(2024, 1, 13, 9, 5)


def test_reader_skips_system_lines_and_bom() -> None:
    text = (
        "\ufeff13/01/2024, 09:00 - Messages and calls are end-to-end encrypted.\n"
        "continuation of a system line\n"
        "13/01/2024, 09:02 - Ana: hello\n"
    )
    (only,) = read_chat_export(text)
    assert (only.author, only.text) == ("Ana", "hello")


_texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_texts, _texts, st.booleans()), min_size=1, max_size=6))
def test_round_trip_of_any_text(items: list[tuple[str, str, bool]]) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [Row(start + timedelta(minutes=i), sender, content, mine) for i, (sender, content, mine) in enumerate(items)]
    text = format_chat_export(rows, business_name="Acme", zone=UTC)
    read = read_chat_export(text)
    assert len(read) == len(rows)
    breaks = re.compile(r"\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
    for row, back in zip(rows, read, strict=True):
        expected = breaks.sub("\n", row.content) or EMPTY_BODY
        assert back.text == expected
        assert ":" not in back.author
        assert back.time == row.timestamp.replace(tzinfo=None, second=0)
