"""The report's charts: Altair specs rendered to static SVG by vl-convert, each with a one-line plain reading.

Rendering happens here, in-process and offline (vl-convert bundles Vega; no data or script is ever fetched), so the
HTML holds finished ``<svg>`` elements and needs no JavaScript. The one thing to know: several SVGs share one HTML
document, so every ``id`` inside a chart (clip paths, gradients) is prefixed with the chart's name — otherwise the
second chart would clip itself with the first chart's rectangle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import altair as alt
import pyarrow as pa
import vl_convert

from ..redact import get_logger
from .kpis import FRT_BUCKETS

__all__ = ["Chart", "build_charts", "format_duration", "format_share"]

log = get_logger(__name__)

_VL_VERSION = "6.4"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_NAMES = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
_INK = "#1f2937"
_BLUE = "#2563eb"
_TEAL = "#0d9488"
_GREY = "#9ca3af"
#: The most days the volume chart draws as daily bars; a longer period is drawn week by week.
_DAILY_BARS_MAX = 92
_SERIES = ["Clock time", "Business hours only"]
_SERIES_SCALE: dict[str, Any] = {"domain": _SERIES, "range": [_BLUE, _TEAL]}
_CONFIG: dict[str, Any] = {
    "font": "Helvetica, Arial, sans-serif",
    "view": {"stroke": None},
    "axis": {"labelColor": _INK, "titleColor": _INK, "gridColor": "#e5e7eb", "domainColor": _GREY},
    "legend": {"labelColor": _INK, "titleColor": _INK, "orient": "top"},
}


@dataclass(frozen=True)
class Chart:
    """One rendered chart: ``name`` is its HTML id, ``svg`` the inline markup, ``reading`` one plain sentence."""

    name: str
    title: str
    svg: str | None
    reading: str


def format_duration(seconds: float | None) -> str:
    """``754`` -> ``"12 minutes"``; ``None`` -> ``"—"``. Rounded the way a person would say it."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{round(seconds)} seconds" if round(seconds) != 1 else "1 second"
    minutes = seconds / 60
    if minutes < 60:
        return f"{round(minutes)} minutes" if round(minutes) != 1 else "1 minute"
    hours = minutes / 60
    if hours < 48:
        whole, rest = divmod(round(minutes), 60)
        return f"{whole} h {rest} min" if rest else f"{whole} hours" if whole != 1 else "1 hour"
    return f"{hours / 24:.1f} days"


def _day(iso_date: str) -> str:
    """``"2026-03-02"`` -> ``"Mon 2 Mar 2026"``."""
    day = date.fromisoformat(iso_date)
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {day.strftime('%b %Y')}"


def format_share(share: float | None) -> str:
    """``0.8333`` -> ``"83%"``; ``None`` -> ``"—"``."""
    return "—" if share is None else f"{share * 100:.0f}%"


def _inline(values: list[dict[str, Any]]) -> Any:
    """Inline data for a chart: the rows travel inside the spec, so rendering never looks anything up."""
    return alt.Data(values=values)  # type: ignore[no-untyped-call]  # altair's own annotations stop short here


def _svg(name: str, chart: alt.TopLevelMixin) -> str:
    spec = chart.to_dict()
    svg: str = vl_convert.vegalite_to_svg(spec, vl_version=_VL_VERSION, config=_CONFIG, allowed_base_urls=[])
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    for old in sorted(ids, key=len, reverse=True):
        new = f"{name}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f"url(#{old})", f"url(#{new})")
        svg = svg.replace(f'href="#{old}"', f'href="#{new}"')
    # a described, scalable image: the width comes from the page, the aspect ratio from the viewBox
    return svg.replace("<svg ", f'<svg role="img" aria-label="{name}" preserveAspectRatio="xMinYMin meet" ', 1)


def _frt_distribution(kpis: dict[str, Any]) -> Chart:
    frt = kpis["frt"]
    clock, bh = frt["clock"], frt["business_hours"]
    name, title = "frt-distribution", "How long customers wait for a first answer"
    if not clock["count"]:
        return Chart(name, title, None, "No answered customer conversations in this period.")
    values = [
        {"bucket": b["label"], "order": i, "clock": clock_label, "sessions": b["count"]}
        for clock_label, stats in (("Clock time", clock), ("Business hours only", bh))
        for i, b in enumerate(stats["buckets"])
    ]
    chart = (
        alt.Chart(_inline(values), width=560, height=240)
        .mark_bar()
        .encode(
            x=alt.X("bucket:N", sort=[b[0] for b in FRT_BUCKETS], title="first response time", axis={"labelAngle": 0}),
            xOffset=alt.XOffset("clock:N", sort=_SERIES),
            y=alt.Y("sessions:Q", title="conversations"),
            color=alt.Color("clock:N", title=None, scale=_SERIES_SCALE, sort=_SERIES),
        )
    )
    reading = f"Half of your customers got a first answer within {format_duration(clock['median_s'])}"
    reading += f"; 9 in 10 within {format_duration(clock['p90_s'])}."
    if bh["median_s"] is not None and bh["median_s"] < (clock["median_s"] or 0):
        reading += f" Counting business hours only, the median is {format_duration(bh['median_s'])}."
    return Chart(name, title, _svg(name, chart), reading)


def _weekly_trend(kpis: dict[str, Any]) -> Chart:
    weekly = [w for w in kpis["frt"]["weekly"] if w["median_s"] is not None]
    name, title = "frt-weekly", "Median first response, week by week"
    if not weekly:
        return Chart(name, title, None, "No answered customer conversations in this period.")
    values = [
        {"week": w["week_start"], "series": series, "minutes": w[key] / 60}
        for w in weekly
        for series, key in (("Clock time", "median_s"), ("Business hours only", "bh_median_s"))
    ]
    chart = (
        alt.Chart(_inline(values), width=560, height=220)
        .mark_line(point=True)
        .encode(
            x=alt.X("week:T", title="week starting", timeUnit="yearmonthdate", axis={"format": "%d %b"}),
            y=alt.Y("minutes:Q", title="median minutes"),
            color=alt.Color("series:N", title=None, scale=_SERIES_SCALE, sort=_SERIES),
        )
    )
    first, last = weekly[0], weekly[-1]
    if len(weekly) == 1:
        reading = f"Only one week of data: the median first response was {format_duration(first['median_s'])}."
    else:
        direction = "faster" if last["median_s"] < first["median_s"] else "slower"
        if last["median_s"] == first["median_s"]:
            direction = "unchanged"
        reading = (
            f"The median first response went from {format_duration(first['median_s'])} in the week of "
            f"{_day(first['week_start'])} to {format_duration(last['median_s'])} in the week of "
            f"{_day(last['week_start'])} ({direction})."
        )
    return Chart(name, title, _svg(name, chart), reading)


def _heatmap(kpis: dict[str, Any], heatmap: pa.Table) -> Chart:
    name, title = "heatmap", "When customers write (messages per weekday and hour)"
    cells = heatmap.to_pylist()
    if not any(c["inbound"] for c in cells):
        return Chart(name, title, None, "No customer messages in this period.")
    values = [{"weekday": _WEEKDAYS[c["weekday"] - 1], "hour": c["hour"], "messages": c["inbound"]} for c in cells]
    chart = (
        alt.Chart(_inline(values), width=560, height=200)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title=f"hour of day ({kpis['options']['timezone']})", axis={"labelAngle": 0}),
            y=alt.Y("weekday:N", sort=list(_WEEKDAYS), title=None),
            color=alt.Color("messages:Q", title="customer messages", scale={"scheme": "blues"}),
        )
    )
    top = kpis["volume"]["busiest_slots"][0]
    day = _WEEKDAY_NAMES[_WEEKDAYS.index(top["weekday"])]
    reading = f"Customers write most on {day} between {top['hour']:02d}:00 and {(top['hour'] + 1) % 24:02d}:00."
    return Chart(name, title, _svg(name, chart), reading)


def _by_week(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Daily rows summed into weeks starting on Monday (``day`` = the Monday)."""
    weeks: dict[date, dict[str, Any]] = {}
    for d in days:
        day = date.fromisoformat(str(d["day"]))
        monday = day - timedelta(days=day.weekday())
        week = weeks.setdefault(monday, {"day": monday.isoformat(), "inbound": 0, "outbound": 0})
        week["inbound"] += d["inbound"]
        week["outbound"] += d["outbound"]
    return [weeks[monday] for monday in sorted(weeks)]


def _daily_volume(kpis: dict[str, Any], daily: pa.Table) -> Chart:
    days = daily.to_pylist()
    # Past ~3 months a day's bar is a pixel or two wide and the two colours blur into one: show weeks instead.
    weekly = len(days) > _DAILY_BARS_MAX
    name, title = "daily-volume", "Messages per week" if weekly else "Messages per day"
    if not kpis["volume"]["messages"]:
        return Chart(name, title, None, "No messages in this period.")
    bars = _by_week(days) if weekly else days
    values = [
        {"day": str(d["day"]), "direction": direction, "messages": d[key]}
        for d in bars
        for direction, key in (("from customers", "inbound"), ("from you", "outbound"))
    ]
    chart = (
        alt.Chart(_inline(values), width=560, height=200)
        .mark_bar()
        .encode(
            # A week's time unit makes each bar as wide as its week (Vega-Lite's weeks start on Sunday: the bar of
            # the week starting Monday 7 Apr spans 6-12 Apr, a day early, which the month ticks do not show).
            x=alt.X(
                "day:T",
                title="week" if weekly else None,
                timeUnit="yearweek" if weekly else "yearmonthdate",
                axis={"format": "%d %b"},
            ),
            y=alt.Y("messages:Q", title="messages", stack="zero"),
            color=alt.Color("direction:N", title=None, scale={"range": [_BLUE, _GREY]}),
        )
    )
    busiest = max(days, key=lambda d: (d["inbound"] + d["outbound"], str(d["day"])))
    mean = kpis["volume"]["per_day_mean"]
    reading = (
        f"On average {mean:.0f} messages a day; the busiest day was {_day(str(busiest['day']))} with "
        f"{busiest['inbound'] + busiest['outbound']} messages."
    )
    return Chart(name, title, _svg(name, chart), reading)


def _busiest_customers(kpis: dict[str, Any]) -> Chart:
    name, title = "busiest-customers", "Busiest customers (messages they sent)"
    busiest = kpis["customers"]["busiest"]
    if not busiest:
        return Chart(name, title, None, "No customer wrote in this period.")
    values = [{"customer": c["customer"], "rank": i, "messages": c["inbound"]} for i, c in enumerate(busiest)]
    chart = (
        alt.Chart(_inline(values), width=460, height=max(60, 22 * len(values)))
        .mark_bar(color=_BLUE)
        .encode(
            x=alt.X("messages:Q", title="messages from the customer"),
            y=alt.Y("customer:N", sort=alt.EncodingSortField("rank", order="ascending"), title=None),
        )
    )
    c = kpis["customers"]
    if kpis["options"]["since_ts_ms"] is None:
        # the period is the whole history, so "new vs returning" has nothing to compare with
        reading = (
            f"{c['active']} customers wrote; {c['repeat']} came back for a second conversation or more. "
            f"{c['dormant']} have been silent for {kpis['options']['dormant_days']} days or more."
        )
    else:
        reading = (
            f"{c['active']} customers wrote in this period: {c['new']} new and {c['returning']} returning; "
            f"{c['dormant']} have been silent for {kpis['options']['dormant_days']} days or more."
        )
    return Chart(name, title, _svg(name, chart), reading)


def _media_share(kpis: dict[str, Any]) -> Chart:
    name, title = "media-share", "What kind of messages"
    media = kpis["workload"]["media"]
    if not media:
        return Chart(name, title, None, "No messages in this period.")
    values = [{"type": m["type"], "share": m["share"], "count": m["count"]} for m in media]
    chart = (
        alt.Chart(_inline(values), width=460, height=max(60, 24 * len(values)))
        .mark_bar(color=_TEAL)
        .encode(
            x=alt.X("share:Q", title="share of messages", axis={"format": "%"}),
            y=alt.Y("type:N", sort="-x", title=None),
        )
    )
    work = kpis["workload"]
    ratio = work["business_to_customer_ratio"]
    reading = f"{format_share(media[0]['share'])} of messages are {media[0]['type']}"
    if ratio is not None:
        reading += f"; you send {ratio:.1f} messages for every customer message"
    if work["session_duration"]["median_s"] is not None:
        reading += f", and a conversation lasts {format_duration(work['session_duration']['median_s'])} at the median"
    return Chart(name, title, _svg(name, chart), reading + ".")


def build_charts(kpis: dict[str, Any], tables: dict[str, pa.Table]) -> dict[str, Chart]:
    """Every chart of the report, keyed by name; a chart without data has ``svg=None`` and says so."""
    charts = [
        _frt_distribution(kpis),
        _weekly_trend(kpis),
        _heatmap(kpis, tables["heatmap"]),
        _daily_volume(kpis, tables["daily"]),
        _busiest_customers(kpis),
        _media_share(kpis),
    ]
    log.debug("rendered %d charts", sum(1 for c in charts if c.svg))
    return {c.name: c for c in charts}
