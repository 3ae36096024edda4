"""The conversation cut on its own: sessions and customer turns of messages given in conversation order."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa

from wamcp.analytics.sessions import cut_conversations

H = 3_600_000
DAY = 24 * H


def messages(*rows: tuple[int, int, bool]) -> pa.Table:
    """``(chat_no, ts_ms, outbound)`` rows, numbered by ``pos`` in the order given."""
    return pa.table(
        {
            "chat_no": pa.array([r[0] for r in rows], pa.int32()),
            "pos": pa.array(range(len(rows)), pa.int64()),
            "ts_ms": pa.array([r[1] for r in rows], pa.int64()),
            "outbound": pa.array([r[2] for r in rows], pa.bool_()),
        }
    )


def test_sessions_end_on_their_last_message_and_a_late_reply_stays_in_the_customers_session() -> None:
    cut = cut_conversations(
        messages(
            (0, 0, False),  # chat 0: customer asks
            (0, 30 * H, True),  # 30 h later the business answers: still the customer's session
            (0, 60 * H, True),  # 30 h after that, the business writes again: a business-initiated session
            (1, 0, True),  # chat 1 opens with the business
            (1, H, False),
            (1, 2 * H, True),
        ),
        DAY,
    )
    assert cut.sessions.to_pylist() == [
        {"chat_no": 0, "start_ts": 0, "end_ts": 30 * H, "customer_initiated": True},
        {"chat_no": 0, "start_ts": 60 * H, "end_ts": 60 * H, "customer_initiated": False},
        {"chat_no": 1, "start_ts": 0, "end_ts": 2 * H, "customer_initiated": False},
    ]
    assert cut.turns.to_pylist() == [
        {
            "chat_no": 0,
            "pos": 0,
            "start_ts": 0,
            "reply_ts": 30 * H,
            "session_reply_ts": 30 * H,
            "is_turn": True,
            "opens_session": True,
        },
        {
            "chat_no": 1,
            "pos": 4,
            "start_ts": H,
            "reply_ts": 2 * H,
            "session_reply_ts": 2 * H,
            "is_turn": True,
            "opens_session": False,
        },
    ]


def test_a_late_reply_closes_the_session_and_the_customers_next_message_opens_one() -> None:
    cut = cut_conversations(
        messages(
            (0, 0, False),
            (0, 30 * H, True),  # late reply: closes the customer's session
            (0, 30 * H + 1, True),  # the rest of the reply
            (0, 30 * H + 2, False),  # a new session, however close
            (0, 30 * H + 3, False),
            (0, 30 * H + 4, True),  # an ordinary reply: the session goes on
            (0, 30 * H + 5, False),
            (1, 0, False),  # another chat: nothing carries over
            (1, 1, True),
            (1, 2, False),
        ),
        DAY,
    )
    assert [(s["chat_no"], s["start_ts"], s["end_ts"]) for s in cut.sessions.to_pylist()] == [
        (0, 0, 30 * H + 1),
        (0, 30 * H + 2, 30 * H + 5),
        (1, 0, 2),
    ]
    assert [(t["pos"], t["reply_ts"], t["session_reply_ts"], t["opens_session"]) for t in cut.turns.to_pylist()] == [
        (0, 30 * H, 30 * H, True),
        (3, 30 * H + 4, 30 * H + 4, True),
        (6, None, None, False),
        (7, 1, 1, True),
        (9, None, None, False),
    ]


def test_a_turn_is_answered_by_the_message_after_its_last_one_and_never_across_chats() -> None:
    cut = cut_conversations(
        messages(
            (0, 0, False),
            (0, 10, False),  # same turn
            (0, 20, True),  # answers the turn that opened at 0
            (0, 30, False),  # a new turn, never answered in chat 0 ...
            (1, 40, True),  # ... so chat 1's business message is no reply to it
            (1, 50, False),
            (1, 50 + 25 * H, False),  # more than 24 h later: a new session, in the same unanswered turn
        ),
        DAY,
    )
    assert [(t["pos"], t["reply_ts"], t["is_turn"], t["opens_session"]) for t in cut.turns.to_pylist()] == [
        (0, 20, True, True),
        (3, None, True, False),
        (5, None, True, False),
        (6, None, False, True),
    ]
    assert [(s["start_ts"], s["end_ts"]) for s in cut.sessions.to_pylist()] == [
        (0, 30),
        (40, 50),
        (50 + 25 * H, 50 + 25 * H),
    ]


def test_no_messages_and_one_message() -> None:
    empty = cut_conversations(messages(), DAY)
    assert (empty.sessions.num_rows, empty.turns.num_rows) == (0, 0)
    one = cut_conversations(messages((3, 7, False)), DAY)
    assert one.sessions.to_pylist() == [{"chat_no": 3, "start_ts": 7, "end_ts": 7, "customer_initiated": True}]
    assert one.turns.to_pylist() == [
        {
            "chat_no": 3,
            "pos": 0,
            "start_ts": 7,
            "reply_ts": None,
            "session_reply_ts": None,
            "is_turn": True,
            "opens_session": True,
        }
    ]


def test_a_turn_runs_across_a_long_silence_and_its_reply_answers_only_the_last_session() -> None:
    cut = cut_conversations(
        messages(
            (0, 0, False),  # the customer asks; no answer
            (0, 25 * H, False),  # asks again a day later: a new session, still the same turn (KPIS.md)
            (0, 50 * H, False),  # and again: a third session
            (0, 50 * H + 10, True),  # the answer: the turn's reply, and the third session's first response
            (0, 50 * H + 20, False),  # a new turn inside the third session, never answered
        ),
        DAY,
    )
    rows = [
        (t["pos"], t["reply_ts"], t["session_reply_ts"], t["is_turn"], t["opens_session"])
        for t in cut.turns.to_pylist()
    ]
    assert rows == [
        (0, 50 * H + 10, None, True, True),  # reply time 50 h; its session went unanswered
        (1, 50 * H + 10, None, False, True),
        (2, 50 * H + 10, 50 * H + 10, False, True),
        (4, None, None, True, False),
    ]
    assert [s["customer_initiated"] for s in cut.sessions.to_pylist()] == [True, True, True]


def test_the_cut_does_not_import_pandas() -> None:
    # pyarrow imports pandas (when installed) to look at a Python value passed to a compute function: half a second
    # on every report. The cut passes Arrow values only.
    probe = (
        "import sys, pyarrow as pa\n"
        "from wamcp.analytics.sessions import _array, cut_conversations\n"  # _array: pa.array would import pandas
        "t = pa.table({'chat_no': _array([0, 0], pa.int32()), 'pos': _array([0, 1], pa.int64()),\n"
        "              'ts_ms': _array([0, 9], pa.int64()), 'outbound': _array([False, True], pa.bool_())})\n"
        "before = 'pandas' in sys.modules\n"
        "cut_conversations(t, 86_400_000)\n"
        "print(before, 'pandas' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["False", "False"]
