"""``wamcp check``'s rendering (the command itself runs against real servers in tests/e2e/extract/test_check_cli.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from wamcp.cli.check_cmd import _ago


def test_check_shows_how_long_ago_the_newest_chat_was_active() -> None:
    now = datetime(2026, 12, 4, 22, 52, tzinfo=UTC)
    assert _ago("2026-12-04T22:10:00+00:00", now) == "2026-12-04 22:10 UTC (42 min ago)"
    assert _ago("2026-12-04T10:52:00+01:00", now) == "2026-12-04 09:52 UTC (13 h ago)"
    assert _ago("2026-11-01T00:00:00+00:00", now) == "2026-11-01 00:00 UTC (34 days ago)"
    assert _ago("yesterday", now) == "yesterday"
