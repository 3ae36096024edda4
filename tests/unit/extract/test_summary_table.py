"""The summary `wamcp extract` prints for people: counts read as the JSON summary's, with thousands separators."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from wamcp.cli.extract_cmd import _print_summary
from wamcp.extract import ExtractSummary


def test_summary_counts_have_separators_and_name_failed_chats() -> None:
    summary = ExtractSummary(
        run_id=3, status="partial", chats_total=11_098, chats_done=11_097, chats_skipped=2_500, messages_new=100_000
    )
    summary.duration = 4.0
    summary.failed["447700900123@s.whatsapp.net"] = "timed out"
    console = Console(record=True, width=100, color_system=None)
    _print_summary(summary, Path("whatsapp.db"), console)
    text = console.export_text()
    assert "extraction partial" in text
    assert "11,097/11,098 (2,500 unchanged)" in text
    assert "100,000" in text
    assert "25,000 msg/s" in text
    assert "failed" in text
    assert "timed out" in text
    assert "447700900123" not in text  # phone numbers are redacted
