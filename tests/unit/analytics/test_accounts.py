"""Reports over a store holding several accounts: the same customer writing to two business numbers is two chats,
``accounts`` narrows the report to some accounts, and the report says which accounts it covers."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from wamcp.analytics import ReportOptions, build_report
from wamcp.analytics.kpis import analyze
from wamcp.errors import StoreError
from wamcp.store.schema import MIGRATIONS

from .builder import sample_store

OPTIONS = ReportOptions.from_text(timezone="Europe/Berlin")


def _copy_into_account(path: Path, account: str) -> None:
    """Every chat and message of the default account again, in ``account``: same JIDs, same message ids."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(
                "INSERT INTO chats (account, jid, name, is_group) SELECT ?, jid, name, is_group FROM chats", (account,)
            )
            conn.execute(
                "INSERT INTO messages (account, chat_jid, id, ts_ms, sender, sender_name, is_from_me, content,"
                " media_type) SELECT ?, chat_jid, id, ts_ms, sender, sender_name, is_from_me, content, media_type"
                " FROM messages",
                (account,),
            )
    finally:
        conn.close()


def _figures(kpis: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kpis.items() if key not in ("accounts", "options")}


def test_the_same_customers_in_two_accounts_are_two_sets_of_chats(tmp_path: Path) -> None:
    path = sample_store(tmp_path / "store.db")
    single = analyze(path, OPTIONS).kpis
    _copy_into_account(path, "sales")

    both = analyze(path, OPTIONS).kpis

    assert both["accounts"] == ["default", "sales"]
    assert both["volume"]["chats"] == 2 * single["volume"]["chats"]
    assert both["volume"]["messages"] == 2 * single["volume"]["messages"]
    assert both["frt"]["sessions"] == 2 * single["frt"]["sessions"]
    assert both["waiting_now"]["count"] == 2 * single["waiting_now"]["count"]
    # a first response in one account never answers the customer's message in the other
    assert both["frt"]["clock"]["median_s"] == single["frt"]["clock"]["median_s"]


def test_a_report_of_one_account_sees_only_that_account(tmp_path: Path) -> None:
    path = sample_store(tmp_path / "store.db")
    single = analyze(path, OPTIONS).kpis
    _copy_into_account(path, "sales")
    conn = sqlite3.connect(path)
    with conn:  # the default account gets one more waiting customer; the sales report must not see it
        conn.execute(
            "INSERT INTO messages (chat_jid, id, ts_ms, is_from_me, content) VALUES ('4917000000001@s.whatsapp.net',"
            " 'extra', (SELECT max(ts_ms) FROM messages) - 60000, 0, 'hello?')"
        )
    conn.close()

    sales = analyze(path, dataclasses.replace(OPTIONS, accounts=("sales",))).kpis

    assert sales["accounts"] == ["sales"]
    assert _figures(sales) == _figures(single)


def test_the_html_says_which_accounts_it_covers(tmp_path: Path) -> None:
    path = sample_store(tmp_path / "store.db")
    _copy_into_account(path, "sales")
    result = build_report(path, tmp_path / "out", dataclasses.replace(OPTIONS, accounts=("sales",)))
    assert "Accounts: sales<" in result.html_path.read_text(encoding="utf-8")
    result = build_report(path, tmp_path / "all", OPTIONS)
    assert "Accounts: default, sales<" in result.html_path.read_text(encoding="utf-8")


def test_a_store_from_before_accounts_asks_to_be_migrated_first(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for step in (0, 1):
        conn.executescript(f"BEGIN; {MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;")
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 2, older than this wamcp \(3\)") as caught:
        analyze(path, OPTIONS)
    assert "wamcp extract" in str(caught.value)


def test_a_store_from_a_newer_wamcp_is_refused(tmp_path: Path) -> None:
    path = sample_store(tmp_path / "store.db")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"schema version 99, newer than this wamcp"):
        analyze(path, OPTIONS)


def test_one_accounts_report_keeps_the_stores_clock(tmp_path: Path) -> None:
    # KPIS.md: without --until, "now" is the newest message in the store, whichever accounts are reported on.
    path = sample_store(tmp_path / "store.db")
    whole = analyze(path, OPTIONS).kpis
    conn = sqlite3.connect(path)
    try:
        ((store_newest,),) = conn.execute("SELECT max(ts_ms) FROM messages").fetchall()
        with conn:  # a "sales" account whose one customer wrote six days after everything else, unanswered
            conn.execute(
                "INSERT INTO chats (account, jid, name, is_group) VALUES ('sales', 'x@s.whatsapp.net', 'X', 0)"
            )
            conn.execute(
                "INSERT INTO messages (account, chat_jid, id, ts_ms, sender, is_from_me, content)"
                " VALUES ('sales', 'x@s.whatsapp.net', 'x1', ?, 'x', 0, 'hello?')",
                (store_newest + 6 * 86_400_000,),
            )
    finally:
        conn.close()

    default_only = analyze(path, dataclasses.replace(OPTIONS, accounts=("default",))).kpis
    sales_only = analyze(path, dataclasses.replace(OPTIONS, accounts=("sales",))).kpis

    # The default account's customers have waited six days longer than they had before the sales message.
    before = {w["customer"]: w["waited_s"] for w in whole["waiting_now"]["chats"]}
    after = {w["customer"]: w["waited_s"] for w in default_only["waiting_now"]["chats"]}
    assert before
    assert after == {customer: waited + 6 * 86_400 for customer, waited in before.items()}
    # and the sales customer wrote at the as-of time itself: waiting 0 s, like in the whole store's report
    assert [w["waited_s"] for w in sales_only["waiting_now"]["chats"]] == [0.0]
