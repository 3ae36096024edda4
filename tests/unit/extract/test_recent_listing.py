"""Runs between full listings list only recently active chats, newest first, and stop early.

The source lists chats by last activity, newest first, as lharries' ``sort_by=last_active`` does, and counts how
many chats the extractor took from the listing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wamcp import extract
from wamcp.extract import ExtractOptions, Extractor, ExtractSummary
from wamcp.store import Store
from wamcp.whatsapp.models import Chat, Message

from .test_extractor import FakeSource, keys, make_messages, names_for

pytestmark = pytest.mark.anyio


class ActivitySource(FakeSource):
    def __init__(self, messages: list[Message], names: dict[str, str], *, by_activity: bool = True) -> None:
        super().__init__(messages, names)
        self.by_activity = by_activity
        self.asked_by_activity = False
        self.listed = 0

    async def iter_chats(self, *, by_activity: bool = False) -> AsyncIterator[Chat]:
        self.asked_by_activity = by_activity
        newest: dict[str, datetime] = {}
        for m in self.messages:
            assert m.chat_jid is not None
            newest[m.chat_jid] = max(newest.get(m.chat_jid, m.timestamp), m.timestamp)
        order = (
            sorted(self.names, key=lambda jid: newest[jid], reverse=True) if self.by_activity else sorted(self.names)
        )
        self.listed = 0
        for jid in order:
            self.listed += 1
            yield Chat(jid=jid, name=self.names[jid], last_message_time=newest[jid])


async def run(
    source: FakeSource, db: Path, now: Callable[[], datetime] | None = None, **options: object
) -> ExtractSummary:
    with Store.open(db) as store:
        opts = ExtractOptions(page_size=50, **options)  # type: ignore[arg-type]
        extractor = Extractor(source, store, opts, now=now) if now else Extractor(source, store, opts)
        return await extractor.run()


def _source(**kwargs: bool) -> ActivitySource:
    messages = make_messages(1500, 400, seed=7)
    return ActivitySource(messages, names_for(messages), **kwargs)


def _newest(source: FakeSource) -> datetime:
    return max(m.timestamp for m in source.messages)


def _names(db: Path) -> dict[str, str | None]:
    with Store.open(db) as store:
        return {c.jid: c.name for c in store.chats()}


async def test_a_rerun_soon_after_lists_only_the_recent_chats(tmp_path: Path) -> None:
    source = _source()
    first = await run(source, tmp_path / "s.db")
    assert (first.listing, source.listed, first.chats_total) == ("all", len(source.names), len(source.names))
    assert not source.asked_by_activity  # a full listing goes in the server's stable order

    source.calls = 0
    second = await run(source, tmp_path / "s.db")
    assert second.listing == "recent"
    assert source.asked_by_activity
    # The listing stops at the first chat older than the margin, once 100 chats have come in order.
    assert source.listed == extract._RECENT_ORDER_PROOF < len(source.names)
    assert (second.messages_new, second.messages_updated, source.calls) == (0, 0, 0)
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(source.messages)
        assert [run["listing"] for run in store.runs()] == ["all", "recent"]


async def test_new_chats_new_and_late_messages_are_picked_up_by_a_recent_listing(tmp_path: Path) -> None:
    source = _source()
    await run(source, tmp_path / "s.db")
    newest = _newest(source)
    busy = sorted(source.names)[0]
    late = newest - timedelta(minutes=30)  # sent before the newest known activity, delivered only now
    source.messages += [
        Message(
            id="N1", chat_jid=busy, timestamp=newest + timedelta(minutes=5), sender="x", content="new", is_from_me=False
        ),
        Message(
            id="N2",
            chat_jid="447700900999@s.whatsapp.net",
            timestamp=late,
            sender="y",
            content="hello",
            is_from_me=False,
        ),
    ]
    source.names["447700900999@s.whatsapp.net"] = "newcomer"

    second = await run(source, tmp_path / "s.db")
    assert second.listing == "recent"
    assert second.messages_new == 2
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(source.messages)
    assert _names(tmp_path / "s.db")["447700900999@s.whatsapp.net"] == "newcomer"


async def test_an_idle_chat_renamed_is_picked_up_by_the_next_full_listing(tmp_path: Path) -> None:
    source = _source()
    db = tmp_path / "s.db"
    await run(source, db)
    newest_of = {m.chat_jid: m.timestamp for m in sorted(source.messages, key=lambda m: m.timestamp)}
    idle = min(source.names, key=lambda jid: newest_of[jid])  # the least recently active chat
    source.names[idle] = "Renamed Customer"

    assert (await run(source, db)).listing == "recent"
    assert _names(db)[idle] != "Renamed Customer"  # not listed: idle since long before the last run

    assert (await run(source, db, refresh_chats=True)).listing == "all"
    assert _names(db)[idle] == "Renamed Customer"

    source.names[idle] = "Renamed Again"
    assert (await run(source, db, chat_listing_interval=0)).listing == "all"
    assert _names(db)[idle] == "Renamed Again"

    # Once the last full listing is older than the interval, the next run lists every chat again.
    source.names[idle] = "Renamed Thrice"
    later = datetime.now(UTC) + timedelta(seconds=3601)
    assert (await run(source, db, now=lambda: later)).listing == "all"
    assert _names(db)[idle] == "Renamed Thrice"
    assert (await run(source, db)).listing == "recent"  # counted from that run


@pytest.mark.parametrize(
    "options",
    [{"full": True}, {"max_chats": 500}, {"chats": ("1000@s.whatsapp.net",)}],
    ids=["full", "max-chats", "chat"],
)
async def test_runs_that_select_or_refetch_list_every_chat(tmp_path: Path, options: dict[str, object]) -> None:
    source = _source()
    await run(source, tmp_path / "s.db")
    summary = await run(source, tmp_path / "s.db", **options)
    assert summary.listing == ("all" if "full" in options else "selected")  # selected: only some chats kept
    assert source.listed == len(source.names)


async def test_a_server_that_does_not_list_by_activity_is_read_whole(tmp_path: Path) -> None:
    source = _source(by_activity=False)
    await run(source, tmp_path / "s.db")
    oldest = min(source.names, key=lambda jid: max(m.timestamp for m in source.messages if m.chat_jid == jid))
    source.messages.append(
        Message(
            id="N3",
            chat_jid=oldest,
            timestamp=_newest(source) + timedelta(minutes=1),
            sender="x",
            content="n",
            is_from_me=False,
        )
    )
    summary = await run(source, tmp_path / "s.db")
    assert (summary.listing, source.listed) == ("all", len(source.names))
    assert summary.messages_new == 1


async def test_the_first_full_listing_of_a_store_made_before_listings_were_recorded_counts(tmp_path: Path) -> None:
    # Runs recorded before the listing column existed (NULL) listed every chat.
    source = _source()
    db = tmp_path / "s.db"
    await run(source, db)
    with Store.open(db) as store, store._write("forget the listing") as conn:
        conn.execute("UPDATE runs SET listing = NULL")
    assert (await run(source, db)).listing == "recent"


async def test_a_recent_listing_also_syncs_the_chats_an_earlier_run_left_behind(tmp_path: Path) -> None:
    source = _source()
    db = tmp_path / "s.db"
    first = await run(source, db, max_chats=3)  # lists every chat, keeps three: not a full listing to lean on
    assert (first.listing, first.chats_total) == ("selected", 3)

    failing = sorted(source.names)[5]
    source.fail_chat = failing
    second = await run(source, db)  # so this one lists every chat
    assert second.listing == "all"
    assert failing in second.failed
    with Store.open(db) as store:
        assert store.message_keys() == keys([m for m in source.messages if m.chat_jid != failing])

    source.fail_chat = None
    third = await run(source, db)  # the chat that failed is behind too, and comes back
    assert third.listing == "recent"
    assert not third.failed
    with Store.open(db) as store:
        assert store.message_keys() == keys(source.messages)

    source.calls = 0
    fourth = await run(source, db)  # nothing behind any more: nothing to do
    assert (fourth.listing, fourth.messages_new, source.calls) == ("recent", 0, 0)
