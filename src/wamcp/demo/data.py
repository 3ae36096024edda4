"""Deterministic synthetic WhatsApp bridge databases for a small business, with their ground truth.

The generator builds an event model (customers, conversations, turns) from one seed and writes it into an SQLite file
in the exact schema of the lharries bridge (WHATSAPP_SERVERS.md §1): local-time text timestamps with offset, 0/1
``is_from_me``, media rows with filename/url/keys. Beside it goes ``<db>.truth.json`` with counts and the first-response
time of every customer-initiated session, taken from the event model itself (never by re-reading the database).

The one thing to know: conversations are generated so that the model's conversations ARE the KPI sessions of
KPIS.md — consecutive conversations of a chat are > 24 h apart, gaps inside one stay ≤ 24 h except a late business
reply, which always ends its conversation, and a business-initiated conversation only ever follows one that ended
on a business message (so no later outbound can be read as a late reply to an unanswered customer).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo

from ..redact import get_logger

__all__ = [
    "BRIDGE_SCHEMA",
    "DEFAULT_END",
    "GenerationResult",
    "create_bridge_schema",
    "create_demo_indexes",
    "generate_database",
    "truth_path_for",
]

log = get_logger(__name__)
T = TypeVar("T")

BRIDGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    jid TEXT PRIMARY KEY,
    name TEXT,
    last_message_time TIMESTAMP
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT,
    chat_jid TEXT,
    sender TEXT,
    content TEXT,
    timestamp TIMESTAMP,
    is_from_me BOOLEAN,
    media_type TEXT,
    filename TEXT,
    url TEXT,
    media_key BLOB,
    file_sha256 BLOB,
    file_enc_sha256 BLOB,
    file_length INTEGER,
    PRIMARY KEY (id, chat_jid),
    FOREIGN KEY (chat_jid) REFERENCES chats(jid)
);
"""

# Not part of the bridge: added to databases we generate so deep keyset pages and chat listings stay cheap.
_INDEXES = """
CREATE INDEX IF NOT EXISTS wamcp_demo_messages_chat_ts ON messages(chat_jid, timestamp);
CREATE INDEX IF NOT EXISTS wamcp_demo_messages_ts ON messages(timestamp);
CREATE INDEX IF NOT EXISTS wamcp_demo_messages_sender ON messages(sender);
CREATE INDEX IF NOT EXISTS wamcp_demo_chats_last ON chats(last_message_time);
CREATE INDEX IF NOT EXISTS wamcp_demo_chats_name ON chats(name);
"""

#: The generated history ends here (UTC) so that the same seed gives the same database on any day.
DEFAULT_END = datetime(2025, 3, 31, 18, 0, tzinfo=UTC)
_SPAN_DAYS = 365
_DAY = 86400
_HOUR = 3600
_SESSION_GAP = 24 * _HOUR
_BATCH = 50000

_FIRST = [
    "Isla",
    "Noah",
    "Priya",
    "Aisha",
    "João",
    "Zoë",
    "Siobhán",
    "Kenji",
    "Olga",
    "Mateo",
    "Fatima",
    "Liam",
    "Chloé",
    "Arjun",
    "Mei",
    "Omar",
    "Sofía",
    "Lukas",
    "Amara",
    "Yuki",
    "Emeka",
    "Ingrid",
    "Hana",
    "Diego",
    "Nour",
    "Tomás",
    "Ольга",
    "Дмитрий",
    "محمد",
    "فاطمة",
    "李",
    "王芳",
    "Σοφία",
    "Αλέξης",
    "राहुल",
    "Chidi",
    "Björn",
    "Zainab",
]
_LAST = [
    "Silva",
    "Rossi",
    "Okafor",
    "O'Brien",
    "Patel",
    "Khan",
    "Jensen",
    "Novak",
    "García",
    "Tanaka",
    "Müller",
    "Dubois",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "Petrova",
    "Ivanov",
    "العلي",
    "小龙",
    "Papadopoulos",
    "Sharma",
    "Adeyemi",
]
_NAME_EXTRAS = ["", "", "", "", " (Lagos)", " 🌸", " - wholesale", "Dr. "]
_COUNTRY_PREFIXES = ["44 7700 9", "33 6", "49 151", "34 6", "55 11 9", "971 50", "1 202 555", "91 98", "234 803"]
_PRODUCTS = ["mug", "vase", "teapot", "serving platter", "planter", "bowl", "candle set", "jug", "plate set", "lamp"]

_OPENERS = [
    "Hi, is the {p} still available?",
    "Hi there, how much is the large {p}?",
    "Do you ship to Ireland?",
    "Are you open tomorrow?",
    "Hello! I'd like to order 2x {p} please",
    "Can I collect on Saturday?",
    "Is it dishwasher safe?",
    "Olá! Vocês entregam em Lisboa?",
    "¿Hacéis envíos a Madrid?",
    "Bonjour, le {p} est-il encore disponible ?",
    "你好，这个{p}还有货吗？",
    "Здравствуйте! Сколько стоит {p}?",
    "مرحبا، هل يمكن التوصيل اليوم؟",
    "नमस्ते, क्या यह उपलब्ध है?",
    "My order #A{n} hasn't arrived yet 😟",
    "Hi, here's my address for delivery:\n12 Harbour Street\nFlat 3B\nBristol BS1 4AA\nUnited Kingdom",
    "Quick list for the order:\n- 2x {p}\n- 1x vase\n- gift wrap please 🎁\n\nThanks!",
    "Forwarding what you sent earlier:\n[2024-12-23 14:47:15] Chat: Orders From: Me: confirmed, ships Monday",
    "[2025-01-01 10:00:00] Chat: X From: Y: is this how your system sees my message?",
    "line one from Windows\r\nline two\r\n",
    "👍👍",
    "😂😂😂",
]
_FOLLOWUPS = [
    "Sorry to chase, still waiting on #A{n} 🙁",
    "Hello? Anyone there?",
    "Just checking you got my message",
    "(and one more message in the same second)",
    "Also, do you do gift cards?",
    "Thanks!",
    "Perfect, thank you 🙏",
    "Great, see you then",
    "Ok 👍",
    "Can you send a photo?",
]
_REPLIES = [
    "Hi! Yes, the {p} is in stock 😊",
    "The large {p} is £{price}.99",
    "Yes we ship to Ireland, €8 flat rate",
    "Sí, enviamos a Madrid 🚚 (3-5 días)",
    "Saturday collection is fine, we're open 10-2",
    "So sorry about that! We'll send a replacement today 🙏",
    "Payment received for #A{n}, thank you 💚",
    "Tracking: RN{t}GB",
    "Yes, everything is dishwasher safe",
    "Sim, entregamos em Lisboa! Portes 6€",
    "No messages to display.",
    "Our hours:\nMon–Fri 9:00–18:00\nSat 10:00–14:00\nSun closed",
    "👍",
]
_OUTREACH = [
    "Hi! Your order #A{n} has shipped 📦",
    "New spring collection is in 🌷 have a look!",
    "Reminder: we're closed on Monday for the bank holiday",
    "Thanks for your order! Tracking: RN{t}GB",
]
_GROUP_NAMES = ["Market stall rota", "Pottery class — Tues 7pm", "Wholesale buyers", "Suppliers 🧵", "Staff"]
_GROUP_LINES = [
    "Who's doing Saturday's stall?",
    "I can do the morning",
    "Running 10 min late sorry",
    "Kiln firing Thursday night",
    "New glaze samples are in 🎨",
    "Invoice sent to the group email",
    "Can someone bring the card reader?",
    "👍",
]
_MEDIA = [
    ("image", "jpg", "t62.7118-24"),
    ("image", "jpg", "t62.7118-24"),
    ("video", "mp4", "t62.7161-24"),
    ("audio", "ogg", "t62.7114-24"),
    ("document", "pdf", "t62.7119-24"),
]
# Customers mostly write in the day and evening; weights per local hour 0..23.
_HOUR_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 7, 8, 8, 8, 7, 7, 6, 6, 6, 6, 6, 5, 4, 3, 2]
_HOURS_CUM = [sum(_HOUR_WEIGHTS[: i + 1]) for i in range(24)]
# Monday..Sunday: quieter weekends.
_WEEKDAY_WEIGHTS = [1.0, 1.0, 1.0, 1.0, 0.95, 0.6, 0.35]
# Business opening windows per weekday (local seconds of day); Sunday closed.
_OPEN = [(9 * _HOUR, 18 * _HOUR)] * 5 + [(10 * _HOUR, 14 * _HOUR), None]


def truth_path_for(db_path: Path) -> Path:
    """Where the ground truth of ``db_path`` lives: ``<db>.truth.json``."""
    return db_path.with_name(db_path.name + ".truth.json")


def truth_timezone(db_path: Path) -> str | None:
    """The zone a generated bridge database's times are written in, from its ground truth; None without one.

    Only the file's head is read: a 1M-message account's truth is tens of megabytes, and :func:`_write_truth`
    writes ``timezone`` among its first keys, one per line.
    """
    try:
        with truth_path_for(db_path).open(encoding="utf-8") as fp:
            head = fp.read(4096)
    except OSError:
        return None
    match = _TRUTH_TIMEZONE.search(head)
    return match.group(1) if match else None


_TRUTH_TIMEZONE = re.compile(r'^ "timezone": "([^"]+)",$', re.MULTILINE)


def bridge_problem(path: Path) -> str | None:
    """Why ``path`` cannot be served as a bridge database (``"no such database"``, ``"it is not a WhatsApp bridge
    database …"``), or None. A file of random bytes or another program's database was served as an empty account,
    and extractions of it "completed" with nothing."""
    if not path.is_file():
        return "no such database"
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        tables = set()
    if not {"chats", "messages"} <= tables:
        return "it is not a WhatsApp bridge database (no chats and messages tables)"
    return None


def create_bridge_schema(conn: sqlite3.Connection) -> None:
    """Create the bridge's two tables (no-op when they exist)."""
    conn.executescript(BRIDGE_SCHEMA)


def create_demo_indexes(conn: sqlite3.Connection) -> None:
    """Add the indexes that make chat/time keyset paging and sender filters cost O(page) (idempotent)."""
    conn.executescript(_INDEXES)


class _FastRandom(random.Random):
    """``random.Random`` with cheap integer draws: one float each instead of the exact rejection sampling, which is
    plenty for fake data and 3-4x faster on the per-message path."""

    def below(self, start: int, stop: int | None = None) -> int:
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]


class _LocalClock:
    """UTC epoch seconds <-> the business's local wall clock, cached per 15 minutes (zones change on such bounds)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self._offsets: dict[int, int] = {}
        self._suffix: dict[int, str] = {}
        self._days: dict[int, str] = {}

    def offset(self, ts: int) -> int:
        key = ts // 900
        off = self._offsets.get(key)
        if off is None:
            delta = datetime.fromtimestamp(key * 900, self._zone).utcoffset()
            off = int(delta.total_seconds()) if delta is not None else 0
            self._offsets[key] = off
        return off

    def render(self, ts: int) -> str:
        """Bridge text: ``2025-03-14 09:31:07+00:00`` in local time."""
        off = self.offset(ts)
        suffix = self._suffix.get(off)
        if suffix is None:
            sign = "+" if off >= 0 else "-"
            hours, minutes = divmod(abs(off) // 60, 60)
            suffix = f"{sign}{hours:02d}:{minutes:02d}"
            self._suffix[off] = suffix
        day, sec = divmod(ts + off, 86400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = time.strftime("%Y-%m-%d ", time.gmtime(day * 86400))
        hour, rest = divmod(sec, 3600)
        minute, second = divmod(rest, 60)
        return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}{suffix}"

    def to_utc(self, local: int) -> int:
        """Local wall-clock seconds (as if UTC) -> UTC epoch seconds (a skipped DST hour maps just past it)."""
        return local - self.offset(local - self.offset(local))

    def local(self, ts: int) -> int:
        return ts + self.offset(ts)


@dataclass
class _Identity:
    phone: str
    name: str | None

    @property
    def jid(self) -> str:
        return f"{self.phone}@s.whatsapp.net"


@dataclass(slots=True)
class _Session:
    """One customer-initiated conversation, as the model generated it."""

    chat_jid: str
    first_inbound: int
    first_response: int | None
    late_reply: bool
    messages: int


@dataclass
class _ChatStats:
    jid: str
    name: str
    is_group: bool
    inbound: int = 0
    outbound: int = 0
    media: int = 0
    first: int = 0
    last: int = 0
    customer_sessions: int = 0
    business_sessions: int = 0


@dataclass
class GenerationResult:
    """What :func:`generate_database` wrote and how long it took."""

    db_path: Path
    truth_path: Path
    messages: int
    chats: int
    seconds: float

    @functools.cached_property
    def truth(self) -> dict[str, Any]:
        """The ground truth, read back from :attr:`truth_path` (it can be large: one entry per session)."""
        loaded: dict[str, Any] = json.loads(self.truth_path.read_text(encoding="utf-8"))
        return loaded


# An event is (utc_ts, from_me, sender_phone, content, media_index or -1)
_Event = tuple[int, bool, str, str, int]


class _Generator:
    def __init__(self, seed: int, zone: ZoneInfo, end: datetime) -> None:
        self.rng = _FastRandom(seed)
        self.seed = seed
        self.clock = _LocalClock(zone)
        self.end = int(end.timestamp())
        self.start = self.end - _SPAN_DAYS * _DAY
        self.business = _Identity(self._phone(self.rng, "44 7700 9"), "Acme Ceramics")
        self.sessions: list[_Session] = []
        self.business_sessions = 0

    # -- identities -------------------------------------------------------------------------------------------
    @staticmethod
    def _phone(rng: _FastRandom, prefix: str) -> str:
        digits = prefix.replace(" ", "")
        width = max(5, 12 - len(digits))
        return f"{digits}{rng.below(10**width):0{width}d}"

    def identity(self, index: int) -> _Identity:
        """Customer ``index``: a stable phone and (mostly) a saved contact name, from a hash of (seed, index) so
        the order in which identities are asked for never matters (and no RNG has to be seeded per customer)."""
        x = int.from_bytes(hashlib.blake2b(f"{self.seed}:{index}".encode(), digest_size=16).digest(), "big")
        x, which = divmod(x, len(_COUNTRY_PREFIXES))
        prefix = _COUNTRY_PREFIXES[which].replace(" ", "")
        width = max(5, 12 - len(prefix))
        x, number = divmod(x, 10**width)
        x, roll = divmod(x, 1000)
        x, extra_at = divmod(x, len(_NAME_EXTRAS))
        x, first_at = divmod(x, len(_FIRST))
        last = _LAST[x % len(_LAST)]
        if roll < 220:
            name = None  # unsaved contact: the bridge falls back to the number
        elif roll < 240:
            name = "Lead From: FB ad 🎯"
        elif _NAME_EXTRAS[extra_at] == "Dr. ":
            name = f"Dr. {_FIRST[first_at]} {last[0]}."
        else:
            name = f"{_FIRST[first_at]} {last}{_NAME_EXTRAS[extra_at]}"
        return _Identity(f"{prefix}{number:0{width}d}", name)

    # -- ids, content, timing ----------------------------------------------------------------------------------
    def message_id(self, from_me: bool) -> str:
        # 64+ random bits: a clash among millions is ~1e-8 likely, and the key is (id, chat_jid) anyway.
        rng = self.rng
        if from_me or rng.random() < 0.4:
            return f"3EB0{rng.getrandbits(64):016X}"
        return f"{rng.getrandbits(128):032X}"

    def fill(self, template: str) -> str:
        rng = self.rng
        if "{" not in template:
            return template
        return template.format(
            p=rng.pick(_PRODUCTS),
            n=rng.below(1000, 10000),
            price=rng.below(5, 60),
            t=rng.below(100_000_000, 999_999_999),
        )

    def conversation_start(self, earliest: int) -> int:
        """A customer's first message at or after ``earliest``: local hour and weekday rhythm."""
        rng = self.rng
        for _ in range(20):
            day = earliest // _DAY + int(rng.expovariate(1 / 2.0))
            local_day = day * _DAY
            weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
            if rng.random() > _WEEKDAY_WEIGHTS[weekday]:
                continue
            hour = _pick_hour(rng.random() * _HOURS_CUM[-1])
            ts = self.clock.to_utc(local_day + hour * _HOUR + rng.below(3600))
            if ts >= earliest:
                return ts
        return earliest + rng.below(_HOUR, 6 * _HOUR)

    def next_opening(self, ts: int) -> int:
        """The first moment at or after ``ts`` when the shop is open (local business hours)."""
        local = self.clock.local(ts)
        day, sec = divmod(local, _DAY)
        for k in range(8):
            window = _OPEN[(day + k + 3) % 7]
            if window is None:
                continue
            if k == 0 and sec < window[1]:
                return ts if sec >= window[0] else self.clock.to_utc(day * _DAY + window[0])
            if k > 0:
                return self.clock.to_utc((day + k) * _DAY + window[0])
        return ts + _DAY  # pragma: no cover - every week has an opening

    def reply_time(self, after: int) -> int:
        """When the business answers a customer turn ending at ``after``: minutes in hours, heavy tail beyond."""
        rng = self.rng
        opening = self.next_opening(after)
        delay = rng.lognormvariate(math.log(300), 1.4)
        if rng.random() < 0.04:
            delay += rng.uniform(1.0, 4.0) * _DAY  # forgotten, answered days later
        return max(after + 2, opening + int(delay))

    def media(self, index: int, ts: int) -> tuple[str, str, bytes, bytes, bytes, int]:
        rng = self.rng
        kind, ext, path = _MEDIA[index]
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(self.clock.local(ts)))
        filename = f"{kind}_{stamp}.{ext}"
        url = (
            f"https://mmg.whatsapp.net/v/{path}/{rng.below(10**8, 10**9)}_{rng.below(10**15, 10**16)}_n.enc"
            f"?ccb=11-4&oh=01_Q5Aa{rng.getrandbits(64):016x}&oe={rng.getrandbits(32):08X}&_nc_sid=5e03e0&mms3=true"
        )
        return filename, url, rng.randbytes(32), rng.randbytes(32), rng.randbytes(32), rng.below(2_000, 4_000_000)

    # -- conversations ------------------------------------------------------------------------------------------
    def customer_turn(self, events: list[_Event], t: int, phones: list[str], opener: bool) -> int:
        """One to a few inbound messages starting at ``t``; returns the time of the last one."""
        rng = self.rng
        count = 1 if rng.random() < 0.62 else 2 if rng.random() < 0.7 else rng.between(3, 5)
        for i in range(count):
            if i:
                # Albums and double-sends land in the same second now and then.
                t += 0 if rng.random() < 0.08 else int(rng.expovariate(1 / 45)) + 1
            media = rng.below(len(_MEDIA)) if rng.random() < 0.08 else -1
            pool = _OPENERS if (opener and i == 0) else _FOLLOWUPS if i else _OPENERS
            text = "" if media >= 0 else self.fill(rng.pick(pool))
            events.append((t, False, rng.pick(phones), text, media))
        return t

    def business_turn(self, events: list[_Event], t: int, outreach: bool = False) -> int:
        rng = self.rng
        count = 1 if rng.random() < 0.75 else 2
        for i in range(count):
            if i:
                t += int(rng.expovariate(1 / 30)) + 1
            media = rng.below(len(_MEDIA)) if rng.random() < 0.05 else -1
            text = "" if media >= 0 else self.fill(rng.pick(_OUTREACH if outreach else _REPLIES))
            events.append((t, True, self.business.phone, text, media))
        return t

    def customer_conversation(
        self, chat_jid: str, phones: list[str], start: int, rounds: int | None = None
    ) -> list[_Event]:
        """A customer-initiated conversation (``rounds`` back-and-forths at most); appends its session to the model."""
        rng = self.rng
        events: list[_Event] = []
        last = self.customer_turn(events, start, phones, opener=True)
        first_inbound = events[0][0]
        first_response: int | None = None
        late = False
        unanswered = rng.random() < 0.10
        chatty = rounds is not None
        if rounds is None:
            rounds = 1 + int(rng.expovariate(1 / 1.2))
        for round_no in range(rounds):
            if unanswered:
                if rng.random() < 0.4:  # the customer chases once, within the day
                    chase = last + rng.below(20 * 60, 20 * _HOUR)
                    events.append((chase, False, rng.pick(phones), self.fill(rng.pick(_FOLLOWUPS)), -1))
                break
            reply = self.reply_time(last)
            if reply - last > 3 * _HOUR and reply - last < 40 * _HOUR and rng.random() < 0.3:
                # A chase while waiting (23 h later at most so it stays in the session).
                chase = last + int(min(reply - last, 23 * _HOUR) * rng.uniform(0.3, 0.9))
                if last < chase < reply:
                    events.append((chase, False, rng.pick(phones), self.fill(rng.pick(_FOLLOWUPS)), -1))
                    last = chase
            late = reply - last > _SESSION_GAP
            end = self.business_turn(events, reply)
            if first_response is None:
                first_response = reply
            if late or round_no == rounds - 1:
                last = end
                break
            if not chatty and rng.random() < 0.3:
                last = end
                break
            last = self.customer_turn(
                events, end + int(rng.lognormvariate(math.log(600), 1.5)) % (20 * _HOUR) + 5, phones, opener=False
            )
        self.sessions.append(_Session(chat_jid, first_inbound, first_response, late, len(events)))
        return events

    def business_conversation(self, phones: list[str], start: int) -> list[_Event]:
        """Outreach from the business; the customer may answer and be answered (all within the session)."""
        rng = self.rng
        events: list[_Event] = []
        t = self.next_opening(start) + rng.below(0, 4 * _HOUR)
        end = self.business_turn(events, t, outreach=True)
        if rng.random() < 0.6:
            last = self.customer_turn(events, end + rng.below(60, 6 * _HOUR), phones, opener=False)
            reply = self.reply_time(last)
            if reply - last <= _SESSION_GAP:
                self.business_turn(events, reply)
        self.business_sessions += 1
        return events

    def chat_history(self, chat_jid: str, phones: list[str], first: int, conversations: int) -> list[_Event]:
        rng = self.rng
        events: list[_Event] = []
        t = first
        for i in range(conversations):
            ends_outbound = bool(events) and events[-1][1]
            if (ends_outbound or i == 0) and rng.random() < (0.12 if i else 0.03):
                conv = self.business_conversation(phones, t)
            else:
                conv = self.customer_conversation(chat_jid, phones, self.conversation_start(t))
            events.extend(conv)
            # Next conversation: strictly more than a day after this one ended, often weeks.
            t = conv[-1][0] + _SESSION_GAP + 60 + int(rng.lognormvariate(math.log(10 * _DAY), 1.1))
            if t > self.end:
                break
        return events


def _pick_hour(x: float) -> int:
    for hour, cum in enumerate(_HOURS_CUM):
        if x < cum:
            return hour
    return 23


def _iso_utc(ts: int | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _chat_plan(gen: _Generator, messages: int) -> Iterator[tuple[str, str, bool, list[str], list[_Event]]]:
    """Yield (jid, name, is_group, phones, events) chat by chat until about ``messages`` events exist."""
    rng = gen.rng
    group_count = min(len(_GROUP_NAMES), 1 + messages // 4000)
    group_budget = int(messages * 0.05)
    for g in range(group_count):
        gid = f"120363{rng.below(10**11, 10**12)}@g.us"
        # One group never got a subject: the bridge shows "Group <id>".
        name = _GROUP_NAMES[g] if g != 3 else f"Group {gid.split('@')[0]}"
        members = [gen.identity(i).phone for i in range(g * 3, g * 3 + rng.between(4, 12))]
        members += [gen._phone(rng, rng.pick(_COUNTRY_PREFIXES)) for _ in range(3)]
        events: list[_Event] = []
        t = gen.start + rng.below(10 * _DAY)
        per_group = max(4, group_budget // group_count)
        while len(events) < per_group and t < gen.end:
            # Groups are chatty: long threads, about one every few days, so the group gets its share of messages.
            conv = gen.customer_conversation(gid, members, gen.conversation_start(t), rounds=max(1, per_group // 120))
            events.extend(conv)
            t = conv[-1][0] + _SESSION_GAP + 60 + int(rng.lognormvariate(math.log(2 * _DAY), 0.8))
        yield gid, name, True, members, events
    index = 0
    used = {gen.business.phone}
    while True:
        who = gen.identity(index)
        index += 1
        if who.phone in used:
            continue  # two customers drew the same number: the second one never existed
        used.add(who.phone)
        first = gen.start + rng.below(_SPAN_DAYS * _DAY - 2 * _DAY)
        loyal = rng.random() < 0.12
        conversations = rng.between(4, 25) if loyal else 1 + int(rng.expovariate(1 / 0.9))
        events = gen.chat_history(who.jid, [who.phone], first, conversations)
        yield who.jid, who.name or who.phone, False, [who.phone], events


def generate_database(
    out: Path,
    *,
    messages: int = 20000,
    seed: int = 1,
    timezone: str = "UTC",
    end: datetime = DEFAULT_END,
) -> GenerationResult:
    """Write a bridge database with exactly ``messages`` messages to ``out`` (atomically) and its ground truth.

    Same arguments give the same rows (and the same bytes). ``timezone`` is the business's IANA zone: timestamps are
    stored as its local time with offset, like a bridge running on the shop's computer.
    """
    started = time.perf_counter()
    zone = ZoneInfo(timezone)
    gen = _Generator(seed, zone, end)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY;")
        conn.execute("PRAGMA cache_size=-131072")
        create_bridge_schema(conn)
        conn.execute("BEGIN")
        stats: list[_ChatStats] = []
        batch: list[tuple[Any, ...]] = []
        chat_rows: list[tuple[str, str, str]] = []
        written = 0
        render = gen.clock.render
        insert = (
            "INSERT INTO messages (id, chat_jid, sender, content, timestamp, is_from_me, media_type, filename, url,"
            " media_key, file_sha256, file_enc_sha256, file_length) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        )
        for jid, name, is_group, _phones, events in _chat_plan(gen, messages):
            if written >= messages:
                break
            if not events:
                continue
            keep = min(len(events), messages - written)
            if keep < len(events):
                _truncate_sessions(gen, jid, events[keep - 1][0])
                events = events[:keep]
            chat = _ChatStats(jid, name, is_group, first=events[0][0], last=events[0][0])
            for ts, from_me, sender, content, media in events:
                if from_me:
                    chat.outbound += 1
                else:
                    chat.inbound += 1
                if ts > chat.last:
                    chat.last = ts
                if ts < chat.first:
                    chat.first = ts
                mid = gen.message_id(from_me)
                if media >= 0:
                    chat.media += 1
                    filename, url, key, sha, enc, length = gen.media(media, ts)
                    batch.append(
                        (
                            mid,
                            jid,
                            sender,
                            content,
                            render(ts),
                            int(from_me),
                            _MEDIA[media][0],
                            filename,
                            url,
                            key,
                            sha,
                            enc,
                            length,
                        )
                    )
                else:
                    # A sender written as a full JID happens in real bridge rows of groups; keep a trace of it.
                    if is_group and not from_me and len(batch) % 97 == 0:
                        sender = f"{sender}@s.whatsapp.net"
                    batch.append((mid, jid, sender, content, render(ts), int(from_me), "", "", "", None, None, None, 0))
            written += len(events)
            if len(batch) >= _BATCH:
                # In key order, each batch walks the primary-key B-tree once instead of hopping around it.
                batch.sort()
                conn.executemany(insert, batch)
                batch.clear()
            chat_rows.append((jid, name, render(chat.last)))
            stats.append(chat)
        if batch:
            batch.sort()
            conn.executemany(insert, batch)
        conn.executemany("INSERT INTO chats (jid, name, last_message_time) VALUES (?,?,?)", chat_rows)
        conn.execute("COMMIT")
        # Index sorts spill to temp files beyond the cache instead of holding 1M keys in RAM (peak RSS).
        conn.execute("PRAGMA temp_store=FILE")
        conn.execute("PRAGMA cache_size=-32768")
        create_demo_indexes(conn)
    finally:
        conn.close()
    truth_file = truth_path_for(out)
    truth_tmp = truth_file.with_name(f".{truth_file.name}.{os.getpid()}.tmp")
    with truth_tmp.open("w", encoding="utf-8") as fp:
        _write_truth(fp, gen, stats, seed, timezone, written)
    os.replace(tmp, out)
    os.replace(truth_tmp, truth_file)
    seconds = time.perf_counter() - started
    log.info("generated %d messages in %d chats into %s in %.1f s", written, len(stats), out, seconds)
    return GenerationResult(out, truth_file, written, len(stats), seconds)


def _truncate_sessions(gen: _Generator, jid: str, cutoff: int) -> None:
    """The last chat was cut at ``cutoff``: drop or trim its sessions so the truth matches the rows written."""
    kept: list[_Session] = []
    for s in gen.sessions:
        if s.chat_jid == jid and s.first_inbound > cutoff:
            continue
        if s.chat_jid == jid and s.first_response is not None and s.first_response > cutoff:
            s.first_response = None
            s.late_reply = False
        kept.append(s)
    gen.sessions = kept


def _write_truth(fp: TextIO, gen: _Generator, stats: list[_ChatStats], seed: int, timezone: str, written: int) -> None:
    """Write the ground-truth JSON one chat / one session per line, never holding the whole document in memory."""
    jids = {c.jid for c in stats}
    sessions = [s for s in gen.sessions if s.chat_jid in jids]
    sessions.sort(key=lambda s: (s.chat_jid, s.first_inbound))
    inbound = sum(c.inbound for c in stats)
    first = min((c.first for c in stats), default=None)
    last = max((c.last for c in stats), default=None)
    head = {
        "schema_version": 1,
        "generator": "wamcp.demo.data",
        "seed": seed,
        "timezone": timezone,
        "messages": written,
        "business": {"phone": gen.business.phone, "name": gen.business.name, "jid": gen.business.jid},
        "first_message_utc": _iso_utc(first),
        "last_message_utc": _iso_utc(last),
        "totals": {
            "chats": len(stats),
            "direct_chats": sum(1 for c in stats if not c.is_group),
            "groups": sum(1 for c in stats if c.is_group),
            "inbound": inbound,
            "outbound": written - inbound,
            "media": sum(c.media for c in stats),
            "customer_initiated_sessions": len(sessions),
            "unanswered_sessions": sum(1 for s in sessions if s.first_response is None),
        },
    }
    fp.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "chats": [\n')
    # Hand-written lines (one json.dumps per name only): ~5x faster than dumping a dict per item at 1M messages.
    for i, c in enumerate(stats):
        fp.write(
            ("  " if i == 0 else ",\n  ")
            + f'{{"jid": {json.dumps(c.jid)}, "name": {json.dumps(c.name, ensure_ascii=False)}, '
            f'"is_group": {"true" if c.is_group else "false"}, "inbound": {c.inbound}, "outbound": {c.outbound}, '
            f'"media": {c.media}, "first_message_utc": "{_iso_utc(c.first)}", '
            f'"last_message_utc": "{_iso_utc(c.last)}"}}'
        )
    fp.write('\n ],\n "sessions": [\n')
    for i, s in enumerate(sessions):
        answered = s.first_response is not None
        fp.write(
            ("  " if i == 0 else ",\n  ")
            + f'{{"chat_jid": {json.dumps(s.chat_jid)}, "first_inbound_utc": "{_iso_utc(s.first_inbound)}", '
            + (
                f'"first_response_utc": "{_iso_utc(s.first_response)}", '
                f'"frt_seconds": {float((s.first_response or 0) - s.first_inbound)!r}, '
                if answered
                else '"first_response_utc": null, "frt_seconds": null, '
            )
            + f'"late_reply": {"true" if s.late_reply else "false"}}}'
        )
    fp.write("\n ]\n}\n")
