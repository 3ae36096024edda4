"""Exports of the store: json, jsonl, csv, parquet and WhatsApp's own ``.txt`` chat export, all streamed.

The one thing to know: every exporter reads the store through :meth:`Store.iter_messages` in batches and writes as it
goes, so memory stays constant however many messages there are; and it writes to a temporary file that replaces the
target only when complete, so a failed or interrupted export never leaves a truncated file that looks finished (the
single-file formats can also go to standard output, ``out`` = :data:`STDOUT`, written as they are read).

Tabular formats share :data:`COLUMNS` (documented in docs/store.md): ``timestamp`` is ISO-8601 UTC at second
resolution (``2025-03-28T12:53:20Z``; parquet: ``timestamp[ms, tz=UTC]``) and ``ts_ms`` keeps the exact instant.
The ``.txt`` export writes one file per chat the way an Android phone with an en-GB locale does (WHATSAPP_SERVERS.md
§3, formatted by :mod:`wamcp.chat_export`), in the business's local time, so existing chat-analysis tools read it.
Every export can be narrowed to some ``accounts``; rows carry their ``account`` (last column, so readers that go by
position keep working), and the txt export puts a named account's chats in a subdirectory named after it.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import itertools
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from json.encoder import encode_basestring as _encode_string
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, NamedTuple, TextIO, cast, get_args

from ..chat_export import write_chat_export
from ..errors import StoreError
from ..redact import get_logger
from .sqlite import DEFAULT_ACCOUNT, MessageRow, Store

__all__ = [
    "COLUMNS",
    "FORMATS",
    "PARQUET_SCHEMA",
    "STDOUT",
    "ExportFormat",
    "ExportResult",
    "default_export_path",
    "export",
    "export_csv",
    "export_json",
    "export_jsonl",
    "export_parquet",
    "export_txt",
    "iso_utc",
]

log = get_logger(__name__)

ExportFormat = Literal["json", "jsonl", "csv", "parquet", "txt"]
FORMATS: Final[tuple[str, ...]] = get_args(ExportFormat)

COLUMNS: Final[tuple[str, ...]] = (
    "chat_jid",
    "chat_name",
    "id",
    "timestamp",
    "ts_ms",
    "sender",
    "sender_name",
    "is_from_me",
    "content",
    "media_type",
    "filename",
    "id_source",
    "account",
)

if TYPE_CHECKING:
    import pyarrow as pa

    PARQUET_SCHEMA: pa.Schema  # module attribute, built on first access (see __getattr__)


@functools.cache
def _parquet_schema() -> pa.Schema:
    # pyarrow is imported on first use (~0.25 s), not by every command that imports this module.
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("chat_jid", pa.string(), nullable=False),
            pa.field("chat_name", pa.string()),
            pa.field("id", pa.string(), nullable=False),
            pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False),
            pa.field("ts_ms", pa.int64(), nullable=False),
            pa.field("sender", pa.string()),
            pa.field("sender_name", pa.string()),
            pa.field("is_from_me", pa.bool_(), nullable=False),
            pa.field("content", pa.string(), nullable=False),
            pa.field("media_type", pa.string()),
            pa.field("filename", pa.string()),
            pa.field("id_source", pa.string(), nullable=False),
            pa.field("account", pa.string(), nullable=False),
        ]
    )


def __getattr__(name: str) -> Any:
    if name == "PARQUET_SCHEMA":  # the Arrow schema of Parquet exports, built on first use
        return _parquet_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Big enough for good compression and fast scans, small enough that one group's Python rows stay a few MB.
PARQUET_ROW_GROUP_ROWS: Final = 32_768
_EPOCH_DAY: Final = date(1970, 1, 1)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the format, the file or directory, how many messages, and (txt) the chat files."""

    format: str
    path: Path
    messages: int
    files: list[Path] = field(default_factory=list)


@functools.lru_cache(maxsize=4096)
def _iso_day(days: int) -> str:
    return (_EPOCH_DAY + timedelta(days=days)).isoformat()


def iso_utc(ts_ms: int) -> str:
    """``ts_ms`` as ISO-8601 UTC at second resolution: ``1743166400000`` -> ``2025-03-28T12:53:20Z``.

    Formatted by arithmetic with a per-day cache because ``datetime.strftime`` per row dominates an export's time.
    """
    days, second_of_day = divmod(ts_ms // 1000, 86_400)
    hours, rest = divmod(second_of_day, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_iso_day(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


STDOUT: Final = Path("-")
"""The ``out`` of a single-file export that means standard output (``wamcp export --out -``)."""


def default_export_path(db: Path, fmt: str) -> Path:
    """Where an export of store ``db`` goes when no path is given: beside it, ``whatsapp-export.json`` for
    ``whatsapp.db`` in json (``whatsapp-export``, a directory, for txt)."""
    return db.with_name(db.stem + "-export" + ("" if fmt == "txt" else f".{fmt}"))


@contextlib.contextmanager
def _standard_output(*, text: bool, newline: str | None) -> Iterator[IO[Any]]:
    """Standard output's bytes, wrapped for text in UTF-8 with the format's own line ends, left open afterwards."""
    raw = sys.stdout.buffer
    sys.stdout.flush()
    if not text:
        yield raw
        raw.flush()
        return
    wrapper = io.TextIOWrapper(raw, encoding="utf-8", newline=newline)
    try:
        yield wrapper
        wrapper.flush()
    finally:
        wrapper.detach()  # standard output stays open for whoever writes next


def _mode_of(path: Path) -> int | None:
    """The permission bits of the file at ``path``, or None if there is none."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


# An export writes its file as `.<name>.wamcp-<random>.partial` beside it and holds an exclusive flock on it until it
# is renamed into place. The kernel drops a flock when its holder dies, however it dies (SIGKILL, the OOM killer), so
# a partial file nobody holds locked was left by a dead export and the next export to that target removes it. A pid in
# the name would not tell that as surely: pids are reused, and a writer in another pid namespace (a container) or on
# another machine (a shared mount) looks dead from here. Only names with the `wamcp-` tag are touched: not other
# programs' files, nor those of wamcp versions that wrote partial files without holding a lock.
_PARTIAL_TAG: Final = re.compile(r"\.wamcp-[0-9a-f]{12}\.partial\Z")


def _lock(fd: int) -> bool:
    """Hold an exclusive flock on ``fd`` (waiting for it) until ``fd`` is closed; False where files cannot be locked
    (Windows, a file system without locks), which only means stale partial files there stay."""
    if sys.platform == "win32":
        return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        return False
    return True


def _create_partial(target: Path, mode: int) -> tuple[int, Path, bool]:
    """Create and open a new hidden partial file beside ``target`` with ``mode`` (less the umask), locked where files
    can be: its file descriptor, its path, and whether it is locked."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        partial = target.with_name(f".{target.name}.wamcp-{secrets.token_hex(6)}.partial")
        try:
            fd = os.open(partial, flags, mode)
        except FileExistsError:  # 48 random bits taken already: practically never, but then another name will do
            continue
        locked = _lock(fd)
        try:
            # Between its creation and our lock another export may have found the file unlocked, taken it for stale
            # and removed it: then it is no longer this name, and another one is made.
            still_ours = not locked or os.path.samestat(os.fstat(fd), os.stat(partial))
        except FileNotFoundError:
            still_ours = False
        if still_ours:
            return fd, partial, locked
        os.close(fd)


def _remove_stale_partials(directory: Path, prefix: str) -> None:
    """Remove the partial files in ``directory`` whose names start with ``prefix`` and that no running export holds
    locked: left by an export killed mid-write. Best effort: what cannot be read, locked or removed stays."""
    if sys.platform == "win32":
        return  # no flock to tell a running export's file from a dead one's
    import fcntl

    try:
        names = [entry.name for entry in os.scandir(directory) if entry.name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        if not _PARTIAL_TAG.search(name):
            continue
        path = directory / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its export is running (or without locks)
            path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)


@contextlib.contextmanager
def _atomic_output(
    target: Path, *, text: bool = True, newline: str | None = None, sweep: bool = True
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``target`` and move it into place only when the block completes; ``-`` is
    standard output, written as it goes. ``sweep`` first removes the stale partial files of ``target`` (the txt export
    sweeps each directory once itself)."""
    if target == STDOUT:
        with _standard_output(text=text, newline=newline) as stream:
            yield stream
        return
    # A symlink to a file: the file is replaced (the link stays). A device, FIFO or socket is written into as it
    # stands (replacing it would put a regular file where /dev/null or a reader's pipe was), and so is any other
    # link (`/dev/stdout` resolves to a pipe's /proc name, which is no path to create a file beside).
    if target.is_symlink():
        real = target.resolve()
        direct = not real.is_file()
        target = target if direct else real
    else:
        direct = target.exists() and not target.is_file() and not target.is_dir()
    if direct:
        try:
            with open(target, "w", encoding="utf-8", newline=newline) if text else open(target, "wb") as stream:
                yield stream
        except OSError as err:
            raise StoreError(f"cannot write export {target}: {err.strerror or err}") from err
        return
    if sweep:
        _remove_stale_partials(target.parent, f".{target.name}.")
    try:
        old_mode = _mode_of(target)
        # The file gets the mode `open(target, "w")` would give it: a replaced file keeps its own (set only once the
        # export is complete, so the partial file is never more readable than the file it replaces), a new one is
        # created 0o666 for the kernel to apply the umask (and the directory's default ACL) as it does to any new file.
        fd, tmp, locked = _create_partial(target, 0o600 if old_mode is not None else 0o666)
    except FileNotFoundError as err:
        # Refused rather than created, as `wamcp extract --db` does: a mistyped path must not grow new directories.
        raise StoreError(f"cannot write export {target}: directory {target.parent} does not exist") from err
    except OSError as err:
        raise StoreError(f"cannot write export {target}: {err.strerror or err}") from err
    # A locked descriptor stays open until after the rename, so the lock covers the finished file too; an unlocked
    # one is closed first, as Windows renames no open file.
    try:
        if text:
            with open(fd, "w", encoding="utf-8", newline=newline, closefd=not locked) as handle:
                yield handle
        else:
            with open(fd, "wb", closefd=not locked) as raw:
                yield raw
        if old_mode is not None:
            os.chmod(tmp, old_mode)
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write export {target}: {err.strerror or err}") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if locked:
            os.close(fd)


def _records(
    store: Store,
    chat_jids: Sequence[str] | None,
    since_ms: int | None,
    until_ms: int | None,
    batch_size: int,
    accounts: Sequence[str] | None,
) -> Iterator[tuple[MessageRow, str | None, str]]:
    """Each message with its chat's name and its account, in store order (account, chat, time, id)."""
    names = {(account, chat.jid): chat.name for account, chat in store.account_chats(accounts=accounts)}
    for account, row in store.iter_account_messages(
        chat_jids=chat_jids, since_ms=since_ms, until_ms=until_ms, batch_size=batch_size, accounts=accounts
    ):
        yield row, names.get((account, row.chat_jid)), account


def _json_string(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def _json_object(row: MessageRow, chat_name: str | None, account: str) -> str:
    """The message as one JSON object (keys :data:`COLUMNS`), byte-identical to ``json.dumps(..., ensure_ascii=False)``
    of the same dict but built from the C string encoder directly: 4x faster and far fewer allocations per row."""
    return (
        f'{{"chat_jid": {_encode_string(row.chat_jid)}, "chat_name": {_json_string(chat_name)}, '
        f'"id": {_encode_string(row.id)}, "timestamp": "{iso_utc(row.ts_ms)}", "ts_ms": {row.ts_ms}, '
        f'"sender": {_json_string(row.sender)}, "sender_name": {_json_string(row.sender_name)}, '
        f'"is_from_me": {"true" if row.is_from_me else "false"}, "content": {_encode_string(row.content)}, '
        f'"media_type": {_json_string(row.media_type)}, "filename": {_json_string(row.filename)}, '
        f'"id_source": {_encode_string(row.id_source)}, "account": {_encode_string(account)}}}'
    )


def export_json(
    store: Store,
    out: str | os.PathLike[str],
    *,
    chat_jids: Sequence[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 5000,
    accounts: Sequence[str] | None = None,
) -> ExportResult:
    """Write one JSON array of message objects (keys :data:`COLUMNS`), one object per line, streamed."""
    target = Path(out)
    count = 0
    with _atomic_output(target) as handle:
        handle.write("[")
        separator = "\n"
        for row, chat_name, account in _records(store, chat_jids, since_ms, until_ms, batch_size, accounts):
            handle.write(separator)
            handle.write(_json_object(row, chat_name, account))
            separator = ",\n"
            count += 1
        handle.write("\n]\n" if count else "]\n")
    return ExportResult("json", target, count)


def export_jsonl(
    store: Store,
    out: str | os.PathLike[str],
    *,
    chat_jids: Sequence[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 5000,
    accounts: Sequence[str] | None = None,
) -> ExportResult:
    """Write one JSON object per line (keys :data:`COLUMNS`)."""
    target = Path(out)
    count = 0
    with _atomic_output(target) as handle:
        for row, chat_name, account in _records(store, chat_jids, since_ms, until_ms, batch_size, accounts):
            handle.write(_json_object(row, chat_name, account))
            handle.write("\n")
            count += 1
    return ExportResult("jsonl", target, count)


def _csv_cell(value: str | None) -> str:
    return "" if value is None else value


def export_csv(
    store: Store,
    out: str | os.PathLike[str],
    *,
    chat_jids: Sequence[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 5000,
    accounts: Sequence[str] | None = None,
) -> ExportResult:
    """Write CSV: a header of :data:`COLUMNS`, UTF-8, RFC 4180 (CRLF rows, fields with comma, quote or newline quoted,
    so multi-line content stays one field). Empty cells are NULL; ``is_from_me`` is ``true``/``false``."""
    target = Path(out)
    count = 0
    # newline="" lets the csv module write its own CRLF and keep the content's own line breaks untouched.
    with _atomic_output(target, newline="") as handle:
        writer = csv.writer(handle, dialect="excel", lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row, chat_name, account in _records(store, chat_jids, since_ms, until_ms, batch_size, accounts):
            writer.writerow(
                (
                    row.chat_jid,
                    _csv_cell(chat_name),
                    row.id,
                    iso_utc(row.ts_ms),
                    row.ts_ms,
                    _csv_cell(row.sender),
                    _csv_cell(row.sender_name),
                    "true" if row.is_from_me else "false",
                    row.content,
                    _csv_cell(row.media_type),
                    _csv_cell(row.filename),
                    row.id_source,
                    account,
                )
            )
            count += 1
    return ExportResult("csv", target, count)


def _parquet_table(rows: list[tuple[MessageRow, str | None, str]]) -> pa.Table:
    messages = [row for row, _, _ in rows]
    chat_jid, id_, ts_ms, sender, sender_name, is_from_me, content, media_type, filename, id_source = zip(
        *messages, strict=True
    )
    import pyarrow as pa

    ts = pa.array(ts_ms, type=pa.int64())
    columns = [
        pa.array(chat_jid, type=pa.string()),
        pa.array([name for _, name, _ in rows], type=pa.string()),
        pa.array(id_, type=pa.string()),
        ts.cast(pa.timestamp("ms", tz="UTC")),
        ts,
        pa.array(sender, type=pa.string()),
        pa.array(sender_name, type=pa.string()),
        pa.array(is_from_me, type=pa.bool_()),
        pa.array(content, type=pa.string()),
        pa.array(media_type, type=pa.string()),
        pa.array(filename, type=pa.string()),
        pa.array(id_source, type=pa.string()),
        pa.array([account for _, _, account in rows], type=pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=_parquet_schema())


def export_parquet(
    store: Store,
    out: str | os.PathLike[str],
    *,
    chat_jids: Sequence[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 5000,
    row_group_rows: int = PARQUET_ROW_GROUP_ROWS,
    accounts: Sequence[str] | None = None,
) -> ExportResult:
    """Write Parquet (zstd) with :data:`PARQUET_SCHEMA`, one row group per ``row_group_rows`` messages."""
    import pyarrow.parquet as pq

    target = Path(out)
    count = 0
    pending: list[tuple[MessageRow, str | None, str]] = []
    with (
        _atomic_output(target, text=False) as handle,
        pq.ParquetWriter(handle, _parquet_schema(), compression="zstd") as writer,
    ):
        for record in _records(store, chat_jids, since_ms, until_ms, batch_size, accounts):
            pending.append(record)
            if len(pending) >= row_group_rows:
                writer.write_table(_parquet_table(pending))
                count += len(pending)
                pending = []
        if pending:
            writer.write_table(_parquet_table(pending))
            count += len(pending)
    return ExportResult("parquet", target, count)


_CHAT_FILE_PREFIX: Final = "WhatsApp Chat with "
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class _TxtMessage(NamedTuple):
    """A stored message as :mod:`wamcp.chat_export` wants it: an aware time and the author's display name."""

    timestamp: datetime
    sender: str
    content: str
    is_from_me: bool
    media_type: str | None


def _chat_file_name(name: str | None, jid: str, used: set[str]) -> str:
    """``WhatsApp Chat with <name>.txt`` as the phone names it; the JID's user part tells same-named chats apart."""
    user = jid.split("@", 1)[0]
    base = _UNSAFE_FILENAME.sub("_", " ".join((name or "").split())).strip(" .")[:80] or user
    candidate = f"{_CHAT_FILE_PREFIX}{base}.txt"
    if candidate.lower() in used:
        candidate = f"{_CHAT_FILE_PREFIX}{base} ({_UNSAFE_FILENAME.sub('_', user)[:40]}).txt"
    counter = 2
    while candidate.lower() in used:
        candidate = f"{_CHAT_FILE_PREFIX}{base} ({counter}).txt"
        counter += 1
    used.add(candidate.lower())
    return candidate


def _make_directory(directory: Path) -> None:
    """Create the txt export's directory (or an account's within it) if need be, but no missing directory above it."""
    try:
        directory.mkdir(exist_ok=True)
    except FileNotFoundError as err:
        raise StoreError(
            f"cannot write the txt export to {directory}: directory {directory.parent} does not exist"
        ) from err
    except OSError as err:
        raise StoreError(f"cannot write the txt export to {directory}: {err.strerror or err}") from err


def export_txt(
    store: Store,
    out_dir: str | os.PathLike[str],
    *,
    business_name: str,
    zone: tzinfo | None = UTC,
    chat_jids: Sequence[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 5000,
    accounts: Sequence[str] | None = None,
) -> ExportResult:
    """Write one WhatsApp chat-export ``.txt`` per chat into ``out_dir``, formatted by :mod:`wamcp.chat_export`.

    Lines are ``13/01/2024, 09:02 - Name: text`` (Android, en-GB) in ``zone`` (None: this machine's local zone), at
    minute resolution, oldest first, UTF-8 without BOM, ``\\n`` line ends. The business's own messages appear under
    ``business_name`` (never "Me"); other senders under their name, else the chat's name (direct chats), else their
    number. A chat with no messages in the selection gets no file. The default account's chats are written in
    ``out_dir`` itself, another account's in ``out_dir/<account>/``, so the same customer in two accounts is two files.
    """
    target = Path(out_dir)
    if target == STDOUT:
        raise StoreError("the txt export writes one file per chat", hint="pass a directory to --out, not -")
    if target.exists() and not target.is_dir():
        raise StoreError(
            f"cannot write the txt export to {target}: it is a file",
            hint="the txt export is a directory of one file per chat: name a directory, or move the file away",
        )
    _make_directory(target)
    _remove_stale_partials(target, f".{_CHAT_FILE_PREFIX}")
    made = {target}
    chats = store.account_chats(accounts=accounts)
    names = {(account, chat.jid): chat.name for account, chat in chats}
    # Every chat of the account is named, in JID order (account_chats'), not only those with messages selected: so
    # when two chats share a name, which one gets the plain file name never depends on --chat, --since or --until.
    used: dict[str, set[str]] = {}
    file_names = {
        (account, chat.jid): _chat_file_name(chat.name, chat.jid, used.setdefault(account, set()))
        for account, chat in chats
    }
    files: list[Path] = []
    count = 0
    rows = store.iter_account_messages(
        chat_jids=chat_jids, since_ms=since_ms, until_ms=until_ms, batch_size=batch_size, accounts=accounts
    )
    # groupby streams: one chat's rows at a time, one chat file open at a time.
    for (account, jid), account_rows in itertools.groupby(rows, key=lambda pair: (pair[0], pair[1].chat_jid)):
        chat_rows = (row for _, row in account_rows)
        name = names.get((account, jid))
        direct_name = None if jid.endswith("@g.us") else name
        messages = (
            _TxtMessage(
                datetime.fromtimestamp(row.ts_ms / 1000, UTC),
                row.sender_name or direct_name or row.sender or "",
                row.content,
                row.is_from_me,
                row.media_type,
            )
            for row in chat_rows
        )
        directory = target if account == DEFAULT_ACCOUNT else target / account
        if directory not in made:
            _make_directory(directory)
            _remove_stale_partials(directory, f".{_CHAT_FILE_PREFIX}")
            made.add(directory)
        file_name = file_names.get((account, jid)) or _chat_file_name(name, jid, used.setdefault(account, set()))
        path = directory / file_name
        with _atomic_output(path, newline="\n", sweep=False) as handle:
            count += write_chat_export(messages, cast(TextIO, handle), business_name=business_name, zone=zone)
        files.append(path)
    log.debug("wrote %d messages in %d chat files to %s", count, len(files), target)
    return ExportResult("txt", target, count, files)


def export(
    store: Store,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    chat_jids: Sequence[str] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    zone: tzinfo | None = UTC,
    business_name: str = "Business",
    batch_size: int = 5000,
    accounts: Sequence[str] | None = None,
) -> ExportResult:
    """Export the store in ``fmt`` (one of :data:`FORMATS`) to ``out`` (a directory for ``txt``, else a file, or
    :data:`STDOUT` for standard output);
    ``accounts`` narrows it to those accounts (default: every account)."""
    filters: dict[str, Any] = {
        "accounts": accounts,
        "chat_jids": chat_jids,
        "since_ms": since_ms,
        "until_ms": until_ms,
        "batch_size": batch_size,
    }
    if fmt == "json":
        result = export_json(store, out, **filters)
    elif fmt == "jsonl":
        result = export_jsonl(store, out, **filters)
    elif fmt == "csv":
        result = export_csv(store, out, **filters)
    elif fmt == "parquet":
        result = export_parquet(store, out, **filters)
    elif fmt == "txt":
        result = export_txt(store, out, business_name=business_name, zone=zone, **filters)
    else:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    log.info("exported %d messages as %s to %s", result.messages, result.format, result.path)
    return result
