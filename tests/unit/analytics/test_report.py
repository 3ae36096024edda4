"""The written report: files, kpis.json schema, self-contained HTML, masking, readings, empty stores."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from wamcp.analytics import KPIS_SCHEMA_VERSION, SESSION_COLUMNS, ReportOptions, build_report
from wamcp.analytics.charts import _by_week, format_duration, format_share
from wamcp.analytics.report import CSV_TABLES

from .builder import BUSINESS, StoreBuilder, sample_store

OPTIONS = ReportOptions.from_text(timezone="Europe/Berlin")


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    build_report(sample_store(root / "store.db"), root / "out", OPTIONS)
    return root / "out"


def test_writes_html_json_and_every_csv(sample_report: Path) -> None:
    names = {p.name for p in sample_report.iterdir()}
    assert names == {"report.html", "kpis.json", *CSV_TABLES}
    kpis = json.loads((sample_report / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["schema_version"] == KPIS_SCHEMA_VERSION
    assert set(kpis) == {
        "schema_version", "options", "as_of", "period", "has_data", "frt", "target", "unanswered",
        "reply_time", "waiting_now", "volume", "customers", "workload", "accounts",
    }  # fmt: skip
    assert kpis["accounts"] == ["default"]
    with (sample_report / "frt_sessions.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == SESSION_COLUMNS
    assert len(rows) == kpis["frt"]["sessions"]


def test_html_is_self_contained(sample_report: Path) -> None:
    html = (sample_report / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html
    assert "<link" not in html
    # the only URLs are XML namespace names inside the SVGs, which browsers never fetch
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert html.count("<svg") == 6
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids must be unique across the inline charts"


def test_customers_are_named_or_masked_and_names_are_escaped(sample_report: Path) -> None:
    html = (sample_report / "report.html").read_text(encoding="utf-8")
    assert "Café &lt;Sonne&gt; &amp; Co" in html or "Café &lt;Sonne&gt;" in html
    assert "<Sonne>" not in html
    assert not re.search(r"\d{8,}", re.sub(r"<svg.*?</svg>", "", html, flags=re.S)), "an unmasked number leaked"
    assert BUSINESS.split("@")[0] not in html
    waiting = (sample_report / "waiting_now.csv").read_text(encoding="utf-8")
    assert "+********" in waiting  # masked display column next to the raw chat id


def test_readings_state_the_numbers(sample_report: Path) -> None:
    kpis = json.loads((sample_report / "kpis.json").read_text(encoding="utf-8"))
    html = (sample_report / "report.html").read_text(encoding="utf-8")
    median = format_duration(kpis["frt"]["clock"]["median_s"])
    assert f"Half of your customers got a first answer within {median}" in html
    assert "Customers write most on" in html
    waited = [w["waited_s"] for w in kpis["waiting_now"]["chats"]]
    assert waited == sorted(waited, reverse=True), "oldest first"
    assert any(w["reply_window_open"] for w in kpis["waiting_now"]["chats"])  # wrote 20 min before the as-of time
    assert kpis["waiting_now"]["past_24h"] >= 1


def test_empty_store_renders_no_data(tmp_path: Path) -> None:
    result = build_report(StoreBuilder().write(tmp_path / "empty.db"), tmp_path / "out", OPTIONS)
    html = result.html_path.read_text(encoding="utf-8")
    assert 'id="no-data"' in html
    assert html.count("No data") >= 6
    assert "<svg" not in html
    assert result.kpis["has_data"] is False
    assert result.sessions.num_rows == 0


def test_one_message_store_renders(tmp_path: Path) -> None:
    store = StoreBuilder().msg("491701111111@s.whatsapp.net", "2026-03-02 10:00").write(tmp_path / "one.db")
    result = build_report(store, tmp_path / "out", OPTIONS)
    html = result.html_path.read_text(encoding="utf-8")
    assert "Nobody is waiting" not in html
    assert "No answered customer conversations" in html
    assert result.kpis["waiting_now"]["count"] == 1


def test_unwritable_output_directory_is_a_store_error(tmp_path: Path) -> None:
    from wamcp.errors import StoreError

    store = StoreBuilder().write(tmp_path / "s.db")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot create the report directory"):
        build_report(store, tmp_path / "file" / "out", OPTIONS)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0.4, "0 seconds"),
        (1, "1 second"),
        (45, "45 seconds"),
        (60, "1 minute"),
        (754, "13 minutes"),
        (3600, "1 hour"),
        (7200, "2 hours"),
        (5400, "1 h 30 min"),
        (3 * 86400, "3.0 days"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_share() -> None:
    assert format_share(None) == "—"
    assert format_share(0.8333) == "83%"


def test_long_waiting_lists_are_cut_in_the_html_but_complete_in_the_csv(tmp_path: Path) -> None:
    builder = StoreBuilder()
    for i in range(60):
        builder.msg(f"4917000000{i:02d}@s.whatsapp.net", f"2026-03-02 10:{i:02d}")
    result = build_report(builder.write(tmp_path / "s.db"), tmp_path / "out", OPTIONS)
    html = result.html_path.read_text(encoding="utf-8")
    assert "… and 10 more" in html
    assert result.kpis["waiting_now"]["count"] == 60
    assert len(result.kpis["waiting_now"]["chats"]) == 60
    assert result.analysis.tables["waiting_now"].num_rows == 60


def test_chats_a_free_form_reply_still_reaches_come_first_in_a_long_waiting_list(tmp_path: Path) -> None:
    """Oldest first alone put 55 long-lost conversations on top and cut the 5 that can still be answered out of the
    HTML's 50 rows. Each group stays oldest first; the CSV and kpis.json keep KPIS.md's single oldest-first list."""
    builder = StoreBuilder()
    for i in range(120):  # more than kpis.json's 100 oldest
        builder.msg(f"491700000{i:03d}@s.whatsapp.net", f"2026-03-01 {10 + i // 60}:{i % 60:02d}")
    recent = [f"4917100000{i:02d}@s.whatsapp.net" for i in range(5)]
    for i, jid in enumerate(recent):
        builder.msg(jid, f"2026-03-05 09:{i:02d}")
    result = build_report(builder.write(tmp_path / "s.db"), tmp_path / "out", OPTIONS)
    html = result.html_path.read_text(encoding="utf-8")
    open_part = html[html.index('id="waiting-open"') : html.index('id="waiting-closed"')]
    closed_part = html[html.index('id="waiting-closed"') : html.index('id="waiting-more"')]
    assert "(5)</h3>" in open_part
    assert "(120)</h3>" in closed_part
    assert open_part.count("<tr>") == 1 + 5  # header row + every chat still inside its reply window
    assert closed_part.count("<tr>") == 1 + 45
    assert "… and 75 more" in html
    assert "5 can still get a free-form reply; 120 waiting more than 24 h" in html
    waiting = result.kpis["waiting_now"]
    assert [w["reply_window_open"] for w in waiting["chats"]] == [False] * 100  # the 100 oldest, as KPIS.md says
    assert waiting["reply_window_open"] == 5
    only_closed = StoreBuilder()
    only_closed.msg("491700000999@s.whatsapp.net", "2026-03-01 10:00").msg(
        "491700000998@s.whatsapp.net", "2026-03-05 09:00", out=True
    )
    closed_html = build_report(only_closed.write(tmp_path / "c.db"), tmp_path / "c", OPTIONS).html_path.read_text(
        "utf-8"
    )
    empty_group = closed_html[closed_html.index('id="waiting-open"') : closed_html.index('id="waiting-closed"')]
    assert "(0)</h3>" in empty_group  # said, not left out: nobody waiting can still be answered free-form
    assert "None." in empty_group
    since = [w["waiting_since_ts_ms"] for w in waiting["open_chats"]]
    assert len(since) == 5
    assert since == sorted(since)  # oldest first within the group too


def test_volume_is_drawn_per_day_for_a_short_period_and_per_week_for_a_long_one(tmp_path: Path) -> None:
    """A year of daily bars is a comb of one-pixel lines in which the two directions cannot be told apart."""
    short, long = StoreBuilder(), StoreBuilder()
    for day in range(1, 29):  # four weeks of February
        short.msg("491701111111@s.whatsapp.net", f"2026-02-{day:02d} 10:00")
    for month in range(1, 13):  # a year
        long.msg("491701111111@s.whatsapp.net", f"2025-{month:02d}-03 10:00")
    daily = build_report(short.write(tmp_path / "short.db"), tmp_path / "short", OPTIONS).html_path
    weekly = build_report(long.write(tmp_path / "long.db"), tmp_path / "long", OPTIONS).html_path

    assert "Messages per day" in daily.read_text(encoding="utf-8")
    assert "Messages per week" in weekly.read_text(encoding="utf-8")


def test_days_are_summed_into_weeks_starting_on_monday() -> None:
    days = [
        {"day": "2026-03-01", "inbound": 1, "outbound": 0},  # a Sunday: the week of Mon 23 Feb
        {"day": "2026-03-02", "inbound": 2, "outbound": 1},  # Monday
        {"day": "2026-03-08", "inbound": 3, "outbound": 4},  # Sunday, same week
        {"day": "2026-03-09", "inbound": 5, "outbound": 0},  # next Monday
    ]

    assert _by_week(days) == [
        {"day": "2026-02-23", "inbound": 1, "outbound": 0},
        {"day": "2026-03-02", "inbound": 5, "outbound": 5},
        {"day": "2026-03-09", "inbound": 5, "outbound": 0},
    ]
