"""Write the report: ``report.html`` (one self-contained offline file), ``kpis.json`` and CSV tables.

:func:`build_report` is the one entry point, shared by ``wamcp report`` and ``wamcp demo``. The HTML carries its CSS
and its charts (static SVG) inline and references nothing outside itself, so it opens from a USB stick, an e-mail
attachment or a plane. The one thing to know: customers appear in the HTML only by name or masked number
(:func:`wamcp.redact.mask_phone`); raw chat ids appear only in the CSVs, which exist to be joined with other data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pyarrow as pa
import pyarrow.csv as pa_csv

from .. import __version__
from ..errors import StoreError
from ..redact import get_logger
from .charts import Chart, build_charts, format_duration, format_share
from .kpis import Analysis, analyze
from .options import ReportOptions

__all__ = ["CSV_TABLES", "ReportResult", "build_report", "render_html"]

log = get_logger(__name__)

# CSV file name -> table of the analysis; the order is the order in docs/report.md.
CSV_TABLES: dict[str, str] = {
    "frt_sessions.csv": "frt_sessions",
    "waiting_now.csv": "waiting_now",
    "weekly.csv": "weekly",
    "heatmap.csv": "heatmap",
    "daily.csv": "daily",
    "customers.csv": "customers",
}
_TEMPLATES = Path(__file__).parent / "templates"
# a table longer than this is no longer read by anyone: the rest is in waiting_now.csv
_WAITING_ROWS = 50


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote, and the figures behind it."""

    out_dir: Path
    html_path: Path
    kpis_path: Path
    csv_paths: dict[str, Path]
    analysis: Analysis

    @property
    def kpis(self) -> dict[str, Any]:
        """The contents of ``kpis.json``."""
        return self.analysis.kpis

    @property
    def sessions(self) -> pa.Table:
        """Every customer-initiated session of the period with its FRT (``frt_sessions.csv``)."""
        return self.analysis.sessions


def _local(ms: int | None, zone: ZoneInfo, fmt: str = "%a %d %b %Y %H:%M") -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, tz=zone).strftime(fmt)


def _waiting_note(waiting: dict[str, Any]) -> str:
    if not waiting["count"]:
        return "nobody is waiting"
    return (
        f"{waiting['reply_window_open']} can still get a free-form reply; {waiting['past_24h']} waiting more than 24 h"
    )


def _waiting_row(w: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    return {
        "customer": w["customer"],
        "since": _local(w["waiting_since_ts_ms"], zone),
        "waited": format_duration(w["waited_s"]),
        "past_24h": w["past_24h"],
        "window_open": w["reply_window_open"],
    }


def _view(kpis: dict[str, Any], charts: dict[str, Chart], store_name: str) -> dict[str, Any]:
    """Everything the template shows, already formatted: the template only lays it out."""
    zone = ZoneInfo(kpis["options"]["timezone"])
    frt, target, unanswered, waiting = kpis["frt"], kpis["target"], kpis["unanswered"], kpis["waiting_now"]
    customers, workload = kpis["customers"], kpis["workload"]
    target_text = format_duration(target["target_s"])
    cards = [
        {
            "label": "Median first response",
            "value": format_duration(frt["clock"]["median_s"]),
            "note": f"{format_duration(frt['business_hours']['median_s'])} counting business hours only"
            if frt["business_hours"]["median_s"] is not None
            else "no answered conversations",
        },
        {
            "label": f"Answered within {target_text}",
            "value": format_share(target["attainment"]),
            "note": f"{target['within_target']} of {target['answered']} answered conversations",
        },
        {
            "label": "Unanswered",
            "value": format_share(unanswered["rate"]),
            "note": f"{unanswered['unanswered']} of {unanswered['eligible_sessions']} conversations "
            f"(waiting less than {target_text} not counted yet)",
        },
        {
            "label": "Waiting now",
            "value": str(waiting["count"]),
            "note": _waiting_note(waiting),
            "alert": waiting["past_24h"] > 0,
        },
    ]
    # The chats a free-form reply can still reach come first, each group oldest first (KPIS.md's order): in a long
    # list, oldest first put year-old conversations on top and cut off the ones that can still be answered.
    open_now = waiting["open_chats"][:_WAITING_ROWS]
    closed = [w for w in waiting["chats"] if not w["reply_window_open"]][: _WAITING_ROWS - len(open_now)]
    waiting_groups = [
        {
            "id": "waiting-open",
            "title": "Reply window open: a free-form reply still reaches them",
            "total": waiting["reply_window_open"],
            "rows": [_waiting_row(w, zone) for w in open_now],
        },
        {
            "id": "waiting-closed",
            "title": "Reply window closed: only a template message reaches them now",
            "total": waiting["count"] - waiting["reply_window_open"],
            "rows": [_waiting_row(w, zone) for w in closed],
        },
    ]
    waiting_rows = [row for group in waiting_groups for row in group["rows"]]
    stats_rows = [
        {"label": label, **{k: format_duration(stats[k]) for k in ("median_s", "p90_s", "mean_s")}, "n": stats["count"]}
        for label, stats in (
            ("First response, clock time", frt["clock"]),
            ("First response, business hours", frt["business_hours"]),
            ("Every reply, clock time", kpis["reply_time"]["clock"]),
            ("Every reply, business hours", kpis["reply_time"]["business_hours"]),
        )
    ]
    busiest = [
        {
            "customer": c["customer"],
            "inbound": c["inbound"],
            "sessions": c["sessions"],
            "frt": format_duration(c["median_frt_s"]),
        }
        for c in customers["busiest"]
    ]
    ratio = workload["business_to_customer_ratio"]
    per_day = workload["sessions_per_day"]
    work_cards = [
        {"label": "Your messages per customer message", "value": "—" if ratio is None else f"{ratio:.2f}"},
        {"label": "Conversations per day", "value": "—" if per_day is None else f"{per_day:.1f}"},
        {"label": "Median conversation length", "value": format_duration(workload["session_duration"]["median_s"])},
        {"label": "Conversations", "value": str(workload["sessions"])},
    ]
    customer_cards = [
        {"label": "Active", "value": customers["active"]},
        {"label": "New", "value": customers["new"]},
        {"label": "Returning", "value": customers["returning"]},
        {"label": "2+ conversations", "value": customers["repeat"]},
        {"label": f"Silent {kpis['options']['dormant_days']}+ days", "value": customers["dormant"]},
    ]
    period_start = kpis["period"]["start_ts_ms"]
    as_of = kpis["as_of"]["ts_ms"]
    return {
        "title": "WhatsApp customer service report",
        "store_name": store_name,
        "has_data": kpis["has_data"],
        "period": "no data"
        if period_start is None or as_of is None
        else f"{_local(period_start, zone, '%d %b %Y')} – {_local(as_of, zone, '%d %b %Y')}",
        "as_of": _local(as_of, zone),
        "timezone": kpis["options"]["timezone"],
        "accounts": ", ".join(kpis.get("accounts") or []) or "none",
        "business_hours": kpis["options"]["business_hours"],
        "target": target_text,
        "groups": "included" if kpis["options"]["include_groups"] else "left out of response times",
        "cards": cards,
        "waiting": waiting_rows,
        "waiting_groups": waiting_groups,
        "waiting_more": max(0, waiting["count"] - len(waiting_rows)),
        "stats": stats_rows,
        "busiest": busiest,
        "customer_cards": customer_cards,
        "work_cards": work_cards,
        "charts": charts,
        "volume": kpis["volume"],
        "version": __version__,
        "schema_version": kpis["schema_version"],
    }


def render_html(analysis: Analysis, *, store_name: str = "whatsapp.db") -> str:
    """The self-contained HTML document for ``analysis``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    charts = build_charts(analysis.kpis, analysis.tables)
    css = (_TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("report.html.j2").render(v=_view(analysis.kpis, charts, store_name), css=css)


def _write_text(path: Path, text: str) -> None:
    # write-then-rename: a reader (or a browser refresh) never sees half a report
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def build_report(db_path: Path | str, out_dir: Path | str, options: ReportOptions | None = None) -> ReportResult:
    """Analyse the store at ``db_path`` and write ``report.html``, ``kpis.json`` and the CSVs into ``out_dir``."""
    db = Path(db_path)
    out = Path(out_dir)
    analysis = analyze(db, options)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the report directory {out}: {err.strerror}") from err
    csv_paths: dict[str, Path] = {}
    for file_name, table_name in CSV_TABLES.items():
        path = out / file_name
        pa_csv.write_csv(analysis.tables[table_name], path)
        csv_paths[table_name] = path
    kpis_path = out / "kpis.json"
    _write_text(kpis_path, json.dumps(analysis.kpis, indent=2, ensure_ascii=False) + "\n")
    html_path = out / "report.html"
    _write_text(html_path, render_html(analysis, store_name=db.name))
    log.info("wrote the report to %s", html_path)
    return ReportResult(out_dir=out, html_path=html_path, kpis_path=kpis_path, csv_paths=csv_paths, analysis=analysis)
