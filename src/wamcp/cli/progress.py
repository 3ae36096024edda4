"""Rich progress bars for long CLI work: chats done/total, messages, messages/s and ETA.

Bars draw on stderr only when both stdout and stderr are terminals and ``--quiet`` is off, so a piped or
redirected run (cron, ``| tee``, ``--json``) gets no control sequences.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["AccountBars", "ExtractBars"]


class _DoneOfTotal(ProgressColumn):
    """``done/total`` with thousands separators, as the summary prints them (rich's ``MofNCompleteColumn`` has
    none: ``11098/11098``); ``?`` for a total not known yet."""

    def render(self, task: Task) -> Text:
        total = f"{int(task.total):,}" if task.total is not None else "?"
        return Text(f"{int(task.completed):,}".rjust(len(total)) + "/" + total, style="progress.download")


def _bars(console: Console, label_width: int) -> Progress:
    """The bars' layout: label, bar, done/total, rate, elapsed, ETA."""
    return Progress(
        TextColumn(f"[bold]{{task.description:<{label_width}}}"),
        BarColumn(),
        _DoneOfTotal(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class _Display:
    """A rich display on stderr, drawn only when both stdout and stderr are terminals; stopped on exit."""

    def __init__(self, *, enabled: bool, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self.enabled = enabled and self._console.is_terminal and sys.stdout.isatty()
        self._progress: Progress | None = None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class ExtractBars(_Display):
    """Implements the extractor's progress protocol with two rich bars (chats, messages)."""

    def __init__(self, *, enabled: bool, console: Console | None = None) -> None:
        super().__init__(enabled=enabled, console=console)
        self._chats: TaskID | None = None
        self._messages: TaskID | None = None
        self._started = time.perf_counter()
        self.messages = 0

    def __enter__(self) -> ExtractBars:
        self._started = time.perf_counter()
        if self.enabled:
            self._progress = _bars(self._console, 9)
            self._progress.start()
            self._chats = self._progress.add_task("chats", total=None, rate="")
            self._messages = self._progress.add_task("messages", total=None, rate="")
        return self

    def chats_planned(self, total: int) -> None:
        if self._progress is not None and self._chats is not None:
            self._progress.update(self._chats, total=total)

    def chat_done(self, jid: str, new: int) -> None:
        if self._progress is not None and self._chats is not None:
            self._progress.advance(self._chats)

    def messages_saved(self, count: int) -> None:
        self.messages += count
        if self._progress is not None and self._messages is not None:
            elapsed = max(time.perf_counter() - self._started, 1e-6)
            self._progress.update(self._messages, completed=self.messages, rate=f"{self.messages / elapsed:,.0f} msg/s")


class AccountBars(_Display):
    """Progress of several accounts extracted at once: per account, a chats bar and a messages bar (with msg/s),
    in one rich display on stderr (same rules as :class:`ExtractBars` for when it draws)."""

    def __init__(self, accounts: list[str], *, enabled: bool, console: Console | None = None) -> None:
        super().__init__(enabled=enabled, console=console)
        self._accounts = accounts
        self._width = max((len(name) for name in accounts), default=7) + 9

    def __enter__(self) -> AccountBars:
        if self.enabled:
            self._progress = _bars(self._console, self._width)
            self._progress.start()
        return self

    def account(self, name: str) -> _AccountProgress:
        """The progress receiver of account ``name`` (its bars appear when it plans its chats)."""
        return _AccountProgress(self._progress, name)


class _AccountProgress:
    """One account's two bars in an :class:`AccountBars` display (the extractor's progress protocol)."""

    def __init__(self, progress: Progress | None, name: str) -> None:
        self._progress = progress
        self._name = name
        self._chats: TaskID | None = None
        self._messages: TaskID | None = None
        self._started = time.perf_counter()
        self.messages = 0

    def chats_planned(self, total: int) -> None:
        if self._progress is not None:
            self._chats = self._progress.add_task(f"{self._name} chats", total=total, rate="")
            self._messages = self._progress.add_task(f"{self._name} messages", total=None, rate="")

    def chat_done(self, jid: str, new: int) -> None:
        if self._progress is not None and self._chats is not None:
            self._progress.advance(self._chats)

    def messages_saved(self, count: int) -> None:
        self.messages += count
        if self._progress is not None and self._messages is not None:
            elapsed = max(time.perf_counter() - self._started, 1e-6)
            self._progress.update(self._messages, completed=self.messages, rate=f"{self.messages / elapsed:,.0f} msg/s")
