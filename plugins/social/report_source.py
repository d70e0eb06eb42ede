"""Social listening as a report source, ``social.sentiment``: per day, week or month (in
the report's time zone), how many mentions there were, how they sounded on average and
how many were positive, neutral and negative.

Two aggregates in SQL through the reader's context (as ``socialListening`` reads them),
so someone who sees only some mentions counts only those.  The dashboard's date range
picks mentions by when they were posted, its filter narrows them where it names mention
fields.  Params: ``bucket`` (``day``, ``week`` (default), ``month``, ``quarter`` or
``year``) and ``accountId`` (one account's mentions).
"""

from __future__ import annotations

from typing import Any

from kith.plugins.social.listening import BUCKETS
from kith.plugins.social.models import SENTIMENT_LABELS
from kith.sdk import PluginContext, ReportColumn, ReportRequest, ReportSource

COLUMNS = [
    ReportColumn("period", "Period", "dimension"),
    ReportColumn("mentions", "Mentions"),
    ReportColumn("averageSentiment", "Average sentiment"),
    *(ReportColumn(label, label.capitalize()) for label in SENTIMENT_LABELS),
]


async def run(context: PluginContext, request: ReportRequest) -> list[dict[str, Any]]:
    params = request.checked_params({"bucket": (BUCKETS, "week")}, ids=("accountId",))
    bucket, account = params["bucket"], None if params["accountId"] is None else str(params["accountId"])
    parts = [part for part in (request.within("postedAt"), request.filter_for("social_mention")) if part]
    if account is not None:
        parts.append({"accountId": {"eq": account}})
    wanted = {"and": parts} if parts else None
    step = ("postedAt", bucket)
    key = f"postedAt:{bucket}"
    records = context.records
    periods: dict[str, dict[str, Any]] = {}
    for group in await records.aggregate(
        "social_mention", wanted, bucket=step, averages=["sentimentScore"], time_zone=request.time_zone, limit=10_000
    ):
        if group.key[key] is None:
            continue
        average = group.averages.get("sentimentScore")
        periods[str(group.key[key])] = {
            "period": str(group.key[key]),
            "mentions": group.count,
            "averageSentiment": None if average is None else round(float(average), 4),
            **dict.fromkeys(SENTIMENT_LABELS, 0),
        }
    for group in await records.aggregate(
        "social_mention", wanted, group_by=["sentimentLabel"], bucket=step, time_zone=request.time_zone, limit=10_000
    ):
        label, period = group.key.get("sentimentLabel"), str(group.key[key])
        if label in SENTIMENT_LABELS and period in periods:
            periods[period][label] = group.count
    return [periods[name] for name in sorted(periods)]


SOURCE = ReportSource(
    name="social.sentiment",
    title="Social sentiment",
    columns=COLUMNS,
    run=run,
    description="Mentions per period, their average sentiment and how many were positive, neutral and negative.",
)
