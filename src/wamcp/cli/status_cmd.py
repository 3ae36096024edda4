"""``wamcp status``: what the local store holds and how its latest extraction runs went, for a person or a monitor.

It opens the store read-only (so it runs beside an extraction) and tells, per account, whether a run is going on
now from the run lock (:mod:`wamcp.store.runlock`): a run recorded as ``running`` whose lock nobody holds was killed,
and the next run will mark it ``interrupted``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..store import Store
from ..store.sqlite import read_stored_time
from ._errors import guarded


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(name="status")(status)


@guarded
def status(
    db: Annotated[Path, typer.Option("--db", metavar="PATH", help="The store written by `wamcp extract`.")] = Path(
        "whatsapp.db"
    ),
    runs: Annotated[int, typer.Option("--runs", metavar="N", min=0, help="How many of the latest runs to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead of tables.")] = False,
) -> None:
    """Show what the store holds per account, whether an extraction is running now, and the latest runs.

    Exit code 0, also when the latest run failed (its status says so; `--json` for monitors); 2 when there is no
    store or it cannot be read.
    """
    with Store.open(db, readonly=True) as store:
        recorded = store.runs()
        # an account whose first run is still listing its chats has a run but no chats yet
        names = sorted(set(store.accounts()) | {str(run["account"]) for run in recorded})
        accounts = [_account(store.for_account(name)) for name in names]
    alive = {a["account"] for a in accounts if a["running"] is not None}
    latest = [_run(run, alive) for run in reversed(recorded[-runs:] if runs else [])]
    if as_json:
        typer.echo(json.dumps({"db": str(db), "accounts": accounts, "runs": latest}))
        return
    console = Console(highlight=False)
    console.print(f"store {escape(str(db))}: {sum(a['messages'] for a in accounts):,} messages (times in UTC)")
    table = Table(show_header=True, box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for column in ("account", "chats", "messages", "newest activity", "extracting now"):
        table.add_column(column, justify="right" if column in ("chats", "messages") else "left")
    for a in accounts:
        holder = a["running"]
        running = "no" if holder is None else f"yes, pid {holder['pid']} since {holder['since']}"
        newest = a["newest_chat_activity"]
        newest_text = newest[:16].replace("T", " ") if newest else "-"
        table.add_row(a["account"], f"{a['chats']:,}", f"{a['messages']:,}", newest_text, running)
    console.print(table)
    if not latest:
        console.print("no runs yet: `wamcp extract` records each run here")
        return
    console.print(f"\nlatest {len(latest)} run(s), newest first (times in UTC):")
    table = Table(show_header=True, box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for column in ("run", "account", "started", "took", "status", "chats", "new", "updated", "errors"):
        table.add_column(column, justify="left" if column in ("account", "started", "status") else "right")
    for r in latest:
        table.add_row(
            str(r["run_id"]),
            r["account"],
            r["started"][:16].replace("T", " "),
            f"{r['seconds']:.1f} s" if r["seconds"] is not None else "-",
            "killed" if r["killed"] else escape(r["status"]),
            f"{r['chats_done']:,}/{r['chats_total']:,}",
            f"{r['messages_new']:,}",
            f"{r['messages_updated']:,}",
            str(len(r["errors"])),
        )
    console.print(table)
    if any(r["killed"] for r in latest):
        console.print("killed: recorded as running, but no process holds its lock; the next run marks it interrupted")


def _account(store: Store) -> dict[str, Any]:
    newest = store.newest_chat_activity()
    return {
        "account": store.account,
        "chats": store.count_chats(accounts=[store.account]),
        "messages": store.count_messages(accounts=[store.account]),
        "newest_chat_activity": _utc(newest / 1000) if newest is not None else None,
        "running": store.run_holder(),
    }


def _run(run: dict[str, Any], alive: set[str]) -> dict[str, Any]:
    started, finished = _instant(run["started_at"]), _instant(run["finished_at"])
    return {
        "run_id": run["id"],
        "account": run["account"],
        "status": run["status"],
        # recorded as running while nobody holds its account's run lock: its process died (no lock on Windows)
        "killed": run["status"] == "running" and run["account"] not in alive and sys.platform != "win32",
        "started": _utc(started) if started is not None else str(run["started_at"]),
        "seconds": round(finished - started, 1) if started is not None and finished is not None else None,
        "chats_total": run["chats_total"],
        "chats_done": run["chats_done"],
        "chats_failed": run["chats_failed"],
        "messages_new": run["messages_new"],
        "messages_updated": run["messages_updated"],
        "errors": run["errors"],
    }


def _instant(text: Any) -> float | None:
    moment = read_stored_time(text)
    return moment.timestamp() if moment is not None else None


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
