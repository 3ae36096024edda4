"""``wamcp extract``: sync every chat from a WhatsApp MCP server into the local SQLite store.

The same engine serves the seed's ``whatsapp-mcp-extractor`` / ``python whatsapp_mcp_extractor.py`` (see
``extractor.py``). Exit codes: 0 complete; 1 partial (named chats failed, the rest is stored); 2 usage or
configuration error; 3 cannot connect or authenticate. ``--all`` / ``--account`` extract several configured
accounts at once (:mod:`wamcp.extract_accounts`): 1 when some account failed or is partial, 3 only when none synced.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import DEFAULT_ACCOUNT, MCPConnectionType, WhatsAppConfig, accounts_selected, load_config
from ..errors import ConfigError, MCPClientError, MCPConnectionError
from ..redact import get_logger, redact
from ..stdio_process import started_early_for
from ..store import Store
from ..store.export import FORMATS, default_export_path, export
from ._errors import ExitCode, guarded, print_error, report_error, state
from .logs import Verbosity, setup_logging
from .progress import AccountBars, ExtractBars

if TYPE_CHECKING:
    from ..extract import ExtractOptions, Extractor, ExtractSummary
    from ..extract_accounts import AccountsSummary
    from ..whatsapp import WhatsAppMCPClient

# The extraction layers (and through them ``mcp``, ~1 s of imports) are imported inside the functions that run an
# extraction, after a stdio server has been started (`started_early_for`): its start-up then overlaps them.

__all__ = [
    "ConfigOption",
    "ConnectionChoice",
    "EndpointOption",
    "ExtractRequest",
    "TokenOption",
    "config_for",
    "demo_server_overrides",
    "initialize_client",
    "register",
    "run_extract",
]

logger = get_logger(__name__)


@dataclass(frozen=True)
class ExtractRequest:
    """Everything one extraction run needs, from either CLI."""

    db: Path = Path("whatsapp.db")
    config: Path | None = None
    endpoint: str | None = None
    connection: str | None = None
    auth_token: str | None = None
    max_chats: int | None = None
    max_history: float | None = None
    demo: bool = False
    demo_db: Path | None = None
    full: bool = False
    refresh_chats: bool = False
    chats: tuple[str, ...] = ()
    concurrency: int = 16
    quiet: bool = False
    as_json: bool = False
    export: str | None = None
    export_out: Path | None = None
    all_accounts: bool = False
    accounts: tuple[str, ...] = ()

    @property
    def names_a_server(self) -> bool:
        """Whether the flags name one server themselves (which then is the default account)."""
        return self.demo or any(v is not None for v in (self.endpoint, self.connection, self.auth_token))


def demo_server_overrides(db: Path | None = None) -> dict[str, Any]:
    """Config overrides that run the embedded demo server as a stdio subprocess of this process.

    The server prints wall time in its data's zone: UTC for the data it generates, the zone a ``demo-data``
    database was generated in otherwise (from its ground truth). No client-side rate limits for a local server.
    """
    from ..demo.data import truth_timezone  # stdlib only; the CLI keeps its imports light

    zone = (truth_timezone(db) if db is not None else None) or "UTC"
    args = ["-m", "wamcp.demo", "demo-server", "--transport", "stdio"]
    if db is not None:
        args += ["--db", str(db)]
    return {
        "server": {
            "name": "wamcp-demo",
            "endpoint": "wamcp-demo (stdio)",
            "connection_type": MCPConnectionType.STDIO.value,
            "command": sys.executable,
            "args": args,
            "auth_token": None,
            "timeout": 60.0,
            "health_check_interval": 0.0,
        },
        "rate_limits": {"messages_per_minute": 0, "chats_per_minute": 0, "requests_per_second": 0},
        "server_timezone": zone,
        "profile": "lharries",
    }


def config_for(request: ExtractRequest) -> WhatsAppConfig:
    """The configuration of the one server a run uses: ``--demo``, or the config file with the flags over it."""
    if request.demo:
        return load_config(request.config, overrides=demo_server_overrides(request.demo_db), environ={}).config
    overrides = {
        "server": {
            "endpoint": request.endpoint,
            "connection_type": request.connection,
            "auth_token": request.auth_token,
        }
    }
    config = load_config(request.config, overrides=overrides).config
    if config.accounts and not request.names_a_server:
        if DEFAULT_ACCOUNT in config.accounts:
            return config.accounts[DEFAULT_ACCOUNT]
        raise ConfigError(
            f"the config names accounts ({', '.join(config.accounts)}) and none is {DEFAULT_ACCOUNT!r}",
            hint="choose with --all or --account NAME",
        )
    return config


class _QuietWhileConnecting:
    """Hides the WhatsApp client's own log of a failed connect while any account is connecting (the CLI reports the
    failure once, in its summary). Counted, so accounts connecting at once restore the level only when all are done."""

    def __init__(self, *, unless: bool) -> None:
        self._unless = unless
        self._depth = 0
        self._previous = logging.NOTSET

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        target = logging.getLogger("wamcp.whatsapp.client")
        if self._unless:
            yield
            return
        if self._depth == 0:
            self._previous = target.level
            target.setLevel(logging.CRITICAL)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                target.setLevel(self._previous)


@contextlib.contextmanager
def _quiet_logger(name: str, *, unless: bool) -> Iterator[None]:
    """Hide ``name``'s records below CRITICAL for the duration (unless ``unless``)."""
    target = logging.getLogger(name)
    previous = target.level
    if not unless:
        target.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        target.setLevel(previous)


@dataclass
class _Attempt:
    """What this process's extraction got to, for the line an interrupted ``--json`` run prints."""

    extractor: Extractor | None = None  # set once connected; its ``run_id`` once it has started a run

    @property
    def run_id(self) -> int | None:
        """The ``runs`` row this process started, or None."""
        return self.extractor.run_id if self.extractor is not None else None


async def initialize_client(client: WhatsAppMCPClient, *, name_flags: bool) -> None:
    """Connect ``client``; on failure raise its error, its hint naming the flags that change the server when
    ``name_flags`` (not for the demo, nor for a configured account, which those flags do not reach)."""
    # The client logs its own failure to initialize; the CLI reports it once, as its one error line.
    with _quiet_logger("wamcp.whatsapp.client", unless=state.verbose):
        ready = await client.initialize()
    if ready:
        return
    error = client.last_error or MCPConnectionError("the server could not be initialized")
    if isinstance(error, MCPConnectionError) and name_flags:
        hint = (error.hint or "is the server running?").rstrip(".")
        if "--mcp-endpoint" in hint:  # the hint names the flags already: only the way out is missing
            hint += "" if "--demo" in hint else " (or try --demo)"
        elif "--demo" not in hint:
            hint += " (check --mcp-endpoint/--mcp-connection, or try --demo)"
        error.hint = hint
    raise error


async def _extract(
    request: ExtractRequest, config: WhatsAppConfig, bars: ExtractBars, attempt: _Attempt
) -> ExtractSummary:
    from ..extract import Extractor
    from ..extract_accounts import describe
    from ..whatsapp import WhatsAppMCPClient

    client = WhatsAppMCPClient(config)
    try:
        await initialize_client(client, name_flags=not request.demo)
        with Store.open(request.db) as store:
            options = replace(
                _options(request), source=describe(config), chat_listing_interval=config.chat_listing_interval
            )
            attempt.extractor = Extractor(client, store, options, progress=bars)
            return await attempt.extractor.run()
    finally:
        with anyio.CancelScope(shield=True):
            await client.disconnect()


def _chats_cell(done: int, total: int, unchanged: int) -> str:
    """The chats a run synced, as the summary tables show them: ``11,097/11,098 (2,500 unchanged)``."""
    return f"{done:,}/{total:,} ({unchanged:,} unchanged)"


def _print_summary(summary: ExtractSummary, db: Path, console: Console) -> None:
    table = Table(title=f"extraction {summary.status}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("chats", _chats_cell(summary.chats_done, summary.chats_total, summary.chats_skipped))
    table.add_row("new messages", f"{summary.messages_new:,}")
    table.add_row("updated messages", f"{summary.messages_updated:,}")
    table.add_row("duration", f"{summary.duration:.1f} s")
    if summary.duration > 0 and summary.messages_new:
        table.add_row("rate", f"{summary.messages_per_second:,.0f} msg/s")
    table.add_row("store", str(db))
    console.print(table)
    for jid, message in summary.failed.items():
        console.print(f"[red]failed[/] {escape(redact(jid))}: {escape(message)}")


def _options(request: ExtractRequest) -> ExtractOptions:
    from ..extract import ExtractOptions

    return ExtractOptions(
        max_chats=request.max_chats,
        max_history_hours=request.max_history,
        full=request.full,
        refresh_chats=request.refresh_chats,
        chats=request.chats,
        concurrency=request.concurrency,
    )


def _print_accounts(summary: AccountsSummary, db: Path, console: Console) -> None:
    table = Table(title=f"extraction {summary.status}: {len(summary.results)} account(s)")
    for column in ("account", "status", "chats", "new", "updated", "duration"):
        table.add_column(column, justify="left" if column in ("account", "status") else "right")
    for result in summary.results:
        s = result.summary
        chats = _chats_cell(s.chats_done, s.chats_total, s.chats_skipped) if s else "-"
        table.add_row(
            result.account,
            result.status,
            chats,
            f"{s.messages_new:,}" if s else "-",
            f"{s.messages_updated:,}" if s else "-",
            f"{s.duration:.1f} s" if s else "-",
        )
    total = summary.totals()
    table.add_row(
        "total",
        f"{total['accounts'] - total['accounts_failed']}/{total['accounts']} synced",
        _chats_cell(total["chats_done"], total["chats_total"], total["chats_skipped"]),
        f"{total['messages_new']:,}",
        f"{total['messages_updated']:,}",
        f"{summary.duration:.1f} s",
        style="bold",
    )
    console.print(table)
    console.print(f"store: {db}")
    for result in summary.results:
        if result.error is not None:
            console.print(
                f"[red]failed[/] account {escape(result.account)} ({escape(result.source)}): "
                f"{escape(redact(str(result.error)))}"
            )
        for jid, message in (result.summary.failed if result.summary else {}).items():
            console.print(
                f"[red]failed[/] account {escape(result.account)}, chat {escape(redact(jid))}: {escape(message)}"
            )


def _exit_code(summary: AccountsSummary) -> ExitCode:
    if summary.status == "complete":
        return ExitCode.OK
    if summary.only_busy:  # another run holds every selected account: nothing was done, as for a single account
        return ExitCode.USAGE
    if summary.status == "failed" and summary.only_connection_errors:
        return ExitCode.CONNECT
    return ExitCode.PARTIAL


def run_accounts(request: ExtractRequest) -> int:
    """Extract the accounts ``--all``/``--account`` select, concurrently, and return the exit code."""
    console = Console(stderr=True, quiet=request.quiet)
    try:
        if request.names_a_server:
            raise ConfigError(
                "--all/--account extract the config's accounts; --demo, --mcp-endpoint, --mcp-connection and "
                "--auth-token name one server",
                hint="set each account's server in the config's whatsapp.accounts",
            )
        available = load_config(request.config).config.account_configs()
        try:
            names = accounts_selected(list(available), request.accounts)
        except ValueError as err:
            raise ConfigError(str(err), hint="see `wamcp config show`") from None
        quiet = _QuietWhileConnecting(unless=state.verbose)
        with (
            contextlib.ExitStack() as servers,
            Store.open(request.db) as store,
            AccountBars(names, enabled=not request.quiet and not request.as_json) as bars,
        ):
            for name in names:  # each stdio server starts while the extraction layers are imported
                servers.enter_context(started_early_for(available[name].server))
            from ..extract_accounts import extract_accounts

            summary = anyio.run(
                functools.partial(
                    extract_accounts,
                    {name: available[name] for name in names},
                    store,
                    _options(request),
                    progress=bars.account,
                    quiet_connect=quiet,
                )
            )
    except MCPClientError as err:
        return _failed(request, err)
    if request.as_json:
        typer.echo(json.dumps(summary.as_dict() | {"db": str(request.db)}))
    else:
        _print_accounts(summary, request.db, console)
    code = _exit_code(summary)
    if request.export:
        export_code = _export_after(request, console)
        if export_code is not None:
            return export_code
    return int(code)


def _failed(request: ExtractRequest, err: MCPClientError) -> int:
    """A run that could not start or ended early: the one-line error, and a JSON summary saying so with ``--json``."""
    if request.as_json:
        typer.echo(json.dumps({"status": "failed", "error": redact(str(err))}))
    return int(report_error(err, verbose=state.verbose))


def _export_after(request: ExtractRequest, console: Console) -> int | None:
    """``--export``: export the whole store after the run; an exit code if that failed."""
    out = request.export_out or default_export_path(request.db, str(request.export))
    try:
        with Store.open(request.db, readonly=True) as store:
            result = export(store, str(request.export), out)
    except (MCPClientError, OSError) as err:
        return int(report_error(err, verbose=state.verbose))
    if not request.as_json:
        console.print(f"exported {result.messages:,} messages as {result.format} to {result.path}")
    return None


def run_extract(request: ExtractRequest) -> int:
    """Run one extraction and return the exit code; prints a summary (or JSON with ``as_json``)."""
    attempt = _Attempt()
    try:
        return _run_extract(request, attempt)
    except KeyboardInterrupt:
        if request.as_json:  # a nightly job's log still gets its line, with what the run did before it stopped
            typer.echo(
                json.dumps({"status": "interrupted", **_interrupted_run(request, attempt), "db": str(request.db)})
            )
        raise


def _interrupted_run(request: ExtractRequest, attempt: _Attempt) -> dict[str, Any]:
    """What the run this process started recorded before it was interrupted (its row in ``runs``); empty when it
    had not started one (interrupted while connecting: a run started meanwhile is another process's) or the row
    cannot be read. Only for a single account: ``--all`` prints its per-account results only when it ends."""
    if request.all_accounts or request.accounts or attempt.run_id is None:
        return {}
    try:
        with Store.open(request.db, readonly=True) as store:
            run = store.run(attempt.run_id)
    except (MCPClientError, OSError):
        return {}
    if run is None:
        return {}
    counts = ("chats_total", "chats_done", "chats_failed", "messages_new", "messages_updated")
    return {"run_id": run["id"], **{key: run[key] for key in counts}, "pages": run["calls"]}


def _check(request: ExtractRequest) -> None:
    """What the flags alone show to be wrong, before a server is started or a store created."""
    if request.export is not None and request.export not in FORMATS:
        raise ConfigError(f"--export {request.export!r} is not a format", hint=f"use one of {', '.join(FORMATS)}")
    if request.chats:
        from ..whatsapp.jid import normalize_jid  # imported only when needed: it pulls in the client

        for value in request.chats:
            normalize_jid(value)


def _run_extract(request: ExtractRequest, attempt: _Attempt) -> int:
    try:
        _check(request)
    except MCPClientError as err:
        return _failed(request, err)
    if request.all_accounts or request.accounts:
        return run_accounts(request)
    console = Console(stderr=True, quiet=request.quiet)
    try:
        config = config_for(request)
        with (
            started_early_for(config.server),
            ExtractBars(enabled=not request.quiet and not request.as_json) as bars,
        ):
            summary = anyio.run(_extract, request, config, bars, attempt)
    except MCPClientError as err:
        return _failed(request, err)
    if request.as_json:
        typer.echo(json.dumps(summary.as_dict() | {"db": str(request.db)}))
    else:
        _print_summary(summary, request.db, console)
    if request.export:
        export_code = _export_after(request, console)
        if export_code is not None:
            return export_code
    if summary.status == "failed":  # every chat failed: the server refuses or fails them all
        jid, first = next(iter(summary.failed.items()))
        print_error(f"every selected chat failed ({len(summary.failed):,}); the first, {jid}: {first}")
        return int(ExitCode.CONNECT)
    return int(ExitCode.PARTIAL if summary.failed else ExitCode.OK)


# The options that choose the server, shared with `wamcp check`.
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", metavar="PATH", help="Config file (mcp_config.json).")
]
EndpointOption = Annotated[
    str | None, typer.Option("--mcp-endpoint", metavar="URL", help="Server URL (or command line for stdio).")
]
ConnectionChoice = Annotated[
    str | None,
    typer.Option(
        "--mcp-connection",
        metavar="TRANSPORT",
        help="Transport: sse, websocket, stdio or streamable_http (default from config: sse).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None, typer.Option("--auth-token", metavar="TOKEN", help="Bearer token (prefer MCP_WHATSAPP_AUTH_TOKEN).")
]


@guarded
def extract(
    db: Annotated[Path, typer.Option("--db", metavar="PATH", help="SQLite store to create or update.")] = Path(
        "whatsapp.db"
    ),
    config: ConfigOption = None,
    mcp_endpoint: EndpointOption = None,
    mcp_connection: ConnectionChoice = None,
    auth_token: TokenOption = None,
    max_chats: Annotated[
        int | None, typer.Option("--max-chats", metavar="N", min=1, help="Only the N most recent chats.")
    ] = None,
    max_history: Annotated[
        float | None,
        typer.Option(
            "--max-history", metavar="HOURS", min=0, max=1_000_000, help="Only messages of the last HOURS hours."
        ),
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Start the embedded demo server and extract from it.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Re-fetch everything, not only what is new.")] = False,
    refresh_chats: Annotated[
        bool,
        typer.Option(
            "--refresh-chats",
            help="List every chat this run (renamed idle chats), even within the config's chat_listing_interval.",
        ),
    ] = False,
    chat: Annotated[
        list[str] | None,
        typer.Option("--chat", metavar="JID", help="Only this chat: a JID or a phone number (repeatable)."),
    ] = None,
    all_accounts: Annotated[
        bool, typer.Option("--all", help="Every account of the config's whatsapp.accounts, concurrently.")
    ] = False,
    account: Annotated[
        list[str] | None,
        typer.Option(
            "--account", metavar="NAME", help="Only this configured account (repeatable); implies --all's output."
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", metavar="N", min=1, max=64, help="Chats in flight at once.")
    ] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
    export: Annotated[
        str | None,
        typer.Option(
            "--export",
            metavar="FORMAT",
            help=f"Then export the whole store ({', '.join(FORMATS)}) beside it, as `whatsapp-export.json` for "
            "`--db whatsapp.db --export json` (txt: a directory `whatsapp-export` of one file per chat).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summary.")] = False,
    verbose: Verbosity = 0,
) -> None:
    """Sync every chat into the local store, incrementally (only what is new after the first run).

    Exit codes: 0 complete, 1 partial (some chats failed; the rest is stored), 2 usage or configuration error
    (also: another run is syncing this store), 3 the server cannot be used (unreachable, refusing the token or
    wanting its phone paired, failing the chat listing or every chat), 4 a bug of wamcp, 130 interrupted. With
    --all/--account: 1 when any account failed or is partial, 3 only when no account synced.
    """
    if verbose or quiet:
        state.verbosity = max(state.verbosity, verbose)
        setup_logging(state.verbosity, quiet and not state.verbose)
    request = ExtractRequest(
        db=db,
        config=config,
        endpoint=mcp_endpoint,
        connection=mcp_connection,
        auth_token=auth_token,
        max_chats=max_chats,
        max_history=max_history,
        demo=demo,
        full=full,
        refresh_chats=refresh_chats,
        chats=tuple(chat or ()),
        concurrency=concurrency,
        quiet=quiet or state.quiet,
        as_json=as_json,
        export=export,
        all_accounts=all_accounts,
        accounts=tuple(account or ()),
    )
    raise typer.Exit(run_extract(request))


def register(app: typer.Typer) -> None:
    """Add ``extract`` to the root app."""
    app.command("extract")(extract)
