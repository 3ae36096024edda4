"""``wamcp export``: stream the local store out as json, jsonl, csv, parquet or WhatsApp's own ``.txt`` chat export.

It opens the store read-only, so it can run while an extraction is writing (WAL); bad arguments and a missing or
corrupt store exit 2 with one line.
"""

from __future__ import annotations

import enum
import io
import os
import sys
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from ..store import Store
from ..store.export import STDOUT, default_export_path, export
from ..window import parse_bound
from ._errors import fail, guarded


class Format(enum.StrEnum):
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    txt = "txt"


def _zone(name: str | None) -> tzinfo | None:
    """The IANA zone ``name``; None (this machine's local zone) when not given."""
    if name is None:
        return None
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"unknown time zone {name!r}; use an IANA name such as Europe/London or UTC") from None


def _instant_ms(text: str | None, option: str, zone: tzinfo | None, *, end: bool) -> int | None:
    """``--since``/``--until`` as ms since the epoch (:func:`wamcp.window.parse_bound`); ``None`` when not given."""
    return None if text is None else parse_bound(text, zone, option=option, end=end)


def export_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="PATH",
            help="Output file, or - for standard output; for --format txt, a directory that gets one "
            "`WhatsApp Chat with NAME.txt` per chat. Default: beside the store, `whatsapp-export.csv` for "
            "`--db whatsapp.db --format csv` (txt: a directory `whatsapp-export`).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[Path, typer.Option("--db", metavar="PATH", help="The store written by `wamcp extract`.")] = Path(
        "whatsapp.db"
    ),
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="json (one array), jsonl, csv (RFC 4180, UTF-8), parquet, or txt (WhatsApp's own chat export).",
            case_sensitive=False,
        ),
    ] = Format.json,
    chats: Annotated[
        list[str] | None,
        typer.Option(
            "--chat",
            metavar="JID",
            help="Only this chat (a JID or a phone number); repeat for several. Default: every chat.",
        ),
    ] = None,
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--account", metavar="NAME", help="Only this account; repeat for several. Default: every account."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="ISO", help="Only messages at or after this ISO-8601 date or date-time."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="ISO", help="Only messages before this ISO-8601 date-time; a date keeps that whole day."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            metavar="TZ",
            help="IANA zone of the business (e.g. Europe/London): the txt export's clock, and the zone of --since/"
            "--until when they carry no offset. Default: this machine's zone.",
        ),
    ] = None,
    business_name: Annotated[
        str,
        typer.Option(
            "--business-name", metavar="NAME", help="Name the txt export shows on the business's own messages."
        ),
    ] = "Business",
) -> None:
    """Export stored messages, oldest first per chat, streamed in constant memory.

    Columns (json, jsonl, csv, parquet): chat_jid, chat_name, id, timestamp (ISO-8601 UTC), ts_ms, sender,
    sender_name, is_from_me, content, media_type, filename, id_source, account. See docs/store.md.
    """
    zone = _zone(timezone)
    since_ms = _instant_ms(since, "--since", zone, end=False)
    until_ms = _instant_ms(until, "--until", zone, end=True)
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise fail(f"--since {since} is not before --until {until}")
    if out is None:
        out = default_export_path(db, fmt.value)
    to_stdout = out == STDOUT
    if to_stdout and fmt is Format.txt:
        raise fail("--out - (standard output) takes one file; the txt export writes one file per chat into a directory")
    if fmt is not Format.txt and out.is_dir() and not to_stdout:
        raise fail(f"--out {out} is a directory; the {fmt.value} export is one file")
    if fmt is Format.txt and out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file; the txt export writes one file per chat into a directory")
    if chats:
        from ..whatsapp.jid import normalize_jid  # as `extract --chat` reads them: a JID or a phone number

        chats = [normalize_jid(jid) for jid in chats]
    with Store.open(db, readonly=True) as store:
        known = store.accounts()
        for name in accounts or ():
            if name not in known:
                raise fail(f"no account {name!r} in store {db} (accounts: {', '.join(known) or 'none'})")
        if chats:
            stored = {chat.jid for chat in store.chats(accounts=accounts or None)}
            for jid in chats:
                if jid not in stored:
                    raise fail(f"no chat {jid!r} in store {db}; `wamcp export --format csv` lists every chat's JID")
        result = export(
            store,
            fmt.value,
            out,
            chat_jids=chats or None,
            since_ms=since_ms,
            until_ms=until_ms,
            zone=zone,
            business_name=business_name,
            accounts=accounts or None,
        )
    if to_stdout:  # the data went to standard output: the summary goes beside it, on standard error
        typer.echo(f"exported {result.messages} message(s) as {fmt.value} to standard output", err=True)
        return
    where = f"{len(result.files)} chat file(s) in {result.path}" if fmt is Format.txt else str(result.path)
    # `--out /dev/stdout` (or a path that is standard output): the summary must not land in the data either.
    typer.echo(f"exported {result.messages} message(s) as {fmt.value} to {where}", err=_is_standard_output(out))


def _is_standard_output(path: Path) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, io.UnsupportedOperation):  # no such path, or no real standard output
        return False


def register(app: typer.Typer) -> None:
    """Add ``export`` to the root app."""
    app.command("export")(guarded(export_command))


__all__ = ["register"]
