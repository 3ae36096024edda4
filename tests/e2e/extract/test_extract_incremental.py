"""Nightly runs: a rerun with nothing new costs the chat listing only (all of it, or between full listings the
recently active chats); new messages, new chats and renamed chats are picked up; nothing is ever duplicated.

Reruns' servers are started with ``--crash-after N`` (N = the chat listing's calls): they would die on any further
tool call, so a clean exit proves the extractor made no per-chat call at all.
"""

from __future__ import annotations

import collections
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wamcp.cli import app

from .support import (
    add_message,
    only_json_object,
    rename_chat,
    server_chats,
    server_messages,
    stdio_server,
    store_chat_names,
    store_integrity,
    store_messages,
    write_config,
)

pytestmark = pytest.mark.e2e

runner = CliRunner()


def listing_calls(chats: int) -> int:
    """The extractor's ``list_chats`` calls for ``chats`` small chats: pages of 100, growing to the largest limit
    (at most 10,000) that the offset reached is a multiple of, until a short page (see ``LharriesProfile.iter_chats``;
    the demo's answers stay far under its byte budget at these sizes)."""
    calls, offset, limit = 0, 0, 100
    while True:
        calls += 1
        if chats - offset < limit:
            return calls
        offset += limit
        limit = next(n for n in range(min(10_000, offset), 0, -1) if offset % n == 0)


@pytest.fixture(autouse=True)
def _user_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in ("MCP_CONFIG_FILE", "MCP_WHATSAPP_ENDPOINT", "MCP_WHATSAPP_CONNECTION_TYPE", "MCP_WHATSAPP_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def extract(config: Path, db: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["extract", "--config", str(config), "--db", str(db), "--json", *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return only_json_object(result.stdout)


def test_rerun_with_nothing_new_makes_no_call_per_chat_and_adds_nothing(account: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    first = extract(write_config(tmp_path / "c1.json", stdio_server(account)), store)
    assert first["status"] == "complete"
    assert store_messages(store) == server_messages(account)

    # A run that lists every chat (as every run does once chat_listing_interval has passed) ...
    budget = write_config(
        tmp_path / "c2.json", stdio_server(account, "--crash-after", str(listing_calls(len(server_chats(account)))))
    )
    second = extract(budget, store, "--refresh-chats")
    assert second["status"] == "complete"
    assert second["listing"] == "all"
    assert second["chats_skipped"] == second["chats_total"] == first["chats_total"]
    assert (second["messages_new"], second["messages_updated"], second["pages"]) == (0, 0, 0)

    # ... and the runs in between, which list the most recently active chats and stop: one listing call (its first
    # page of 100 chats ends before the newest activity known less an hour), nothing else.
    third = extract(write_config(tmp_path / "c3.json", stdio_server(account, "--crash-after", "1")), store)
    assert third["status"] == "complete"
    assert third["listing"] == "recent"
    assert third["chats_skipped"] == third["chats_total"] < first["chats_total"]
    assert (third["messages_new"], third["messages_updated"], third["pages"]) == (0, 0, 0)
    assert store_messages(store) == server_messages(account)


def _direct_chats_with_incoming(account: Path) -> list[str]:
    with sqlite3.connect(account) as conn:
        return [
            jid
            for (jid,) in conn.execute(
                "SELECT chat_jid FROM messages WHERE chat_jid LIKE '%@s.whatsapp.net' AND is_from_me = 0"
                " GROUP BY chat_jid HAVING count(*) >= 2 ORDER BY chat_jid"
            )
        ]


def _after_everything(account: Path) -> datetime:
    newest = max(last for _name, last in server_chats(account).values())
    return datetime.fromtimestamp(newest, UTC) + timedelta(minutes=5)


def test_new_messages_new_chats_and_renamed_chats_are_picked_up(account: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    config = write_config(tmp_path / "c.json", stdio_server(account))
    first = extract(config, store)
    candidates = _direct_chats_with_incoming(account)
    busy = candidates[0]
    renamed = min(candidates[1:], key=lambda jid: server_chats(account)[jid][1])  # idle the longest
    later = _after_everything(account)
    add_message(account, busy, "Is the blue vase back in stock?", later)
    add_message(account, busy, "Same second, second message", later)
    rename_chat(account, renamed, "Renamed Customer")
    newcomer = "447700900999@s.whatsapp.net"
    add_message(account, newcomer, "First message from a new customer", later + timedelta(seconds=7))

    # The next run lists the chats active lately: the new messages and the new chat, not the idle renamed chat.
    second = extract(config, store)
    assert second["status"] == "complete"
    assert second["listing"] == "recent"
    assert second["messages_new"] == 3
    assert second["chats_skipped"] == second["chats_total"] - 2  # only `busy` and the newcomer cost a call
    assert store_messages(store) == server_messages(account)
    verdict, count, keys = store_integrity(store)
    assert (verdict, count, keys) == ("ok", sum(server_messages(account).values()), count)
    names = store_chat_names(store)
    assert newcomer in names
    assert names[renamed] != "Renamed Customer"

    # A run that lists every chat (--refresh-chats, or the first one after chat_listing_interval) renames it.
    refresh = extract(config, store, "--refresh-chats")
    assert refresh["listing"] == "all"
    assert refresh["chats_total"] == first["chats_total"] + 1
    assert (refresh["messages_new"], refresh["pages"]) == (0, 0)
    assert store_chat_names(store)[renamed] == "Renamed Customer"

    # A message that reached the bridge late, in the same second as the newest one already stored, is picked up
    # with the chat's next message: each catch-up re-reads the newest stored second whole.
    add_message(account, newcomer, "Another one in that same second", later + timedelta(seconds=7))
    add_message(account, newcomer, "And a newer one", later + timedelta(minutes=1))
    third = extract(config, store)
    assert third["messages_new"] == 2
    assert store_messages(store) == server_messages(account)


def test_a_renamed_contact_writing_again_is_not_duplicated(account: Path, tmp_path: Path) -> None:
    """The catch-up re-reads the newest stored second, now printed under the contact's new name: the derived ids of
    its text messages must not change with the name, or they would be stored twice."""
    store = tmp_path / "s.db"
    config = write_config(tmp_path / "c.json", stdio_server(account))
    extract(config, store)
    with sqlite3.connect(account) as conn:  # a customer whose newest stored message is their own (not ours)
        (customer,) = conn.execute(
            "SELECT m.chat_jid FROM messages m JOIN chats c ON c.jid = m.chat_jid AND m.timestamp = c.last_message_time"
            " WHERE m.is_from_me = 0 AND m.chat_jid LIKE '%@s.whatsapp.net' ORDER BY m.chat_jid LIMIT 1"
        ).fetchone()
    rename_chat(account, customer, "New Name")
    add_message(account, customer, "Hello again", _after_everything(account))
    second = extract(config, store)
    assert second["messages_new"] == 1
    assert store_messages(store) == server_messages(account)
    # A rename that comes with a message (as lharries' bridge stores names) needs no full listing.
    assert second["listing"] == "recent"
    assert store_chat_names(store)[customer] == "New Name"


def test_structured_server_is_extracted_in_one_walk_across_chats(account: Path, tmp_path: Path) -> None:
    """A JSON server that lists messages across chats costs the chat listing plus ~messages/500 calls, not a call
    per chat: the server dies on any call past that budget, and the store still equals it exactly."""
    chats = len(server_chats(account))
    messages = sum(server_messages(account).values())
    budget = listing_calls(chats) + messages // 500 + 3
    assert budget < chats / 4
    server = stdio_server(account, "--output", "structured", "--crash-after", str(budget))
    config = write_config(tmp_path / "c.json", server)
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["whatsapp"]["profile"] = "structured"
    config.write_text(json.dumps(settings), encoding="utf-8")
    first = extract(config, tmp_path / "s.db")
    assert first["status"] == "complete"
    assert first["chats_done"] == chats
    assert store_messages(tmp_path / "s.db") == server_messages(account)
    verdict, count, keys = store_integrity(tmp_path / "s.db")
    assert (verdict, count, keys) == ("ok", messages, messages)


def test_chat_option_on_a_structured_server_asks_for_the_chats_by_jid(account: Path, tmp_path: Path) -> None:
    """``--chat`` on a JSON server looks each chat up (``get_chat``) instead of listing every chat (116k chats listed
    to find one took 5.5 s); what is stored is the same: those chats' messages exactly, and an unknown JID fails."""
    everything = server_messages(account)
    by_size = collections.Counter(key[0] for key in everything.elements())
    wanted = [jid for jid, _ in by_size.most_common(2)]
    config = write_config(tmp_path / "c.json", stdio_server(account, "--output", "structured"))
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["whatsapp"]["profile"] = "structured"
    config.write_text(json.dumps(settings), encoding="utf-8")
    unknown = "447700900000@s.whatsapp.net"
    args = ["--chat", wanted[0], "--chat", wanted[1], "--chat", unknown]
    result = runner.invoke(app, ["extract", "--config", str(config), "--db", str(tmp_path / "s.db"), "--json", *args])
    assert result.exit_code == 1, result.stderr  # partial: the unknown chat is named
    summary = only_json_object(result.stdout)
    assert (summary["status"], summary["chats_total"], summary["chats_done"]) == ("partial", 2, 2)
    assert summary["listing"] == "selected"
    assert list(summary["errors"]) == [unknown]
    expected = collections.Counter({k: n for k, n in everything.items() if k[0] in wanted})
    assert store_messages(tmp_path / "s.db") == expected
