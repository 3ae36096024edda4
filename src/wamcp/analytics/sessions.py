"""Cut conversations into sessions and customer turns, with vectorized neighbour comparisons in Arrow.

The messages come in conversation order ``(chat, ts_ms, id)`` (see :mod:`.load`). Each message is compared with the
one before it through two slices of the same column (rows ``1..n-1`` against rows ``0..n-2``, no copy), so the whole
cut is a few dozen Arrow kernels over a million values: no sort, no GROUP BY, no window, no running count. The one
rule a reader must keep in mind: a new session starts after a gap of more than 24 h, **except** for a business
reply to a customer's pending turn — that reply belongs to the customer's session however late it is, so a slow
answer is a long FRT, never an unanswered session plus a business-initiated one. A neighbour from another chat is
not a neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from .load import strings

__all__ = ["Conversations", "cut_conversations"]

SESSION_SCHEMA = pa.schema(
    [("chat_no", pa.int32()), ("start_ts", pa.int64()), ("end_ts", pa.int64()), ("customer_initiated", pa.bool_())]
)
TURN_SCHEMA = pa.schema(
    [
        ("chat_no", pa.int32()),
        ("pos", pa.int64()),
        ("start_ts", pa.int64()),
        ("reply_ts", pa.int64()),
        ("session_reply_ts", pa.int64()),
        ("is_turn", pa.bool_()),
        ("opens_session", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class Conversations:
    """The cut: ``sessions`` (one row per session, :data:`SESSION_SCHEMA`) and ``turns`` (:data:`TURN_SCHEMA`: one
    row per customer turn, ``is_turn``, and per first message of a customer-initiated session, ``opens_session``;
    one row may be both), each in conversation order."""

    sessions: pa.Table
    turns: pa.Table


def _array(values: list[object], type_: pa.DataType) -> pa.Array:
    """A small Arrow array. ``pa.array`` and ``pa.scalar`` (also implied by a Python value in a compute call)
    import pandas, when installed, to check their argument: half a second on every run, so values are cast from
    text instead."""
    return pc.cast(strings(str(value).lower() for value in values), type_)


def _shifted(values: pa.Array, fill: pa.Array) -> pa.Array:
    """``values`` moved up by one row (each row gets the next row's value), ``fill`` (one value) in the last row."""
    return pa.concat_arrays([values[1:], fill])[: len(values)]


def cut_conversations(messages: pa.Table, gap_ms: int) -> Conversations:
    """Sessions and customer turns of ``messages`` (``chat_no`` int32, ``pos`` int64, ``ts_ms`` int64,
    ``outbound`` bool, no nulls, in conversation order); a gap of more than ``gap_ms`` opens a new session.

    A business reply to a pending customer turn stays in the customer's session however late it comes; a late one
    (over ``gap_ms``) closes it, so the customer's next message opens a new session whatever the gap.

    A session ends on the message before the next session's first one (or on the last message). A turn is a
    maximal run of customer messages (KPIS.md: a gap does not cut it, so a customer who wrote again days later
    without an answer is still waiting since their first message); its ``reply_ts`` is the business message that
    follows its last one (null if none does). A customer-initiated session may open inside a turn (after a gap of
    more than ``gap_ms``): its first message gets a row of its own, ``opens_session``. ``session_reply_ts`` is the
    reply when it falls in the row's session (what an FRT times): null when another session opens before it.
    """
    n = messages.num_rows
    if n == 0:
        return Conversations(SESSION_SCHEMA.empty_table(), TURN_SCHEMA.empty_table())
    chat = messages["chat_no"].combine_chunks()
    ts = messages["ts_ms"].combine_chunks()
    out = messages["outbound"].combine_chunks()
    pos = messages["pos"].combine_chunks()
    inbound = pc.invert(out)

    # each row from the second on, against the row before it
    same_chat = pc.equal(chat[1:], chat[:-1])
    long_gap = pc.greater(pc.subtract_checked(ts[1:], ts[:-1]), _array([gap_ms], pa.int64())[0])
    other_chat = pc.invert(same_chat)
    # a business message right after a customer's one: a reply to a pending turn never opens a session
    reply_to_pending = pc.and_(out[1:], inbound[:-1])
    opens = pa.concat_arrays(
        [_array([True], pa.bool_()), pc.or_(other_chat, pc.and_(long_gap, pc.invert(reply_to_pending)))]
    )
    # A late reply (over the gap) closes the customer's session (KPIS.md): the business messages right after it
    # finish that reply, and the customer's next message opens a new session. "Closed" is carried forward from a
    # late reply (true) to the next customer message or session start (false).
    late_reply = pa.concat_arrays(
        [_array([False], pa.bool_()), pc.and_(pc.and_(long_gap, reply_to_pending), same_chat)]
    )
    resets = pc.or_(inbound, opens)
    true, false = _array([True, False], pa.bool_())  # Arrow scalars: a Python bool here would import pandas
    marks = pc.if_else(late_reply, true, pc.if_else(resets, false, pa.nulls(n, pa.bool_())))
    closed = pc.fill_null_forward(marks)
    after_closed = pa.concat_arrays([_array([False], pa.bool_()), pc.and_(inbound[1:], closed[:-1])])
    new_session = pc.or_(opens, after_closed)
    turn_start = pa.concat_arrays([inbound[:1], pc.and_(inbound[1:], pc.or_(other_chat, out[:-1]))])
    opens_session = pc.and_(new_session, inbound)
    # a customer message followed, in its chat, by a business one: the last message of a turn that got a reply
    replied = pa.concat_arrays([pc.and_(pc.and_(inbound[:-1], same_chat), out[1:]), _array([False], pa.bool_())])

    starts = pc.indices_nonzero(new_session)
    one_and_last = _array([1, n - 1], pa.uint64())
    ends = pa.concat_arrays([pc.subtract(starts[1:], one_and_last[0]), one_and_last[1:]])
    sessions = pa.table(
        [chat.take(starts), ts.take(starts), ts.take(ends), inbound.take(starts)], schema=SESSION_SCHEMA
    )

    # Only turn starts, session openings and replied messages matter. A turn has at most one replied message, its
    # last (after a business message the next customer message opens a new turn), so every row of a turn takes the
    # reply found on the turn's last row, filled backwards; a row before which the fill must stop (the last row of
    # a turn with no reply; for sessions, also a row followed by a session opening inside the turn) gets none.
    rows = pc.indices_nonzero(pc.or_(pc.or_(turn_start, opens_session), replied))
    row_starts_turn = turn_start.take(rows)
    row_opens_session = opens_session.take(rows)
    last_of_turn = _shifted(row_starts_turn, _array([True], pa.bool_()))
    before_inner_opening = _shifted(pc.and_(row_opens_session, pc.invert(row_starts_turn)), _array([False], pa.bool_()))
    reply_here = _shifted(ts, pa.nulls(1, pa.int64())).take(rows)
    replied_here = replied.take(rows)
    reply = _fill_back(replied_here, reply_here, last_of_turn)
    session_reply = _fill_back(replied_here, reply_here, pc.or_(last_of_turn, before_inner_opening))
    kept = pc.or_(row_starts_turn, row_opens_session)
    turn_rows = rows.filter(kept)
    turns = pa.table(
        [
            chat.take(turn_rows),
            pos.take(turn_rows),
            ts.take(turn_rows),
            reply.filter(kept),
            session_reply.filter(kept),
            row_starts_turn.filter(kept),
            row_opens_session.filter(kept),
        ],
        schema=TURN_SCHEMA,
    )
    return Conversations(sessions, turns)


def _fill_back(found: pa.Array, value: pa.Array, stop: pa.Array) -> pa.Array:
    """``value`` where ``found``; elsewhere the next such value, unless a ``stop`` row (without ``found``) comes
    first: null then. The stops carry a marker (-1, never a timestamp here) through the fill, then become null."""
    n = len(found)
    marker = _array([-1], pa.int64())[0]
    marked = pc.if_else(found, value, pc.if_else(stop, marker, pa.nulls(n, pa.int64())))
    filled = pc.fill_null_backward(marked)
    return pc.if_else(pc.equal(filled, marker), pa.nulls(n, pa.int64()), filled)
