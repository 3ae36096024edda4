"""The extraction job's cursor logic against an in-memory source with lharries' paging semantics.

The source filters by whole seconds with strict ``after``/``before`` and returns newest first, like the real
server; a fault can be injected after N pages to stand for a killed process or a dropped server.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from wamcp import extract
from wamcp.errors import MCPConnectionError, MCPToolError, StoreError
from wamcp.extract import ExtractOptions, Extractor
from wamcp.store import Store
from wamcp.whatsapp.models import Chat, Message

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class Crash(Exception):
    """Stands for the process dying between two pages."""


class FakeSource:
    def __init__(self, messages: list[Message], names: dict[str, str]) -> None:
        self.messages = messages
        self.names = names
        self.calls = 0
        self.crash_after: int | None = None
        self.fail_chat: str | None = None

    async def iter_chats(self) -> AsyncIterator[Chat]:
        for jid, name in self.names.items():
            times = [m.timestamp for m in self.messages if m.chat_jid == jid]
            yield Chat(jid=jid, name=name, last_message_time=max(times) if times else None)

    async def iter_message_pages(
        self,
        chat_jid: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[Sequence[Message]]:
        if chat_jid == self.fail_chat:
            raise MCPToolError("boom", tool="list_messages")

        def second(m: Message) -> datetime:
            return m.timestamp.replace(microsecond=0)

        selected = [
            m
            for m in self.messages
            if m.chat_jid == chat_jid
            and (after is None or second(m) > after)
            and (before is None or second(m) < before)
        ]
        selected.sort(key=lambda m: m.timestamp, reverse=True)
        for start in range(0, len(selected), page_size):
            self.calls += 1
            if self.crash_after is not None and self.calls > self.crash_after:
                raise Crash
            yield selected[start : start + page_size]
        if not selected:
            self.calls += 1


def make_messages(count: int, chats: int, seed: int = 1) -> list[Message]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        jid = f"{1000 + rng.randrange(chats)}@s.whatsapp.net"
        ts = T0 + timedelta(seconds=rng.randrange(0, 5 * 86400))
        out.append(
            Message(id=f"M{i:06d}", chat_jid=jid, timestamp=ts, sender="x", content=f"m{i}", is_from_me=i % 3 == 0)
        )
    return out


def names_for(messages: list[Message]) -> dict[str, str]:
    return {m.chat_jid: f"chat {m.chat_jid[:4]}" for m in messages if m.chat_jid}


def keys(messages: list[Message]) -> set[tuple[str, str]]:
    return {(m.chat_jid or "", m.id) for m in messages}


async def run(source: FakeSource, db: Path, **options: object) -> object:
    with Store.open(db) as store:
        return await Extractor(source, store, ExtractOptions(page_size=7, **options)).run()  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_first_run_stores_every_message_once(tmp_path: Path) -> None:
    messages = make_messages(300, 6)
    source = FakeSource(messages, names_for(messages))
    summary = await run(source, tmp_path / "s.db")
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)
        assert len(store.chats()) == 6
    assert summary.status == "complete"  # type: ignore[attr-defined]
    assert summary.messages_new == 300  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_second_run_with_nothing_new_makes_no_message_calls(tmp_path: Path) -> None:
    messages = make_messages(200, 5)
    source = FakeSource(messages, names_for(messages))
    await run(source, tmp_path / "s.db")
    source.calls = 0
    summary = await run(source, tmp_path / "s.db")
    assert source.calls == 0
    assert summary.messages_new == 0  # type: ignore[attr-defined]
    assert summary.chats_skipped == 5  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_new_messages_are_picked_up_including_same_second_as_newest(tmp_path: Path) -> None:
    messages = make_messages(120, 3)
    source = FakeSource(messages, names_for(messages))
    await run(source, tmp_path / "s.db")
    newest = max(messages, key=lambda m: m.timestamp)
    later = [
        Message(
            id="SAME-SECOND",
            chat_jid=newest.chat_jid,
            timestamp=newest.timestamp,
            sender="y",
            content="a",
            is_from_me=False,
        ),
        Message(
            id="LATER",
            chat_jid=newest.chat_jid,
            timestamp=newest.timestamp + timedelta(minutes=3),
            sender="y",
            content="b",
            is_from_me=False,
        ),
    ]
    source.messages = messages + later
    summary = await run(source, tmp_path / "s.db")
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(source.messages)
    assert summary.messages_new == 2  # type: ignore[attr-defined]


@pytest.mark.anyio
@pytest.mark.parametrize("crash_after", [1, 2, 5, 11, 23, 40])
async def test_crash_at_any_page_then_rerun_converges_exactly(tmp_path: Path, crash_after: int) -> None:
    messages = make_messages(400, 4, seed=crash_after)
    source = FakeSource(messages, names_for(messages))
    source.crash_after = crash_after
    with pytest.raises(Crash):
        await run(source, tmp_path / "s.db", concurrency=1)
    source.crash_after = None
    source.calls = 0
    await run(source, tmp_path / "s.db")
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)
        assert store.count_messages() == len(messages)
        statuses = [r["status"] for r in store.runs()]
    assert statuses == ["interrupted", "complete"]


@pytest.mark.anyio
async def test_messages_arriving_between_crash_and_rerun_are_not_lost(tmp_path: Path) -> None:
    messages = make_messages(300, 3, seed=9)
    source = FakeSource(messages, names_for(messages))
    await run(source, tmp_path / "s.db")
    jid = messages[0].chat_jid
    fresh = [
        Message(
            id=f"N{i}",
            chat_jid=jid,
            timestamp=T0 + timedelta(days=6, minutes=i),
            sender="z",
            content="n",
            is_from_me=False,
        )
        for i in range(30)
    ]
    source.messages = messages + fresh
    source.crash_after = 2
    source.calls = 0
    with pytest.raises(Crash):
        await run(source, tmp_path / "s.db", concurrency=1)
    source.crash_after = None
    await run(source, tmp_path / "s.db")
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(source.messages)


@pytest.mark.anyio
async def test_one_failing_chat_is_partial_and_the_rest_is_stored(tmp_path: Path) -> None:
    messages = make_messages(100, 4)
    source = FakeSource(messages, names_for(messages))
    bad = sorted(source.names)[0]
    source.fail_chat = bad
    summary = await run(source, tmp_path / "s.db")
    assert summary.status == "partial"  # type: ignore[attr-defined]
    assert list(summary.failed) == [bad]  # type: ignore[attr-defined]
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == {k for k in keys(messages) if k[0] != bad}


@pytest.mark.anyio
async def test_connection_loss_ends_the_run_as_failed(tmp_path: Path) -> None:
    messages = make_messages(50, 2)

    class Dead(FakeSource):
        async def iter_chats(self) -> AsyncIterator[Chat]:
            raise MCPConnectionError("cannot reach server")
            yield  # pragma: no cover

    with pytest.raises(MCPConnectionError):
        await run(Dead(messages, names_for(messages)), tmp_path / "s.db")
    with Store.open(tmp_path / "s.db") as store:
        assert [r["status"] for r in store.runs()] == ["failed"]


@pytest.mark.anyio
async def test_max_chats_keeps_most_recent_and_chat_filter_selects(tmp_path: Path) -> None:
    messages = make_messages(200, 5)
    source = FakeSource(messages, names_for(messages))
    newest_chat = max(messages, key=lambda m: m.timestamp).chat_jid
    await run(source, tmp_path / "a.db", max_chats=1)
    with Store.open(tmp_path / "a.db") as store:
        assert {c.jid for c in store.chats()} == {newest_chat}
    other = sorted(source.names)[-1]
    await run(source, tmp_path / "b.db", chats=(other,))
    with Store.open(tmp_path / "b.db") as store:
        assert {k[0] for k in store.message_keys()} == {other}


@pytest.mark.anyio
async def test_max_chats_among_named_chats_keeps_the_most_recent_and_reports_none_missing(tmp_path: Path) -> None:
    messages = make_messages(200, 5)
    source = FakeSource(messages, names_for(messages))
    by_activity = sorted(
        {m.chat_jid for m in messages}, key=lambda jid: max(m.timestamp for m in messages if m.chat_jid == jid)
    )
    older, newer = by_activity[0], by_activity[-1]
    summary = await run(source, tmp_path / "s.db", chats=(older, newer), max_chats=1)

    assert summary.failed == {}  # type: ignore[attr-defined]  # the older chat exists: --max-chats left it out
    assert summary.status == "complete"  # type: ignore[attr-defined]
    with Store.open(tmp_path / "s.db") as store:
        assert {c.jid for c in store.chats()} == {newer}


class _OrderRecordingSource(FakeSource):
    def __init__(self, messages: list[Message], names: dict[str, str]) -> None:
        super().__init__(messages, names)
        self.read: list[str] = []

    def iter_message_pages(self, chat_jid: str, **kwargs: Any) -> AsyncIterator[Sequence[Message]]:
        self.read.append(chat_jid)
        return super().iter_message_pages(chat_jid, **kwargs)


@pytest.mark.anyio
async def test_chats_are_read_one_by_one_in_jid_order_whatever_the_listing_order(tmp_path: Path) -> None:
    messages = make_messages(300, 40)
    # Listed in reverse JID order (a server lists by activity, which has nothing to do with JIDs).
    names = dict(sorted(names_for(messages).items(), reverse=True))
    source = _OrderRecordingSource(messages, names)
    await run(source, tmp_path / "s.db", concurrency=1)
    assert source.read == sorted(names)
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)


@pytest.mark.anyio
async def test_max_history_limits_the_backfill_window(tmp_path: Path) -> None:
    messages = make_messages(300, 3)
    source = FakeSource(messages, names_for(messages))
    now = T0 + timedelta(days=5)
    with Store.open(tmp_path / "s.db") as store:
        await Extractor(source, store, ExtractOptions(page_size=9, max_history_hours=24), now=lambda: now).run()
        stored = store.message_keys()
    expected = {
        (m.chat_jid or "", m.id) for m in messages if m.timestamp.replace(microsecond=0) > now - timedelta(hours=24)
    }
    assert stored == expected
    assert 0 < len(stored) < len(messages)


@pytest.mark.anyio
async def test_chats_quiet_since_before_the_history_window_cost_no_call(tmp_path: Path) -> None:
    messages = make_messages(400, 40)
    source = FakeSource(messages, names_for(messages))
    last = {jid: max(m.timestamp for m in messages if m.chat_jid == jid) for jid in source.names}
    now = sorted(last.values())[-5] + timedelta(hours=1)  # about five chats were active in the last 24 h ...
    active = {jid for jid, t in last.items() if t > now - timedelta(hours=24)}
    assert 0 < len(active) < len(last)
    with Store.open(tmp_path / "s.db") as store:
        opts = ExtractOptions(page_size=50, max_history_hours=24)
        summary = await Extractor(source, store, opts, now=lambda: now).run()
        stored = store.message_keys()
    assert source.calls == len(active)  # ... and only they cost a call
    assert summary.chats_skipped == len(last) - len(active)
    assert stored == {(m.chat_jid or "", m.id) for m in messages if m.timestamp > now - timedelta(hours=24)}


class _CrossChatProfile:
    """Stands for a structured server's profile: its walk across chats reads every listed chat."""

    def cross_chat_jids(self, chats: list[Chat]) -> set[str]:
        return {chat.jid for chat in chats}


class WalkingSource(FakeSource):
    """A source that can also list every chat's messages in one walk, newest first across chats."""

    profile = _CrossChatProfile()

    def __init__(self, messages: list[Message], names: dict[str, str]) -> None:
        super().__init__(messages, names)
        self.walk_fails_after: int | None = None
        self.walked = 0
        self.walk_page_sizes: list[int] = []

    async def iter_all_messages(
        self, since: datetime | None = None, *, page_size: int = 500, chats: list[Chat] | None = None
    ) -> AsyncIterator[Message]:
        self.walk_page_sizes.append(page_size)
        listed = {chat.jid for chat in chats or []}
        for message in sorted(self.messages, key=lambda m: m.timestamp, reverse=True):
            if message.chat_jid in listed and (since is None or message.timestamp >= since):
                if self.walk_fails_after is not None and self.walked >= self.walk_fails_after:
                    raise MCPToolError("the walk broke off", tool="list_messages")
                self.walked += 1
                yield message


@pytest.mark.anyio
async def test_account_walk_stores_every_message_once_and_claims_it(
    tmp_path: Path, monkeypatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(extract, "_ACCOUNT_WALK_BATCH", 50)  # several staged batches
    messages = make_messages(2000, 80)
    source = WalkingSource(messages, names_for(messages))
    with caplog.at_level(logging.DEBUG, logger="wamcp.extract"):
        summary = await run(source, tmp_path / "s.db")
    # --verbose shows where a run's time went, phase by phase
    phases = [r.getMessage().rsplit(" in ", 1)[0] for r in caplog.records if r.name == "wamcp.extract"]
    assert phases == ["listed 80 chats (all)", "the account walk read 80 chats", "stored the walk's 2,000 new messages"]
    assert source.calls == 0  # no chat was read on its own
    assert source.walk_page_sizes == [7 * 4]  # a walk's answers are full: fewer, larger calls than per chat
    assert (summary.status, summary.messages_new, summary.chats_done) == ("complete", 2000, 80)  # type: ignore[attr-defined]
    assert summary.pages == 80  # type: ignore[attr-defined]  # one per chat the walk stored rows for
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)
        states = store.sync_states()
    for jid in names_for(messages):
        times = [int(m.timestamp.timestamp() * 1000) for m in messages if m.chat_jid == jid]
        assert (states[jid].oldest_ts_ms, states[jid].newest_ts_ms) == (min(times), max(times))
        assert states[jid].backfill_complete
    again = await run(source, tmp_path / "s.db")
    assert (again.messages_new, again.chats_skipped, source.calls) == (0, 80, 0)  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_walk_that_breaks_off_leaves_nothing_half_claimed(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(extract, "_ACCOUNT_WALK_BATCH", 50)
    messages = make_messages(2000, 80)
    source = WalkingSource(messages, names_for(messages))
    source.walk_fails_after = 1500  # well past the first staged batches
    summary = await run(source, tmp_path / "s.db")
    # The chats were read one by one instead, and every message counted once, as new.
    assert source.calls > 80
    assert (summary.status, summary.messages_new, summary.messages_updated) == ("complete", 2000, 0)  # type: ignore[attr-defined]
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)


class _NoWalkProfile:
    """Stands for lharries on an account where most chats share a name: a walk would attribute too few."""

    def cross_chat_jids(self, chats: list[Chat]) -> set[str]:
        return set()


@pytest.mark.anyio
async def test_no_walk_when_the_profile_would_attribute_no_chat(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    messages = make_messages(800, 80)  # enough chats for a walk (_ACCOUNT_WALK_MIN_CHATS)
    source = WalkingSource(messages, names_for(messages))
    source.profile = _NoWalkProfile()  # type: ignore[assignment]
    with caplog.at_level(logging.DEBUG, logger="wamcp.extract"):
        summary = await run(source, tmp_path / "s.db")
    assert source.walk_page_sizes == []  # never asked to walk
    assert source.calls >= 80  # every chat read on its own
    assert (summary.status, summary.messages_new, summary.chats_done) == ("complete", 800, 80)  # type: ignore[attr-defined]
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)
    said = [r.getMessage() for r in caplog.records if r.name == "wamcp.extract"]
    assert "no walk across chats: the profile reads none of the 80 chats that way (docs/extract.md)" in said


class _ThresholdWatchingSource(FakeSource):
    """Records the garbage collector's thresholds while the run lists chats."""

    seen: tuple[int, int, int] | None = None

    async def iter_chats(self) -> AsyncIterator[Chat]:
        self.seen = gc.get_threshold()
        async for chat in super().iter_chats():
            yield chat


@pytest.mark.anyio
@pytest.mark.parametrize("crash", [False, True])
async def test_a_run_collects_garbage_less_often_and_restores_the_thresholds(tmp_path: Path, crash: bool) -> None:
    messages = make_messages(50, 3)
    source = _ThresholdWatchingSource(messages, names_for(messages))
    source.crash_after = 0 if crash else None
    before = gc.get_threshold()
    try:
        if crash:
            with pytest.raises(Crash):
                await run(source, tmp_path / "s.db")
        else:
            await run(source, tmp_path / "s.db")
        assert source.seen is not None
        assert source.seen[0] >= extract._GC_YOUNG_THRESHOLD
        assert source.seen[1:] == before[1:]
        assert gc.get_threshold() == before  # what the caller had, however the run ended
    finally:
        gc.set_threshold(*before)


@pytest.mark.anyio
async def test_reading_goes_on_while_a_group_commit_is_written(tmp_path: Path, monkeypatch: Any) -> None:
    """A commit runs beside the workers, not in their event loop: the first commit waits (on its thread) until
    another page has been read, which could never happen if committing stopped reading."""
    monkeypatch.setattr(extract, "_GROUP_PAGES", 5)
    messages = make_messages(400, 40)
    source = FakeSource(messages, names_for(messages))
    read_meanwhile = threading.Event()
    committing = threading.Event()
    original = Store.save_pages

    def slow_save(self: Store, *args: Any, **kwargs: Any) -> Any:
        if not committing.is_set():
            committing.set()
            assert read_meanwhile.wait(10), "no page was read while the commit was being written"
        return original(self, *args, **kwargs)

    original_pages = source.iter_message_pages

    async def pages(chat_jid: str, **kwargs: Any) -> AsyncIterator[Sequence[Message]]:
        async for page in original_pages(chat_jid, **kwargs):
            await anyio.sleep(0.001)  # a round trip: what a real server costs
            if committing.is_set():
                read_meanwhile.set()
            yield page

    monkeypatch.setattr(Store, "save_pages", slow_save)
    monkeypatch.setattr(source, "iter_message_pages", pages)
    summary = await run(source, tmp_path / "s.db", concurrency=4)
    assert summary.status == "complete"  # type: ignore[attr-defined]
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)


@pytest.mark.anyio
async def test_a_failed_group_commit_fails_every_chat_in_it_and_leaves_no_hole(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A group commit holds pages of several chats; when it fails (a store locked past its busy timeout), all of
    them failed, not only the chat whose page filled the group. And none of them may commit a later page: each
    page's cursor also covers the pages before it, so a later commit would claim the lost rows as read (a hole no
    rerun fills)."""
    monkeypatch.setattr(extract, "_GROUP_PAGES", 3)
    messages = make_messages(600, 20)
    source = FakeSource(messages, names_for(messages))
    original = Store.save_pages
    lost: set[str] = set()

    def failing_save(self: Store, pages: Any, **kwargs: Any) -> Any:
        if not lost:
            lost.update(jid for jid, _rows, _state in pages)
            time.sleep(0.05)  # other workers queue their next pages meanwhile
            raise StoreError("cannot save 3 pages: database is locked")
        return original(self, pages, **kwargs)

    original_pages = source.iter_message_pages

    async def pages(chat_jid: str, **kwargs: Any) -> AsyncIterator[Sequence[Message]]:
        async for page in original_pages(chat_jid, **kwargs):
            await anyio.sleep(0.001)  # a round trip: the workers take turns, as with a real server
            yield page

    monkeypatch.setattr(source, "iter_message_pages", pages)
    monkeypatch.setattr(Store, "save_pages", failing_save)
    summary: Any = await run(source, tmp_path / "s.db", concurrency=4)
    assert len(lost) > 1
    assert summary.status == "partial"
    assert set(summary.failed) == lost
    assert summary.chats_done + len(summary.failed) == summary.chats_total == 20
    with Store.open(tmp_path / "s.db") as store:
        stored = store.message_keys()
    for jid in names_for(messages):
        expected = {key for key in keys(messages) if key[0] == jid}
        if jid not in lost:
            assert stored >= expected, jid  # the chats called done are stored whole
    monkeypatch.setattr(Store, "save_pages", original)
    again: Any = await run(source, tmp_path / "s.db", concurrency=4)
    assert again.status == "complete"
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == keys(messages)  # the failed chats read again, nothing missing


@pytest.mark.anyio
async def test_overlapping_runs_restore_the_thresholds_the_first_one_found(tmp_path: Path) -> None:
    """Accounts are extracted concurrently: when the run that began first ends first, the thresholds stay raised
    for the other, and come back as they were before either began when the last one ends."""
    before = gc.get_threshold()
    second_started = anyio.Event()
    first_done = anyio.Event()
    seen_after_first: list[int] = []

    class First(FakeSource):
        async def iter_chats(self) -> AsyncIterator[Chat]:
            await second_started.wait()
            async for chat in super().iter_chats():
                yield chat

    class Second(FakeSource):
        async def iter_chats(self) -> AsyncIterator[Chat]:
            second_started.set()
            await first_done.wait()
            seen_after_first.append(gc.get_threshold()[0])
            async for chat in super().iter_chats():
                yield chat

    messages = make_messages(40, 3)

    async def first_run() -> None:
        await run(First(messages, names_for(messages)), tmp_path / "a.db")
        first_done.set()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(first_run)
            await anyio.lowlevel.checkpoint()  # the first run begins first
            group.start_soon(run, Second(messages, names_for(messages)), tmp_path / "b.db")
        assert seen_after_first == [max(before[0], extract._GC_YOUNG_THRESHOLD)]  # still raised for the second
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)


class LookupSource(FakeSource):
    """A source that can ask for chats by JID (the structured profile's ``get_chat``); listing them all is an error."""

    def __init__(self, messages: list[Message], names: dict[str, str]) -> None:
        super().__init__(messages, names)
        self.looked_up: list[str] = []

    async def iter_chats(self) -> AsyncIterator[Chat]:
        raise AssertionError("--chat listed every chat although the source finds chats by JID")
        yield  # pragma: no cover  (an async generator)

    async def find_chats(self, chat_jids: Sequence[str]) -> list[Chat]:
        self.looked_up += chat_jids
        listed = {c.jid: c async for c in FakeSource.iter_chats(self)}
        return [listed[jid] for jid in chat_jids if jid in listed]


@pytest.mark.anyio
async def test_chat_option_asks_for_the_chats_by_jid_where_the_source_can(tmp_path: Path) -> None:
    messages = make_messages(300, 8)
    source = LookupSource(messages, names_for(messages))
    jids = sorted(names_for(messages))[:2]
    summary: Any = await run(source, tmp_path / "s.db", chats=(*jids, "447700900000"))
    assert sorted(source.looked_up) == sorted([*jids, "447700900000@s.whatsapp.net"])
    assert summary.status == "partial"
    assert list(summary.failed) == ["447700900000@s.whatsapp.net"]
    with Store.open(tmp_path / "s.db") as store:
        assert store.message_keys() == {key for key in keys(messages) if key[0] in jids}
    again: Any = await run(source, tmp_path / "s.db", chats=tuple(jids))
    assert (again.status, again.messages_new) == ("complete", 0)
