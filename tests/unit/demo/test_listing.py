"""The demo bridge's chat listing: pages served from a kept order are the real server's LIMIT/OFFSET pages."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from wamcp.demo import generate_database
from wamcp.demo.bridge import _CHAT_COLUMNS, Bridge, BridgeChat, _chat


def _real_server(db: Path, *, query: str | None, limit: int, page: int, sort_by: str) -> list[BridgeChat]:
    """lharries' list_chats query, as the real server runs it for each page."""
    sql = (
        f"SELECT {_CHAT_COLUMNS} FROM chats LEFT JOIN messages ON chats.jid = messages.chat_jid"
        " AND chats.last_message_time = messages.timestamp"
    )
    params: list[Any] = []
    if query:
        sql += " WHERE (LOWER(chats.name) LIKE LOWER(?) OR chats.jid LIKE ?)"
        params += [f"%{query}%", f"%{query}%"]
    sql += " ORDER BY " + ("chats.last_message_time DESC" if sort_by == "last_active" else "chats.name")
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(f"{sql} LIMIT ? OFFSET ?", [*params, limit, page * limit]).fetchall()
    finally:
        conn.close()
    return [_chat(row) for row in rows]


@pytest.fixture(scope="module", params=["demo indexes", "bridge schema only"])
def tied_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated account where many chats share their last-message second, names repeat, and some chats have two
    messages in their last second (each such chat is two rows of the listing); with or without our indexes."""
    path = tmp_path_factory.mktemp("listing") / "messages.db"
    generate_database(path, messages=400, seed=7)
    conn = sqlite3.connect(path)
    try:
        with conn:
            jids = [jid for (jid,) in conn.execute("SELECT jid FROM chats ORDER BY rowid")]
            for n, jid in enumerate(jids[::3]):
                stamp = f"2025-03-01 10:00:0{n % 3}+00:00"
                conn.execute("UPDATE chats SET last_message_time = ?, name = 'Same' WHERE jid = ?", (stamp, jid))
                for copy in range(1 + n % 2):
                    conn.execute(
                        "INSERT INTO messages (id, chat_jid, sender, content, timestamp, is_from_me)"
                        " VALUES (?, ?, '1', ?, ?, 0)",
                        (f"TIE{n}-{copy}", jid, f"tie {n} {copy}", stamp),
                    )
            if request.param == "bridge schema only":
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'wamcp_demo_%'").fetchall():
                    conn.execute(f"DROP INDEX {name}")
    finally:
        conn.close()
    return path


@pytest.mark.parametrize("sort_by", ["last_active", "name"])
@pytest.mark.parametrize("query", [None, "a"])
@pytest.mark.parametrize("limit", [1, 7, 13])
def test_every_page_is_the_real_servers_page(
    tied_db: Path, tmp_path: Path, sort_by: str, query: str | None, limit: int
) -> None:
    bridge = Bridge(tied_db, media_dir=tmp_path / "media")
    try:
        page, seen = 0, 0
        while True:
            ours = bridge.list_chats(query=query, limit=limit, page=page, include_last_message=True, sort_by=sort_by)
            assert ours == _real_server(tied_db, query=query, limit=limit, page=page, sort_by=sort_by), page
            assert ours is not None
            seen += len(ours)
            if len(ours) < limit:
                break
            page += 1
        assert seen > limit * 3
        assert bridge._listings  # the pages after the first came from the kept order
    finally:
        bridge.close()


def test_a_change_committed_by_another_connection_shows_on_the_next_page(tied_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "messages.db"
    shutil.copy(tied_db, db)
    bridge = Bridge(db, media_dir=tmp_path / "media")
    try:
        before = bridge.list_chats(query=None, limit=5, page=1, include_last_message=True, sort_by="last_active")
        conn = sqlite3.connect(db)
        try:
            with conn:
                conn.execute("INSERT INTO chats VALUES ('999@s.whatsapp.net', 'Newest', '2100-01-01 00:00:00+00:00')")
        finally:
            conn.close()
        after = bridge.list_chats(query=None, limit=5, page=1, include_last_message=True, sort_by="last_active")
        expected = _real_server(db, query=None, limit=5, page=1, sort_by="last_active")
        assert after == expected != before
        assert after is not None
        assert before is not None
        assert after[1:] == before[:-1]  # everything moved one place down
    finally:
        bridge.close()


def test_the_connections_of_ended_threads_are_closed(tied_db: Path, tmp_path: Path) -> None:
    """Each thread reads through its own connection; the server's worker threads come and go, and their connections
    must go with them (kept, each held its cache and a map of the whole file)."""
    bridge = Bridge(tied_db, media_dir=tmp_path / "media")
    opened: list[sqlite3.Connection] = []
    original = bridge._open_readonly

    def tracked() -> sqlite3.Connection:
        opened.append(original())
        return opened[-1]

    bridge._open_readonly = tracked  # type: ignore[method-assign]
    try:
        for _ in range(5):
            thread = threading.Thread(target=bridge.get_chat, args=("none@s.whatsapp.net", True))
            thread.start()
            thread.join()
        assert bridge.get_chat("none@s.whatsapp.net", True) is None  # this thread's connection stays open
        assert len(opened) == 6
        for conn in opened[:5]:
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                conn.execute("SELECT 1")
        assert opened[5].execute("SELECT 1").fetchone() == (1,)
    finally:
        bridge.close()
