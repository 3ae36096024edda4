"""SyncRunner: the background loop behind the sync facade, from many threads, from async code, and at exit."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

import wamcp.core.sync as sync_module
from wamcp.core.sync import SyncRunner, get_runner
from wamcp.errors import MCPTimeoutError, MCPToolError

WAIT = 10.0  # upper bound for anything that should happen "at once"; never reached when the code is right


@pytest.fixture
def runner() -> Iterator[SyncRunner]:
    r = SyncRunner(name="wamcp-sync-test")
    yield r
    r.stop()


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def test_runs_a_coroutine_on_a_background_thread_and_returns_its_result(runner: SyncRunner) -> None:
    async def where() -> str:
        return threading.current_thread().name

    assert "running=False" in repr(runner)
    assert runner.run(double(21)) == 42
    assert runner.run(where()) == "wamcp-sync-test"
    assert runner.is_running
    assert "running=True" in repr(runner)


def test_the_same_loop_serves_every_call(runner: SyncRunner) -> None:
    async def current_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first = runner.run(current_loop())
    assert runner.run(current_loop()) is first
    assert runner.loop is first


def test_exceptions_propagate_with_their_type_and_message(runner: SyncRunner) -> None:
    async def fails() -> None:
        raise MCPToolError("chat not found", server="wa", tool="get_chat", text="no such chat")

    with pytest.raises(MCPToolError, match="chat not found") as info:
        runner.run(fails())
    assert info.value.text == "no such chat"

    async def plain() -> None:
        raise KeyError("jid")

    with pytest.raises(KeyError, match="jid"):
        runner.run(plain())


def test_many_threads_calling_at_once_each_get_their_own_result(runner: SyncRunner) -> None:
    def worker(base: int) -> list[int]:
        return [runner.run(double(base + i)) for i in range(50)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(worker, range(0, 1600, 100)))
    for base, got in zip(range(0, 1600, 100), results, strict=True):
        assert got == [2 * (base + i) for i in range(50)]


def test_the_runner_starts_only_one_thread_under_a_concurrent_first_use(runner: SyncRunner) -> None:
    async def loop_id() -> int:
        return id(asyncio.get_running_loop())

    barrier = threading.Barrier(8)

    def first_use() -> int:
        barrier.wait(timeout=WAIT)
        return runner.run(loop_id())

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        loops = set(pool.map(lambda _: first_use(), range(8)))
    assert len(loops) == 1


@pytest.mark.anyio
async def test_works_when_the_calling_thread_already_runs_an_event_loop(runner: SyncRunner) -> None:
    # As in Jupyter: the caller's loop is blocked for the duration, but the call completes.
    assert runner.run(double(5)) == 10


def test_calling_from_the_runners_own_thread_raises_instead_of_deadlocking(runner: SyncRunner) -> None:
    async def nested() -> int:
        return runner.run(double(1))

    with pytest.raises(RuntimeError, match="own event-loop thread"):
        runner.run(nested())
    assert runner.run(double(2)) == 4  # the runner is still usable


def test_only_coroutines_are_accepted(runner: SyncRunner) -> None:
    with pytest.raises(TypeError, match="coroutine"):
        runner.run(lambda: 1)  # type: ignore[arg-type]


def test_timeout_raises_mcp_timeout_error_and_cancels_the_coroutine(runner: SyncRunner) -> None:
    cleaned_up = threading.Event()

    async def never_finishes() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    with pytest.raises(MCPTimeoutError, match=r"within 0\.0 s"):
        runner.run(never_finishes(), timeout=0.01)
    assert cleaned_up.wait(WAIT)
    assert runner.run(double(3), timeout=WAIT) == 6


def test_a_coroutines_own_timeout_error_is_not_reported_as_the_runners(runner: SyncRunner) -> None:
    async def server_timed_out() -> None:
        raise MCPTimeoutError("server took too long", server="wa")

    with pytest.raises(MCPTimeoutError, match="server took too long"):
        runner.run(server_timed_out(), timeout=WAIT)


def test_a_coroutine_that_ignores_cancellation_still_cannot_hang_the_caller(
    runner: SyncRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "_CANCEL_GRACE", 0.05)
    release = threading.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.005)
            except asyncio.CancelledError:
                continue  # swallows every cancellation until released

    started = time.monotonic()
    with pytest.raises(MCPTimeoutError, match="did not respond to cancellation"):
        runner.run(stubborn(), timeout=0.01)
    assert time.monotonic() - started < WAIT
    release.set()


def test_stop_cancels_pending_calls_and_the_runner_can_start_again(runner: SyncRunner) -> None:
    started = threading.Event()
    outcome: list[BaseException] = []

    async def long_call() -> None:
        started.set()
        await asyncio.Event().wait()

    def caller() -> None:
        try:
            runner.run(long_call())
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=caller)
    thread.start()
    assert started.wait(WAIT)
    first_loop = runner.loop
    runner.stop()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], RuntimeError)
    assert "stopped" in str(outcome[0])
    assert first_loop.is_closed()
    assert not runner.is_running

    runner.stop()  # idempotent
    assert runner.run(double(4)) == 8  # restarts on demand with a fresh loop
    assert runner.loop is not first_loop


def test_stop_cleans_up_background_tasks_even_when_they_fail_on_cancel(runner: SyncRunner) -> None:
    async def spawn() -> None:
        async def misbehaves() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise ValueError("cleanup failed") from None

        asyncio.get_running_loop().create_task(misbehaves())

    runner.run(spawn())
    runner.stop(timeout=WAIT)
    assert not runner.is_running


def test_stop_from_the_runners_own_thread_raises(runner: SyncRunner) -> None:
    async def stop_inside() -> None:
        runner.stop()

    with pytest.raises(RuntimeError, match="own event-loop thread"):
        runner.run(stop_inside())


def test_a_caller_notices_when_the_loop_thread_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The race where stop() wins between submitting a call and its task starting leaves a future nobody resolves.
    monkeypatch.setattr(sync_module, "_LIVENESS_POLL", 0.001)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    orphan: concurrent.futures.Future[int] = concurrent.futures.Future()
    with pytest.raises(RuntimeError, match="stopped"):
        SyncRunner._wait(orphan, dead, None)  # white-box: the race is not reproducible on demand


def test_a_call_racing_a_stop_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = SyncRunner()
    runner.run(double(1))
    loop, thread = runner._ensure_started()  # freeze the handles stop() is about to invalidate
    runner.stop()
    monkeypatch.setattr(runner, "_ensure_started", lambda: (loop, thread))
    with pytest.raises(RuntimeError, match="before this call could start"):
        runner.run(double(2))


def test_get_runner_is_one_process_wide_runner() -> None:
    assert get_runner() is get_runner()


def test_interpreter_exits_promptly_and_silently_without_an_explicit_stop() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from wamcp.core.sync import get_runner

        async def work():
            # leave a background task pending: exit must cancel it without warnings
            asyncio.get_running_loop().create_task(asyncio.Event().wait())
            await asyncio.sleep(0)
            return "done"

        print(get_runner().run(work()))
        """
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert proc.stderr == ""
    assert time.monotonic() - started < 30


def test_stop_gives_up_waiting_after_its_timeout_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sync_module, "_CANCEL_GRACE", 0.05)
    runner = SyncRunner(name="wamcp-sync-stubborn")
    release = threading.Event()

    async def spawn() -> threading.Thread:
        async def stubborn() -> None:
            while not release.is_set():
                try:
                    await asyncio.sleep(0.005)
                except asyncio.CancelledError:
                    continue

        asyncio.get_running_loop().create_task(stubborn())
        return threading.current_thread()

    thread = runner.run(spawn())
    with caplog.at_level("WARNING", logger="wamcp"):
        runner.stop(timeout=0.0)
    assert "did not stop within 0.0 s" in caplog.text
    release.set()
    thread.join(WAIT)
    assert not thread.is_alive()
