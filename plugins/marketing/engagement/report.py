"""A campaign's engagement figures, each a count or an aggregate in SQL read as the
person asking (``context.records``: their visibility, so a marketer who sees only their
own contacts counts only those), never a stored counter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kith.sdk import PluginContext, ValidationFailed

#: the entity and the reverse list of a delivery's engagement rows
ENTITY = "campaign_engagement"
ON_DELIVERY = "engagements"
#: deliveries handed to the receiving server (those later bounced or complained about too)
HANDED_OVER = ("sent", "bounced", "complained")


@dataclass(frozen=True)
class EngagementFigures:
    sent: int
    delivered: int
    opens: int
    unique_opens: int
    clicks: int
    unique_clicks: int
    machine_opens: int
    scanner_clicks: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    #: deliveries a person answered (automatic replies do not count)
    replies: int
    #: None when the reader may not read contacts' suppressions
    unsubscribes: int | None

    @property
    def open_rate(self) -> float | None:
        return round(self.unique_opens / self.delivered, 4) if self.delivered else None

    @property
    def click_rate(self) -> float | None:
        return round(self.unique_clicks / self.delivered, 4) if self.delivered else None

    @property
    def reply_rate(self) -> float | None:
        return round(self.replies / self.delivered, 4) if self.delivered else None


async def figures(
    context: PluginContext, campaign_id: int, by_status: Mapping[str, int], include_flagged: bool = False
) -> EngagementFigures:
    """``by_status``: the deliveries by status as the reader sees them (``control.report``)."""
    ours = {"campaignId": {"eq": str(campaign_id)}}
    totals: dict[tuple[str, bool], int] = {}
    for group in await context.records.aggregate(ENTITY, ours, group_by=["kind", "machine", "scanner"]):
        flagged = bool(group.key["machine"]) or bool(group.key["scanner"])
        key = (str(group.key["kind"]), flagged)
        totals[key] = totals.get(key, 0) + group.count

    def total(kind: str) -> int:
        return totals.get((kind, False), 0) + (totals.get((kind, True), 0) if include_flagged else 0)

    async def unique(kind: str, flag: str | None = None) -> int:
        wanted: dict[str, Any] = {"kind": {"eq": kind}}
        if flag and not include_flagged:
            wanted[flag] = {"eq": False}
        return await context.records.count("campaign_delivery", {**ours, ON_DELIVERY: {"some": wanted}})

    sent = sum(by_status.get(s, 0) for s in HANDED_OVER)
    bounced = by_status.get("bounced", 0)
    return EngagementFigures(
        sent=sent,
        delivered=sent - bounced,
        opens=total("open"),
        unique_opens=await unique("open", "machine"),
        clicks=total("click"),
        unique_clicks=await unique("click", "scanner"),
        machine_opens=totals.get(("open", True), 0),
        scanner_clicks=totals.get(("click", True), 0),
        hard_bounces=bounced,
        soft_bounces=totals.get(("soft_bounce", False), 0) + totals.get(("soft_bounce", True), 0),
        complaints=by_status.get("complained", 0),
        replies=await unique("reply"),
        unsubscribes=await _unsubscribes(context, campaign_id),
    )


async def _unsubscribes(context: PluginContext, campaign_id: int) -> int | None:
    """The contacts who unsubscribed with a link of this campaign's mail (its key,
    ``campaign-<id>``, is recorded on the suppression), as the reader may see them."""
    key = f"campaign-{campaign_id}"
    wanted = {"suppressions": {"some": {"suppression": {"campaign": {"eq": key}, "reason": {"eq": "unsubscribed"}}}}}
    if not (context.can("suppression", "read") and context.can("contact", "read")):
        return None  # a hop they may not read would only ever count 0: say "not known" instead
    try:
        return await context.records.count("contact", wanted)
    except ValidationFailed:
        return None
