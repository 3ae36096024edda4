"""The progress bars' done/total column: thousands separators as in the summary, ``?`` while the total is unknown."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress

from wamcp.cli.progress import _bars, _DoneOfTotal


def test_done_of_total_has_separators_and_an_unknown_total() -> None:
    console = Console(record=True, width=80, color_system=None)
    with Progress(_DoneOfTotal(), console=console, transient=False, auto_refresh=False) as progress:
        progress.add_task("chats", total=11_098, completed=2_500)
        progress.add_task("messages", total=None, completed=100_000)
        progress.refresh()
    lines = [line.strip() for line in console.export_text().splitlines() if line.strip()]
    assert lines[-2:] == ["2,500/11,098", "100,000/?"]


def test_the_extract_bars_use_it() -> None:
    columns = _bars(Console(), 8).columns
    assert sum(isinstance(column, _DoneOfTotal) for column in columns) == 1
