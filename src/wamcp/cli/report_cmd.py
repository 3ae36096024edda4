"""``wamcp report``: turn the local store into the business report (HTML, kpis.json, CSVs).

Option text is parsed by :class:`wamcp.analytics.ReportOptions`, so a mistyped ``--business-hours``, ``--target``,
``--timezone`` or date is a :class:`~wamcp.errors.ConfigError` and exits 2 with one line, before any work is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._errors import fail, guarded


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(name="report")(report)


@guarded
def report(
    db: Annotated[
        Path, typer.Option("--db", metavar="PATH", help="The store written by `wamcp extract` (or `wamcp demo`).")
    ] = Path("whatsapp.db"),
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Directory for report.html, kpis.json and the CSVs.")
    ] = Path("report"),
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="First day of the period, YYYY-MM-DD (or an ISO datetime)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE",
            help="Last day of the period, inclusive; also the as-of time. Default: newest message.",
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            metavar="TZ",
            help="IANA zone for days, hours and business hours, e.g. Europe/Berlin. Default: this machine's.",
        ),
    ] = None,
    business_hours: Annotated[
        str,
        typer.Option(
            "--business-hours",
            metavar="HOURS",
            help='Opening hours, e.g. "Mon-Fri 09:00-18:00; Sat 10:00-14:00" or "24/7".',
        ),
    ] = "Mon-Fri 09:00-18:00",
    target: Annotated[
        str, typer.Option("--target", metavar="DURATION", help="First-response target, e.g. 1h, 30m, 1h30m.")
    ] = "1h",
    include_groups: Annotated[
        bool, typer.Option("--include-groups", help="Count group chats in response times too (always in volume).")
    ] = False,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", metavar="NAME", help="Only this account; repeat for several. Default: all."),
    ] = None,
) -> None:
    """Write a business report of the store: how fast you answer, who is waiting, when you are busy, who your
    customers are.

    Writes one self-contained **report.html** (opens offline), **kpis.json** and CSV tables into --out, and prints the
    report's path. KPI definitions: docs/report.md.
    """
    # Imported here: the analytics stack (DuckDB, pyarrow, altair) costs ~1 s and ~100 MB, which
    # `wamcp extract` and the other commands should not pay.
    from ..analytics import ReportOptions, build_report
    from ..analytics.load import store_accounts

    options = ReportOptions.from_text(
        timezone=timezone,
        business_hours=business_hours,
        target=target,
        since=since,
        until=until,
        include_groups=include_groups,
        accounts=account,
    )
    if account:
        known = store_accounts(db)
        for name in account:
            if name not in known:
                raise fail(f"no account {name!r} in store {db} (accounts: {', '.join(known) or 'none'})")
    result = build_report(db, out, options)
    typer.echo(str(result.html_path))
