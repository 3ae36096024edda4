"""The run lock: one extraction per account and store at a time, refused at once, gone with its holder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wamcp.errors import StoreBusyError, StoreError
from wamcp.store import Store
from wamcp.store.runlock import hold_run_lock, run_lock_holder, run_lock_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows: the lock is not taken there")


def test_a_second_holder_is_refused_at_once_naming_the_first(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store.open(db) as first, Store.open(db) as second:
        with first.run_lock():
            with (
                pytest.raises(
                    StoreBusyError, match=rf"another wamcp extract is syncing .*s\.db \(pid {os.getpid()}, since "
                ),
                second.run_lock(),
            ):
                pass
            with second.for_account("support").run_lock():  # another account of the store is not held
                pass
        with second.run_lock():  # released with the block
            pass
    assert run_lock_path(db, "") == tmp_path / "s.db-run.lock"
    assert run_lock_path(db, "support").name.startswith("s.db-run-")


def test_a_lock_file_without_its_holder_written_still_refuses(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    script = textwrap.dedent(
        f"""
        import fcntl, os, sys, time
        fd = os.open({str(run_lock_path(db, ""))!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusyError) as refused, hold_run_lock(db, ""):
            pass
        assert refused.value.message == f"another wamcp extract is syncing {db}"  # no holder to name
        assert refused.value.hint is not None
        assert "--db" in refused.value.hint
        holder.kill()  # however its holder dies, the lock goes with it
        holder.wait(timeout=10)
        with hold_run_lock(db, ""):
            assert b'"pid": %d' % os.getpid() in run_lock_path(db, "").read_bytes()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_a_read_only_store_cannot_take_the_run_lock(tmp_path: Path) -> None:
    Store.open(tmp_path / "s.db").close()
    with Store.open(tmp_path / "s.db", readonly=True) as store, pytest.raises(StoreError, match="read-only"):
        store.run_lock()


def test_a_run_starting_while_wamcp_status_looks_at_the_lock_waits_that_look_out(tmp_path: Path) -> None:
    """`wamcp status` takes the lock shared for a moment to see whether a run holds it: a run starting in that
    moment must not call the store busy."""
    import fcntl
    import threading

    db = tmp_path / "s.db"
    look = os.open(run_lock_path(db, ""), os.O_RDWR | os.O_CREAT)
    fcntl.flock(look, fcntl.LOCK_SH)
    done = threading.Timer(0.03, os.close, (look,))
    done.start()
    try:
        with hold_run_lock(db, ""):
            holder = run_lock_holder(db, "")  # a lock is held per open file: this one is seen from another
            assert holder is not None
            assert holder["pid"] == os.getpid()
    finally:
        done.join()


def test_the_holder_is_told_while_a_run_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    assert run_lock_holder(db, "") is None  # no lock file yet
    with Store.open(db) as store, store.run_lock():
        holder = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, pathlib; from wamcp.store.runlock import run_lock_holder as h; "
                "print(h(pathlib.Path(sys.argv[1]), ''))",
                str(db),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        assert f"'pid': {os.getpid()}" in holder
    assert run_lock_holder(db, "") is None


def test_a_store_reached_through_a_symlink_takes_the_same_lock(tmp_path: Path) -> None:
    """``--db`` naming a symlink to the store (or a path through a symlinked directory) is the same store as its real
    path: SQLite writes beside the real file, and a run by either path must refuse a run by the other."""
    real = tmp_path / "data" / "whatsapp.db"
    real.parent.mkdir()
    (tmp_path / "link.db").symlink_to(real)
    (tmp_path / "linked-dir").symlink_to(real.parent, target_is_directory=True)
    with Store.open(real) as first, first.run_lock():
        for other in (tmp_path / "link.db", tmp_path / "linked-dir" / "whatsapp.db"):
            with Store.open(other) as second, pytest.raises(StoreBusyError), second.run_lock():
                pass
    with Store.open(tmp_path / "link.db") as through_link, through_link.run_lock():
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "link.db", "linked-dir"]  # nothing beside it
        assert (real.parent / "whatsapp.db-run.lock").exists()


def test_another_users_lock_file_still_locks_though_it_cannot_say_who(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared store's directory may hold a lock file another user created: we cannot write it, but a flock needs
    only an open file, so the run still locks (the lock used to be skipped then); only the holder's note is missing."""
    from wamcp.store import runlock

    db = tmp_path / "s.db"
    run_lock_path(db, "").write_text("", encoding="utf-8")
    real_open = os.open

    def no_write(path: str, flags: int, *args: int) -> int:
        if flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(runlock.os, "open", no_write)
    with hold_run_lock(db, ""):
        assert run_lock_holder(db, "") == {"pid": None, "since": None}
        with pytest.raises(StoreBusyError) as refused, hold_run_lock(db, ""):
            pass
        assert refused.value.message == f"another wamcp extract is syncing {db}"
    assert run_lock_holder(db, "") is None
