"""Server wall-clock text <-> UTC instants, correct across daylight-saving changes.

lharries prints message times as naive local text (``2025-03-28 13:23:05``) and its JSON tools print the same local
wall time with a literal ``Z`` (``2025-03-28T13:23:05Z``) although it is not UTC (WHATSAPP_SERVERS.md §1). Only the
configured ``server_timezone`` (default: this machine's zone) turns such text into an instant. Two wall times are
not instants at all, and this module decides them explicitly:

- **repeated hour** (clocks go back, e.g. 01:30 happens twice in Europe/London in October): read as the *first*
  occurrence (``fold=0``, the daylight-saving offset). The server keeps the offset in its database but does not print
  it, so the second occurrence cannot be told apart; messages of that second hour come out one hour early.
- **skipped hour** (clocks go forward, 01:30 never happens in Europe/London in March): read with the offset in force
  *before* the gap, i.e. as the instant the wall time would have meant had the clocks not changed (01:30 -> 01:30 UTC).
  A correct bridge never prints such a time.

Conversions are cached per local day when the whole day has one offset (else per hour, when that hour has one), so
a message costs one ``fromisoformat`` and at most one subtraction; a zone with a fixed offset (UTC) needs no cache.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..redact import get_logger

__all__ = ["ServerClock", "machine_timezone", "parse_instant"]

logger = get_logger(__name__)

_ONE_SECOND = timedelta(seconds=1)


def machine_timezone() -> tzinfo:
    """This machine's zone as a DST-aware tzinfo: ``$TZ``, else ``/etc/localtime``, else UTC (with a warning)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("TZ=%r is not a known time zone; trying /etc/localtime", name)
    localtime = Path("/etc/localtime")
    try:
        resolved = str(localtime.resolve())
        if "zoneinfo/" in resolved:
            return ZoneInfo(resolved.split("zoneinfo/", 1)[1])
        with localtime.open("rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    logger.warning("cannot determine this machine's time zone; assuming UTC (set server_timezone in the config)")
    return UTC


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time that carries its own offset (``…+02:00``, ``…Z``) or epoch seconds/milliseconds -> UTC.

    Naive text is read as UTC; use :class:`ServerClock` for text in a server's local zone.
    """
    value = text.strip()
    if value.replace(".", "", 1).isdigit():
        return epoch_to_utc(float(value))
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch_to_utc(seconds: float) -> datetime:
    """Epoch seconds (or milliseconds, recognised by size) -> UTC."""
    if seconds > 1e11:  # later than year 5138 in seconds: it is milliseconds
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, tz=UTC)


def _parse_as_utc(text: str) -> datetime | None:
    """Naive ISO text read as UTC, or None when it does not parse so (it holds an offset, or is no time)."""
    try:
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:
        return None


class ServerClock:
    """The server's time zone: converts its naive wall-clock text to UTC and UTC back to its wall-clock text."""

    __slots__ = ("_day_offsets", "_fixed", "_hour_offsets", "zone")

    def __init__(self, zone: str | tzinfo | None = None) -> None:
        if zone is None:
            self.zone: tzinfo = machine_timezone()
        elif isinstance(zone, str):
            self.zone = UTC if zone.upper() == "UTC" else ZoneInfo(zone)
        else:
            self.zone = zone
        # A fixed-offset zone (UTC, "+02:00") has one offset for every wall time.
        self._fixed: timedelta | None = self.zone.utcoffset(None) if isinstance(self.zone, timezone) else None
        # Day ordinal -> UTC offset, for days with one offset throughout (None: a day with a change, see below).
        self._day_offsets: dict[int, timedelta | None] = {}
        # "YYYY-MM-DD HH" -> UTC offset, only for hours with one offset throughout (None: decide per call).
        self._hour_offsets: dict[str, timedelta | None] = {}

    def __repr__(self) -> str:
        return f"ServerClock({getattr(self.zone, 'key', str(self.zone))!r})"

    def to_utc(self, text: str) -> datetime:
        """Wall-clock text in this zone -> aware UTC datetime.

        Accepts ``YYYY-MM-DD HH:MM:SS`` or ISO 8601 with ``T`` and optional fraction. A trailing ``Z`` is ignored
        (lharries' JSON times are local wall time despite it); any other explicit offset is honoured as written.
        Raises ``ValueError`` for text that is not a time.
        """
        if text.endswith("Z"):
            text = text[:-1]
        # The usual text, `YYYY-MM-DD HH:MM:SS`, is read as the wall time labelled UTC in one parse:
        # `naive.replace(tzinfo=UTC)` costs ~1 µs (its keyword arguments), eight times the parse, and this runs
        # once per message. 19 characters that already hold an offset (`YYYY-MM-DDTHH:MM+HH`) cannot take another
        # and fail here, as does anything else: the general path below decides those.
        wall = _parse_as_utc(text) if len(text) == 19 else None
        if wall is None:
            parsed = datetime.fromisoformat(text)  # text that is no time at all raises here
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
            wall = parsed.replace(tzinfo=UTC)
        offset = self._fixed
        if offset is None:
            day = wall.toordinal()
            try:
                offset = self._day_offsets[day]
            except KeyError:
                offset = self._day_offsets[day] = self._steady_day(wall.replace(tzinfo=None))
            if offset is None:  # the day the clocks change: hour by hour
                key = text[:13]
                try:
                    offset = self._hour_offsets[key]
                except KeyError:
                    offset = self._hour_offsets[key] = self._steady_offset(wall.replace(tzinfo=None))
                if offset is None:
                    offset = wall.replace(tzinfo=self.zone, fold=0).utcoffset() or timedelta(0)
        return wall - offset if offset else wall

    def _steady_day(self, naive: datetime) -> timedelta | None:
        """The offset of ``naive``'s whole day when every hour of it has that one offset, else None."""
        midnight = naive.replace(hour=0, minute=0, second=0, microsecond=0)
        offsets = {self._steady_offset(midnight.replace(hour=hour)) for hour in range(24)}
        if len(offsets) == 1:
            return offsets.pop()  # None when no hour is steady
        return None

    def _steady_offset(self, naive: datetime) -> timedelta | None:
        start = naive.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(minutes=59, seconds=59)
        offsets = {
            moment.replace(tzinfo=self.zone, fold=fold).utcoffset() for moment in (start, end) for fold in (0, 1)
        }
        if len(offsets) == 1:
            return offsets.pop()
        return None

    def to_server_text(self, instant: datetime) -> str:
        """Aware datetime -> this zone's wall-clock text ``YYYY-MM-DD HH:MM:SS`` (seconds truncated)."""
        if instant.tzinfo is None:
            raise ValueError("to_server_text needs an aware datetime")
        return instant.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    @staticmethod
    def shift_text(text: str, seconds: int) -> str:
        """Wall-clock text moved by whole seconds as naive wall time (what the server's string compare expects)."""
        moved = datetime.fromisoformat(text[:19]) + timedelta(seconds=seconds)
        return moved.strftime("%Y-%m-%d %H:%M:%S")
