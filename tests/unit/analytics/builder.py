"""A tiny synthetic-store builder for the analytics tests: messages written in local wall-clock time, stored in UTC ms.

Tests state conversations the way a person reads them ("customer at Fri 23:00, business Mon 09:10") and the builder
turns them into rows of the real store schema (created with :func:`wamcp.store.schema.migrate`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from wamcp.store.schema import migrate

BUSINESS = "4915100000001@s.whatsapp.net"


def ms(text: str, tz: str = "UTC") -> int:
    """``"2026-03-06 23:00"`` in zone ``tz`` -> ms since the epoch."""
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


@dataclass
class StoreBuilder:
    """Collects chats and messages, then writes them to a migrated SQLite store."""

    tz: str = "UTC"
    chats: dict[str, str | None] = field(default_factory=dict)
    rows: list[tuple[str, str, int, str, str | None, int, str, str | None]] = field(default_factory=list)

    def chat(self, jid: str, name: str | None = None) -> StoreBuilder:
        self.chats[jid] = name
        return self

    def msg(
        self,
        jid: str,
        when: str | int,
        *,
        out: bool = False,
        msg_id: str | None = None,
        media: str | None = None,
        sender_name: str | None = None,
    ) -> StoreBuilder:
        """Add one message; ``when`` is local wall-clock text in ``self.tz`` or ms since the epoch."""
        self.chats.setdefault(jid, None)
        ts = when if isinstance(when, int) else ms(when, self.tz)
        sender = BUSINESS if out else jid.split("@")[0] + "@s.whatsapp.net"
        self.rows.append((jid, msg_id or f"m{len(self.rows):06d}", ts, sender, sender_name, int(out), "text", media))
        return self

    def write(self, path: Path) -> Path:
        conn = sqlite3.connect(path)
        try:
            migrate(conn)
            with conn:
                conn.executemany(
                    "INSERT INTO chats (jid, name, is_group) VALUES (?, ?, ?)",
                    [(jid, name, int(jid.endswith("@g.us"))) for jid, name in self.chats.items()],
                )
                # INSERT OR IGNORE is how the store absorbs a duplicate delivery of the same message id.
                conn.executemany(
                    "INSERT OR IGNORE INTO messages (chat_jid, id, ts_ms, sender, sender_name, is_from_me, content, "
                    "media_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    self.rows,
                )
        finally:
            conn.close()
        return path
