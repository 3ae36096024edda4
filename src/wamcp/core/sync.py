"""The sync facade's engine: one background thread running one asyncio event loop, shared by every sync call.

Blocking functions (the seed's ``use_mcp_tool`` and friends) submit coroutines here with :meth:`SyncRunner.run`, so
connections opened by one call live on for the next (never ``asyncio.run`` per call, which would tear them down).
The one thing to know: ``run`` blocks the calling thread until the coroutine finishes, even when that thread runs
its own event loop (Jupyter); it refuses, with a clear error, to be called from the runner's own thread, where
blocking would deadlock.

The loop thread is a daemon started on first use; :func:`get_runner` registers the process-wide runner's ``stop``
with :mod:`atexit`, so the interpreter exits promptly and without "unclosed loop" or "task destroyed" warnings.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from wamcp.errors import MCPTimeoutError
from wamcp.redact import get_logger

__all__ = ["SyncRunner", "get_runner"]

T = TypeVar("T")

_log = get_logger(__name__)

# If a timed-out coroutine swallows its cancellation, the caller stops waiting this long after the deadline.
_CANCEL_GRACE = 1.0
_LIVENESS_POLL = 0.25


class SyncRunner:
    """Runs coroutines on a private event loop in a daemon thread; thread-safe; restartable after :meth:`stop`."""

    def __init__(self, name: str = "wamcp-sync") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runner's event loop (starting the thread if it is not running yet)."""
        return self._ensure_started()[0]

    @property
    def is_running(self) -> bool:
        """True while the loop thread is alive and serving."""
        loop, thread = self._loop, self._thread
        return loop is not None and thread is not None and thread.is_alive() and loop.is_running()

    def _ensure_started(self) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
        with self._lock:
            if self._loop is not None and self._thread is not None and self._thread.is_alive():
                return self._loop, self._thread
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(target=self._serve, args=(loop, ready), name=self._name, daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
            _log.debug("sync runner %s started", self._name)
            return loop, thread

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                _cancel_remaining_tasks(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                try:
                    loop.run_until_complete(loop.shutdown_default_executor())
                except RuntimeError:  # pragma: no cover - 3.12+ refuses new threads during interpreter shutdown
                    _log.debug("default executor not shut down: interpreter is finalizing")
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the runner's loop and return its result (or raise its exception) in this thread.

        ``timeout`` (seconds) cancels the coroutine and raises :class:`~wamcp.errors.MCPTimeoutError`.
        """
        if not asyncio.iscoroutine(coro):
            raise TypeError(f"SyncRunner.run needs a coroutine object, got {type(coro).__name__}")
        loop, thread = self._ensure_started()
        if threading.get_ident() == thread.ident:
            coro.close()  # never awaited; closing it avoids a "coroutine was never awaited" warning
            raise RuntimeError(
                "SyncRunner.run was called from the runner's own event-loop thread, where blocking would deadlock; "
                "inside async code, await the coroutine instead of using the sync facade"
            )
        wrapped = _with_timeout(coro, timeout)
        try:
            future = asyncio.run_coroutine_threadsafe(wrapped, loop)
        except RuntimeError as err:  # stop() closed the loop between _ensure_started and here
            wrapped.close()
            coro.close()
            raise RuntimeError("the sync runner was stopped before this call could start") from err
        try:
            return self._wait(future, thread, timeout)
        except BaseException:
            # Timeouts, KeyboardInterrupt in the waiting thread: stop the work we started rather than orphan it.
            future.cancel()
            raise

    @staticmethod
    def _wait(future: concurrent.futures.Future[T], thread: threading.Thread, timeout: float | None) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout + _CANCEL_GRACE
        while True:
            # Wake up now and then to notice a loop thread that died under us (stop() racing this call), which
            # would otherwise leave this future unresolved forever.
            step = _LIVENESS_POLL if deadline is None else min(_LIVENESS_POLL, deadline - time.monotonic())
            done, _ = concurrent.futures.wait([future], timeout=max(0.0, step))
            if done:
                break
            if not thread.is_alive():
                raise RuntimeError("the sync runner was stopped while this call was still running")
            if deadline is not None and time.monotonic() >= deadline:
                raise MCPTimeoutError(
                    f"operation did not finish within {timeout:.1f} s and did not respond to cancellation",
                    hint="raise the timeout, or check that the server is responding",
                )
        try:
            return future.result()
        except concurrent.futures.CancelledError as err:
            raise RuntimeError("the sync runner was stopped while this call was still running") from err

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel pending work, close the loop and join the thread (for at most ``timeout`` s). Idempotent."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if threading.get_ident() == thread.ident:
            raise RuntimeError("SyncRunner.stop cannot be called from the runner's own event-loop thread")
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # loop already closed: the thread is gone
            return
        thread.join(timeout)
        if thread.is_alive():
            _log.warning(
                "sync runner %s did not stop within %.1f s; leaving its daemon thread behind", self._name, timeout
            )
        else:
            _log.debug("sync runner %s stopped", self._name)

    def __repr__(self) -> str:
        return f"SyncRunner(name={self._name!r}, running={self.is_running})"


async def _with_timeout(coro: Coroutine[Any, Any, T], seconds: float | None) -> T:
    if seconds is None:
        return await coro
    try:
        async with asyncio.timeout(seconds) as scope:
            return await coro
    except TimeoutError as err:
        if scope.expired():
            raise MCPTimeoutError(
                f"operation did not finish within {seconds:.1f} s",
                hint="raise the timeout or check that the server is responding",
            ) from err
        raise  # the coroutine's own TimeoutError (MCPTimeoutError is one), not ours


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    # Bounded: a task that ignores cancellation must not keep the interpreter from exiting.
    loop.run_until_complete(asyncio.wait(tasks, timeout=_CANCEL_GRACE))
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            _log.debug("task %r ended with %r while the sync runner stopped", task, task.exception())


_runner: SyncRunner | None = None
_runner_lock = threading.Lock()


def get_runner() -> SyncRunner:
    """The process-wide runner, created on first use and stopped at interpreter exit."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = SyncRunner()
            atexit.register(_runner.stop)
        return _runner
