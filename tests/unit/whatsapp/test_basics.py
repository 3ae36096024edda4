"""JIDs, phone numbers, server time, models and the public surface of wamcp.whatsapp."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import wamcp.whatsapp as whatsapp
import whatsapp_mcp_client
from wamcp.errors import MCPClientError
from wamcp.whatsapp import Chat, Contact, Message
from wamcp.whatsapp.jid import (
    InvalidJIDError,
    InvalidPhoneNumberError,
    is_group_jid,
    jid_user,
    normalize_jid,
    validate_phone_number,
)
from wamcp.whatsapp.timeparse import ServerClock, machine_timezone, parse_instant


def test_public_surface_is_pinned() -> None:
    assert sorted(whatsapp.__all__) == [
        "Chat",
        "Contact",
        "InvalidJIDError",
        "InvalidPhoneNumberError",
        "LharriesProfile",
        "Message",
        "ParseStats",
        "Profile",
        "ServerClock",
        "StructuredProfile",
        "WhatsAppMCPClient",
        "detect_profile_name",
        "get_whatsapp_mcp_client",
        "is_group_jid",
        "normalize_jid",
        "reset_whatsapp_mcp_client",
        "validate_phone_number",
    ]
    assert whatsapp_mcp_client.WhatsAppMCPClient is whatsapp.WhatsAppMCPClient
    assert whatsapp_mcp_client.__all__ == whatsapp.__all__


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("447700900123@c.us", "447700900123@s.whatsapp.net"),
        ("447700900123@S.WhatsApp.Net", "447700900123@s.whatsapp.net"),
        ("447700900123:12@s.whatsapp.net", "447700900123@s.whatsapp.net"),
        ("+44 7700 900123", "447700900123@s.whatsapp.net"),
        ("0044-7700-900123", "447700900123@s.whatsapp.net"),
        ("120363712009030789", "120363712009030789@g.us"),
        ("447700900123-1612345678", "447700900123-1612345678@g.us"),
        ("120363712009030789@g.us", "120363712009030789@g.us"),
        ("12345@lid", "12345@lid"),
    ],
)
def test_normalize_jid(given: str, expected: str) -> None:
    assert normalize_jid(given) == expected


@pytest.mark.parametrize("bad", ["", "   ", "@g.us", "abc@", "Isla Silva"])
def test_normalize_jid_rejects_non_ids(bad: str) -> None:
    with pytest.raises(InvalidJIDError):
        normalize_jid(bad)


@pytest.mark.parametrize("national", ["07700 900123", "(0)20 7946 0958", "+07700900123", "0612345678"])
def test_normalize_jid_refuses_numbers_without_country_code(national: str) -> None:
    # As a JID, "07700900123@s.whatsapp.net" would name nobody: a chat filter built from it would match nothing.
    with pytest.raises(InvalidJIDError, match="no country code") as caught:
        normalize_jid(national)
    assert "+44 7700 900123" in (caught.value.hint or "")
    assert "".join(c for c in national if c.isdigit()) not in str(caught.value).replace(" ", "")  # masked


def test_jid_helpers() -> None:
    assert is_group_jid("1@g.us")
    assert not is_group_jid("1@s.whatsapp.net")
    assert jid_user("447700900123.0:3@s.whatsapp.net") == "447700900123"
    assert jid_user("447700900123") == "447700900123"


@pytest.mark.parametrize("text", ["+44 7700 900abc", "+44 (0) abc", "1-800-FLOWERS"])
def test_a_phone_number_with_letters_is_refused_not_read_as_a_keypad(text: str) -> None:
    with pytest.raises(InvalidPhoneNumberError, match="letters"):
        validate_phone_number(text)


def test_phone_numbers_are_e164_and_errors_mask_them() -> None:
    assert validate_phone_number("+44 7700 900123") == "+447700900123"
    assert validate_phone_number("0033606900592") == "+33606900592"
    assert validate_phone_number("12025550278") == "+12025550278"
    assert validate_phone_number("+33 6 06 90 05 92", strict=True) == "+33606900592"
    # The seed's own example is E.164-shaped but not a possible NANP length: accepted unless strict.
    assert validate_phone_number("+1234567890") == "+1234567890"
    with pytest.raises(InvalidPhoneNumberError) as caught:
        validate_phone_number("+1234567890", strict=True)
    assert "1234567890" not in str(caught.value)
    with pytest.raises(InvalidPhoneNumberError):
        validate_phone_number("+12345")
    assert isinstance(caught.value, MCPClientError)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidPhoneNumberError, match="not a phone number"):
        validate_phone_number("call me")


def test_clock_handles_dst_gaps_and_repeats() -> None:
    london = ServerClock("Europe/London")
    # spring forward: 01:30 does not exist -> read with the offset before the gap
    assert london.to_utc("2025-03-30 01:30:00") == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert london.to_utc("2025-03-30 02:30:00") == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    # fall back: 01:30 happens twice -> the first occurrence (BST)
    assert london.to_utc("2025-10-26 01:30:00") == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert london.to_utc("2025-10-26T02:30:00Z") == datetime(2025, 10, 26, 2, 30, tzinfo=UTC)
    assert london.to_utc("2025-07-01 12:00:00+02:00") == datetime(2025, 7, 1, 10, tzinfo=UTC)
    assert london.to_server_text(datetime(2025, 7, 1, 11, tzinfo=UTC)) == "2025-07-01 12:00:00"
    assert ServerClock.shift_text("2025-03-30 23:59:59", 1) == "2025-03-31 00:00:00"
    with pytest.raises(ValueError, match="aware"):
        london.to_server_text(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="Invalid isoformat"):
        london.to_utc("yesterday")
    assert "Europe/London" in repr(london)
    assert ServerClock("UTC").zone is UTC
    fixed = ServerClock(timezone(timedelta(hours=3)))
    assert fixed.to_utc("2025-01-01 03:00:00") == datetime(2025, 1, 1, tzinfo=UTC)


def test_clock_reads_every_form_of_time_text_alike() -> None:
    # The usual `YYYY-MM-DD HH:MM:SS` takes a shortcut; other forms, some as long, the general path: one answer.
    london = ServerClock("Europe/London")
    summer = datetime(2025, 7, 1, 11, tzinfo=UTC)
    assert london.to_utc("2025-07-01 12:00:00") == london.to_utc("2025-07-01T12:00:00") == summer
    assert london.to_utc("2025-07-01T12:00+02") == datetime(2025, 7, 1, 10, tzinfo=UTC)  # 19 characters, an offset
    assert london.to_utc("2025-07-01") == datetime(2025, 6, 30, 23, tzinfo=UTC)  # a day: its midnight
    assert london.to_utc("2025-07-01T12:00:00.250") == summer + timedelta(milliseconds=250)
    assert london.to_utc("2025-07-01T12:00:00Z") == summer  # lharries' JSON: local time despite the Z
    for text in ("2025-07-01 12:00:0 ", "2025-07-01 12:00:00 ", "2025-13-01 12:00:00", "2025-07-01 12:00:00Z+01"):
        with pytest.raises(ValueError, match=r"isoformat|month"):
            london.to_utc(text)
    utc = ServerClock("UTC").to_utc("2025-07-01 12:00:00")
    assert utc == datetime(2025, 7, 1, 12, tzinfo=UTC)
    assert utc.tzinfo is UTC


def test_clock_caches_per_hour_without_crossing_a_transition() -> None:
    clock = ServerClock("Australia/Lord_Howe")  # half-hour DST shift at 02:00 local
    assert clock.to_utc("2025-10-05 01:59:00") == datetime(2025, 10, 4, 15, 29, tzinfo=UTC)
    assert clock.to_utc("2025-10-05 02:45:00") == datetime(2025, 10, 4, 15, 45, tzinfo=UTC)


@pytest.mark.parametrize("zone", ["Europe/London", "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kolkata", "UTC"])
def test_clock_agrees_with_zoneinfo_around_transitions_in_any_order(zone: str) -> None:
    # Days with and without a change of offset, every 7 minutes, read in a shuffled order: whichever hour or day a
    # cache is filled from first, every wall time converts as zoneinfo reads it (fold=0: the first of a repeated
    # hour, the offset before a skipped one).
    days = [date(2025, 3, 29), date(2025, 3, 30), date(2025, 4, 6), date(2025, 10, 5), date(2025, 10, 26)]
    days += [date(2018, 11, 4), date(2019, 2, 17), date(2025, 7, 1)]
    walls = [datetime.combine(day, time()) + timedelta(minutes=m) for day in days for m in range(0, 24 * 60, 7)]
    random.Random(zone).shuffle(walls)
    clock = ServerClock(zone)
    tz = ZoneInfo(zone)
    for wall in walls:
        expected = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        assert clock.to_utc(wall.strftime("%Y-%m-%d %H:%M:%S")) == expected, wall


def test_parse_instant_and_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_instant("2025-03-28T10:00:00Z") == datetime(2025, 3, 28, 10, tzinfo=UTC)
    assert parse_instant("2025-03-28T12:00:00+02:00") == datetime(2025, 3, 28, 10, tzinfo=UTC)
    assert parse_instant("2025-03-28 10:00:00") == datetime(2025, 3, 28, 10, tzinfo=UTC)
    assert parse_instant("1711620000") == parse_instant("1711620000000")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert str(machine_timezone()) == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert machine_timezone() is not None
    monkeypatch.delenv("TZ")
    monkeypatch.setattr("wamcp.whatsapp.timeparse.Path", lambda _p: Path("/nonexistent/localtime"))
    assert machine_timezone() is UTC


def test_models_are_frozen_and_serialise_to_seed_dicts() -> None:
    when = datetime(2025, 3, 28, 10, tzinfo=UTC)
    message = Message("~abc", "1@s.whatsapp.net", when, "Me", "hi", True, media_type="image")
    with pytest.raises(AttributeError):
        message.content = "changed"  # type: ignore[misc]
    assert message.has_media
    assert message.to_dict()["timestamp"] == "2025-03-28T10:00:00+00:00"
    chat = Chat("1@g.us", "Group", when)
    assert chat.is_group
    assert chat.to_dict()["last_message_time"] == "2025-03-28T10:00:00+00:00"
    assert Chat("1@s.whatsapp.net", None).to_dict()["last_message_time"] is None
    assert Contact("1@s.whatsapp.net", "1", "Ana").to_dict() == {
        "jid": "1@s.whatsapp.net",
        "phone_number": "1",
        "name": "Ana",
    }
