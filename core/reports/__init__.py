"""Reports (docs/reports.md): saved questions about the records, answered as whoever asks.

Four kinds: aggregates (group by, date buckets in a time zone, counts, sums, averages,
distinct counts, ratios), funnels, cohorts by month of first activity, and figures a
plugin offers as a report source (``kith_report_sources``).  Every kind answers with a
``ReportResult`` (columns and JSON-ready rows), computed as the reader, so dashboards,
scheduled mail and the CLI show any of them the same way.
"""

from kith.core.reports.definition import (
    BucketSpec,
    FunnelStep,
    MeasureSpec,
    RatioSpec,
    ReportDefinition,
    parse_definition,
)
from kith.core.reports.result import ReportColumn, ReportResult
from kith.core.reports.runner import check, run_report, run_saved_report
from kith.core.reports.sources import ReportRequest, ReportSource
from kith.core.reports.store import SavedReport, delete_report, get_report, list_reports, save_report

__all__ = [
    "BucketSpec",
    "FunnelStep",
    "MeasureSpec",
    "RatioSpec",
    "ReportColumn",
    "ReportDefinition",
    "ReportRequest",
    "ReportResult",
    "ReportSource",
    "SavedReport",
    "check",
    "delete_report",
    "get_report",
    "list_reports",
    "parse_definition",
    "run_report",
    "run_saved_report",
    "save_report",
]
