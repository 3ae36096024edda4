"""Parsing of --business-hours, --target, --timezone, --since/--until, and the pinned public surface."""

from __future__ import annotations

from pathlib import Path

import pytest

import wamcp.analytics
from wamcp.analytics.options import (
    DAY_MS,
    WEEK_MS,
    ReportOptions,
    machine_timezone,
    parse_business_hours,
    parse_day_bound,
    parse_duration,
    parse_timezone,
)
from wamcp.errors import ConfigError

from .builder import ms

HOUR_MS = 3_600_000


def test_public_surface_is_pinned() -> None:
    assert sorted(wamcp.analytics.__all__) == sorted(
        [
            "FRT_BUCKETS",
            "KPIS_SCHEMA_VERSION",
            "SESSION_COLUMNS",
            "Analysis",
            "BusinessHours",
            "ReportOptions",
            "ReportResult",
            "analyze",
            "build_report",
            "compute_kpis",
            "load_store",
            "parse_business_hours",
            "parse_duration",
            "parse_timezone",
        ]
    )


def test_default_business_hours_are_five_nine_hour_days() -> None:
    hours = parse_business_hours("Mon-Fri 09:00-18:00")
    assert hours.intervals[0] == (9 * HOUR_MS, 18 * HOUR_MS)
    assert hours.intervals[-1] == (4 * DAY_MS + 9 * HOUR_MS, 4 * DAY_MS + 18 * HOUR_MS)
    assert hours.week_ms == 45 * HOUR_MS


@pytest.mark.parametrize(
    ("text", "week_hours"),
    [
        ("Mon-Fri 09:00-18:00; Sat 10:00-14:00", 49),
        ("mon-fri 9:00-12:00, mon-fri 13:00-17:00", 35),
        ("Sat-Mon 10:00-11:00", 3),  # wraps over the weekend
        ("Mon,Wed 08:00-24:00", 32),
        ("Mon 09:00-12:00; Mon 11:00-13:00", 4),  # overlaps merge
        ("24/7", 168),
    ],
)
def test_business_hours_syntax(text: str, week_hours: int) -> None:
    assert parse_business_hours(text).week_ms == week_hours * HOUR_MS


@pytest.mark.parametrize(
    "text", ["", "Mon-Fri", "Mon-Fri 18:00-09:00", "Funday 09:00-10:00", "Mon 25:00-26:00", "Mon 09:60-10:00"]
)
def test_bad_business_hours_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--business-hours"):
        parse_business_hours(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("30m", 1800), ("1h30m", 5400), ("90s", 90), ("2d", 172800), ("600", 600)]
)
def test_duration_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "h1", "0", "-5", "1h soon"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--target"):
        parse_duration(text)


def test_timezones() -> None:
    assert parse_timezone("Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(ConfigError, match="--timezone 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus")
    assert machine_timezone()  # whatever the machine says, it is a usable zone name
    parse_timezone(machine_timezone())


def test_machine_timezone_prefers_tz_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert machine_timezone() == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Not/AZone")
    parse_timezone(machine_timezone())


def test_day_bounds_cover_whole_local_days() -> None:
    assert parse_day_bound("2026-03-02", "Europe/Berlin", option="--since", end=False) == ms(
        "2026-03-02 00:00", "Europe/Berlin"
    )
    assert (
        parse_day_bound("2026-03-02", "Europe/Berlin", option="--until", end=True)
        == ms("2026-03-03 00:00", "Europe/Berlin") - 1
    )
    assert parse_day_bound("2026-03-02T09:30", "UTC", option="--since", end=False) == ms("2026-03-02 09:30")
    assert parse_day_bound("2026-03-02T09:30+01:00", "UTC", option="--since", end=False) == ms("2026-03-02 08:30")
    with pytest.raises(ConfigError, match="--until 'yesterday'"):
        parse_day_bound("yesterday", "UTC", option="--until", end=True)


def test_options_from_text_checks_the_period() -> None:
    options = ReportOptions.from_text(timezone="UTC", target="30m", since="2026-03-01", until="2026-03-31")
    assert options.target_s == 1800
    assert options.until_ms is not None
    assert options.since_ms is not None
    assert options.until_ms - options.since_ms == 31 * DAY_MS - 1
    with pytest.raises(ConfigError, match="before --since"):
        ReportOptions.from_text(timezone="UTC", since="2026-03-31", until="2026-03-01")
    for since, until in (("0001-01-01", None), (None, "9999-12-31T23:59"), ("1969-12-31", None)):
        with pytest.raises(ConfigError, match="outside the years 1970-2199"):
            ReportOptions.from_text(timezone="Asia/Tokyo", since=since, until=until)
    assert WEEK_MS == 7 * DAY_MS


def test_missing_store_is_a_store_error(tmp_path: Path) -> None:
    from wamcp.analytics import analyze
    from wamcp.errors import StoreError

    with pytest.raises(StoreError, match="no store at"):
        analyze(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        analyze(tmp_path / "junk.db")
    import sqlite3

    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(StoreError, match="not a wamcp store"):
        analyze(tmp_path / "other.db")
    # The WhatsApp bridge's own database has chats and messages tables too: named as not ours, not as "migrate it".
    conn = sqlite3.connect(tmp_path / "bridge.db")
    conn.execute("CREATE TABLE chats (jid TEXT PRIMARY KEY, name TEXT, last_message_time TIMESTAMP)")
    conn.execute("CREATE TABLE messages (id TEXT, chat_jid TEXT, sender TEXT, content TEXT, timestamp TIMESTAMP)")
    conn.close()
    with pytest.raises(
        StoreError, match=r"is an SQLite database but not a wamcp store \(it has tables chats, messages\)"
    ) as caught:
        analyze(tmp_path / "bridge.db")
    assert "migrate" not in str(caught.value)
    assert "new file" not in str(caught.value)  # a report cannot start a store
