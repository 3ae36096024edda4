"""Builders of store rows shared by the store tests."""

from __future__ import annotations

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
