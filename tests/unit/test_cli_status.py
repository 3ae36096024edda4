"""``wamcp status``: what the store holds per account, who is extracting now, and the latest runs."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wamcp.cli import app
from wamcp.store import ChatRow, Store, SyncState

from .store._helpers import make_page

runner = CliRunner()
CHAT = "447700900123@s.whatsapp.net"


def _status(db: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["status", "--db", str(db), "--json", *args])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _store_with_runs(db: Path) -> None:
    """Two finished runs of the default account, one of account "sales" left running (its process gone)."""
    with Store.open(db) as store:
        first = store.start_run("demo")
        store.upsert_chats([ChatRow(CHAT, "Ana", False, 1_700_000_000_000)], run_id=first)
        store.save_page(CHAT, make_page(CHAT, 0, 12), state=SyncState(CHAT, 1, 0, True, None, first), run_id=first)
        store.finish_run(first, status="complete", chats_total=1, chats_done=1, messages_new=12)
        second = store.start_run("demo")
        store.finish_run(second, status="partial", chats_total=1, chats_failed=1, errors=[f"{CHAT}: refused"])
        store.for_account("sales").start_run("other")


def test_status_shows_each_account_and_the_latest_runs_newest_first(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _store_with_runs(db)
    status = _status(db)
    assert [(a["account"], a["chats"], a["messages"], a["running"]) for a in status["accounts"]] == [
        ("default", 1, 12, None),
        ("sales", 0, 0, None),
    ]
    assert status["accounts"][0]["newest_chat_activity"] == "2023-11-14T22:24:20Z"  # its 12th message
    assert [(r["run_id"], r["account"], r["status"]) for r in status["runs"]] == [
        (3, "sales", "running"),
        (2, "default", "partial"),
        (1, "default", "complete"),
    ]
    assert status["runs"][1]["errors"] == [f"{CHAT}: refused"]
    assert status["runs"][2]["messages_new"] == 12
    assert [r["run_id"] for r in _status(db, "--runs", "1")["runs"]] == [3]
    text = runner.invoke(app, ["status", "--db", str(db)]).stdout
    assert "killed" in text  # recorded as running, but nobody holds its lock
    assert "complete" in text
    assert "partial" in text


@pytest.mark.skipif(sys.platform == "win32", reason="no run lock on Windows")
def test_a_run_in_progress_is_named_by_its_lock_and_is_not_called_killed(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    _store_with_runs(db)
    with Store.open(db) as store, store.for_account("sales").run_lock():
        status = _status(db)
    sales = status["accounts"][1]
    assert sales["running"]["pid"] == os.getpid()
    assert status["runs"][0]["killed"] is False
    assert _status(db)["runs"][0]["killed"] is True  # the lock went with its holder


def test_no_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: no store at")
    assert not (tmp_path / "missing.db").exists()  # looking does not create one


def test_run_times_are_shown_in_utc_and_text_that_is_no_time_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store.open(db) as store:
        for _ in range(3):
            store.finish_run(store.start_run("demo"), status="complete")
    conn = sqlite3.connect(db)
    with conn:  # as the store writes them, naive (read as UTC), and something another tool wrote
        conn.execute(
            "UPDATE runs SET started_at = ?, finished_at = ? WHERE id = 1",
            ("2026-01-02T03:04:05.5Z", "2026-01-02T03:04:07Z"),
        )
        conn.execute(
            "UPDATE runs SET started_at = ?, finished_at = ? WHERE id = 2", ("2026-01-02T05:00:00+02:00", None)
        )
        conn.execute(
            "UPDATE runs SET started_at = ?, finished_at = ? WHERE id = 3", ("yesterday", "2026-01-02T03:00:00")
        )
    conn.close()
    runs = {r["run_id"]: (r["started"], r["seconds"]) for r in _status(db)["runs"]}
    assert runs == {1: ("2026-01-02T03:04:05Z", 1.5), 2: ("2026-01-02T03:00:00Z", None), 3: ("yesterday", None)}
