"""Reading a whole account must cost the same per message at any account size (docs/benchmarks/whatsapp.md).

Found by ``bench/bench_whatsapp.py``: per-chat listings walk every known chat name on every call, so reading all chats
of an account is quadratic in its number of chats (100k demo messages, 11k chats: client CPU per message 1.6× the 10k
figure; 1M messages, 110k chats: hours). Counted, not timed, so the test does not depend on the machine's speed.
"""

from __future__ import annotations

from collections.abc import Iterator

from wamcp.whatsapp.profiles.lharries_text import parse_message_listing
from wamcp.whatsapp.timeparse import ServerClock


class CountingNames(frozenset[str]):
    """The profile's known chat names (a frozenset, rebuilt only when a chat is learned) that count full walks."""

    walks = 0

    def __iter__(self) -> Iterator[str]:
        type(self).walks += 1
        return super().__iter__()


LISTING = (
    "[2025-03-28 13:22:24] Chat: Isla Silva From: Isla Silva: Hi, here's my address:\n"
    "12 Harbour Street\n"
    "[2025-03-28 12:53:20] Chat: Isla Silva From: Me: Thanks!\n"
)


def test_a_chat_listing_does_not_walk_every_known_name_each_call() -> None:
    names = CountingNames([f"Customer {i}" for i in range(5000)] + ["Isla Silva", "Lead From: FB ad 🎯"])
    clock = ServerClock("UTC")
    CountingNames.walks = 0

    for _ in range(5):
        messages = parse_message_listing(
            LISTING,
            clock=clock,
            chat_jid="447700900123@s.whatsapp.net",
            chat_name="Isla Silva",
            known_sender_names=names,
        )
        assert [m.content for m in messages] == ["Hi, here's my address:\n12 Harbour Street", "Thanks!"]

    assert CountingNames.walks <= 1  # once to index the names, not once per listing
