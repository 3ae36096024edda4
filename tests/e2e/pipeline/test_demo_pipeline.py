"""``wamcp demo`` end to end: serve -> extract -> report, and the report's KPIs checked against the generator's truth.

The demo data generator writes every customer-initiated session's first-response time from its own event model
(``<db>.truth.json``); the figures in ``kpis.json`` must follow from it exactly after a trip through the MCP server,
the WhatsApp parser, the store and DuckDB.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wamcp.analytics import ReportOptions, analyze
from wamcp.cli import app
from wamcp.demo import generate_database
from wamcp.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], object]:
    root = tmp_path_factory.mktemp("pipeline")
    generated = generate_database(root / "bridge.db", messages=3000, seed=11, timezone="UTC")
    result = CliRunner().invoke(app, ["demo", "--out", str(root / "out"), "--demo-db", str(generated.db_path), "-q"])
    assert result.exit_code == 0, result.output
    return root / "out", generated.truth, result


def _ms(utc: str) -> int:
    return int(datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp() * 1000)


def test_demo_prints_the_report_path_and_writes_every_file(pipeline: tuple[Path, dict[str, object], object]) -> None:
    out, _, result = pipeline
    printed = Path(result.stdout.strip().splitlines()[-1])  # type: ignore[attr-defined]
    assert printed == (out / "report" / "report.html").resolve()
    html = printed.read_text(encoding="utf-8")
    assert "<svg" in html
    assert "http://" not in html.split("<body", 1)[1].split("xmlns", 1)[0]
    for name in ("kpis.json", "frt_sessions.csv", "waiting_now.csv", "weekly.csv", "heatmap.csv", "customers.csv"):
        assert (out / "report" / name).stat().st_size > 0


def test_store_holds_exactly_the_generated_messages(pipeline: tuple[Path, dict[str, object], object]) -> None:
    out, truth, _ = pipeline
    with Store.open(out / "whatsapp.db", readonly=True) as store:
        assert store.count_messages() == truth["messages"]
        per_chat = {c["jid"]: c["inbound"] + c["outbound"] for c in truth["chats"]}  # type: ignore[attr-defined,index]
        for jid, expected in per_chat.items():
            assert store.count_messages(jid) == expected, jid


def test_every_sessions_frt_equals_the_generators_truth(pipeline: tuple[Path, dict[str, object], object]) -> None:
    out, truth, _ = pipeline
    analysis = analyze(out / "whatsapp.db", ReportOptions.from_text(timezone="UTC", include_groups=True))
    ours = {(row["chat_jid"], row["first_inbound_ts_ms"]): row["frt_seconds"] for row in analysis.sessions.to_pylist()}
    expected = {(s["chat_jid"], _ms(s["first_inbound_utc"])): s["frt_seconds"] for s in truth["sessions"]}  # type: ignore[attr-defined]
    assert len(expected) > 100
    assert ours == expected


def test_headline_median_and_unanswered_rate_follow_from_the_truth(
    pipeline: tuple[Path, dict[str, object], object],
) -> None:
    out, truth, _ = pipeline
    kpis = json.loads((out / "report" / "kpis.json").read_text(encoding="utf-8"))
    direct = [s for s in truth["sessions"] if s["chat_jid"].endswith("@s.whatsapp.net")]  # type: ignore[attr-defined]
    as_of = kpis["as_of"]["ts_ms"]
    target_ms = kpis["options"]["target_s"] * 1000
    answered = [s["frt_seconds"] for s in direct if s["frt_seconds"] is not None]
    eligible = [s for s in direct if s["frt_seconds"] is not None or _ms(s["first_inbound_utc"]) <= as_of - target_ms]
    unanswered = [s for s in eligible if s["frt_seconds"] is None]
    assert kpis["frt"]["answered"] == len(answered)
    assert kpis["frt"]["clock"]["median_s"] == pytest.approx(statistics.median(answered), abs=1e-6)
    assert kpis["unanswered"]["eligible_sessions"] == len(eligible)
    assert kpis["unanswered"]["rate"] == pytest.approx(len(unanswered) / len(eligible), abs=1e-6)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--demo-db", "missing.db"], "no such database"),
        (["--timezone", "Nowhere/Land"], "not an IANA time zone"),
    ],
)
def test_bad_demo_options_fail_before_any_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    # Both used to be found out late: a missing --demo-db as a dropped connection (exit 3), a bad --timezone only
    # after the whole extraction had run.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not (tmp_path / "out").exists()
