"""Listening figures: how much is said about the company, how it sounds, where and on
what, and how fast social tickets are answered.  Every figure is one aggregate in SQL
read as the person asking (``context.records.aggregate``), so someone who sees only
their own contacts' mentions counts only those; nothing is a stored counter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from kith.sdk import PluginContext, ValidationFailed

Unit = Literal["day", "week", "month", "quarter", "year"]
BUCKETS: tuple[Unit, ...] = get_args(Unit)


def _unit(value: str) -> Unit:
    for unit in BUCKETS:
        if value == unit:
            return unit
    raise ValidationFailed.single("bucket", "invalid", f"must be one of: {', '.join(BUCKETS)}")


@dataclass(frozen=True)
class Period:
    bucket: str
    mentions: int
    average_sentiment: float | None
    by_label: dict[str, int]


@dataclass(frozen=True)
class Share:
    key: str
    kind: str
    mentions: int
    share: float
    average_sentiment: float | None = None


@dataclass(frozen=True)
class TicketTimes:
    tickets: int
    solved: int
    average_first_response_seconds: float | None
    average_resolution_seconds: float | None


@dataclass(frozen=True)
class Listening:
    mentions: int
    average_sentiment: float | None
    by_label: dict[str, int]
    over_time: list[Period] = field(default_factory=list)
    by_account: list[Share] = field(default_factory=list)
    by_topic: list[Share] = field(default_factory=list)
    #: None without the service plugin, or for someone who may not read tickets
    tickets: TicketTimes | None = None


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


async def listening(
    context: PluginContext,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    bucket: str = "day",
    account_id: int | None = None,
    topics: int = 20,
) -> Listening:
    unit = _unit(bucket)
    when: dict[str, Any] = {}
    if since is not None:
        when["gte"] = since.isoformat()
    if until is not None:
        when["lt"] = until.isoformat()
    mentions: dict[str, Any] = {"postedAt": when} if when else {}
    if account_id is not None:
        mentions["accountId"] = {"eq": str(account_id)}
    records = context.records
    overall = next(iter(await records.aggregate("social_mention", mentions, averages=["sentimentScore"])), None)
    total = overall.count if overall else 0
    average = _round(overall.averages.get("sentimentScore")) if overall else None
    labels = await records.aggregate("social_mention", mentions, group_by=["sentimentLabel"])
    by_label = {str(g.key["sentimentLabel"]): g.count for g in labels if g.key["sentimentLabel"]}
    step = (bucket_field := "postedAt", unit)
    periods = {
        str(g.key[f"{bucket_field}:{unit}"]): Period(str(g.key[f"{bucket_field}:{unit}"]), g.count,
                                                     _round(g.averages.get("sentimentScore")), {})
        for g in await records.aggregate("social_mention", mentions, bucket=step, averages=["sentimentScore"])
    }  # fmt: skip
    for group in await records.aggregate("social_mention", mentions, group_by=["sentimentLabel"], bucket=step):
        label = group.key.get("sentimentLabel")
        key = str(group.key[f"{bucket_field}:{unit}"])
        if label and key in periods:
            periods[key].by_label[str(label)] = group.count
    over_time = [periods[key] for key in sorted(periods)]
    accounts = await records.aggregate("social_mention", mentions, group_by=["accountId"], averages=["sentimentScore"])
    handles = {int(a["id"]): str(a["handle"]) for a in await records.list("social_account", first=1000)} if context.can(
        "social_account", "read") else {}  # fmt: skip
    by_account = sorted(
        (Share(handles.get(int(g.key["accountId"] or 0), str(g.key["accountId"] or "none")), "account", g.count,
               round(g.count / total, 4) if total else 0.0, _round(g.averages.get("sentimentScore")))
         for g in accounts),
        key=lambda s: (-s.mentions, s.key),
    )  # fmt: skip
    topic_filter: dict[str, Any] = {"postedAt": when} if when else {}
    if account_id is not None:
        topic_filter["accountId"] = {"eq": str(account_id)}
    by_topic = []
    if context.can("social_mention_topic", "read"):
        found = await records.aggregate("social_mention_topic", topic_filter, group_by=["kind", "tag"])
        by_topic = sorted(
            (Share(str(g.key["tag"]), str(g.key["kind"]), g.count, round(g.count / total, 4) if total else 0.0)
             for g in found),
            key=lambda s: (-s.mentions, s.kind, s.key),
        )[:topics]  # fmt: skip
    return Listening(total, average, by_label, over_time, by_account, by_topic, await _ticket_times(context, when))


async def _ticket_times(context: PluginContext, when: dict[str, Any]) -> TicketTimes | None:
    """How fast tickets from social were answered and solved (working seconds of their
    SLA calendar, as the service plugin stores them)."""
    if "ticket" not in context.entity_names() or not context.can("ticket", "read"):
        return None
    wanted: dict[str, Any] = {"channel": {"eq": "social"}}
    if when:
        wanted["createdAt"] = when
    averages = ["firstResponseSeconds", "resolutionSeconds"]
    overall = next(iter(await context.records.aggregate("ticket", wanted, averages=averages)), None)
    solved = await context.records.count("ticket", {**wanted, "statusCategory": {"in": ["solved", "closed"]}})
    tickets = overall.count if overall else 0

    def mean(name: str) -> float | None:
        value = overall.averages.get(name) if overall else None
        return None if value is None else round(float(value), 1)

    return TicketTimes(tickets, solved, mean("firstResponseSeconds"), mean("resolutionSeconds"))
