"""The demo bridge's sender-name lookup: the one-pass index gives the real server's answer (first chat, in table
order, whose JID holds the sender's number), the same as searching every JID per sender."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

from wamcp.demo import generate_database
from wamcp.demo.bridge import Bridge, _SenderNames


def _real_server(conn: sqlite3.Connection, sender: str) -> str:
    """lharries' get_sender_name: the chat with this exact JID, else the first whose JID is LIKE the number."""
    row = conn.execute("SELECT name FROM chats WHERE jid = ? LIMIT 1", (sender,)).fetchone()
    if not row:
        part = sender.split("@")[0]
        row = conn.execute("SELECT name FROM chats WHERE jid LIKE ? LIMIT 1", (f"%{part}%",)).fetchone()
    return row[0] if row and row[0] else sender


def test_indexed_lookup_equals_searching_every_jid() -> None:
    rng = random.Random(5)
    numbers = [str(rng.randrange(10**9, 10**12)) for _ in range(300)]
    # Numbers that hold each other, group JIDs whose digits contain a number, unnamed chats.
    numbers += [numbers[0][2:], numbers[1] + "7", "120363" + numbers[2]]
    rows: list[tuple[str, str | None]] = []
    for i, number in enumerate(numbers):
        suffix = "@g.us" if number.startswith("120363") else "@s.whatsapp.net"
        rows.append((number + suffix, None if i % 7 == 0 else f"name {i}"))
    rng.shuffle(rows)
    senders = [*numbers, numbers[3] + "@s.whatsapp.net", "999", "12345678901234", "5%5"]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE chats (jid TEXT, name TEXT)")
    conn.execute("CREATE TABLE messages (sender TEXT)")
    conn.executemany("INSERT INTO chats VALUES (?, ?)", rows)
    conn.executemany("INSERT INTO messages VALUES (?)", [(s,) for s in senders])
    names = _SenderNames(rows)
    for sender in senders:
        assert names.lookup(sender, conn) == _real_server(conn, sender), sender
    assert names._first_row is not None  # the one-pass index answered the numbers
    assert len(names._first_row) >= 300


def test_the_bridge_prepares_names_at_start_and_sees_changes_committed_later(tmp_path: Path) -> None:
    path = tmp_path / "messages.db"
    generate_database(path, messages=60, seed=3)
    with sqlite3.connect(path) as conn:
        jid, name = conn.execute("SELECT jid, name FROM chats WHERE jid LIKE '%@s.whatsapp.net' LIMIT 1").fetchone()
    bridge = Bridge(path, media_dir=tmp_path / "media")
    try:
        bridge.warm()
        assert bridge._names is not None  # built before any call
        assert bridge._names._first_row is not None

        def sender_labels() -> set[str]:
            shown = bridge.list_messages(
                after=None, before=None, sender_phone_number=None, chat_jid=jid, query=None, limit=50, page=0
            )
            return {bridge.sender_label(m) for m in shown if not m.is_from_me}

        assert sender_labels() == {name}
        with sqlite3.connect(path) as conn:  # another process renames the contact after the server started
            conn.execute("UPDATE chats SET name = 'Renamed Customer' WHERE jid = ?", (jid,))
        assert sender_labels() == {"Renamed Customer"}
    finally:
        bridge.close()


def test_the_server_lists_chats_while_it_prepares_the_sender_lookups(tmp_path: Path, monkeypatch: Any) -> None:
    """The lookups are built on a thread: a chat listing (all an incremental run asks for) does not wait for them;
    a message listing, which shows senders, waits and then shows the names."""
    from wamcp.demo.server import DemoServer, DemoServerConfig
    from wamcp.demo.tools import call_tool

    path = tmp_path / "messages.db"
    generate_database(path, messages=60, seed=3)
    release = threading.Event()
    started = threading.Event()
    real_warm = Bridge.warm

    def slow_warm(self: Bridge) -> None:
        started.set()
        assert release.wait(10)
        real_warm(self)

    monkeypatch.setattr(Bridge, "warm", slow_warm)
    demo = DemoServer(DemoServerConfig(db=path, media_dir=tmp_path / "media"), path)
    try:
        assert started.wait(10)
        listing = call_tool(demo.bridge, "list_chats", {"limit": 5}, None, False)
        assert "jid" in "".join(listing.blocks)  # answered while the lookups are still being built
        release.set()
        messages = call_tool(demo.bridge, "list_messages", {"limit": 5}, None, False)
        assert "From: " in "".join(messages.blocks)
    finally:
        release.set()
        demo.close()


def test_closing_does_not_wait_for_a_warm_up_in_progress(tmp_path: Path, monkeypatch: Any) -> None:
    """A server told to stop while it still builds its lookups (a rerun that only lists chats) stops at once; the
    warm-up closes its own connection when it ends."""
    path = tmp_path / "messages.db"
    generate_database(path, messages=60, seed=3)
    building, release = threading.Event(), threading.Event()
    index_senders = _SenderNames.index_senders

    def slow_index(self: _SenderNames, conn: sqlite3.Connection) -> None:
        building.set()
        assert release.wait(10)
        index_senders(self, conn)

    monkeypatch.setattr(_SenderNames, "index_senders", slow_index)
    bridge = Bridge(path, media_dir=tmp_path / "media")
    warm = threading.Thread(target=bridge.warm)
    warm.start()
    try:
        assert building.wait(10)
        bridge.close()  # returns while the warm-up is still blocked (it would hang here if close waited)
        assert bridge.closed
        assert warm.is_alive()
    finally:
        release.set()
        warm.join(10)
    assert not warm.is_alive()
    assert bridge._watch is None  # the warm-up closed the connection it opened
