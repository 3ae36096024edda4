"""Extract several WhatsApp accounts (one MCP server per business number) into one store, concurrently.

Each account gets its own :class:`~wamcp.whatsapp.WhatsAppMCPClient` (its own connection, rate limits and retries)
and its own :class:`~wamcp.extract.Extractor`, writing through :meth:`Store.for_account`, so every row, cursor and
run carries the account. The one thing to know: the accounts share the store's single SQLite connection from one
event loop. Store calls never await, so the extractors' writes cannot interleave inside a transaction: each page
still commits together with its cursor, and one account's failure (its server down, lost, or refusing us) never
stops or rolls back another's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from .config import MCPConnectionType, WhatsAppConfig, accounts_selected
from .errors import MCPAuthenticationError, MCPClientError, MCPConnectionError, MCPTimeoutError, StoreBusyError
from .extract import ExtractOptions, Extractor, ExtractProgress, ExtractSummary, MessageSource
from .redact import get_logger, redact
from .store import Store
from .whatsapp import WhatsAppMCPClient

__all__ = ["AccountResult", "AccountsSummary", "accounts_selected", "describe", "extract_accounts"]

logger = get_logger(__name__)

_CONNECTION_ERRORS = (MCPConnectionError, MCPAuthenticationError, MCPTimeoutError)


@dataclass
class AccountResult:
    """How one account's run ended: its extraction summary (when it got that far) or the error that ended it."""

    account: str
    source: str
    summary: ExtractSummary | None = None
    error: MCPClientError | None = None

    @property
    def status(self) -> str:
        """``complete``, ``partial`` (some chats failed) or ``failed`` (never connected, or lost its server)."""
        if self.error is not None or self.summary is None:
            return "failed"
        return self.summary.status

    @property
    def synced(self) -> bool:
        """Whether the account's run reached its end (complete or partial)."""
        return self.status in ("complete", "partial")

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self.summary.as_dict() if self.summary is not None else {}
        data.update(account=self.account, source=self.source, status=self.status)
        if self.error is not None:
            data["error"] = redact(str(self.error))
        return data


@dataclass
class AccountsSummary:
    """Every selected account's result, in the order they were configured, and the run's wall time."""

    results: list[AccountResult] = field(default_factory=list)
    duration: float = 0.0

    @property
    def status(self) -> str:
        """``complete`` when every account is; ``failed`` when none synced; ``partial`` otherwise."""
        if all(r.status == "complete" for r in self.results):
            return "complete"
        if not any(r.synced for r in self.results):
            return "failed"
        return "partial"

    @property
    def only_connection_errors(self) -> bool:
        """Whether every failed account failed for its server (unreachable, refusing us, or lost for good); accounts
        another process is syncing into this store (:class:`StoreBusyError`) are no failure of theirs and are left
        out (so busy + unreachable accounts, none synced, is a server to fix: exit 3)."""
        return all(
            isinstance(r.error, _CONNECTION_ERRORS)
            for r in self.results
            if r.error is not None and not isinstance(r.error, StoreBusyError)
        )

    @property
    def only_busy(self) -> bool:
        """Whether every selected account failed because another process is extracting it into this store."""
        return bool(self.results) and all(isinstance(r.error, StoreBusyError) for r in self.results)

    def totals(self) -> dict[str, Any]:
        summaries = [r.summary for r in self.results if r.summary is not None]
        return {
            "accounts": len(self.results),
            "accounts_failed": sum(1 for r in self.results if not r.synced),
            "chats_total": sum(s.chats_total for s in summaries),
            "chats_done": sum(s.chats_done for s in summaries),
            "chats_skipped": sum(s.chats_skipped for s in summaries),
            "chats_failed": sum(len(s.failed) for s in summaries),
            "messages_new": sum(s.messages_new for s in summaries),
            "messages_updated": sum(s.messages_updated for s in summaries),
            "pages": sum(s.pages for s in summaries),
            "duration": round(self.duration, 3),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "accounts": {r.account: r.as_dict() for r in self.results},
            "total": self.totals(),
        }


ProgressFor = Callable[[str], ExtractProgress | None]
ClientFactory = Callable[[WhatsAppConfig], Any]


def describe(config: WhatsAppConfig) -> str:
    """A server's address for people and for the ``runs`` table (never its token)."""
    server = config.server
    where = server.endpoint
    if server.connection_type is MCPConnectionType.STDIO and server.command:
        where = " ".join([server.command, *server.args])  # what is started; the endpoint is only a label then
    return f"{redact(where)} ({server.connection_type.value})"


async def extract_accounts(
    accounts: Mapping[str, WhatsAppConfig],
    store: Store,
    options: ExtractOptions | None = None,
    *,
    progress: ProgressFor | None = None,
    client_factory: ClientFactory = WhatsAppMCPClient,
    quiet_connect: Callable[[], Any] | None = None,
) -> AccountsSummary:
    """Extract every account in ``accounts`` (name -> its effective config) into ``store`` at the same time.

    Never raises for one account's failure: it is that account's :attr:`AccountResult.error`. ``options`` apply to
    every account (``source`` is set per account). ``progress(name)`` gives an account's progress receiver.
    ``quiet_connect()`` may return a context manager entered around each client's ``initialize`` (the CLI uses it
    to report a connection failure once, as its own line).
    """
    base = options or ExtractOptions()
    results = [AccountResult(name, describe(config)) for name, config in accounts.items()]
    started = time.perf_counter()

    async def run_one(result: AccountResult, config: WhatsAppConfig) -> None:
        client = None
        try:
            client = client_factory(config)
            result.summary, result.error = await _run_account(
                client,
                store.for_account(result.account),
                replace(base, source=result.source, chat_listing_interval=config.chat_listing_interval),
                progress(result.account) if progress is not None else None,
                quiet_connect,
            )
        except MCPClientError as err:  # e.g. a bad config or a store error while starting: this account only
            result.error = err
        finally:
            if client is not None:
                with anyio.CancelScope(shield=True):
                    await client.disconnect()
        if result.error is not None:
            logger.info("account %s failed: %s", result.account, redact(str(result.error)))

    try:
        async with anyio.create_task_group() as group:
            for result in results:
                group.start_soon(run_one, result, accounts[result.account])
    except BaseExceptionGroup as group_error:
        # What escapes run_one is unexpected (a bug, or Ctrl-C): surface it as itself, as the Extractor does.
        raise group_error.exceptions[0] from None
    return AccountsSummary(results, duration=time.perf_counter() - started)


async def _run_account(
    client: Any,
    store: Store,
    options: ExtractOptions,
    progress: ExtractProgress | None,
    quiet_connect: Callable[[], Any] | None,
) -> tuple[ExtractSummary | None, MCPClientError | None]:
    if quiet_connect is not None:
        with quiet_connect():
            ready = await client.initialize()
    else:
        ready = await client.initialize()
    if not ready:
        error = client.last_error or MCPConnectionError("the server could not be initialized")
        return None, error
    source: MessageSource = client
    extractor = Extractor(source, store, options, progress=progress)
    try:
        return await extractor.run(), None
    except MCPClientError as err:
        # The run is recorded as failed in the store; what it saved before is kept. None when it never started one
        # (another process's run holding the account: StoreBusyError).
        return _recorded_summary(store, extractor.run_id), err


def _recorded_summary(store: Store, run_id: int | None) -> ExtractSummary | None:
    """What run ``run_id`` recorded in the store's ``runs`` (the extractor raises, rather than returns, when the
    server is lost for good, after recording the run as failed)."""
    run = store.run(run_id) if run_id is not None else None
    if run is None:
        return None
    return ExtractSummary(
        run_id=int(run["id"]),
        status=str(run["status"]),
        chats_total=int(run["chats_total"]),
        chats_done=int(run["chats_done"]),
        messages_new=int(run["messages_new"]),
        messages_updated=int(run["messages_updated"]),
        pages=int(run["calls"]),
    )
