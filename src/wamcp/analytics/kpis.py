"""The business KPIs of ``/work/shared/KPIS.md``, computed in DuckDB SQL over the loaded store.

Everything is derived from one ordered pass over the messages, which :mod:`.load` stores in conversation order
``(chat, ts_ms, id)``: they come back from DuckDB in that order and :mod:`.sessions` cuts them into sessions and
customer turns with neighbour comparisons in Arrow (:func:`_cut_conversations`); ``sessions``, ``turn_starts``,
``frt``, ``turns`` and the summaries come from that cut. The one rule a reader must keep in mind: a new session
starts after a gap of more than 24 h, **except** for a business reply to a customer's pending turn — that reply
belongs to the customer's session however late it is, so a slow answer is a long FRT, never an unanswered session
plus a business-initiated one.

Business-hours time is plain SQL arithmetic, not a Python helper: each session or turn gets ``bt``, the business
milliseconds elapsed between a fixed Monday and its local wall-clock time (whole weeks x weekly hours, plus a
clipped sum over the week's opening intervals). A business-hours duration is then ``bt(reply) - bt(inquiry)``, one
vectorized subtraction per row. Opening hours are wall-clock hours (every instant goes to local time first, with
zoneinfo's offsets, :func:`_wall_clock_sql`), but what is counted is real time: a DST switch inside opening hours
skips or repeats a wall-clock hour, and ``bt`` subtracts (or adds back) the business part of each such hour that
lies before the instant (:func:`_business_clock_sql`), so with 24/7 hours a business-hours FRT equals the clock one.
"""

from __future__ import annotations

import collections
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..redact import get_logger, mask_phone, redact
from .load import load_store, newest_message_ms, store_accounts, strings
from .options import DAY_MS, WEEK_MS, BusinessHours, ReportOptions
from .sessions import Conversations, cut_conversations

__all__ = [
    "BUCKET_KEYS",
    "FRT_BUCKETS",
    "KPIS_SCHEMA_VERSION",
    "SESSION_COLUMNS",
    "Analysis",
    "analyze",
    "compute_kpis",
]

log = get_logger(__name__)

KPIS_SCHEMA_VERSION = 1
WAITING_LIST_LIMIT = 100
SESSION_GAP_MS = DAY_MS
# (label, lower bound in seconds inclusive, upper bound exclusive or None)
FRT_BUCKETS: tuple[tuple[str, float, float | None], ...] = (
    ("< 5 min", 0.0, 300.0),
    ("5–15 min", 300.0, 900.0),
    ("15–60 min", 900.0, 3_600.0),
    ("1–4 h", 3_600.0, 14_400.0),
    ("4–24 h", 14_400.0, 86_400.0),
    ("> 24 h", 86_400.0, None),
)
# column-name spelling of each bucket, in the order of FRT_BUCKETS (weekly.csv: frt_under_5min, bh_frt_5_15min, ...)
BUCKET_KEYS = ("under_5min", "5_15min", "15_60min", "1_4h", "4_24h", "over_24h")
SESSION_COLUMNS = (
    "chat_jid",
    "session_start_ts_ms",
    "first_inbound_ts_ms",
    "first_response_ts_ms",
    "frt_seconds",
    "bh_frt_seconds",
    "answered",
)
_DIRECT_SUFFIXES = ("@s.whatsapp.net", "@c.us", "@lid")
_STORAGE_ORDER = ""  # no ORDER BY: the rows as stored, in conversation order (see _cut_conversations)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Analysis:
    """The result of :func:`compute_kpis`: JSON-ready figures and the row-level tables behind them."""

    kpis: dict[str, Any]
    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def sessions(self) -> pa.Table:
        """One row per customer-initiated session in the period (columns :data:`SESSION_COLUMNS`)."""
        return self.tables["frt_sessions"]


def _business_time_sql(hours: BusinessHours, wall_ms: str) -> str:
    """SQL for the business ms elapsed from Monday 1969-12-29 00:00 (local) to the local wall time ``wall_ms``."""
    # Day 0 of the epoch was a Thursday; shifting by 3 days puts week boundaries on local Monday midnights.
    shifted = f"({wall_ms} + {3 * DAY_MS})"
    in_week = f"((({shifted} % {WEEK_MS}) + {WEEK_MS}) % {WEEK_MS})"
    weeks = f"(({shifted} - {in_week}) // {WEEK_MS})"
    # the interval's part of the week so far; a CASE costs DuckDB half what least(greatest(...)) does
    terms = [
        f"(CASE WHEN {in_week} <= {start} THEN 0 WHEN {in_week} >= {end} THEN {end - start} "
        f"ELSE {in_week} - {start} END)"
        for start, end in hours.intervals
    ]
    return f"({weeks} * {hours.week_ms} + " + (" + ".join(terms) if terms else "0") + ")"


def _business_ms(hours: BusinessHours, wall_ms: int) -> int:
    """:func:`_business_time_sql` in Python, for the DST corrections of :func:`_business_clock_sql`."""
    shifted = wall_ms + 3 * DAY_MS
    in_week = shifted % WEEK_MS
    weeks = (shifted - in_week) // WEEK_MS
    return weeks * hours.week_ms + sum(min(max(in_week - start, 0), end - start) for start, end in hours.intervals)


def _business_clock_sql(hours: BusinessHours, offsets: list[tuple[int, int]], ts: str, wall_ms: str) -> str:
    """SQL for the business ms of real time from the fixed Monday to the UTC instant ``ts`` (``wall_ms`` is its
    local wall-clock time, :func:`_wall_clock_sql`).

    Counting on the wall clock alone, a spring switch inside opening hours would count the skipped hour, and an
    autumn switch would count the repeated hour once. At a switch from offset ``a`` to ``b`` at instant ``T`` the
    wall clock jumps from ``T + a`` to ``T + b``: the business time of that jump is taken off every later instant.
    """
    base = _business_time_sql(hours, wall_ms)
    steps: list[tuple[int, int]] = []  # (switch instant, correction from it on)
    total = 0
    for (_, before), (switch, after) in itertools.pairwise(offsets):
        total += _business_ms(hours, switch + after) - _business_ms(hours, switch + before)
        steps.append((switch, total))
    if not any(correction for _, correction in steps):
        return base
    previous = [0, *(correction for _, correction in steps)]
    branches = " ".join(f"WHEN {ts} < {switch} THEN {prev}" for prev, (switch, _) in zip(previous, steps, strict=False))
    return f"({base} - CASE {branches} ELSE {total} END)"


def _utc_offsets(zone_name: str, first_ms: int, last_ms: int) -> list[tuple[int, int]]:
    """``[(from_ms, offset_ms), ...]``: the zone's UTC offset from each instant on, covering ``first_ms..last_ms``."""
    zone = ZoneInfo(zone_name)

    def offset_at(ms: int) -> int:
        delta = datetime.fromtimestamp(ms / 1000, tz=zone).utcoffset()
        return int(delta.total_seconds() * 1000) if delta is not None else 0

    start = first_ms - DAY_MS
    offsets = [(start, offset_at(start))]
    # zones change offset at most a few times a year and never twice within a day: step by days, then bisect
    day = start
    while day < last_ms + DAY_MS:
        nxt = day + DAY_MS
        if offset_at(nxt) != offsets[-1][1]:
            lo, hi = day, nxt  # offset_at(lo) is the old offset, offset_at(hi) the new one
            while hi - lo > 1:  # to the millisecond: a message just after the switch must get the new offset
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset_at(mid) == offsets[-1][1] else (lo, mid)
            offsets.append((hi, offset_at(hi)))
        day = nxt
    return offsets


def _wall_clock_sql(offsets: list[tuple[int, int]], ts: str) -> str:
    """SQL turning UTC ``ts`` (ms) into local wall-clock ms, given the zone's ``offsets`` (:func:`_utc_offsets`).

    The offsets come from Python's zoneinfo (the tzdata the rest of wamcp uses) as a short CASE over the zone's
    transitions in the data's range: far cheaper than converting a million timestamps through ICU one by one.
    """
    if len(offsets) == 1:
        return f"({ts} + {offsets[0][1]})"
    branches = " ".join(f"WHEN {ts} < {start} THEN {prev}" for (_, prev), (start, _) in itertools.pairwise(offsets))
    return f"({ts} + CASE {branches} ELSE {offsets[-1][1]} END)"


def _scope_sql(include_groups: bool) -> str:
    return "kind IN ('direct', 'group')" if include_groups else "kind = 'direct'"


def _build_tables(duck: duckdb.DuckDBPyConnection, options: ReportOptions, as_of_ms: int) -> None:
    """Tables behind :func:`compute_kpis`: those of :func:`_build_sessions`, then ``turns`` and ``msg``."""
    wall, business = _build_sessions(duck, options, as_of_ms)
    _build_turns(duck, wall, business)
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE msg AS
        SELECT m.chat_no, m.pos, m.ts_ms, m.is_from_me <> 0 AS outbound, k.kind,
               nullif(trim(m.media_type), '') AS media_type, {wall("m.ts_ms")} AS wall_ms
        FROM messages m JOIN chat_kind k USING (chat_no) WHERE m.ts_ms <= $as_of
        """,
        {"as_of": as_of_ms},
    )


def _build_sessions(
    duck: duckdb.DuckDBPyConnection, options: ReportOptions, as_of_ms: int
) -> tuple[Callable[[str], str], Callable[[str, str], str]]:
    """``chat_kind``, ``sessions``, ``turn_starts`` (customer turns and session openings, from
    :func:`_cut_conversations`) and ``frt``: what FRT figures need.

    Returns the SQL builders for local wall-clock ms (``wall("ts_ms")``) and for the business clock
    (``business("ts_ms", "wall_ms")``, :func:`_business_clock_sql`), valid for every timestamp in the data.
    """
    direct = " OR ".join(f"jid LIKE '%{suffix}'" for suffix in _DIRECT_SUFFIXES)
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE chat_kind AS
        SELECT chat_no, jid AS chat_jid,
               -- an ENUM is a one-byte code: cheap to carry through the joins below
               (CASE WHEN jid LIKE '%@g.us' THEN 'group' WHEN {direct} THEN 'direct' ELSE 'other' END)
                   ::ENUM('direct', 'group', 'other') AS kind
        FROM chats
        """
    )
    # fetchall(), not fetchone(): DuckDB keeps an unfinished result open, and the next relation fails
    ((low, high),) = duck.execute("SELECT min(ts_ms), max(ts_ms) FROM messages").fetchall()
    first_ms = low if low is not None else as_of_ms
    last_ms = max(high if high is not None else as_of_ms, as_of_ms)
    offsets = _utc_offsets(options.timezone, first_ms, last_ms)

    def wall(ts: str) -> str:
        return _wall_clock_sql(offsets, ts)

    def business(ts: str, wall_ms: str) -> str:
        return _business_clock_sql(options.business_hours, offsets, ts, wall_ms)

    conversations = _cut_conversations(duck, as_of_ms, _STORAGE_ORDER)
    if conversations is None:
        log.warning("DuckDB did not return the messages in storage order; cutting sessions with a sort instead")
        conversations = _cut_conversations(duck, as_of_ms, "ORDER BY pos")
        assert conversations is not None  # sorted by pos: in order by construction
    # registered, not copied: DuckDB scans the Arrow tables in place, for the connection's lifetime
    duck.register("session_cut", conversations.sessions)
    duck.register("turn_starts", conversations.turns)
    duck.execute(
        """
        CREATE OR REPLACE TEMP VIEW sessions AS
        SELECT s.chat_no, k.kind, s.customer_initiated, s.start_ts, s.end_ts
        FROM session_cut s JOIN chat_kind k USING (chat_no)
        """
    )
    # a customer-initiated session's first response is the reply to the customer turn that opens it
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE frt AS
        WITH opening AS (
            -- wall-clock time is a function of the timestamp: computed per session, not per message
            SELECT t.chat_no, k.kind, t.start_ts, t.session_reply_ts AS first_out_ts,
                   {wall("t.start_ts")} AS start_wall, {wall("t.session_reply_ts")} AS first_out_wall
            FROM turn_starts t JOIN chat_kind k USING (chat_no) WHERE t.opens_session
        ), timed AS (
            SELECT *, {business("start_ts", "start_wall")} AS start_bt,
                   {business("first_out_ts", "first_out_wall")} AS first_out_bt
            FROM opening
        )
        SELECT chat_no, kind, start_ts, start_wall,
               first_out_ts, first_out_ts IS NOT NULL AS answered,
               (first_out_ts - start_ts) / 1000.0 AS frt_s,
               -- DuckDB's greatest() skips NULLs: without the CASE an unanswered session would count as 0 s
               CASE WHEN first_out_ts IS NOT NULL THEN greatest(first_out_bt - start_bt, 0) / 1000.0 END AS bh_frt_s,
               date_trunc('week', epoch_ms(start_wall))::DATE AS week
        FROM timed
        """
    )
    return wall, business


def _cut_conversations(duck: duckdb.DuckDBPyConnection, as_of_ms: int, order: str) -> Conversations | None:
    """Sessions and customer turns of the messages up to ``as_of_ms`` (:func:`.sessions.cut_conversations`);
    ``None`` if DuckDB did not return the messages in ``pos`` order.

    ``messages`` is stored in conversation order, numbered by ``pos`` (see load.py), so with ``order`` empty the
    rows come back as stored, with no sort: DuckDB keeps insertion order in results without ORDER BY
    (``preserve_insertion_order``, its default). That is a setting, not a promise of SQL, so ``pos`` is checked
    to have only grown; the caller falls back to ``ORDER BY pos`` (correct, a sort slower) if it did not.
    """
    rows = _table(
        duck,
        f"SELECT chat_no, pos, ts_ms, is_from_me <> 0 AS outbound FROM messages WHERE ts_ms <= $as_of {order}",
        {"as_of": as_of_ms},
    )
    pos = rows["pos"]
    if len(pos) > 1 and not pc.all(pc.less(pos[:-1], pos[1:])).as_py():
        return None
    return cut_conversations(rows, SESSION_GAP_MS)


def _build_turns(
    duck: duckdb.DuckDBPyConnection, wall: Callable[[str], str], business: Callable[[str, str], str]
) -> None:
    """``turns``: one row per customer turn (a run of inbound messages), with the business reply that ended it."""
    duck.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE turns AS
        WITH opening AS (
            SELECT t.chat_no, t.pos, k.kind, t.start_ts, t.reply_ts, {wall("t.start_ts")} AS start_wall,
                   {wall("t.reply_ts")} AS reply_wall
            FROM turn_starts t JOIN chat_kind k USING (chat_no) WHERE t.is_turn
        ), timed AS (
            SELECT * EXCLUDE (reply_wall), {business("start_ts", "start_wall")} AS start_bt,
                   {business("reply_ts", "reply_wall")} AS reply_bt
            FROM opening
        )
        SELECT *, (reply_ts - start_ts) / 1000.0 AS reply_s,
               CASE WHEN reply_ts IS NOT NULL THEN greatest(reply_bt - start_bt, 0) / 1000.0 END AS bh_reply_s,
               date_trunc('week', epoch_ms(start_wall))::DATE AS week
        FROM timed
        """
    )


def _run(duck: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` with the subset of ``params`` it names (DuckDB rejects unused named parameters)."""
    used = set(re.findall(r"\$(\w+)", sql))
    return duck.execute(sql, {k: v for k, v in (params or {}).items() if k in used})


def _table(duck: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
    """``sql`` as an Arrow table (through a relation: a DB-API cursor would copy the rows once more)."""
    used = set(re.findall(r"\$(\w+)", sql))
    return duck.sql(sql, params={k: v for k, v in (params or {}).items() if k in used}).to_arrow_table()


def _one(duck: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    rel = _run(duck, sql, params)
    names = [d[0] for d in rel.description]
    rows = rel.fetchall()  # not fetchone(): DuckDB keeps an unfinished result open, and the next relation fails
    return dict(zip(names, rows[0], strict=True)) if rows else dict.fromkeys(names)


def _rows(duck: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rel = _run(duck, sql, params)
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def _round(value: Any) -> Any:
    """JSON-stable numbers: floats to 3 decimals, dates as ISO text."""
    if isinstance(value, float):
        return round(value, 3)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _duration_stats(
    duck: duckdb.DuckDBPyConnection, table: str, column: str, where: str, params: dict[str, Any]
) -> dict[str, Any]:
    """count / median / p90 / mean / buckets of ``column`` over the non-null rows of ``table`` matching ``where``."""
    bucket_sql = ", ".join(
        f"count(*) FILTER (WHERE {column} >= {lo}{'' if hi is None else f' AND {column} < {hi}'}) AS b{i}"
        for i, (_, lo, hi) in enumerate(FRT_BUCKETS)
    )
    row = _one(
        duck,
        f"""
        SELECT count({column}) AS n, quantile_cont({column}, 0.5) AS median_s, quantile_cont({column}, 0.9) AS p90_s,
               avg({column}) AS mean_s, {bucket_sql}
        FROM {table} WHERE {where}
        """,
        params,
    )
    n = int(row["n"] or 0)
    buckets = [
        {
            "label": label,
            "lower_s": lo,
            "upper_s": hi,
            "count": int(row[f"b{i}"] or 0),
            "share": (int(row[f"b{i}"] or 0) / n) if n else None,
        }
        for i, (label, lo, hi) in enumerate(FRT_BUCKETS)
    ]
    return {
        "count": n,
        "median_s": _round(row["median_s"]),
        "p90_s": _round(row["p90_s"]),
        "mean_s": _round(row["mean_s"]),
        "buckets": [{k: _round(v) for k, v in b.items()} for b in buckets],
    }


def _bucket_columns(column: str, prefix: str) -> str:
    """``count(...) AS <prefix>_under_5min, ...``: one count per FRT bucket, for the weekly table."""
    return ", ".join(
        f"count({column}) FILTER (WHERE {column} >= {lo}{'' if hi is None else f' AND {column} < {hi}'})"
        f" AS {prefix}_{key}"
        for key, (_, lo, hi) in zip(BUCKET_KEYS, FRT_BUCKETS, strict=True)
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _chat_labels(duck: duckdb.DuckDBPyConnection) -> None:
    """``labels``: a display name per chat; phone numbers masked, the business's own numbers never shown."""
    duck.execute(
        """
        CREATE OR REPLACE TEMP TABLE labels AS
        WITH own AS (
            SELECT DISTINCT split_part(own_sender, '@', 1) AS user_part FROM chats WHERE own_sender IS NOT NULL
        )
        SELECT c.chat_no, nullif(trim(c.name), '') AS chat_name, c.sender_name,
               split_part(c.jid, '@', 1) AS user_part,
               split_part(c.jid, '@', 1) IN (SELECT user_part FROM own) AS is_own
        FROM chats c
        """
    )


def _label(chat_name: str | None, sender_name: str | None, user_part: str) -> str:
    """A known name (with any phone-like digits in it masked), else the masked number."""
    for name in (chat_name, sender_name):
        if name and name.strip() and name.strip().lstrip("+") != user_part:
            return redact(name.strip())
    if user_part.isdigit():
        return mask_phone("+" + user_part)
    return "unknown contact"


def _distinct_labels(rows: list[dict[str, Any]]) -> list[str]:
    """:func:`_label` of each row, with the masked number added where two chats of the list would read the same
    (two customers named alike must stay two bars, two table rows a manager can tell apart)."""
    labels = [_label(r["chat_name"], r["sender_name"], r["user_part"]) for r in rows]
    counts = collections.Counter(labels)
    seen: collections.Counter[str] = collections.Counter()
    distinct = []
    for label, row in zip(labels, rows, strict=True):
        if counts[label] > 1:
            number = mask_phone("+" + row["user_part"]) if row["user_part"].isdigit() else ""
            seen[label] += 1
            suffix = number if number and number != label else f"#{seen[label]}"
            label = f"{label} ({suffix})"
        distinct.append(label)
    return distinct


def _series_bounds(
    since_ms: int | None, as_of_ms: int | None, first_ms: int | None, newest_ms: int | None
) -> dict[str, Any]:
    """The daily series' first and last instants: the period, cut to the days that have messages (a --since years
    before the data, or an --until years after it, would otherwise make a row, and a chart bar, for every day)."""
    if since_ms is None or as_of_ms is None or since_ms > as_of_ms:
        return {"has_days": False, "series_from": 0, "series_to": 0}
    start = max(since_ms, first_ms) if first_ms is not None else since_ms
    end = min(as_of_ms, newest_ms) if newest_ms is not None else as_of_ms
    if start > end:  # no message in the period: its days, but at most one
        start = end = since_ms
    return {"has_days": True, "series_from": start, "series_to": end}


def compute_kpis(
    duck: duckdb.DuckDBPyConnection, options: ReportOptions, *, store_newest_ms: int | None = None
) -> Analysis:
    """All KPIs of KPIS.md for ``duck`` (a connection from :func:`~wamcp.analytics.load.load_store`).

    The as-of time is ``options.until_ms``, else ``store_newest_ms`` (the newest message of the whole store, when
    ``duck`` holds only some of its accounts), else the newest message loaded.
    """
    newest = duck.execute("SELECT max(ts_ms) FROM messages").fetchone()
    newest_ms = newest[0] if newest else None
    as_of_ms: int | None = options.until_ms
    if as_of_ms is None:
        as_of_ms = store_newest_ms if store_newest_ms is not None else newest_ms
        if as_of_ms is not None and options.since_ms is not None and options.since_ms > as_of_ms:
            newest_day = datetime.fromtimestamp(as_of_ms / 1000, ZoneInfo(options.timezone)).date().isoformat()
            raise ConfigError(
                f"--since is after the newest message in the store ({newest_day}): the period would end before it"
                " starts",
                hint="pass an earlier --since, or an --until after it for an empty period",
            )
    _build_tables(duck, options, as_of_ms if as_of_ms is not None else 0)
    first = duck.execute("SELECT min(ts_ms) FROM msg").fetchone()
    first_ms = first[0] if first else None
    since_ms = options.since_ms if options.since_ms is not None else first_ms
    scope = _scope_sql(options.include_groups)
    p: dict[str, Any] = {
        "since": since_ms if since_ms is not None else 0,
        "as_of": as_of_ms if as_of_ms is not None else 0,
        "target_ms": int(options.target_s * 1000),
        "tz": options.timezone,
    }
    in_period = f"{scope} AND start_ts >= $since"

    period = _one(
        duck,
        """
        SELECT CASE WHEN $since > $as_of THEN 0 ELSE
               date_diff('day', timezone($tz, epoch_ms($since::BIGINT)::TIMESTAMPTZ)::DATE,
                                timezone($tz, epoch_ms($as_of::BIGINT)::TIMESTAMPTZ)::DATE) + 1 END AS days
        """,
        p,
    )
    period_days = int(period["days"]) if as_of_ms is not None and since_ms is not None else 0

    # --- response KPIs (customer-initiated sessions of direct chats, groups too with --include-groups)
    frt_clock = _duration_stats(duck, "frt", "frt_s", in_period, p)
    frt_bh = _duration_stats(duck, "frt", "bh_frt_s", in_period, p)
    counts = _one(
        duck,
        f"""
        SELECT count(*) AS sessions, count(*) FILTER (WHERE answered) AS answered,
               count(*) FILTER (WHERE answered AND frt_s * 1000 <= $target_ms) AS within_target,
               count(*) FILTER (WHERE answered AND bh_frt_s * 1000 <= $target_ms) AS within_target_bh,
               -- sessions younger than the target are left out, answered or not (KPIS.md): keeping the young ones
               -- that happen to be answered already would flatter the rate with the quickest answers
               count(*) FILTER (WHERE start_ts <= $as_of - $target_ms) AS eligible,
               count(*) FILTER (WHERE start_ts <= $as_of - $target_ms AND NOT answered) AS unanswered
        FROM frt WHERE {in_period}
        """,
        p,
    )
    sessions_n, answered_n = int(counts["sessions"]), int(counts["answered"])
    eligible_n, unanswered_n = int(counts["eligible"]), int(counts["unanswered"])
    reply_clock = _duration_stats(duck, "turns", "reply_s", in_period, p)
    reply_bh = _duration_stats(duck, "turns", "bh_reply_s", in_period, p)
    turns_total = _one(duck, f"SELECT count(*) AS n FROM turns WHERE {in_period}", p)["n"]

    weekly_sql = f"""
        WITH first_response AS (
            SELECT week, count(*) AS sessions, count(*) FILTER (WHERE answered) AS answered,
                   quantile_cont(frt_s, 0.5) AS median_s, quantile_cont(frt_s, 0.9) AS p90_s, avg(frt_s) AS mean_s,
                   quantile_cont(bh_frt_s, 0.5) AS bh_median_s, quantile_cont(bh_frt_s, 0.9) AS bh_p90_s,
                   avg(bh_frt_s) AS bh_mean_s,
                   count(*) FILTER (WHERE answered AND frt_s * 1000 <= $target_ms) AS within_target,
                   round(count(*) FILTER (WHERE answered AND frt_s * 1000 <= $target_ms)
                         / nullif(count(*) FILTER (WHERE answered), 0), 6) AS attainment,
                   {_bucket_columns("frt_s", "frt")}, {_bucket_columns("bh_frt_s", "bh_frt")}
            FROM frt WHERE {in_period} GROUP BY week
        ), replies AS (
            SELECT week, count(reply_s) AS replies, quantile_cont(reply_s, 0.5) AS reply_median_s,
                   quantile_cont(reply_s, 0.9) AS reply_p90_s, avg(reply_s) AS reply_mean_s,
                   quantile_cont(bh_reply_s, 0.5) AS bh_reply_median_s,
                   quantile_cont(bh_reply_s, 0.9) AS bh_reply_p90_s, avg(bh_reply_s) AS bh_reply_mean_s
            FROM turns WHERE {in_period} GROUP BY week
        )
        SELECT week AS week_start, * EXCLUDE (week) FROM first_response LEFT JOIN replies USING (week) ORDER BY week
        """
    weekly_table = _table(duck, weekly_sql, p)  # computed once: the JSON figures and weekly.csv
    weekly = [{key: _round(value) for key, value in row.items()} for row in weekly_table.to_pylist()]

    # --- waiting now: chats whose last message (as of the as-of time) is from the customer
    _chat_labels(duck)
    _run(
        duck,
        f"""
        CREATE OR REPLACE TEMP TABLE waiting AS
        WITH last_msg AS (
            SELECT chat_no, any_value(kind) AS kind, arg_max(outbound, (ts_ms, pos)) AS last_out,
                   max(ts_ms) AS last_ts
            FROM msg GROUP BY chat_no
        ), last_turn AS (
            SELECT chat_no, arg_max(start_ts, pos) AS waiting_since FROM turns GROUP BY chat_no
        )
        SELECT k.chat_jid, m.chat_no, t.waiting_since AS waiting_since_ts_ms, m.last_ts AS last_inbound_ts_ms,
               ($as_of - t.waiting_since) / 1000.0 AS waited_seconds,
               ($as_of - t.waiting_since) > {DAY_MS} AS past_24h,
               ($as_of - m.last_ts) <= {DAY_MS} AS reply_window_open
        FROM last_msg m JOIN last_turn t USING (chat_no) JOIN chat_kind k USING (chat_no)
        JOIN labels l USING (chat_no)
        -- a note-to-self is not a customer waiting, and must not put the business's number on the page
        WHERE NOT m.last_out AND NOT l.is_own AND {scope.replace("kind", "m.kind")}
        ORDER BY waiting_since, chat_jid
        """,
        p,
    )
    waiting_rows = _rows(
        duck,
        "SELECT w.*, l.chat_name, l.sender_name, l.user_part FROM waiting w JOIN labels l "
        "USING (chat_no) ORDER BY waiting_since_ts_ms, chat_jid",
    )
    waiting_list = []
    for row, customer in zip(waiting_rows, _distinct_labels(waiting_rows), strict=True):
        waiting_list.append(
            {
                "customer": customer,
                "waiting_since_ts_ms": row["waiting_since_ts_ms"],
                "last_inbound_ts_ms": row["last_inbound_ts_ms"],
                "waited_s": _round(row["waited_seconds"]),
                "past_24h": bool(row["past_24h"]),
                "reply_window_open": bool(row["reply_window_open"]),
            }
        )

    # --- volume: every chat counts, groups included
    volume = _one(
        duck,
        """
        SELECT count(*) AS messages, count(*) FILTER (WHERE NOT outbound) AS inbound,
               count(*) FILTER (WHERE outbound) AS outbound,
               count(*) FILTER (WHERE kind = 'group') AS group_messages, count(DISTINCT chat_no) AS chats
        FROM msg WHERE ts_ms >= $since
        """,
        p,
    )
    _run(
        duck,
        """
        CREATE OR REPLACE TEMP TABLE daily AS
        WITH days AS (
            SELECT d::DATE AS day FROM range(
                timezone($tz, epoch_ms($series_from::BIGINT)::TIMESTAMPTZ)::DATE,
                timezone($tz, epoch_ms($series_to::BIGINT)::TIMESTAMPTZ)::DATE + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
            WHERE $has_days
        ), counts AS (
            SELECT epoch_ms(wall_ms)::DATE AS day, count(*) FILTER (WHERE NOT outbound) AS inbound,
                   count(*) FILTER (WHERE outbound) AS outbound
            FROM msg WHERE ts_ms >= $since GROUP BY day
        )
        SELECT day, coalesce(inbound, 0) AS inbound, coalesce(outbound, 0) AS outbound
        FROM days LEFT JOIN counts USING (day) ORDER BY day
        """,
        p | _series_bounds(since_ms, as_of_ms, first_ms, newest_ms),
    )
    _run(
        duck,
        """
        CREATE OR REPLACE TEMP TABLE heatmap AS
        WITH cells AS (
            SELECT isodow(epoch_ms(wall_ms)) AS weekday, hour(epoch_ms(wall_ms)) AS hour,
                   count(*) FILTER (WHERE NOT outbound) AS inbound, count(*) FILTER (WHERE outbound) AS outbound
            FROM msg WHERE ts_ms >= $since GROUP BY ALL
        )
        SELECT d.weekday, h.hour, coalesce(c.inbound, 0) AS inbound, coalesce(c.outbound, 0) AS outbound
        FROM range(1, 8) d(weekday) CROSS JOIN range(0, 24) h(hour)
        LEFT JOIN cells c ON c.weekday = d.weekday AND c.hour = h.hour
        ORDER BY d.weekday, h.hour
        """,
        p,
    )
    busiest_cells = _rows(
        duck,
        "SELECT weekday, hour, inbound, outbound FROM heatmap WHERE inbound > 0 "
        "ORDER BY inbound DESC, weekday, hour LIMIT 3",
    )
    busiest_hours = _rows(
        duck,
        "SELECT hour, sum(inbound)::BIGINT AS inbound FROM heatmap GROUP BY hour HAVING sum(inbound) > 0 "
        "ORDER BY inbound DESC, hour LIMIT 3",
    )

    # --- customers: direct chats that ever wrote to the business (never the business's own number)
    _run(
        duck,
        """
        CREATE OR REPLACE TEMP TABLE customers AS
        WITH per_chat AS (
            SELECT chat_no, min(ts_ms) FILTER (WHERE NOT outbound) AS first_inbound_ts_ms,
                   max(ts_ms) FILTER (WHERE NOT outbound) AS last_inbound_ts_ms,
                   count(*) FILTER (WHERE NOT outbound AND ts_ms >= $since) AS inbound_in_period,
                   count(*) FILTER (WHERE outbound AND ts_ms >= $since) AS outbound_in_period
            FROM msg WHERE kind = 'direct' GROUP BY chat_no
        ), per_session AS (
            SELECT chat_no, count(*) AS sessions_in_period, quantile_cont(frt_s, 0.5) AS median_frt_s
            FROM frt WHERE start_ts >= $since GROUP BY chat_no
        )
        SELECT k.chat_jid, l.chat_name, l.sender_name, l.user_part, c.first_inbound_ts_ms, c.last_inbound_ts_ms,
               c.inbound_in_period, c.outbound_in_period, coalesce(s.sessions_in_period, 0) AS sessions_in_period,
               s.median_frt_s,
               c.inbound_in_period > 0 AS is_active,
               c.first_inbound_ts_ms >= $since AS is_new,
               c.inbound_in_period > 0 AND c.first_inbound_ts_ms < $since AS is_returning,
               c.last_inbound_ts_ms <= $as_of - $dormant_ms AS is_dormant
        FROM per_chat c JOIN labels l USING (chat_no) JOIN chat_kind k USING (chat_no)
        LEFT JOIN per_session s USING (chat_no)
        WHERE c.first_inbound_ts_ms IS NOT NULL AND NOT l.is_own
        ORDER BY c.inbound_in_period DESC, k.chat_jid
        """,
        p | {"dormant_ms": options.dormant_days * DAY_MS},
    )
    customer_counts = _one(
        duck,
        """
        SELECT count(*) AS known, count(*) FILTER (WHERE is_active) AS is_active,
               count(*) FILTER (WHERE is_new) AS is_new,
               count(*) FILTER (WHERE is_returning) AS is_returning, count(*) FILTER (WHERE is_dormant) AS is_dormant,
               count(*) FILTER (WHERE sessions_in_period >= 2) AS repeat
        FROM customers
        """,
    )
    busiest_rows = _rows(duck, "SELECT * FROM customers WHERE inbound_in_period > 0 LIMIT 10")
    busiest_customers = [
        {
            "customer": customer,
            "inbound": r["inbound_in_period"],
            "sessions": r["sessions_in_period"],
            "median_frt_s": _round(r["median_frt_s"]),
        }
        for r, customer in zip(busiest_rows, _distinct_labels(busiest_rows), strict=True)
    ]

    # --- workload, in the response scope
    work = _one(
        duck,
        f"""
        SELECT count(*) FILTER (WHERE NOT outbound) AS inbound, count(*) FILTER (WHERE outbound) AS outbound
        FROM msg WHERE {scope} AND ts_ms >= $since
        """,
        p,
    )
    durations = _one(
        duck,
        f"""
        SELECT count(*) AS sessions, quantile_cont((end_ts - start_ts) / 1000.0, 0.5) AS median_s,
               quantile_cont((end_ts - start_ts) / 1000.0, 0.9) AS p90_s, avg((end_ts - start_ts) / 1000.0) AS mean_s
        FROM sessions WHERE {in_period}
        """,
        p,
    )
    media = _rows(
        duck,
        "SELECT coalesce(media_type, 'text') AS type, count(*) AS count FROM msg WHERE ts_ms >= $since "
        "GROUP BY ALL ORDER BY count DESC, type",
        p,
    )
    media_total = sum(int(m["count"]) for m in media)
    for m in media:
        m["share"] = _ratio(int(m["count"]), media_total)

    def ts_iso(ms: int | None) -> str | None:
        return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()

    kpis: dict[str, Any] = {
        "schema_version": KPIS_SCHEMA_VERSION,
        "options": {
            "timezone": options.timezone,
            "business_hours": options.business_hours.text,
            "target_s": options.target_s,
            "since_ts_ms": options.since_ms,
            "until_ts_ms": options.until_ms,
            "include_groups": options.include_groups,
            "dormant_days": options.dormant_days,
        },
        "as_of": {"ts_ms": as_of_ms, "utc": ts_iso(as_of_ms)},
        "period": {"start_ts_ms": since_ms, "start_utc": ts_iso(since_ms), "days": period_days},
        "has_data": int(volume["messages"]) > 0,
        "frt": {
            "sessions": sessions_n,
            "answered": answered_n,
            "clock": frt_clock,
            "business_hours": frt_bh,
            "weekly": weekly,
        },
        "target": {
            "target_s": options.target_s,
            "answered": answered_n,
            "within_target": int(counts["within_target"]),
            "attainment": _ratio(int(counts["within_target"]), answered_n),
            "within_target_business_hours": int(counts["within_target_bh"]),
            "attainment_business_hours": _ratio(int(counts["within_target_bh"]), answered_n),
        },
        "unanswered": {
            "eligible_sessions": eligible_n,
            "unanswered": unanswered_n,
            "rate": _ratio(unanswered_n, eligible_n),
        },
        "reply_time": {"turns": int(turns_total), "clock": reply_clock, "business_hours": reply_bh},
        "waiting_now": {
            "count": len(waiting_list),
            "past_24h": sum(1 for w in waiting_list if w["past_24h"]),
            "oldest_waited_s": waiting_list[0]["waited_s"] if waiting_list else None,
            # the oldest ones; waiting_now.csv lists every waiting chat
            "chats": waiting_list[:WAITING_LIST_LIMIT],
            # those a free-form reply still reaches (last inbound message within 24 h), also oldest first: in a long
            # list the oldest ones are all past that window
            "reply_window_open": sum(1 for w in waiting_list if w["reply_window_open"]),
            "open_chats": [w for w in waiting_list if w["reply_window_open"]][:WAITING_LIST_LIMIT],
        },
        "volume": {
            "messages": int(volume["messages"]),
            "inbound": int(volume["inbound"]),
            "outbound": int(volume["outbound"]),
            "group_messages": int(volume["group_messages"]),
            "chats": int(volume["chats"]),
            "per_day_mean": _ratio(int(volume["messages"]), period_days),
            "busiest_hours": busiest_hours,
            "busiest_slots": [
                {"weekday": _WEEKDAYS[int(c["weekday"]) - 1], "hour": int(c["hour"]), "inbound": int(c["inbound"])}
                for c in busiest_cells
            ],
        },
        "customers": {
            "known": int(customer_counts["known"] or 0),
            "active": int(customer_counts["is_active"] or 0),
            "new": int(customer_counts["is_new"] or 0),
            "returning": int(customer_counts["is_returning"] or 0),
            "dormant": int(customer_counts["is_dormant"] or 0),
            "repeat": int(customer_counts["repeat"] or 0),
            "busiest": busiest_customers,
        },
        "workload": {
            "inbound": int(work["inbound"]),
            "outbound": int(work["outbound"]),
            "business_to_customer_ratio": _ratio(int(work["outbound"]), int(work["inbound"])),
            "sessions": int(durations["sessions"]),
            "sessions_per_day": _ratio(int(durations["sessions"]), period_days),
            "session_duration": {
                "median_s": _round(durations["median_s"]),
                "p90_s": _round(durations["p90_s"]),
                "mean_s": _round(durations["mean_s"]),
            },
            "media": media,
        },
    }
    tables = {
        "frt_sessions": _table(
            duck,
            f"""
            SELECT k.chat_jid, start_ts AS session_start_ts_ms, start_ts AS first_inbound_ts_ms,
                   first_out_ts AS first_response_ts_ms, frt_s AS frt_seconds, bh_frt_s AS bh_frt_seconds, answered
            FROM frt JOIN chat_kind k USING (chat_no, kind) WHERE {in_period} ORDER BY start_ts, k.chat_jid
            """,
            p,
        ),
        "waiting_now": _with_labels(
            _table(
                duck,
                "SELECT w.* EXCLUDE (chat_no), l.chat_name, l.sender_name, l.user_part FROM waiting w "
                "JOIN labels l USING (chat_no) "
                "ORDER BY waiting_since_ts_ms, chat_jid",
            )
        ),
        "weekly": weekly_table,
        "heatmap": _table(duck, "SELECT * FROM heatmap"),
        "daily": _table(duck, "SELECT * FROM daily"),
        "customers": _with_labels(
            _table(
                duck,
                """
                SELECT chat_jid, first_inbound_ts_ms, last_inbound_ts_ms, inbound_in_period, outbound_in_period,
                       sessions_in_period, median_frt_s, is_active, is_new, is_returning, is_dormant,
                       chat_name, sender_name, user_part
                FROM customers
                """,
            )
        ),
    }
    log.debug("computed KPIs: %d customer-initiated sessions, %d waiting", sessions_n, len(waiting_list))
    return Analysis(kpis=kpis, tables=tables)


def _with_labels(table: pa.Table) -> pa.Table:
    """Replace the raw name columns by one display ``customer`` column (masked number unless a name is known)."""
    names = table.select(["chat_name", "sender_name", "user_part"]).to_pylist()
    labels = strings(_label(n["chat_name"], n["sender_name"], n["user_part"]) for n in names)
    return table.drop_columns(["chat_name", "sender_name", "user_part"]).add_column(1, "customer", labels)


def analyze(db_path: Path | str, options: ReportOptions | None = None) -> Analysis:
    """Load the store at ``db_path`` and compute every KPI (the Python entry point without HTML)."""
    opts = options or ReportOptions()
    # KPIS.md: "now" is the newest message in the store, so one account's report has the same clock as the others'
    store_newest_ms = newest_message_ms(Path(db_path)) if opts.accounts is not None and opts.until_ms is None else None
    duck = load_store(Path(db_path), until_ms=opts.until_ms, accounts=opts.accounts)
    try:
        analysis = compute_kpis(duck, opts, store_newest_ms=store_newest_ms)
    finally:
        duck.close()
    # which accounts' chats the figures cover (a store may hold several business numbers)
    analysis.kpis["accounts"] = list(opts.accounts) if opts.accounts is not None else store_accounts(Path(db_path))
    return analysis
