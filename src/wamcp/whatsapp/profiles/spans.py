"""One keyset walk across chats, read as several concurrent walks over disjoint spans of time.

A keyset walk is a chain: each page's ``before`` is the previous page's oldest message, so client and server take
turns and each waits while the other works (over stdio, a 1M-message walk ran at the sum of both processes' CPU
time). Walking disjoint spans of time at once keeps both busy. The one thing to know: spans are split **on demand**,
not planned from a guess of where the messages are. A walker that runs out of work halves the span with the most
time left: it takes the older half, and the span's owner stops at the new boundary. Every span is half-open,
``floor <= key < ceiling``, so each message belongs to exactly one span whichever walker reads it first.

Keys are seconds on the server's own clock as the profile compares them (lharries: its naive wall-clock text read as
if it were UTC, so arithmetic follows the server's string order; structured servers: epoch seconds), and split
points fall on whole seconds, the resolution these servers filter at.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

import anyio
import anyio.abc

from ..models import Message
from .base import cancel_and_wait, closing_when_done

__all__ = ["MIN_SPLIT_SECONDS", "Span", "SpanWalk", "walk_spans"]

#: A span with less time than this left is not split: its walker finishes it (a split costs at least one call).
MIN_SPLIT_SECONDS = 60.0


@dataclass(slots=True)
class Span:
    """A half-open range of keys ``[floor, ceiling)`` one walker reads, newest first.

    ``floor`` ``None`` is the start of history (the walker asks the server for no lower bound), ``ceiling`` ``None``
    is no upper bound. ``reached`` is the oldest key the walker has read so far: everything newer is done; the walker
    owns what lies between ``floor`` and ``reached``. The driver may raise ``floor`` while the walker runs (a split);
    the walker re-reads it before each call and drops what falls below it.
    """

    floor: float | None
    ceiling: float | None
    reached: float | None = None

    def owns(self, key: float) -> bool:
        return (self.floor is None or key >= self.floor) and (self.ceiling is None or key < self.ceiling)


#: Reads one span: yields its messages page by page (only keys the span owns), updates ``span.reached`` after each
#: page, and ends at the span's floor or at the end of history.
SpanWalk = Callable[[Span], AsyncIterator[list[Message]]]


async def walk_spans(
    walk: SpanWalk,
    span: Span,
    *,
    parallel: int,
    floor_hint: float | None = None,
    min_split: float = MIN_SPLIT_SECONDS,
) -> AsyncGenerator[list[Message], None]:
    """Every page of ``span``, read by up to ``parallel`` concurrent walkers, in no particular order.

    ``floor_hint`` estimates where history starts when ``span.floor`` is ``None`` (e.g. the oldest chat's last
    activity); without it the bottom span is split only once its walker has shown how far back it goes. Pages are
    handed over through a small buffer, so walkers wait while the caller works on what they read.
    """
    if parallel <= 1:
        async for page in walk(span):
            yield page
        return
    hint = floor_hint
    pending = [span]
    active: list[Span] = []
    changed = anyio.Event()

    def split() -> Span | None:
        """The older half of the active span with the most time left, or None when none is worth splitting."""
        nonlocal hint
        best: tuple[Span, float, float] | None = None
        widest = min_split
        for candidate in active:
            top = candidate.reached if candidate.reached is not None else candidate.ceiling
            if (
                candidate.floor is None
                and top is not None
                and candidate.ceiling is not None
                and (hint is None or top <= hint)
            ):
                # The bottom span went past the estimate of where history starts (or there was none): assume as
                # much history again below it as it has read so far.
                hint = top - max(min_split, candidate.ceiling - top)
            low = candidate.floor if candidate.floor is not None else hint
            if top is not None and low is not None and top - low > widest:
                best, widest = (candidate, low, top), top - low
        if best is None:
            return None
        split_span, low, top = best
        middle = float(math.floor((low + top) / 2))
        if not low < middle < top:
            return None
        older = Span(floor=split_span.floor, ceiling=middle)
        split_span.floor = middle
        return older

    async def walker(send: anyio.abc.ObjectSendStream[list[Message]]) -> None:
        nonlocal changed
        async with send:
            while True:
                mine = pending.pop() if pending else split()
                if mine is None:
                    if not active:
                        return
                    await changed.wait()  # another walker's progress may make a span worth splitting
                    continue
                active.append(mine)
                try:
                    async with closing_when_done(walk(mine)) as pages:
                        async for page in pages:
                            await send.send(page)
                            changed.set()
                            changed = anyio.Event()
                finally:
                    active.remove(mine)
                    changed.set()
                    changed = anyio.Event()

    # Plain asyncio tasks, not an anyio task group, for the reason given in base.iter_offset_pages (a bare ``break``).
    send, receive = anyio.create_memory_object_stream[list[Message]](parallel)
    walkers = [asyncio.ensure_future(walker(send.clone())) for _ in range(parallel)]
    send.close()

    def stop_the_others(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            for other in walkers:
                other.cancel()  # one walker's error ends the walk, as it would end a single walk

    for walker_task in walkers:
        walker_task.add_done_callback(stop_the_others)
    try:
        async with receive:
            async for page in receive:
                yield page
        # Every walker has closed its end of the stream: wait for them to end, then raise the first error (the
        # server's, the client's) as itself, as a single walk raises it.
        await asyncio.wait(walkers)
        for walker_task in walkers:
            if not walker_task.cancelled() and (error := walker_task.exception()) is not None:
                raise error
    finally:
        await cancel_and_wait(walkers)  # the caller stopped early (``break``, ``aclose()``): stop the walkers
