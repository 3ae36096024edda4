"""One extraction at a time per account of a store: an exclusive ``flock`` on a lock file beside the database.

Without it two ``wamcp extract`` runs on one store (a cron job that overlaps the previous one) both read the whole
server, and each marked the other's run ``interrupted`` when it started. The kernel drops a flock when its holder
dies, however it dies (SIGKILL, the OOM killer), so a killed run never leaves the store locked; a pid file would need
a liveness check that reused pids and other pid namespaces defeat. The file holds who took the lock (pid, time) for
the message the second run prints, and stays when the run ends: removing a file another process may be opening to
lock would let both hold "the" lock. Windows has no flock: there the lock is not taken.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import StoreBusyError
from ..redact import get_logger

__all__ = ["hold_run_lock", "run_lock_holder", "run_lock_path"]

log = get_logger(__name__)

#: ``wamcp status`` tests the lock by taking it shared for a moment: a run starting in that moment tries again a
#: few times before it calls the store busy (a real run holds the lock for minutes, a probe for microseconds).
_TRIES = 5
_TRY_AGAIN_AFTER = 0.02


def run_lock_path(db: Path, account_tag: str) -> Path:
    """The lock file of ``account_tag``'s runs in the store at ``db``: ``<db>-run.lock`` for the default account
    (beside SQLite's ``-wal`` and ``-shm``), a name with a digest of the account for the others.

    Beside the file ``db`` leads to, as SQLite's own files are: a store reached through a symlink (or another
    symlinked directory) is the same store, and its runs must take the same lock."""
    db = Path(os.path.realpath(db))
    if not account_tag:
        return db.with_name(f"{db.name}-run.lock")
    digest = hashlib.sha256(account_tag.encode("utf-8")).hexdigest()[:12]
    return db.with_name(f"{db.name}-run-{digest}.lock")


@contextlib.contextmanager
def hold_run_lock(db: Path, account_tag: str) -> Iterator[None]:
    """Hold the run lock of ``account_tag`` in the store at ``db`` for the ``with`` block.

    Raises :class:`~wamcp.errors.StoreBusyError` while another process holds it (after ~0.1 s of tries, which only
    a ``wamcp status`` look needs waiting out; never a wait for a run to end).
    """
    if sys.platform == "win32":
        yield
        return
    import fcntl

    path = run_lock_path(db, account_tag)
    writable = True
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except PermissionError:
        # Another user's lock file in a shared store's directory: a flock needs no write access, only the note of
        # who holds it does (so a run refused by ours names no pid).
        writable = False
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            fd = -1
    except OSError:
        fd = -1
    if fd < 0:
        log.warning(
            "cannot open the run lock %s; extracting without it (another run could start beside this one)", path
        )
        yield
        return
    try:
        locked = True
        for attempt in range(_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == _TRIES - 1:
                    raise _busy(db, fd, account_tag) from None
                time.sleep(_TRY_AGAIN_AFTER)
            except OSError:
                locked = False  # a file system without locks (some network mounts): no lock, as on Windows
                break
        if locked and writable:
            holder = json.dumps({"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")})
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode("utf-8"), 0)
        yield
    finally:
        os.close(fd)  # drops the lock


def run_lock_holder(db: Path, account_tag: str) -> dict[str, Any] | None:
    """Who holds the run lock of ``account_tag`` in the store at ``db`` (``{"pid": int | None, "since": str |
    None}``), or None when nobody does or it cannot be told (Windows, no lock file yet). Takes the lock shared for a
    moment to find out (flock has no test), which a run starting in that moment waits out (see ``_TRIES``)."""
    if sys.platform == "win32":
        return None
    import fcntl

    try:
        fd = os.open(run_lock_path(db, account_tag), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd)
    except OSError:
        return None
    finally:
        os.close(fd)  # drops the shared lock, if taken
    return None


def _holder(fd: int) -> dict[str, Any]:
    """What the lock file says of its holder; ``None`` values when it was taken a moment ago and not written yet,
    or is damaged."""
    try:
        data = json.loads(os.pread(fd, 512, 0) or b"{}")
        return {"pid": int(data["pid"]), "since": str(data["since"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {"pid": None, "since": None}


def _busy(db: Path, fd: int, account_tag: str) -> StoreBusyError:
    holder = _holder(fd)
    held = f" (pid {holder['pid']}, since {holder['since']})" if holder["pid"] is not None else ""
    whose = f"account {account_tag!r} of " if account_tag else ""  # a named account is stored by its name
    return StoreBusyError(
        f"another wamcp extract is syncing {whose}{db}{held}",
        hint="let it finish (a run picks up where the last one stopped), or pass another --db",
    )
