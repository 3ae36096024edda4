"""Business-intelligence KPIs and the offline HTML report over the local store (docs/report.md).

The engine loads the SQLite store into DuckDB through Arrow (:mod:`.load`), computes the KPIs of KPIS.md in SQL
(:mod:`.kpis`) and renders one self-contained HTML file plus ``kpis.json`` and CSVs (:mod:`.report`). Only names in
``__all__`` are public.
"""

from __future__ import annotations

from .kpis import FRT_BUCKETS, KPIS_SCHEMA_VERSION, SESSION_COLUMNS, Analysis, analyze, compute_kpis
from .load import load_store
from .options import BusinessHours, ReportOptions, parse_business_hours, parse_duration, parse_timezone
from .report import ReportResult, build_report

__all__ = [
    "FRT_BUCKETS",
    "KPIS_SCHEMA_VERSION",
    "SESSION_COLUMNS",
    "Analysis",
    "BusinessHours",
    "ReportOptions",
    "ReportResult",
    "analyze",
    "build_report",
    "compute_kpis",
    "load_store",
    "parse_business_hours",
    "parse_duration",
    "parse_timezone",
]
