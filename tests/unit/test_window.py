"""``--since``/``--until`` as export and report read them (wamcp.window)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from wamcp.errors import ConfigError
from wamcp.window import parse_bound

LONDON = ZoneInfo("Europe/London")


def ms(text: str, zone: ZoneInfo | None = None) -> int:
    moment = datetime.fromisoformat(text)
    return round(moment.replace(tzinfo=zone or UTC).timestamp() * 1000)


def test_a_bare_date_is_the_whole_local_day() -> None:
    assert parse_bound("2024-03-31", LONDON, option="--since", end=False) == ms("2024-03-31 00:00", LONDON)
    # As an end, the start of the next day (exclusive): the 31st, 23 hours long in London that day, is kept whole.
    end = parse_bound("2024-03-31", LONDON, option="--until", end=True)
    assert end == ms("2024-04-01 00:00", LONDON)
    assert end - ms("2024-03-31 00:00", LONDON) == 23 * 3_600_000


def test_a_date_time_is_that_instant_whichever_end_it_is() -> None:
    for end in (False, True):
        assert parse_bound("2024-03-31T02:30", LONDON, option="--until", end=end) == ms("2024-03-31 01:30")
        assert parse_bound("2024-03-31T02:30Z", LONDON, option="--until", end=end) == ms("2024-03-31 02:30")
        assert parse_bound(" 2024-03-31 12:00+02:00 ", None, option="--since", end=end) == ms("2024-03-31 10:00")


def test_no_zone_means_this_machines_local_time() -> None:
    local = datetime(2024, 3, 31, 12, 0).timestamp() * 1000
    assert parse_bound("2024-03-31T12:00", None, option="--since", end=False) == round(local)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "--since 'yesterday' is not an ISO-8601 date or date-time"),
        ("31/03/2024", "is not an ISO-8601 date"),
        ("1700000000", "--since takes a date, not a number of 10 digits"),  # a Unix timestamp
        ("1969-12-31", "is outside the years 1970-2199"),
        ("2200-01-01", "is outside the years 1970-2199"),
        ("0001-01-01", "is outside the years 1970-2199"),
        ("9999-12-31T23:59", "is outside the years 1970-2199"),
    ],
)
def test_text_that_is_no_usable_date_names_the_option(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_bound(text, ZoneInfo("Asia/Tokyo"), option="--since", end=False)
    assert "2025-03-28" in str(caught.value)  # the hint shows what to write instead


def test_the_last_years_end_is_still_a_valid_bound() -> None:
    assert parse_bound("2199-12-31", UTC, option="--until", end=True) == ms("2200-01-01 00:00")
