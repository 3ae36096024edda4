"""``wamcp demo``: the whole pipeline on the embedded demo server (serve → extract → report), no phone needed.

It starts the demo WhatsApp MCP server as a stdio subprocess (its default dataset is generated once into the
user's cache directory), extracts every chat into ``<out>/whatsapp.db`` through the same engine as
``wamcp extract``, then writes the report into ``<out>/report/`` and prints the path of ``report.html``.
Running it again is incremental: the second extraction adds nothing and only the report is rebuilt.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console

from ._errors import ExitCode, fail, guarded, state
from .extract_cmd import ExtractRequest, run_extract

__all__ = ["demo", "register"]


@guarded
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for the store and the report.")
    ] = Path("wamcp-demo"),
    db: Annotated[
        Path | None,
        typer.Option(
            "--demo-db", metavar="PATH", help="Serve this bridge database instead of the default demo dataset."
        ),
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", metavar="TZ", help="Zone the report shows times in.")] = "UTC",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print the report path.")] = False,
) -> None:
    """Run serve → extract → report on the embedded demo server and print where the report is."""
    quiet = quiet or state.quiet
    # Checked before the extraction, not after it: both are the user's input, and the run takes a while.
    from ..demo.data import bridge_problem  # stdlib only; the CLI keeps its imports light

    problem = bridge_problem(db) if db is not None else None
    if problem is not None:
        raise fail(
            f"--demo-db {db}: {problem}; make one with `wamcp demo-data --out {db}`, pass a WhatsApp "
            "bridge's store/messages.db, or leave --demo-db out for the default dataset"
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"--timezone {timezone!r} is not an IANA time zone (e.g. Europe/London, UTC)") from None
    console = Console(stderr=True, quiet=quiet)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    store = out / "whatsapp.db"
    console.print(f"[bold]1/2[/] extracting the demo account into {store} …")
    code = run_extract(ExtractRequest(db=store, demo=True, demo_db=db, quiet=quiet, concurrency=8))
    if code != ExitCode.OK:
        raise typer.Exit(code)
    console.print(f"[bold]2/2[/] computing KPIs and writing the report into {out / 'report'} …")
    # Imported here: the analytics stack (DuckDB, pyarrow, altair) costs ~1 s and ~100 MB, which
    # `wamcp extract` and the other commands should not pay.
    from ..analytics import ReportOptions, build_report

    options = ReportOptions.from_text(timezone=timezone)
    result = build_report(store, out / "report", options)
    console.print(f"done in {time.perf_counter() - started:.1f} s — open the report in a browser:")
    typer.echo(str(result.html_path.resolve()))


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root app."""
    app.command("demo")(demo)
