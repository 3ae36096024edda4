"""A listing paged by offsets reads the same pages in the same order whether or not it asks for pages ahead; asking
ahead keeps a request in flight while the caller works, and errors and early stops behave as in a plain loop."""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import pytest

from wamcp.errors import MCPToolError
from wamcp.whatsapp.models import Chat
from wamcp.whatsapp.profiles.base import OffsetPage, iter_offset_pages

pytestmark = pytest.mark.anyio


class Listing:
    """``total`` chats whose answers take ``width`` characters each; records what was asked and how many requests
    were in flight at once."""

    def __init__(self, total: int, width: int = 100, fail_at: int | None = None, cap: int | None = None) -> None:
        self.chats = [Chat(jid=f"{1000 + i}@s.whatsapp.net", name=f"c{i}") for i in range(total)]
        self.width = width
        self.fail_at = fail_at
        self.cap = cap  # at most this many rows whatever the limit, undeclared
        self.asked: list[tuple[int, int]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def get(self, offset: int, limit: int) -> OffsetPage:
        assert offset % limit == 0  # the server knows only page x limit
        self.asked.append((offset, limit))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            if self.fail_at is not None and offset >= self.fail_at:
                raise MCPToolError("database locked", tool="list_chats")
            rows = self.chats[offset : offset + (limit if self.cap is None else min(limit, self.cap))]
            return rows, len(rows), len(rows) * self.width
        finally:
            self.in_flight -= 1


async def read(listing: Listing, ahead: int, page_size: int = 1000, budget: int = 20_000) -> list[list[Chat]]:
    return [page async for page in iter_offset_pages(listing.get, page_size=page_size, budget=budget, ahead=ahead)]


@pytest.mark.parametrize("total", [0, 1, 99, 100, 101, 250, 1000, 5003])
@pytest.mark.parametrize("ahead", [1, 2])
async def test_asking_ahead_reads_the_same_pages(total: int, ahead: int) -> None:
    plain = Listing(total)
    eager = Listing(total)
    expected = await read(plain, ahead=0)
    got = await read(eager, ahead=ahead)
    assert [c.jid for page in got for c in page] == [c.jid for c in plain.chats]
    assert got == expected
    # A first page shorter than asked is asked past once (the server may cap its pages), with nothing asked ahead.
    assert eager.most_in_flight == (1 if total < 100 else ahead + 1)
    # at most the pages asked ahead past the end are extra
    assert len(plain.asked) <= len(eager.asked) <= len(plain.asked) + ahead


async def test_pages_grow_within_the_budget_either_way() -> None:
    eager = Listing(20_000, width=300)
    pages = await read(eager, ahead=1, page_size=10_000, budget=64 * 1024)
    assert sum(len(p) for p in pages) == 20_000
    assert max(len(p) for p in pages) * 300 <= 64 * 1024


async def test_an_error_surfaces_as_itself_after_the_pages_before_it() -> None:
    listing = Listing(5000, fail_at=800)
    got: list[list[Chat]] = []

    async def collect() -> None:
        async for page in iter_offset_pages(listing.get, page_size=1000, budget=20_000, ahead=1):
            got.append(page)

    with pytest.raises(MCPToolError, match="database locked"):
        await collect()
    assert sum(len(p) for p in got) == 800


async def test_stopping_early_cancels_what_was_asked_ahead() -> None:
    listing = Listing(5000)
    pages = iter_offset_pages(listing.get, page_size=1000, budget=20_000, ahead=2)
    async for _ in pages:
        break
    await pages.aclose()  # type: ignore[attr-defined]
    assert listing.in_flight == 0
    asked = len(listing.asked)
    await anyio.lowlevel.checkpoint()
    assert len(listing.asked) == asked


@pytest.mark.parametrize(
    ("total", "cap", "warned"), [(1000, 100, 1), (1000, 150, 1), (437, 37, 1), (99, 50, 1), (200, 100, 0)]
)
@pytest.mark.parametrize("ahead", [0, 1, 2])
async def test_a_listing_capped_below_its_limits_is_read_whole(
    total: int, cap: int, warned: int, ahead: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that answers at most ``cap`` chats whatever the limit, without declaring it: the listing used to end
    at the first page shorter than its limit (at 1,000 chats capped at 100, after 300). Every chat comes once, in
    order, offsets stay multiples of the limits, and the cap is said once (if it ever cut a page: 200 chats come in two
    full pages of 100)."""
    listing = Listing(total, cap=cap)
    with caplog.at_level(logging.WARNING):
        got = await read(listing, ahead=ahead)
    assert [c.jid for page in got for c in page] == [c.jid for c in listing.chats]
    said = [r.getMessage() for r in caplog.records if "rows where" in r.getMessage()]
    assert len(said) == warned, said
    assert all(f"list_chats answered {cap} rows" in line for line in said)
