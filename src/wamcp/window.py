"""``--since``/``--until`` text as an instant: the one reading that ``wamcp export`` and ``wamcp report`` share.

An ISO-8601 date-time is that instant, read in the given zone when it carries no offset. A bare date
(``2025-03-28``) means the whole day in that zone: as a start, its first millisecond; as an end, the first
millisecond of the next day, so that an end is always exclusive and ``--until 2025-03-31`` keeps the 31st.
Years outside 1970-2199 are refused as typos (and ``datetime`` cannot move the years 1 and 9999 to other zones).
Kept apart from both commands because ``report`` loads duckdb and ``export`` must not.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo
from typing import Final

from .errors import ConfigError

__all__ = ["FIRST_YEAR", "LAST_YEAR", "is_whole_day", "parse_bound"]

FIRST_YEAR: Final = 1970
LAST_YEAR: Final = 2199

_BARE_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_HINT: Final = (
    "use a date such as 2025-03-28 (the whole day) or a date-time such as 2025-03-28T12:53 or 2025-03-28T12:53Z"
)


def is_whole_day(text: str) -> bool:
    """Whether ``text`` is a bare date (``2025-03-28``), which :func:`parse_bound` reads as the whole day."""
    return _BARE_DAY.fullmatch(text.strip()) is not None


def parse_bound(text: str, zone: tzinfo | None, *, option: str, end: bool) -> int:
    """``text`` as ms since the epoch; ``end`` makes a bare date stand for the start of the day after it.

    ``zone`` is where a date or a date-time without an offset is read (``None``: this machine's local zone).
    Raises :class:`~wamcp.errors.ConfigError` naming ``option`` when the text is no date or out of range.
    """
    spec = text.strip()
    if spec.isdigit() and len(spec) > 8:
        # e.g. a Unix timestamp; not echoed, as the log redaction would mask a long number like a phone number
        raise ConfigError(f"{option} takes a date, not a number of {len(spec)} digits", hint=_HINT)
    try:
        moment = datetime.fromisoformat(spec)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not an ISO-8601 date or date-time", hint=_HINT) from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ConfigError(f"{option} {text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}", hint=_HINT)
    if is_whole_day(spec):
        day = moment.date() + timedelta(days=1) if end else moment.date()
        moment = datetime.combine(day, time(0))
    if moment.tzinfo is None and zone is not None:
        moment = moment.replace(tzinfo=zone)
    # A naive moment with no zone is local time, which datetime.timestamp() assumes.
    return round(moment.timestamp() * 1000)
