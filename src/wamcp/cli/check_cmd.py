"""``wamcp check``: connect to the configured WhatsApp MCP server and say whether an extraction would work.

Before a first extraction, or when a nightly run failed: is the server reachable with this configuration, which
profile (tool contract) does it speak, does WhatsApp answer, and how recent is the newest chat activity (a bridge that
lost its WhatsApp session keeps answering with old data). Reads one page of one chat listing; writes nothing.
Exit codes as ``wamcp extract``: 0 usable, 2 configuration error, 3 the server cannot be used.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config import WhatsAppConfig, accounts_selected, load_config
from ..errors import ConfigError, MCPClientError
from ..redact import redact
from ..stdio_process import started_early_for
from ._errors import ExitCode, guarded, report_error, state
from .extract_cmd import (
    ConfigOption,
    ConnectionChoice,
    EndpointOption,
    ExtractRequest,
    TokenOption,
    config_for,
    initialize_client,
)
from .logs import Verbosity, setup_logging

if TYPE_CHECKING:
    from ..whatsapp import WhatsAppMCPClient

__all__ = ["register"]


async def _probe(config: WhatsAppConfig, *, name_flags: bool) -> dict[str, Any]:
    """What ``wamcp check`` reports; raises the connection's error when the server cannot be used at all."""
    from ..whatsapp import WhatsAppMCPClient

    client = WhatsAppMCPClient(config)
    started = time.perf_counter()
    try:
        await initialize_client(client, name_flags=name_flags)
        connected = time.perf_counter() - started
        return await _report(client, connected)
    finally:
        with anyio.CancelScope(shield=True):
            await client.disconnect()


async def _report(client: WhatsAppMCPClient, connected: float) -> dict[str, Any]:
    health = await client.health_check()  # first: its ping is the round trip the status then shows
    status = await client.get_connection_status()
    core = status.get("mcp") or {}
    report: dict[str, Any] = {
        "status": "ok",
        "server": status["server"],
        "endpoint": core.get("endpoint") or redact(str(status["endpoint"])),
        "transport": status["connection_type"],
        "connect_seconds": round(connected, 3),
        "protocol_version": core.get("protocol_version"),
        "server_info": core.get("server_info"),
        "profile": status["profile"],
        "tools": status["tools"],
        "latency_seconds": round(core["latency"], 4) if core.get("latency") is not None else None,
        "whatsapp_connection": health["whatsapp_connection"],
        "newest_activity": None,
        "error": redact(health["error"]) if health["error"] else None,
    }
    try:
        newest = await client.list_chats(limit=1, sort_by="last_active")
    except MCPClientError as err:
        # Connected, but the one read an extraction starts with fails (a phone to pair, a broken bridge database).
        report.update(status="failed", error=redact(str(err)))
        return report
    if newest:
        report["newest_activity"] = newest[0].get("last_message_time")
    if report["error"] is not None:
        report["status"] = "failed"
    return report


def _ago(iso: str, now: datetime) -> str:
    """``2026-12-04 22:10 UTC (42 min ago)``."""
    try:
        moment = datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError:  # not ISO after all: show it as the server gave it
        return iso
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 3600:
        ago = f"{seconds / 60:.0f} min"
    elif seconds < 2 * 86_400:
        ago = f"{seconds / 3600:.0f} h"
    else:
        ago = f"{seconds / 86_400:.0f} days"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({ago} ago)"


def _print(report: dict[str, Any], console: Console) -> None:
    ok = report["status"] == "ok"
    verdict = "usable" if ok else "not usable"
    table = Table(title=f"server {escape(str(report['server']))}: {verdict}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("endpoint", escape(f"{report['endpoint']} ({report['transport']})"))
    info = report["server_info"] or {}
    software = " ".join(str(info[key]) for key in ("name", "version") if info.get(key))
    protocol = f"protocol {report['protocol_version']}" if report["protocol_version"] else "protocol unknown"
    connected = f"in {report['connect_seconds']:.2f} s; {protocol}" + (f"; {software}" if software else "")
    table.add_row("connected", escape(connected))
    if report["latency_seconds"] is not None:
        table.add_row("round trip", f"{report['latency_seconds'] * 1000:.0f} ms")
    table.add_row("profile", escape(f"{report['profile']} ({len(report['tools'])} tools)"))
    whatsapp = {
        True: "connected",
        False: "not connected",
        "unknown": "unknown (the server has no status tool; the chat listing below tells)",
    }.get(report["whatsapp_connection"], report["whatsapp_connection"])
    table.add_row("WhatsApp", escape(str(whatsapp)))
    if report["newest_activity"]:
        table.add_row("newest chat activity", _ago(report["newest_activity"], datetime.now(UTC)))
    elif ok:
        table.add_row("newest chat activity", "no chats")
    if report["error"]:
        table.add_row("[red]error[/]", escape(str(report["error"])))
    console.print(table)


def _accounts(request: ExtractRequest, wanted: list[str]) -> dict[str, WhatsAppConfig]:
    """The configurations of the config file's ``whatsapp.accounts`` named in ``wanted`` (all when empty)."""
    accounts = load_config(request.config).config.accounts
    if not accounts:
        raise ConfigError(
            "the config names no accounts (whatsapp.accounts)", hint="leave out --all to check its server"
        )
    try:
        return {name: accounts[name] for name in accounts_selected(list(accounts), wanted)}
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_one(config: WhatsAppConfig, *, name_flags: bool) -> dict[str, Any]:
    """The report of one server; a server that cannot be used at all raises its error."""
    with started_early_for(config.server):
        return anyio.run(lambda: _probe(config, name_flags=name_flags))


def _run_check(request: ExtractRequest, accounts: list[str], every: bool, as_json: bool) -> int:
    console = Console()
    try:
        if not accounts and not every:
            report = _check_one(config_for(request), name_flags=not request.demo)
        else:
            configs = _accounts(request, accounts)
            if len(configs) == 1 and not every:
                report = _check_one(next(iter(configs.values())), name_flags=False)
            else:
                return _run_accounts(configs, as_json, console)
    except MCPClientError as err:
        if as_json:
            typer.echo(json.dumps({"status": "failed", "error": redact(str(err))}))
        return int(report_error(err, verbose=state.verbose))
    if as_json:
        typer.echo(json.dumps(report))
    else:
        _print(report, console)
    return int(ExitCode.OK if report["status"] == "ok" else ExitCode.CONNECT)


def _run_accounts(configs: dict[str, WhatsAppConfig], as_json: bool, console: Console) -> int:
    """Every named account's server, one after the other: 0 when all are usable, 3 otherwise."""
    reports: dict[str, dict[str, Any]] = {}
    for name, config in configs.items():
        try:
            reports[name] = _check_one(config, name_flags=False)
        except ConfigError:
            raise
        except MCPClientError as err:  # this account's server cannot be used; the others are still checked
            reports[name] = {"status": "failed", "error": redact(str(err))}
    usable = all(report["status"] == "ok" for report in reports.values())
    if as_json:
        typer.echo(json.dumps({"status": "ok" if usable else "failed", "accounts": reports}))
    else:
        for name, report in reports.items():
            if "server" in report:
                console.print(f"[bold]account {escape(name)}[/]")
                _print(report, console)
            else:
                console.print(f"[bold]account {escape(name)}[/]: [red]not usable[/]: {escape(report['error'])}")
    return int(ExitCode.OK if usable else ExitCode.CONNECT)


@guarded
def check(
    config: ConfigOption = None,
    mcp_endpoint: EndpointOption = None,
    mcp_connection: ConnectionChoice = None,
    auth_token: TokenOption = None,
    account: Annotated[
        list[str] | None,
        typer.Option(
            "--account", metavar="NAME", help="Check this account of the config's whatsapp.accounts (repeatable)."
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Check every account of the config's whatsapp.accounts.")
    ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Start the embedded demo server and check it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")] = False,
    verbose: Verbosity = 0,
) -> None:
    """Connect to the server an extraction would use and say whether it works: transport, tool contract, WhatsApp's
    state, and how recent the newest chat activity is. Reads one chat; writes nothing.

    Exit codes: 0 usable, 2 configuration error, 3 the server cannot be used (unreachable, refusing the token, or
    failing the chat listing). With --all or several --account: one report per account, 0 only when all are usable.
    """
    if verbose:
        state.verbosity = max(state.verbosity, verbose)
        setup_logging(state.verbosity, state.quiet and not state.verbose)
    request = ExtractRequest(
        config=config,
        endpoint=mcp_endpoint,
        connection=mcp_connection,
        auth_token=auth_token,
        demo=demo,
    )
    raise typer.Exit(_run_check(request, list(account or ()), every, as_json))


def register(app: typer.Typer) -> None:
    """Add ``check`` to the root app."""
    app.command("check")(check)
