"""The report's options and the parsers for their command-line spellings.

Everything a user can mistype (business hours, the first-response target, the timezone, the period dates) is parsed
here into plain values and rejected with a :class:`~wamcp.errors.ConfigError` that names the option, the bad value
and the accepted syntax. The one thing to know: business hours are kept as intervals of **milliseconds since
Monday 00:00 local wall-clock time**, which is the form the SQL in :mod:`wamcp.analytics.kpis` needs.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from ..window import is_whole_day, parse_bound

__all__ = [
    "BusinessHours",
    "ReportOptions",
    "machine_timezone",
    "parse_business_hours",
    "parse_day_bound",
    "parse_duration",
    "parse_timezone",
]

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_BUSINESS_HOURS_SYNTAX = (
    'expected e.g. "Mon-Fri 09:00-18:00" or "Mon-Fri 09:00-18:00; Sat 10:00-14:00" (days Mon..Sun, 24-hour '
    'HH:MM, end may be 24:00), or "24/7"'
)
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|min|s)", re.IGNORECASE)
_DURATION_UNIT_S = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "min": 60.0, "s": 1.0}


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours as sorted, non-overlapping ``(start_ms, end_ms)`` offsets from Monday 00:00 local time."""

    intervals: tuple[tuple[int, int], ...]
    text: str

    @property
    def week_ms(self) -> int:
        """Business milliseconds in one week."""
        return sum(end - start for start, end in self.intervals)


def parse_business_hours(text: str) -> BusinessHours:
    """Parse ``"Mon-Fri 09:00-18:00"`` (several specs separated by ``;`` or ``,``) into :class:`BusinessHours`."""
    spec = text.strip()
    if spec.lower() in {"24/7", "always"}:
        return BusinessHours(intervals=((0, WEEK_MS),), text=spec)
    raw: list[tuple[int, int]] = []
    parts = [p.strip() for p in re.split(r";|(?<=\d)\s*,", spec) if p.strip()]
    if not parts:
        raise ConfigError(f"--business-hours {text!r} is empty", hint=_BUSINESS_HOURS_SYNTAX)
    for part in parts:
        match = re.fullmatch(r"([A-Za-z,\-\s]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if match is None:
            raise ConfigError(f"--business-hours: cannot read {part!r}", hint=_BUSINESS_HOURS_SYNTAX)
        days = _parse_days(match.group(1), text)
        start_min = _minutes(int(match.group(2)), int(match.group(3)), text)
        end_min = _minutes(int(match.group(4)), int(match.group(5)), text)
        if end_min <= start_min:
            raise ConfigError(
                f"--business-hours {text!r}: closing time must be after opening time in {part!r}",
                hint=_BUSINESS_HOURS_SYNTAX,
            )
        for day in days:
            raw.append((day * DAY_MS + start_min * 60_000, day * DAY_MS + end_min * 60_000))
    return BusinessHours(intervals=_merge(raw), text=spec)


def _parse_days(text: str, whole: str) -> list[int]:
    days: list[int] = []
    for token in re.split(r"[,\s]+", text.strip().lower()):
        if not token:
            continue
        ends = token.split("-")
        if len(ends) > 2 or any(e[:3] not in _DAY_NAMES or len(e) < 3 for e in ends):
            raise ConfigError(f"--business-hours {whole!r}: unknown day {token!r}", hint=_BUSINESS_HOURS_SYNTAX)
        first = _DAY_NAMES.index(ends[0][:3])
        last = _DAY_NAMES.index(ends[-1][:3])
        # "Sat-Mon" wraps over the weekend, as people write it.
        span = (last - first) % 7
        days.extend((first + i) % 7 for i in range(span + 1))
    return sorted(set(days))


def _minutes(hour: int, minute: int, whole: str) -> int:
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        raise ConfigError(f"--business-hours {whole!r}: {hour:02d}:{minute:02d} is not a time of day")
    return hour * 60 + minute


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def parse_duration(text: str, *, option: str = "--target") -> float:
    """``"1h"``, ``"90m"``, ``"1h30m"``, ``"45s"``, ``"2d"`` or plain seconds -> seconds (> 0)."""
    spec = text.strip()
    hint = 'expected e.g. "1h", "30m", "1h30m", "90s" or "2d"'
    try:
        seconds = float(spec)
    except ValueError:
        pos = 0
        seconds = 0.0
        for match in _DURATION_RE.finditer(spec):
            if spec[pos : match.start()].strip():
                raise ConfigError(f"{option} {text!r} is not a duration", hint=hint) from None
            seconds += float(match.group(1)) * _DURATION_UNIT_S[match.group(2).lower()]
            pos = match.end()
        if pos == 0 or spec[pos:].strip():
            raise ConfigError(f"{option} {text!r} is not a duration", hint=hint) from None
    if seconds <= 0:
        raise ConfigError(f"{option} {text!r} must be longer than zero", hint=hint)
    return seconds


def parse_timezone(name: str) -> str:
    """Validate an IANA zone name (``Europe/Berlin``); return it unchanged."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"--timezone {name!r} is not a known IANA time zone", hint='use a name like "Europe/Berlin" or "UTC"'
        ) from err
    return name


def machine_timezone() -> str:
    """The machine's IANA zone name (``$TZ``, then ``/etc/localtime``, then ``/etc/timezone``), else ``UTC``."""
    candidates: list[str] = []
    if os.environ.get("TZ"):
        candidates.append(os.environ["TZ"].lstrip(":"))
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"


def parse_day_bound(text: str, timezone: str, *, option: str, end: bool) -> int:
    """A ``--since``/``--until`` value -> ms since the epoch, read as :func:`wamcp.window.parse_bound` reads it.

    The report's ``--until`` is inclusive, being also the as-of time: a bare date ends on the last millisecond of
    that local day, a date-time is that instant. A datetime without an offset is read in ``timezone``.
    """
    bound = parse_bound(text, ZoneInfo(timezone), option=option, end=end)
    return bound - 1 if end and is_whole_day(text) else bound


@dataclass(frozen=True)
class ReportOptions:
    """What to report on and how. Build from CLI text with :meth:`from_text`; all fields have sane defaults."""

    timezone: str = field(default_factory=machine_timezone)
    business_hours: BusinessHours = field(default_factory=lambda: parse_business_hours("Mon-Fri 09:00-18:00"))
    target_s: float = 3_600.0
    since_ms: int | None = None
    until_ms: int | None = None
    include_groups: bool = False
    dormant_days: int = 30
    accounts: tuple[str, ...] | None = None  # None: every account in the store

    @classmethod
    def from_text(
        cls,
        *,
        timezone: str | None = None,
        business_hours: str = "Mon-Fri 09:00-18:00",
        target: str = "1h",
        since: str | None = None,
        until: str | None = None,
        include_groups: bool = False,
        accounts: Sequence[str] | None = None,
    ) -> ReportOptions:
        """Parse the CLI spellings; raises :class:`~wamcp.errors.ConfigError` naming the bad option."""
        zone = parse_timezone(timezone) if timezone else machine_timezone()
        since_ms = parse_day_bound(since, zone, option="--since", end=False) if since else None
        until_ms = parse_day_bound(until, zone, option="--until", end=True) if until else None
        if since_ms is not None and until_ms is not None and until_ms < since_ms:
            raise ConfigError(f"--until {until} is before --since {since}")
        return cls(
            timezone=zone,
            business_hours=parse_business_hours(business_hours),
            target_s=parse_duration(target),
            since_ms=since_ms,
            until_ms=until_ms,
            include_groups=include_groups,
            accounts=tuple(accounts) if accounts else None,
        )
