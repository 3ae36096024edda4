"""The edge cases of KPIS.md, each against an answer computed by hand in the test's comment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wamcp.analytics import Analysis, ReportOptions, analyze
from wamcp.errors import ConfigError

from .builder import BUSINESS, StoreBuilder, ms

Analyze = Callable[..., Analysis]
ANA = "491701111111@s.whatsapp.net"
BEN = "491702222222@s.whatsapp.net"
CAROL = "491703333333@c.us"
DAVE = "491704444444@s.whatsapp.net"
GROUP = "120363000000000001@g.us"
TZ = "Europe/Berlin"


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Analysis]:
    stores = iter(range(1000))

    def _run(builder: StoreBuilder, **options: Any) -> Analysis:
        options.setdefault("timezone", TZ)
        store = builder.write(tmp_path / f"store{next(stores)}.db")
        return analyze(store, ReportOptions.from_text(**options))

    return _run


def sessions(analysis: Analysis) -> list[dict[str, Any]]:
    return analysis.sessions.to_pylist()


def test_chat_with_only_outbound_messages_has_no_customer_session_and_is_not_unanswered(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00", out=True).msg(ANA, "2026-03-02 10:05", out=True)
    result = run(b)
    assert sessions(result) == []
    assert result.kpis["unanswered"] == {"eligible_sessions": 0, "unanswered": 0, "rate": None}
    assert result.kpis["waiting_now"]["count"] == 0
    assert result.kpis["customers"]["known"] == 0
    assert result.kpis["workload"]["sessions"] == 1  # a business-initiated session still is workload


def test_two_inquiries_23h_apart_are_one_session_timed_from_the_first(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-02 10:00")
        .msg(ANA, "2026-03-03 09:00")  # 23 h later: same session
        .msg(ANA, "2026-03-03 09:30", out=True)
    )
    (row,) = sessions(run(b))
    assert row["first_inbound_ts_ms"] == ms("2026-03-02 10:00", TZ)
    assert row["frt_seconds"] == 23.5 * 3600
    # business hours: Mon 10:00-18:00 (8 h) + Tue 09:00-09:30 (0.5 h)
    assert row["bh_frt_seconds"] == 8.5 * 3600


def test_friday_night_inquiry_answered_monday_counts_ten_business_minutes(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-06 23:00").msg(ANA, "2026-03-09 09:10", out=True)
    (row,) = sessions(run(b))
    assert row["frt_seconds"] == 58 * 3600 + 10 * 60  # 58 h 10 min
    assert row["bh_frt_seconds"] == 10 * 60
    assert row["answered"] is True


def test_inquiry_at_1755_answered_0905_next_working_day_is_ten_minutes(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-03 17:55").msg(ANA, "2026-03-04 09:05", out=True)
    (row,) = sessions(run(b))
    assert row["bh_frt_seconds"] == 600
    assert row["frt_seconds"] == 15 * 3600 + 10 * 60


def test_business_hours_survive_the_spring_dst_switch(run: Analyze) -> None:
    # Berlin moves to CEST on Sunday 2026-03-29: Fri 17:55 CET = 16:55 UTC, Mon 09:05 CEST = 07:05 UTC.
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-27 17:55").msg(ANA, "2026-03-30 09:05", out=True)
    (row,) = sessions(run(b))
    assert row["frt_seconds"] == 62 * 3600 + 10 * 60  # 2 days 14 h 10 min of real time, one hour lost
    assert row["bh_frt_seconds"] == 600


def test_business_hours_survive_the_autumn_dst_switch(run: Analyze) -> None:
    # Berlin goes back to CET on Sunday 2026-10-25: Fri 17:55 CEST = 15:55 UTC, Mon 09:05 CET = 08:05 UTC.
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-10-23 17:55").msg(ANA, "2026-10-26 09:05", out=True)
    (row,) = sessions(run(b))
    assert row["frt_seconds"] == 64 * 3600 + 10 * 60  # one hour gained
    assert row["bh_frt_seconds"] == 600


@pytest.mark.parametrize(
    ("start", "reply", "clock_h"),
    [
        ("2026-03-28 12:00", "2026-03-30 10:00", 45),  # Sat noon -> Mon 10:00 across the spring switch: 46 - 1 h
        ("2026-10-24 12:00", "2026-10-26 10:00", 47),  # across the autumn switch: 46 + 1 h
    ],
)
def test_round_the_clock_business_hours_count_real_time_across_a_dst_switch(
    run: Analyze, start: str, reply: str, clock_h: int
) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, start).msg(ANA, reply, out=True)
    (row,) = sessions(run(b, business_hours="24/7"))
    assert row["frt_seconds"] == clock_h * 3600
    assert row["bh_frt_seconds"] == clock_h * 3600  # open all the time: every real hour counts, no more, no less


def test_opening_hours_around_the_switch_count_the_hours_that_really_passed(run: Analyze) -> None:
    # Sunday 01:00-04:00 in Berlin: on 2026-03-29 the clock jumps 02:00 -> 03:00, so that Sunday is open 2 h; on
    # 2026-10-25 it goes 03:00 -> 02:00 and the hour is lived twice: 4 h.
    spring = StoreBuilder(tz=TZ).msg(ANA, "2026-03-28 12:00").msg(ANA, "2026-03-29 12:00", out=True)
    autumn = StoreBuilder(tz=TZ).msg(ANA, "2026-10-24 12:00").msg(ANA, "2026-10-25 12:00", out=True)
    assert sessions(run(spring, business_hours="Sun 01:00-04:00"))[0]["bh_frt_seconds"] == 2 * 3600
    assert sessions(run(autumn, business_hours="Sun 01:00-04:00"))[0]["bh_frt_seconds"] == 4 * 3600
    # a reply inside the skipped hour's neighbour: Sun 03:30 CEST is 1.5 h of opening after 01:00 CET
    inside = StoreBuilder(tz=TZ).msg(ANA, "2026-03-28 12:00").msg(ANA, "2026-03-29 03:30", out=True)
    assert sessions(run(inside, business_hours="Sun 01:00-04:00"))[0]["bh_frt_seconds"] == 1.5 * 3600


def test_business_hours_follow_the_configured_zone(run: Analyze) -> None:
    # 17:55 -> 09:05 in New York is 22:55 -> 14:05 in UTC: in UTC business hours that is 5 min + 5 h 5 min.
    b = StoreBuilder(tz="America/New_York").msg(ANA, "2026-03-03 17:55").msg(ANA, "2026-03-04 09:05", out=True)
    assert sessions(run(b, timezone="America/New_York"))[0]["bh_frt_seconds"] == 600
    assert sessions(run(b, timezone="UTC"))[0]["bh_frt_seconds"] == (5 * 3600 + 5 * 60)


def test_identical_timestamps_are_ordered_by_id(run: Analyze) -> None:
    answered_same_ms = (
        StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00", msg_id="a").msg(ANA, "2026-03-02 10:00", out=True, msg_id="b")
    )
    (row,) = sessions(run(answered_same_ms))
    assert row["frt_seconds"] == 0.0
    # the business message sorts first: the session is business-initiated, nothing to answer
    business_first = (
        StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00", msg_id="b").msg(ANA, "2026-03-02 10:00", out=True, msg_id="a")
    )
    assert sessions(run(business_first)) == []


def test_out_of_order_arrival_and_duplicate_delivery_count_once(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-02 10:20", out=True, msg_id="reply")  # stored before the question it answers
        .msg(ANA, "2026-03-02 10:00", msg_id="q1")
        .msg(ANA, "2026-03-02 10:00", msg_id="q1")  # delivered twice
        .msg(ANA, "2026-03-02 10:05", msg_id="q2")
    )
    result = run(b)
    (row,) = sessions(result)
    assert row["frt_seconds"] == 20 * 60
    assert result.kpis["volume"]["messages"] == 3
    assert result.kpis["volume"]["inbound"] == 2
    assert result.kpis["reply_time"]["turns"] == 1


def test_empty_store_reports_no_data_without_dividing_by_zero(run: Analyze) -> None:
    result = run(StoreBuilder(tz=TZ))
    k = result.kpis
    assert k["has_data"] is False
    assert k["as_of"]["ts_ms"] is None
    assert k["frt"]["clock"]["median_s"] is None
    assert k["target"]["attainment"] is None
    assert k["unanswered"]["rate"] is None
    assert k["workload"]["business_to_customer_ratio"] is None
    assert k["workload"]["sessions_per_day"] is None
    assert k["volume"]["per_day_mean"] is None
    assert result.tables["daily"].num_rows == 0
    assert result.tables["heatmap"].num_rows == 168


def test_period_with_no_data(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00").msg(ANA, "2026-03-02 10:30", out=True)
    k = run(b, since="2026-04-01", until="2026-04-30").kpis
    assert k["has_data"] is False
    assert k["frt"]["sessions"] == 0
    assert k["frt"]["clock"]["median_s"] is None
    assert k["period"]["days"] == 30
    assert k["customers"]["active"] == 0
    assert k["customers"]["dormant"] == 1  # silent since 2 March, 30 April is more than 30 days later


def test_since_after_the_newest_message_without_until_is_refused(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00").msg(ANA, "2026-03-02 10:30", out=True)
    with pytest.raises(ConfigError, match=r"--since is after the newest message in the store \(2026-03-02\)"):
        run(b, since="2026-04-01")
    assert run(b, since="2026-03-02").kpis["has_data"] is True  # the newest message's own day is a period


def test_one_inbound_message(run: Analyze) -> None:
    k = run(StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00")).kpis
    assert k["frt"]["sessions"] == 1
    assert k["frt"]["answered"] == 0
    # as of its own timestamp the session is younger than the 1 h target: not yet unanswered
    assert k["unanswered"] == {"eligible_sessions": 0, "unanswered": 0, "rate": None}
    assert k["waiting_now"]["count"] == 1
    assert k["waiting_now"]["chats"][0]["waited_s"] == 0.0
    assert k["period"]["days"] == 1


def test_groups_are_left_out_of_response_kpis_but_count_in_volume(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(GROUP, "2026-03-02 10:00")
        .msg(GROUP, "2026-03-02 12:00", out=True)
        .msg(ANA, "2026-03-02 10:00")
        .msg(ANA, "2026-03-02 10:10", out=True)
    )
    default = run(b).kpis
    assert default["frt"]["sessions"] == 1
    assert default["frt"]["clock"]["median_s"] == 600
    assert default["volume"]["messages"] == 4
    assert default["volume"]["group_messages"] == 2
    with_groups = run(b, include_groups=True).kpis
    assert with_groups["frt"]["sessions"] == 2
    assert with_groups["frt"]["clock"]["median_s"] == (600 + 7200) / 2


def test_late_reply_belongs_to_the_customers_session(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00").msg(ANA, "2026-03-03 16:00", out=True)
    result = run(b)
    (row,) = sessions(result)
    assert row["answered"] is True
    assert row["frt_seconds"] == 30 * 3600
    assert result.kpis["workload"]["sessions"] == 1
    assert result.kpis["unanswered"]["unanswered"] == 0


def test_a_late_reply_closes_the_customers_session(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-02 09:00")
        .msg(ANA, "2026-03-03 15:00", out=True)  # 30 h later: answers the first session and closes it
        .msg(ANA, "2026-03-03 15:01", out=True)  # the rest of that reply, still the same session
        .msg(ANA, "2026-03-03 15:05")  # 4 min later, yet a new session
        .msg(ANA, "2026-03-03 15:10", out=True)
    )
    result = run(b)
    rows = sessions(result)
    assert [(r["answered"], r["frt_seconds"]) for r in rows] == [(True, 30 * 3600), (True, 300)]
    assert result.kpis["workload"]["sessions"] == 2
    assert result.kpis["frt"]["sessions"] == 2


def test_gap_over_24h_between_inquiries_starts_a_new_session(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-02 10:00")
        .msg(ANA, "2026-03-03 11:00")  # 25 h later: new session, the first one stays unanswered
        .msg(ANA, "2026-03-03 11:15", out=True)
    )
    result = run(b)
    rows = sessions(result)
    assert [r["answered"] for r in rows] == [False, True]
    assert rows[1]["frt_seconds"] == 900
    # the unanswered session has no FRT of either kind: it is not a 0 in the business-hours median
    assert (rows[0]["frt_seconds"], rows[0]["bh_frt_seconds"]) == (None, None)
    assert result.kpis["frt"]["business_hours"]["count"] == 1
    assert result.kpis["reply_time"]["business_hours"]["count"] == 1


def test_a_customer_who_writes_again_unanswered_keeps_one_turn_and_waits_since_the_first_message(
    run: Analyze,
) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-01 10:00")
        .msg(ANA, "2026-03-05 10:00")  # four days later, still no answer: a new session, the same turn (KPIS.md)
        .msg(BEN, "2026-03-02 10:00")
        .msg(BEN, "2026-03-04 10:00")  # 48 h later
        .msg(BEN, "2026-03-04 10:15", out=True)  # answers BEN's turn (48 h 15 min) and his second session (15 min)
    )
    k = run(b, until="2026-03-06T10:00").kpis
    (waiting,) = k["waiting_now"]["chats"]
    assert waiting["waited_s"] == 5 * 86_400  # since 1 March, not since the second message
    assert waiting["waiting_since_ts_ms"] == ms("2026-03-01 10:00", TZ)
    assert k["reply_time"]["turns"] == 2  # one turn per customer
    assert k["reply_time"]["clock"]["count"] == 1
    assert k["reply_time"]["clock"]["median_s"] == 48.25 * 3600
    # FRT is per session: BEN's first session went unanswered, his second was answered in 15 min
    assert k["frt"]["clock"]["count"] == 1
    assert k["frt"]["clock"]["median_s"] == 900


def test_unanswered_rate_skips_sessions_younger_than_the_target(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-02 10:00")  # never answered, old
        .msg(BEN, "2026-03-02 11:00")
        .msg(BEN, "2026-03-02 11:30", out=True)
        .msg(CAROL, "2026-03-02 12:00")  # 30 min old at the as-of time: may still be answered
        .msg(DAVE, "2026-03-02 12:20")  # young too, and already answered: still left out, like every young one
        .msg(DAVE, "2026-03-02 12:25", out=True)
        .msg(ANA, "2026-03-02 12:30", out=True, msg_id="zz")  # newest message = as-of; answers ANA late
    )
    k = run(b).kpis
    # ANA (answered after 2.5 h) and BEN (30 min) are old enough; CAROL and DAVE started < 1 h before 12:30
    assert k["unanswered"] == {"eligible_sessions": 2, "unanswered": 0, "rate": 0.0}
    # attainment is over every answered session: ANA late, BEN and DAVE in time
    assert k["target"]["attainment"] == pytest.approx(2 / 3, abs=1e-6)
    k_later = run(b, until="2026-03-02T13:00").kpis
    # at 13:00 CAROL (12:00) is an hour old and still unanswered; DAVE (12:20) is still young
    assert k_later["unanswered"] == {"eligible_sessions": 3, "unanswered": 1, "rate": pytest.approx(1 / 3)}


def test_until_hides_messages_after_the_as_of_time(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00").msg(ANA, "2026-03-04 10:00", out=True)
    k = run(b, until="2026-03-03").kpis
    assert k["as_of"]["ts_ms"] == ms("2026-03-04 00:00", TZ) - 1
    assert k["unanswered"]["unanswered"] == 1
    assert k["waiting_now"]["count"] == 1
    assert k["waiting_now"]["chats"][0]["past_24h"] is True


def test_medians_and_p90_interpolate_between_neighbours(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ)
    for i, (jid, minutes) in enumerate([(ANA, 1), (BEN, 2), (CAROL, 10), ("491704444444@c.us", 20)]):
        b.msg(jid, f"2026-03-0{2 + i} 10:00").msg(jid, f"2026-03-0{2 + i} 10:{minutes:02d}", out=True)
    clock = run(b).kpis["frt"]["clock"]
    assert clock["median_s"] == (120 + 600) / 2
    assert clock["p90_s"] == pytest.approx(600 + 0.7 * (1200 - 600))  # position 0.9 * 3 = 2.7
    assert clock["mean_s"] == (60 + 120 + 600 + 1200) / 4
    assert [bucket["count"] for bucket in clock["buckets"]] == [2, 1, 1, 0, 0, 0]


def test_bucket_lower_bounds_are_inclusive(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00").msg(ANA, "2026-03-02 10:05", out=True)
    buckets = run(b).kpis["frt"]["clock"]["buckets"]
    assert [bucket["count"] for bucket in buckets] == [0, 1, 0, 0, 0, 0]


def test_reply_time_is_measured_for_every_customer_turn(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-02 10:00")
        .msg(ANA, "2026-03-02 10:01")
        .msg(ANA, "2026-03-02 10:04", out=True)  # turn 1: 4 min
        .msg(ANA, "2026-03-02 10:10")
        .msg(ANA, "2026-03-02 10:30", out=True)  # turn 2: 20 min
        .msg(ANA, "2026-03-02 10:31")  # turn 3: pending
    )
    reply = run(b).kpis["reply_time"]
    assert reply["turns"] == 3
    assert reply["clock"]["count"] == 2
    assert reply["clock"]["median_s"] == (240 + 1200) / 2


def test_waiting_now_lists_oldest_first_and_flags_past_24h(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .chat(BEN, "Ben's Bakery")
        .msg(ANA, "2026-03-02 09:00")
        .msg(BEN, "2026-03-03 08:00")
        .msg(CAROL, "2026-03-03 09:00")
        .msg(CAROL, "2026-03-03 09:30", out=True)  # answered: not waiting
        .msg(ANA, "2026-03-03 10:00", out=True, msg_id="zz-a")
        .msg(ANA, "2026-03-03 10:30")  # waiting since 10:30, half an hour
        .msg(BEN, "2026-03-03 11:00", out=True)
        .msg(BEN, "2026-03-03 11:00", msg_id="zzzz")  # same ms, later id: the customer spoke last
    )
    waiting = run(b, until="2026-03-04T10:00").kpis["waiting_now"]
    assert [w["customer"] for w in waiting["chats"]] == ["+********1111", "Ben's Bakery"]
    assert [w["waited_s"] for w in waiting["chats"]] == [23.5 * 3600, 23 * 3600]
    assert waiting["past_24h"] == 0
    assert run(b, until="2026-03-04T11:00").kpis["waiting_now"]["past_24h"] == 1


def test_customers_new_returning_dormant_and_busiest(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-01-05 10:00")  # before the period
        .msg(ANA, "2026-03-02 10:00")  # and in it: returning
        .msg(BEN, "2026-03-03 10:00")  # first ever message in the period: new
        .msg(BEN, "2026-03-03 10:01")
        .msg(CAROL, "2026-01-10 10:00")  # silent since: dormant
    )
    customers = run(b, since="2026-03-01", until="2026-03-31").kpis["customers"]
    assert (customers["known"], customers["active"], customers["new"]) == (3, 2, 1)
    assert (customers["returning"], customers["dormant"]) == (1, 1)
    assert [c["inbound"] for c in customers["busiest"]] == [2, 1]


def test_two_customers_with_the_same_name_stay_two_in_the_lists(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .chat(ANA, "Yuki Jensen")
        .chat(BEN, "Yuki Jensen")
        .msg(ANA, "2026-03-02 10:00")
        .msg(ANA, "2026-03-02 10:01")
        .msg(BEN, "2026-03-02 11:00")
    )
    k = run(b).kpis
    busiest = [(c["customer"], c["inbound"]) for c in k["customers"]["busiest"]]
    assert busiest == [("Yuki Jensen (+********1111)", 2), ("Yuki Jensen (+********2222)", 1)]
    assert [w["customer"] for w in k["waiting_now"]["chats"]] == [
        "Yuki Jensen (+********1111)",
        "Yuki Jensen (+********2222)",
    ]


def test_the_business_own_number_is_never_shown_as_a_customer(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(BUSINESS, "2026-03-02 09:00")  # a note-to-self that the store recorded as inbound
        .msg(ANA, "2026-03-02 10:00", sender_name="Ana")
        .msg(ANA, "2026-03-02 10:05", out=True)  # its sender is the business's own number
    )
    k = run(b).kpis
    assert [c["customer"] for c in k["customers"]["busiest"]] == ["Ana"]
    assert k["waiting_now"]["count"] == 0
    assert "00000001" not in str(k)


def test_weekly_trend_groups_by_local_monday(run: Analyze) -> None:
    # Sunday 23:30 Berlin is Sunday 22:30 UTC: it belongs to the week of Monday 2 March, not 9 March.
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-08 23:30")
        .msg(ANA, "2026-03-08 23:40", out=True)
        .msg(BEN, "2026-03-09 10:00")
        .msg(BEN, "2026-03-09 11:00", out=True)
    )
    weekly = run(b).kpis["frt"]["weekly"]
    assert [(w["week_start"], w["median_s"]) for w in weekly] == [("2026-03-02", 600.0), ("2026-03-09", 3600.0)]
    assert [w["attainment"] for w in weekly] == [1.0, 1.0]
    assert [(w["frt_5_15min"], w["frt_15_60min"], w["frt_1_4h"]) for w in weekly] == [(1, 0, 0), (0, 0, 1)]
    # Sunday night is outside business hours: the reply counts 0 business seconds
    assert [(w["bh_frt_under_5min"], w["reply_median_s"], w["bh_reply_median_s"]) for w in weekly] == [
        (1, 600.0, 0.0),
        (0, 3600.0, 3600.0),
    ]


def test_heatmap_and_daily_volume_use_the_configured_zone(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 00:30").msg(GROUP, "2026-03-02 00:45", out=True)
    result = run(b)
    cells = [c for c in result.tables["heatmap"].to_pylist() if c["inbound"] or c["outbound"]]
    assert cells == [{"weekday": 1, "hour": 0, "inbound": 1, "outbound": 1}]
    assert [str(d["day"]) for d in result.tables["daily"].to_pylist()] == ["2026-03-02"]


def test_the_daily_series_spans_the_days_with_messages_however_wide_the_period(run: Analyze) -> None:
    b = StoreBuilder(tz=TZ).msg(ANA, "2026-03-02 10:00").msg(ANA, "2026-03-04 10:30", out=True)
    result = run(b, since="1970-01-01", until="2199-12-31")
    assert [str(d["day"]) for d in result.tables["daily"].to_pylist()] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert result.kpis["period"]["days"] > 80_000  # the period itself is what was asked for


def test_workload_ratio_and_media_share(run: Analyze) -> None:
    b = (
        StoreBuilder(tz=TZ)
        .msg(ANA, "2026-03-02 10:00", media="image")
        .msg(ANA, "2026-03-02 10:05", out=True)
        .msg(ANA, "2026-03-02 10:06", out=True, media="document")
        .msg(ANA, "2026-03-02 10:07", out=True)
    )
    work = run(b).kpis["workload"]
    assert work["business_to_customer_ratio"] == 3.0
    assert work["session_duration"]["median_s"] == 420.0
    assert {m["type"]: m["share"] for m in work["media"]} == {"text": 0.5, "image": 0.25, "document": 0.25}


def test_local_time_switches_at_the_exact_dst_instant(run: Analyze) -> None:
    # Berlin switches at 2026-03-29 01:00:00 UTC: one millisecond before is 01:59:59.999 CET, at it 03:00 CEST.
    switch = ms("2026-03-29 01:00", "UTC")
    b = StoreBuilder(tz=TZ).msg(ANA, switch - 1, msg_id="a").msg(BEN, switch, msg_id="b")
    cells = [c for c in run(b).tables["heatmap"].to_pylist() if c["inbound"]]
    assert cells == [
        {"weekday": 7, "hour": 1, "inbound": 1, "outbound": 0},
        {"weekday": 7, "hour": 3, "inbound": 1, "outbound": 0},
    ]
