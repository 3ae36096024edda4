"""``wamcp report`` as a user runs it: files written, path printed, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.analytics.builder import StoreBuilder, sample_store
from wamcp.cli import app

pytestmark = pytest.mark.e2e
runner = CliRunner()


def test_report_writes_files_and_prints_the_html_path(tmp_path: Path) -> None:
    store = sample_store(tmp_path / "whatsapp.db")
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        ["report", "--db", str(store), "--out", str(out), "--timezone", "Europe/Berlin", "--target", "30m"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "report.html")
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["options"]["target_s"] == 1800
    assert kpis["options"]["timezone"] == "Europe/Berlin"
    for name in ("frt_sessions", "waiting_now", "weekly", "heatmap", "daily", "customers"):
        assert (out / f"{name}.csv").is_file()


def test_period_business_hours_and_groups_options(tmp_path: Path) -> None:
    store = (
        StoreBuilder(tz="Europe/Berlin")
        .msg("491701111111@s.whatsapp.net", "2026-03-06 17:00")
        .msg("491701111111@s.whatsapp.net", "2026-03-07 10:30", out=True)
        .msg("120363000000000001@g.us", "2026-03-06 12:00")
        .msg("120363000000000001@g.us", "2026-03-06 12:05", out=True)
        .write(tmp_path / "s.db")
    )
    out = tmp_path / "out"
    args = ["report", "--db", str(store), "--out", str(out), "--timezone", "Europe/Berlin"]
    args += ["--since", "2026-03-01", "--until", "2026-03-31", "--business-hours", "Mon-Sat 10:00-18:00"]
    result = runner.invoke(app, [*args, "--include-groups"])
    assert result.exit_code == 0, result.output
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["frt"]["sessions"] == 2
    # Fri 17:00 -> Sat 10:30 with Saturday opening at 10:00: one hour on Friday plus half an hour on Saturday
    assert kpis["frt"]["business_hours"]["buckets"][3]["count"] == 1
    assert kpis["period"]["days"] == 31


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--business-hours", "weekdays"], "--business-hours"),
        (["--target", "soon"], "--target 'soon'"),
        (["--timezone", "Mars/Olympus"], "--timezone 'Mars/Olympus'"),
        (["--since", "last week"], "--since 'last week'"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    store = StoreBuilder().write(tmp_path / "s.db")
    result = runner.invoke(app, ["report", "--db", str(store), "--out", str(tmp_path / "o"), *extra])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--db", str(tmp_path / "nope.db"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no store at" in result.stderr
    assert not (tmp_path / "nope.db").exists(), "a mistyped path must not create an empty store"


def test_help_lists_every_option() -> None:
    result = runner.invoke(app, ["report", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--db", "--out", "--since", "--until", "--timezone", "--business-hours", "--target"):
        assert option in result.stdout
    assert "--include-groups" in result.stdout
    assert "--account" in result.stdout


def test_report_of_one_account_and_of_an_unknown_one(tmp_path: Path) -> None:
    store = (
        StoreBuilder(tz="Europe/Berlin")
        .msg("491701111111@s.whatsapp.net", "2026-03-06 10:00")
        .msg("491701111111@s.whatsapp.net", "2026-03-06 10:10", out=True)
        .write(tmp_path / "s.db")
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", "--db", str(store), "--out", str(out), "--account", "default"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "kpis.json").read_text(encoding="utf-8"))["accounts"] == ["default"]
    result = runner.invoke(app, ["report", "--db", str(store), "--out", str(tmp_path / "x"), "--account", "sales"])
    assert result.exit_code == 2
    assert "no account 'sales' in store" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
