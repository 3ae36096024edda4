"""Several accounts extracted at once into one store: their pages interleave, yet each account's rows, cursors and
runs stay its own, and one account's failure leaves the others complete."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from wamcp.config import WhatsAppConfig
from wamcp.errors import ConfigError, MCPConnectionError, MCPToolError, StoreBusyError
from wamcp.extract import ExtractOptions
from wamcp.extract_accounts import AccountResult, AccountsSummary, describe, extract_accounts
from wamcp.store import Store
from wamcp.whatsapp.models import Message

from .test_extractor import FakeSource, keys, make_messages, names_for


class FakeClient(FakeSource):
    """A source that connects (or not), and hands control to the other accounts between pages."""

    def __init__(self, messages: list[Message], *, reachable: bool = True, lose_after: int | None = None) -> None:
        super().__init__(messages, names_for(messages))
        self.reachable = reachable
        self.lose_after = lose_after
        self.last_error: MCPConnectionError | None = None
        self.disconnected = False
        self.pages_served = 0

    async def initialize(self) -> bool:
        if not self.reachable:
            self.last_error = MCPConnectionError("cannot reach the fake server")
        return self.reachable

    async def disconnect(self) -> None:
        self.disconnected = True

    async def iter_message_pages(
        self, chat_jid: str, *, after: datetime | None = None, before: datetime | None = None, page_size: int = 500
    ) -> AsyncIterator[Sequence[Message]]:
        async for page in super().iter_message_pages(chat_jid, after=after, before=before, page_size=page_size):
            await anyio.lowlevel.checkpoint()  # let the other account write its pages in between
            self.pages_served += 1
            if self.lose_after is not None and self.pages_served > self.lose_after:
                raise MCPConnectionError("the fake server went away")
            yield page


async def run(db: Path, clients: dict[str, FakeClient]) -> AccountsSummary:
    """Extract every account of ``clients`` (each config's server is named after its account, to find its client)."""
    accounts = {name: WhatsAppConfig(server={"name": name}) for name in clients}  # type: ignore[arg-type]
    with Store.open(db) as store:
        return await extract_accounts(
            accounts,
            store,
            ExtractOptions(page_size=5, concurrency=4),
            client_factory=lambda config: clients[config.server.name],
        )


@pytest.mark.anyio
async def test_two_accounts_with_the_same_chats_and_ids_stay_apart(tmp_path: Path) -> None:
    # Same JIDs and message ids in both accounts, different content: nothing may be merged or overwritten.
    sales = make_messages(120, 4, seed=3)
    support = [dataclasses.replace(m, content=f"support {m.content}") for m in sales[:80]]
    clients = {"sales": FakeClient(sales), "support": FakeClient(support)}

    summary = await run(tmp_path / "s.db", clients)

    assert summary.status == "complete"
    assert [r.summary.messages_new for r in summary.results if r.summary] == [120, 80]
    with Store.open(tmp_path / "s.db") as store:
        rows = list(store.iter_account_messages())
        assert {(a, row.chat_jid, row.id) for a, row in rows} == {("sales", *k) for k in keys(sales)} | {
            ("support", *k) for k in keys(support)
        }
        assert all(row.content.startswith("support ") == (account == "support") for account, row in rows)
        assert set(store.for_account("sales").sync_states()) == {m.chat_jid for m in sales}
        assert set(store.for_account("support").sync_states()) == {m.chat_jid for m in support}
        assert store.sync_states() == {}  # the default account was not extracted
        assert sorted((r["account"], r["status"]) for r in store.runs()) == [
            ("sales", "complete"),
            ("support", "complete"),
        ]
    assert all(client.disconnected for client in clients.values())

    again = await run(tmp_path / "s.db", {"sales": FakeClient(sales), "support": FakeClient(support)})
    assert [r.summary.messages_new for r in again.results if r.summary] == [0, 0]


@pytest.mark.anyio
async def test_an_unreachable_account_fails_alone(tmp_path: Path) -> None:
    messages = make_messages(60, 3)
    clients = {"up": FakeClient(messages), "down": FakeClient(messages, reachable=False)}

    summary = await run(tmp_path / "s.db", clients)

    assert summary.status == "partial"
    assert [(r.account, r.status) for r in summary.results] == [("up", "complete"), ("down", "failed")]
    assert summary.only_connection_errors
    assert "cannot reach" in summary.as_dict()["accounts"]["down"]["error"]
    assert summary.totals()["accounts_failed"] == 1
    with Store.open(tmp_path / "s.db") as store:
        assert store.count_messages(accounts=["up"]) == 60
        assert store.count_messages(accounts=["down"]) == 0


@pytest.mark.anyio
async def test_an_account_that_loses_its_server_keeps_what_it_saved_and_the_other_completes(tmp_path: Path) -> None:
    messages = make_messages(200, 4)
    clients = {"steady": FakeClient(messages), "flaky": FakeClient(messages, lose_after=6)}

    summary = await run(tmp_path / "s.db", clients)

    flaky = summary.results[1]
    assert flaky.status == "failed"
    assert isinstance(flaky.error, MCPConnectionError)
    assert flaky.summary is not None
    assert flaky.summary.status == "failed"
    with Store.open(tmp_path / "s.db") as store:
        assert store.count_messages(accounts=["steady"]) == 200
        assert 0 < store.count_messages(accounts=["flaky"]) < 200
        assert store.integrity_check() == "ok"


def test_overall_status_and_what_exit_code_it_calls_for() -> None:
    def result(name: str, error: Any = None) -> AccountResult:
        return AccountResult(name, "src", error=error)

    none_up = AccountsSummary([result("a", MCPConnectionError("x")), result("b", MCPConnectionError("y"))])
    assert none_up.status == "failed"
    assert none_up.only_connection_errors
    broken = AccountsSummary([result("a", MCPToolError("x")), result("b", MCPConnectionError("y"))])
    assert broken.status == "failed"
    assert not broken.only_connection_errors
    # an account another process is syncing is nobody's failure: the unreachable server is what to fix (exit 3)
    busy_and_down = AccountsSummary([result("a", StoreBusyError("busy")), result("b", MCPConnectionError("y"))])
    assert busy_and_down.status == "failed"
    assert busy_and_down.only_connection_errors
    assert not busy_and_down.only_busy
    assert AccountsSummary([result("a", StoreBusyError("busy"))]).only_busy


@pytest.mark.anyio
async def test_an_account_whose_client_cannot_be_built_fails_alone(tmp_path: Path) -> None:
    messages = make_messages(30, 2)
    good = FakeClient(messages)

    def factory(config: WhatsAppConfig) -> FakeClient:
        if config.server.name == "broken":
            raise ConfigError("whatsapp.phone_number is not valid")
        return good

    accounts = {name: WhatsAppConfig(server={"name": name}) for name in ("broken", "good")}  # type: ignore[arg-type]
    with Store.open(tmp_path / "s.db") as store:
        summary = await extract_accounts(accounts, store, ExtractOptions(page_size=5), client_factory=factory)

    assert [(r.account, r.status) for r in summary.results] == [("broken", "failed"), ("good", "complete")]
    assert isinstance(summary.results[0].error, ConfigError)
    assert not summary.only_connection_errors
    assert good.disconnected


def test_a_runs_source_names_what_is_started_for_stdio_and_the_url_otherwise() -> None:
    stdio = WhatsAppConfig.model_validate(
        {"server": {"connection_type": "stdio", "command": "uv", "args": ["run", "main.py"], "auth_token": "s3cr3t"}}
    )
    http = WhatsAppConfig.model_validate(
        {"server": {"endpoint": "http://10.0.0.5:3000/mcp", "connection_type": "http"}}
    )

    # The stdio config's endpoint is the seed's default URL, which nothing dials: it must not be named.
    assert describe(stdio) == "uv run main.py (stdio)"
    assert describe(http) == "http://10.0.0.5:3000/mcp (streamable_http)"


@pytest.mark.anyio
async def test_an_account_another_process_is_extracting_fails_alone_and_keeps_that_runs_record(tmp_path: Path) -> None:
    """The run lock is per account: while another process syncs "sales" into the store, "support" goes ahead and
    "sales" fails with StoreBusyError; the other process's run is neither reported as ours nor marked interrupted."""
    messages = make_messages(60, 3)
    db = tmp_path / "s.db"
    with Store.open(db) as holder:
        sales = holder.for_account("sales")
        with sales.run_lock():
            running = sales.start_run("the other process")
            summary = await run(db, {"sales": FakeClient(messages), "support": FakeClient(messages)})
        assert [(r.account, r.status) for r in summary.results] == [("sales", "failed"), ("support", "complete")]
        busy = summary.results[0]
        assert isinstance(busy.error, StoreBusyError)
        assert busy.summary is None
        assert f"pid {os.getpid()}" in str(busy.error)
        assert "account 'sales'" in str(busy.error)
        assert [(r["id"], r["status"]) for r in holder.runs() if r["account"] == "sales"] == [(running, "running")]
    again = await run(db, {"sales": FakeClient(messages)})  # the lock went with its holder
    assert again.status == "complete"
