"""Running clean-up work on another asyncio event loop, thread-safely and without ever waiting on it for long.

:class:`~wamcp.core.client.MCPClient` uses it when it is called from a new event loop while its connections still
live on another one (the sync facade's thread, say): their tasks can only be stopped by that loop. The one thing a
reader must know: the other loop may be busy for as long as it likes, even blocked on the very call that asks it for
something (a coroutine calling the sync facade), so the caller waits a short while for it to *start* the work and only
then for it to finish, both bounded; past either bound the work still runs there whenever that loop gets to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

import anyio

from ..redact import get_logger

__all__ = ["run_on_loop"]

logger = get_logger(__name__)


async def run_on_loop(
    loop: asyncio.AbstractEventLoop,
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    start_within: float,
    finish_within: float,
) -> bool:
    """Start ``work()`` as a task on ``loop`` and wait until it is done; ``True`` if it finished while we waited.

    ``work`` is called on ``loop`` itself (so no coroutine exists, and none is left un-awaited, when that loop never
    runs again). We wait ``start_within`` seconds for a running loop to start it, then ``finish_within`` for it to
    end; a loop that is not running (stopped between ``run_until_complete`` calls) is not waited for at all. A closed
    loop runs nothing: ``False`` at once. ``work`` must not raise (its errors are only logged).
    """
    started: concurrent.futures.Future[None] = concurrent.futures.Future()
    finished: concurrent.futures.Future[None] = concurrent.futures.Future()

    def settle(_task: object) -> None:
        if not finished.done():
            finished.set_result(None)

    def begin() -> None:
        started.set_result(None)
        task = loop.create_task(work())
        task.add_done_callback(settle)

    if loop.is_closed():
        return False
    running = loop.is_running()
    try:
        loop.call_soon_threadsafe(begin)
    except RuntimeError:  # closed between the check and here
        return False
    if not running:
        return False
    for future, seconds in ((started, start_within), (finished, finish_within)):
        with anyio.move_on_after(seconds):
            # Shielded: giving up waiting must not cancel the work on the other loop.
            await asyncio.shield(asyncio.wrap_future(future))
        if not future.done():
            logger.debug("event loop %r is busy; the work runs there when it gets to it", loop)
            return False
    return True
