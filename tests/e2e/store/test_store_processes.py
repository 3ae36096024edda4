"""The store across real processes: SIGKILL at random moments inside save_page, and two processes writing at once."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wamcp.store import Store

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

PAGES = 30
PAGE_SIZE = 200
CHAT = "447700900123@s.whatsapp.net"

# The child resumes from the stored cursor like the extractor does, and dies by SIGKILL at a random moment: either
# after a random number of SQLite VM steps (inside a statement, usually mid-executemany or mid-COMMIT) or from a
# timer thread at a random instant (which may land anywhere, including inside the commit's file writes).
_CHILD = textwrap.dedent(
    """
    import os, random, signal, sys, threading, time
    from wamcp.store import MessageRow, Store, SyncState

    db, seed, pages, size, chat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    rng = random.Random(seed)
    store = Store.open(db)
    store.mark_interrupted_runs()
    run = store.start_run("crash-test")
    state = store.sync_state(chat)
    start = 0 if state is None or state.cursor is None else int(state.cursor) + 1

    def die(*_args):
        os.kill(os.getpid(), signal.SIGKILL)

    if seed >= 0:
        if rng.random() < 0.5:
            budget = [rng.randrange(1, 12_000)]

            def step():
                budget[0] -= 1
                if budget[0] <= 0:
                    die()
                return 0

            store._conn.set_progress_handler(step, 50)
        else:
            threading.Timer(rng.uniform(0.0, 0.08), die).start()

    for k in range(start, pages):
        rows = [
            MessageRow(chat, f"p{k:03d}-{j:04d}", 1_700_000_000_000 + (k * size + j) * 1000, "447700900123", "Alice",
                       j % 3 == 0, f"message {k}/{j}\\nsecond line", None, None, "server")
            for j in range(size)
        ]
        store.save_page(chat, rows, state=SyncState(chat, cursor=str(k), newest_ts_ms=rows[-1].ts_ms), run_id=run)
    store.finish_run(run, status="complete")
    store.close()
    print("done")
    """
)


def _run_child(db: Path, seed: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(db), str(seed), str(PAGES), str(PAGE_SIZE), CHAT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _expected_keys(pages_done: int) -> set[tuple[str, str]]:
    return {(CHAT, f"p{k:03d}-{j:04d}") for k in range(pages_done) for j in range(PAGE_SIZE)}


def _assert_consistent(db: Path) -> int:
    """The store opens, is sound, and holds exactly the pages up to its cursor: return how many pages that is."""
    with Store.open(db) as store:
        assert store.integrity_check() == "ok"
        state = store.sync_state(CHAT)
        pages_done = 0 if state is None or state.cursor is None else int(state.cursor) + 1
        assert store.message_keys() == _expected_keys(pages_done)
    return pages_done


def test_sigkill_inside_save_page_never_splits_a_page_from_its_cursor(tmp_path: Path) -> None:
    rng = random.Random(20240113)
    killed = 0
    for attempt in range(6):
        db = tmp_path / f"crash{attempt}.db"
        progress = 0
        # Kill it repeatedly at random moments; every restart resumes from the stored cursor.
        for _ in range(4):
            result = _run_child(db, rng.randrange(1_000_000))
            if result.returncode == -signal.SIGKILL:
                killed += 1
            else:
                assert result.returncode == 0, result.stderr
            pages_done = _assert_consistent(db)
            assert pages_done >= progress
            progress = pages_done
        # A final uninterrupted run converges to exactly the source: nothing lost, nothing duplicated.
        final = _run_child(db, -1)
        assert final.returncode == 0, final.stderr
        assert _assert_consistent(db) == PAGES
        with Store.open(db) as store:
            statuses = [run["status"] for run in store.runs()]
        assert statuses[-1] == "complete"
        assert "running" not in statuses[:-1]
    assert killed >= 8, f"only {killed} runs were actually killed"


_WRITER = textwrap.dedent(
    """
    import sys
    from wamcp.store import MessageRow, Store, SyncState

    db, chat, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Store.open(db) as store:
        run = store.start_run(chat)
        for k in range(pages):
            rows = [MessageRow(chat, f"{k}-{j}", 1_700_000_000_000 + k * 1000 + j, None, None, False, "x" * 50,
                               None, None, "server") for j in range(300)]
            store.save_page(chat, rows, state=SyncState(chat, cursor=str(k)), run_id=run)
        store.finish_run(run, status="complete")
    """
)


def test_two_processes_write_the_same_store_without_locking_errors(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    Store.open(db).close()
    chats = ["111@s.whatsapp.net", "222@s.whatsapp.net", "333@g.us"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), chat, "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for chat in chats
    ]
    # Read while they write: WAL readers never block and never see a half page.
    counts: list[int] = []
    with Store.open(db, readonly=True) as reader:
        while any(p.poll() is None for p in procs):
            counts.append(reader.count_messages())
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "locked" not in err
    assert all(count % 300 == 0 for count in counts)
    with Store.open(db) as store:
        assert store.count_messages() == 3 * 60 * 300
        assert {state.cursor for state in store.sync_states().values()} == {"59"}
        assert [run["status"] for run in store.runs()] == ["complete"] * 3


def test_interrupted_store_checks_clean_with_sqlite_itself(tmp_path: Path) -> None:
    db = tmp_path / "wa.db"
    result = _run_child(db, 7)
    assert result.returncode in (0, -signal.SIGKILL)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    assert not os.path.exists(str(db) + "-journal")
