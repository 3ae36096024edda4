"""A keyset walk split into concurrent spans of time reads every message exactly once, however the messages are
spread: bursts within one second, long silent gaps, a wrong guess of where history starts."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import anyio.lowlevel
import pytest

from wamcp.whatsapp.models import Message
from wamcp.whatsapp.profiles.spans import Span, walk_spans

pytestmark = pytest.mark.anyio


def _message(message_id: str, key: int) -> Message:
    stamp = datetime.fromtimestamp(key, UTC)
    return Message(
        id=message_id, chat_jid="c@s.whatsapp.net", sender="Ana", content="hi", is_from_me=False, timestamp=stamp
    )


class KeyedServer:
    """Messages at whole-second keys; a walker over one span as the profiles write it: it re-reads the span's
    floor before each call, sets ``reached`` before yielding, drops keys below the floor and re-reads the cut
    second of each page."""

    def __init__(self, keys: list[int], page: int = 7) -> None:
        made = [(_message(f"m{i:05d}", k), k) for i, k in enumerate(keys)]
        self.messages = sorted(made, key=lambda pair: (pair[1], pair[0].id))
        self.page = page
        self.calls = 0
        self.spans: list[Span] = []

    def _query(self, after: float | None, before: float | None, limit: int) -> list[tuple[Message, int]]:
        rows = [
            (m, k)
            for m, k in reversed(self.messages)
            if (after is None or k > after) and (before is None or k < before)
        ]
        return rows[:limit]

    async def walk(self, span: Span) -> AsyncIterator[list[Message]]:
        self.spans.append(span)
        before = span.ceiling
        limit = self.page
        seen: set[str] = set()
        while True:
            floor = span.floor
            after = floor - 1 if floor is not None else None
            self.calls += 1
            await anyio.lowlevel.checkpoint()  # the round trip: other walkers run meanwhile
            rows = self._query(after, before, limit)
            floor = span.floor
            if rows:
                span.reached = float(rows[-1][1])
            fresh = [m for m, k in rows if m.id not in seen and (floor is None or k >= floor)]
            if fresh:
                yield fresh
            if len(rows) < limit:
                return
            oldest = rows[-1][1]
            if floor is not None and oldest < floor:
                return
            if oldest == rows[0][1]:
                seen.update(m.id for m, _ in rows)
                limit *= 2
                continue
            seen = {m.id for m, k in rows if k == oldest}
            before = oldest + 1
            limit = self.page


def shapes() -> dict[str, list[int]]:
    rng = random.Random(3)
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    steady = [start + i * 37 for i in range(600)]
    bursts = [start + rng.choice([0, 0, 0, 5, 3600, 86400]) + 10 * (i // 50) for i in range(600)]
    gap = [start + i for i in range(200)] + [start + 10 * 365 * 86400 + i * 3 for i in range(300)]
    recent_only = [start + 200 * 86400 + rng.randrange(7200) for _ in range(500)]
    return {"steady": steady, "bursts": bursts, "gap": gap, "recent_only": recent_only}


@pytest.mark.parametrize("hint_days", [None, -400, 0, 300])
@pytest.mark.parametrize("parallel", [1, 2, 3, 6])
@pytest.mark.parametrize("shape", list(shapes()))
async def test_every_message_once_in_every_shape(shape: str, parallel: int, hint_days: int | None) -> None:
    keys = shapes()[shape]
    server = KeyedServer(keys)
    ceiling = float(max(keys) + 1)
    hint = None if hint_days is None else float(min(keys) + hint_days * 86400)
    got = [
        m.id
        async for page in walk_spans(
            server.walk, Span(floor=None, ceiling=ceiling), parallel=parallel, floor_hint=hint, min_split=30.0
        )
        for m in page
    ]
    assert sorted(got) == sorted(m.id for m, _ in server.messages)
    assert len(got) == len(set(got))


async def test_walks_in_several_spans_at_once_and_keeps_a_floor() -> None:
    keys = shapes()["steady"]
    server = KeyedServer(keys)
    floor = float(keys[100])
    got = [
        m.id
        async for page in walk_spans(
            server.walk, Span(floor=floor, ceiling=None), parallel=3, floor_hint=None, min_split=30.0
        )
        for m in page
    ]
    assert sorted(got) == sorted(m.id for m, k in server.messages if k >= floor)
    assert len(server.spans) > 3  # split on demand, more than once
    assert all(s.floor is not None and s.floor >= floor for s in server.spans)


async def test_one_walker_is_the_plain_walk() -> None:
    server = KeyedServer(shapes()["steady"])
    whole = Span(floor=None, ceiling=None)
    pages = [page async for page in walk_spans(server.walk, whole, parallel=1)]
    assert server.spans == [whole]
    assert [m.id for page in pages for m in page] == [m.id for m, _ in reversed(server.messages)]


async def test_a_failing_walker_ends_the_walk_with_its_error() -> None:
    server = KeyedServer(shapes()["steady"])

    async def broken(span: Span) -> AsyncIterator[list[Message]]:
        async for page in server.walk(span):
            if len(server.spans) > 1:
                raise RuntimeError("server went away")
            yield page

    with pytest.raises(RuntimeError, match="server went away"):  # itself, not in a group: callers catch it by class
        async for _ in walk_spans(broken, Span(None, None), parallel=3, floor_hint=float(min(shapes()["steady"]))):
            pass


async def test_the_caller_may_stop_early() -> None:
    server = KeyedServer(shapes()["steady"])
    walk = walk_spans(server.walk, Span(None, None), parallel=3, floor_hint=float(min(shapes()["steady"])))
    async for _ in walk:
        break
    await walk.aclose()  # type: ignore[attr-defined]
    calls = server.calls
    await anyio.lowlevel.checkpoint()
    assert server.calls == calls  # no walker is left running
