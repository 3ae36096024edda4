"""The demo layer's commands, ``demo-server`` (serve) and ``demo-data`` (generate), shared by ``wamcp`` and
``python -m wamcp.demo``.

This module must not import :mod:`wamcp.cli` (whose package import loads every layer): the subprocess server of
tests and of ``wamcp demo`` starts through ``python -m wamcp.demo`` and should start fast. Errors are raised as
:class:`~wamcp.errors.ConfigError`; the caller maps them to exit codes.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
import typer

from ..errors import ConfigError

__all__ = ["demo_data", "demo_server", "standalone"]

P = ParamSpec("P")
_TRANSPORTS = ("stdio", "sse", "http", "websocket")


def _check_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"unknown time zone {zone!r}: use an IANA name such as Europe/London or UTC") from err
    return zone


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def demo_server(
    db: Annotated[
        Path | None, typer.Option(metavar="PATH", help="Serve this bridge messages.db (default: generated demo data).")
    ] = None,
    transport: Annotated[
        str, typer.Option(metavar="NAME", help="stdio, sse (/sse), http (/mcp) or websocket (/ws).")
    ] = "stdio",
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to bind (network transports).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port; 0 picks a free one (printed on stderr).")] = 0,
    messages: Annotated[
        int, typer.Option(metavar="N", help="Size of the generated dataset when --db is not given.")
    ] = 20000,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the generated data and of every fault knob.")] = 1,
    timezone: Annotated[
        str, typer.Option(metavar="TZ", help="The business's IANA time zone for generated data.")
    ] = "UTC",
    token: Annotated[
        str | None, typer.Option(metavar="TOKEN", help="Require 'Authorization: Bearer TOKEN' (http, sse, websocket).")
    ] = None,
    output: Annotated[
        str, typer.Option(metavar="FORMAT", help="text (like lharries) or structured (adds structuredContent).")
    ] = "text",
    require_pairing: Annotated[
        bool, typer.Option(help="Message tools fail until request_pairing + confirm_pairing.")
    ] = False,
    pairing_tools: Annotated[bool, typer.Option(help="List the pairing/status tools even when not required.")] = False,
    media_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Where download_media writes (default: cache dir).")
    ] = None,
    latency_ms: Annotated[float, typer.Option(metavar="MS", help="Added delay per tool call, in milliseconds.")] = 0.0,
    error_rate: Annotated[
        float, typer.Option(metavar="SHARE", help="Share of tool calls that fail with isError (0..1).")
    ] = 0.0,
    rate_limit_after: Annotated[
        int | None,
        typer.Option(metavar="N", help="Allow N tool calls, then refuse for --retry-after s (429 / isError)."),
    ] = None,
    retry_after: Annotated[float, typer.Option(metavar="SECONDS", help="Cooldown of the rate limit, seconds.")] = 1.0,
    crash_after: Annotated[int | None, typer.Option(metavar="N", help="Exit abruptly on tool call N+1.")] = None,
    malformed_rate: Annotated[
        float, typer.Option(metavar="SHARE", help="Share of list_messages lines garbled (0..1).")
    ] = 0.0,
    spike_rate: Annotated[
        float, typer.Option(metavar="SHARE", help="Share of tool calls delayed by --spike-ms more (0..1).")
    ] = 0.0,
    spike_ms: Annotated[float, typer.Option(metavar="MS", help="Length of a latency spike, in milliseconds.")] = 1000.0,
    drop_rate: Annotated[
        float,
        typer.Option(
            metavar="SHARE", help="Share of tool calls whose connection is dropped unanswered (0..1; not stdio)."
        ),
    ] = 0.0,
    serial: Annotated[bool, typer.Option(help="Handle one request at a time per connection.")] = False,
    page_cap: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="list_messages and list_chats answer at most N rows whatever the limit, undeclared."
        ),
    ] = None,
    sdk_stdio: Annotated[
        bool,
        typer.Option(
            help="Serve stdio through the SDK's stdio_server and every call on a worker thread, as the real "
            "lharries server does: its per-call cost, for benchmarks (default: the demo's faster pipes)."
        ),
    ] = False,
    json_response: Annotated[
        bool,
        typer.Option(
            help="http only: answer each request with one JSON body instead of an SSE stream, as servers built "
            "with json_response=True do."
        ),
    ] = False,
) -> None:
    """Run the demo WhatsApp MCP server (the lharries/whatsapp-mcp tool contract) on synthetic or copied data."""
    _serve(locals())


def _serve(opts: dict[str, Any]) -> None:
    from ..demo.faults import FaultConfig
    from ..demo.server import DemoServerConfig, run_demo_server

    if opts["transport"] not in _TRANSPORTS:
        raise ConfigError(f"unknown transport {opts['transport']!r}: choose one of {', '.join(_TRANSPORTS)}")
    if opts["json_response"] and opts["transport"] != "http":
        raise ConfigError(f"--json-response is for --transport http only, not {opts['transport']}")
    if not 0 <= opts["port"] <= 65535:
        raise ConfigError(f"--port {opts['port']} is not a port: use 1-65535, or 0 for a free one")
    if opts["output"] not in ("text", "structured"):
        raise ConfigError(f"unknown output {opts['output']!r}: choose text or structured")
    for knob in ("error_rate", "malformed_rate", "spike_rate", "drop_rate"):
        if not 0.0 <= opts[knob] <= 1.0:
            raise ConfigError(f"--{knob.replace('_', '-')} must be between 0 and 1, got {opts[knob]}")
    for knob in ("crash_after", "rate_limit_after"):
        if opts[knob] is not None and opts[knob] < 0:
            raise ConfigError(f"--{knob.replace('_', '-')} counts tool calls: 0 or more, got {opts[knob]}")
    if opts["page_cap"] is not None and opts["page_cap"] < 1:
        raise ConfigError(f"--page-cap counts rows (messages or chats): 1 or more, got {opts['page_cap']}")
    from .data import bridge_problem

    db = opts["db"]
    problem = bridge_problem(Path(db)) if db is not None else None
    if problem is not None:
        raise ConfigError(
            f"--db {db}: {problem} — pass the bridge's store/messages.db, one made by `wamcp demo-data`, or omit --db"
        )
    faults = FaultConfig(
        latency_ms=opts["latency_ms"],
        error_rate=opts["error_rate"],
        rate_limit_after=opts["rate_limit_after"],
        retry_after=opts["retry_after"],
        crash_after=opts["crash_after"],
        malformed_rate=opts["malformed_rate"],
        spike_rate=opts["spike_rate"],
        spike_ms=opts["spike_ms"],
        drop_rate=opts["drop_rate"],
        serial=opts["serial"],
        page_cap=opts["page_cap"],
        seed=opts["seed"],
    )
    config = DemoServerConfig(
        db=db,
        transport=opts["transport"],
        host=opts["host"],
        port=opts["port"],
        messages=opts["messages"],
        seed=opts["seed"],
        timezone=_check_zone(opts["timezone"]),
        token=opts["token"],
        output=opts["output"],
        require_pairing=opts["require_pairing"],
        pairing_tools=opts["pairing_tools"],
        media_dir=opts["media_dir"],
        faults=faults,
        sdk_stdio=opts["sdk_stdio"],
        json_response=opts["json_response"],
    )
    # SIGTERM ends the server like Ctrl-C does: graceful shutdown, then exit 0.
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        anyio.run(run_demo_server, config)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def demo_data(
    out: Annotated[
        Path, typer.Option(metavar="PATH", help="SQLite file to write (bridge schema); PATH.truth.json goes beside it.")
    ],
    messages: Annotated[int, typer.Option(metavar="N", help="Number of messages (1k … 2M).")] = 20000,
    seed: Annotated[int, typer.Option(metavar="N", help="Same seed, same data.")] = 1,
    timezone: Annotated[
        str, typer.Option(metavar="TZ", help="The business's IANA time zone (DST zones work).")
    ] = "UTC",
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Generate a deterministic synthetic bridge database for a small business, with its ground truth."""
    _generate(out, messages, seed, timezone, force=force)


def _generate(out: Path, messages: int, seed: int, timezone: str, *, force: bool) -> None:
    from ..demo.data import generate_database

    if messages < 1:
        raise ConfigError(f"--messages must be at least 1, got {messages}")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the directory {out.parent} does not exist")
    if out.exists() and not force:
        raise ConfigError(f"--out {out} exists (a store or a database you may need); pass --force to replace it")
    for stale in (out, out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
        stale.unlink(missing_ok=True)  # a replaced database's journal must not be applied to the new one
    result = generate_database(out, messages=messages, seed=seed, timezone=_check_zone(timezone))
    typer.echo(
        f"wrote {result.messages} messages in {result.chats} chats to {result.db_path} "
        f"(truth: {result.truth_path}) in {result.seconds:.1f} s",
        err=True,
    )


def standalone(func: Callable[P, None]) -> Callable[P, None]:
    """Exit-code mapping for ``python -m wamcp.demo`` (``wamcp`` itself uses the CLI's ``guarded``)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        if not logging.getLogger().handlers:
            # The server's warnings (injected faults among them) on stderr: the package's NullHandler keeps Python's
            # last-resort output away from library users, so a process of its own says where its logs go.
            logging.basicConfig(level=logging.WARNING, format="%(message)s")
        try:
            func(*args, **kwargs)
        except (ConfigError, OSError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None

    return wrapper
