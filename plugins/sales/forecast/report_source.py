"""The forecast as a report source, ``sales.forecast``: the rows ``salesForecast`` gives
(per owner, team or pipeline and currency, then a total per currency), for dashboards
and scheduled reports.

The period is the dashboard's date range, as whole days in the report's time zone
(without one: the current quarter there).  The figures are computed by the same code as
the GraphQL field, through the reader's context, so a sales rep's report holds their own
deals only; the dashboard's filter narrows the deals where it names deal fields.
Params: ``groupBy`` (``owner``, ``team`` or ``pipeline``; default ``owner``) and
``pipelineId``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from kith.plugins.sales.forecast import figures
from kith.plugins.sales.forecast.sql import Period
from kith.plugins.sales.forecast.viewer import viewer
from kith.sdk import PluginContext, ReportColumn, ReportRequest, ReportSource

COLUMNS = [
    ReportColumn("label", "Group", "dimension"),
    ReportColumn("currency", "Currency", "dimension"),
    ReportColumn("openCount", "Open deals"),
    ReportColumn("pipeline", "Pipeline"),
    ReportColumn("weighted", "Weighted"),
    ReportColumn("commit", "Commit"),
    ReportColumn("bestCase", "Best case"),
    ReportColumn("closedWon", "Closed won"),
    ReportColumn("closedWonCount", "Deals won"),
    ReportColumn("closedLost", "Closed lost"),
    ReportColumn("closedLostCount", "Deals lost"),
]


def period_of(request: ReportRequest) -> Period:
    """The date range as whole local days; open ends are those of the current quarter."""
    zone = zoneinfo.ZoneInfo(request.time_zone)
    today = dt.datetime.now(zone).date()
    quarter_start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    next_quarter = (quarter_start + dt.timedelta(days=95)).replace(day=1)
    start = request.date_from.astimezone(zone).date() if request.date_from else quarter_start
    if request.date_to is not None:
        end = (request.date_to - dt.timedelta(microseconds=1)).astimezone(zone).date()
    else:
        end = next_quarter - dt.timedelta(days=1)
    return Period(start, end)


async def run(context: PluginContext, request: ReportRequest) -> list[dict[str, Any]]:
    params = request.checked_params({"groupBy": (figures.GROUPINGS, "owner")}, ids=("pipelineId",))
    group_by, pipeline = params["groupBy"], params["pipelineId"]
    forecast = await figures.compute(
        await viewer(context), period_of(request), group_by, pipeline, deals=request.filter_for("deal")
    )
    return [
        {
            "label": row.label,
            "currency": row.currency,
            "openCount": row.open_count,
            "pipeline": row.pipeline,
            "weighted": row.weighted,
            "commit": row.commit,
            "bestCase": row.best_case,
            "closedWon": row.closed_won,
            "closedWonCount": row.closed_won_count,
            "closedLost": row.closed_lost,
            "closedLostCount": row.closed_lost_count,
        }
        for row in [*forecast.rows, *forecast.totals]
    ]


SOURCE = ReportSource(
    name="sales.forecast",
    title="Sales forecast",
    columns=COLUMNS,
    run=run,
    description="Open, weighted, commit, best case and closed deals per owner, team or pipeline and currency.",
)
