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


def sample_store(path: Path, *, customers: int = 30, days: int = 28, seed: int = 7) -> Path:
    """A small, deterministic, realistic store: weekday-heavy traffic, a few names, a group, media, people waiting."""
    import random

    rnd = random.Random(seed)
    builder = StoreBuilder(tz="Europe/Berlin")
    jids = [f"4917{rnd.randrange(10**8):08d}@s.whatsapp.net" for _ in range(customers)]
    builder.chat(jids[0], "Anna Schmidt").chat(jids[1], "Café <Sonne> & Co")
    start = ms("2026-02-02 00:00", "Europe/Berlin")
    for day in range(days):
        weekend = (day % 7) >= 5
        for jid in rnd.sample(jids, 3 if weekend else 9):
            t = start + day * 86_400_000 + rnd.randrange(8, 21) * 3_600_000 + rnd.randrange(3_600_000)
            builder.msg(jid, t, media=rnd.choice([None, None, None, "image", "audio"]))
            if rnd.random() < 0.3:
                builder.msg(jid, t + rnd.randrange(5_000, 60_000))
            if rnd.random() < 0.92:
                delay = int(rnd.expovariate(1 / (900 if not weekend else 20_000)) * 1000) + 30_000
                builder.msg(jid, t + delay + 60_000, out=True, media=rnd.choice([None, None, "document"]))
    group = "120363000000000042@g.us"
    for day in range(0, days, 2):
        builder.msg(group, start + day * 86_400_000 + 12 * 3_600_000)
    last = start + days * 86_400_000
    builder.msg(jids[2], last - 30 * 3_600_000)  # waiting more than a day
    builder.msg(jids[3], last - 20 * 60_000)  # waiting twenty minutes
    builder.msg(jids[4], last, out=True)  # the as-of time
    return builder.write(path)
