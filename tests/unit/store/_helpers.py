"""Builders of store rows shared by the store tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wamcp.store import MessageRow

BASE_MS = 1_700_000_000_000


def make_page(chat: str, start: int, count: int, *, step_ms: int = 60_000, content: str = "hello") -> list[MessageRow]:
    """``count`` messages of ``chat`` with ids ``m<start>..``, one a minute, alternating sides."""
    return [
        MessageRow(
            chat_jid=chat,
            id=f"m{i:06d}",
            ts_ms=BASE_MS + i * step_ms,
            sender=None if i % 2 else "447700900123",
            sender_name=None if i % 2 else "Alice",
            is_from_me=bool(i % 2),
            content=f"{content} {i}",
            media_type="image" if i % 7 == 3 else None,
            filename="IMG-1.jpg" if i % 7 == 3 else None,
            id_source="server",
        )
        for i in range(start, start + count)
    ]


_BUILDER = """
import sys
from wamcp.store import MessageRow, Store, SyncState

path, messages, chats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = "an ordinary customer message that is long enough to matter if every row were held in memory " * 2
with Store.open(path) as store:
    for chat in range(chats):
        jid = f"4477009{chat:05d}@s.whatsapp.net"
        for start in range(0, messages // chats, 1000):
            rows = [
                MessageRow(jid, f"m{i:07d}", 1_700_000_000_000 + i * 1000, "447700900123", "Alice", i % 2 == 0,
                           f"{text}{i}", "image" if i % 50 == 0 else None, None, "server")
                for i in range(start, start + 1000)
            ]
            store.save_page(jid, rows, state=SyncState(jid))
"""


def build_big_store(path: Path, *, messages: int = 200_000, chats: int = 10) -> Path:
    """A store of ``messages`` long-ish messages, built in a child process so test-time tracing does not slow it."""
    subprocess.run([sys.executable, "-c", _BUILDER, str(path), str(messages), str(chats)], check=True, timeout=120)
    return path
