"""Writing engagement: one insert per open or click, flagged when a machine made it,
and (for a person's engagement only) an activity on the contact's timeline, so
segments such as "opened a campaign in the last 30 days" can use it.

A person's first open of a delivery makes an ``email_open`` activity (later opens are
counted, not put on the timeline again); each of their clicks an ``email_click``; a
reply (``replies.py``) an ``email_reply``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.engagement import signatures
from kith.plugins.marketing.engagement.models import USER_AGENT_LENGTH, Engagement
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import PluginContext, ValidationFailed

OPEN_ACTIVITY = "email_open"
CLICK_ACTIVITY = "email_click"
REPLY_ACTIVITY = "email_reply"
ACTIVITY_KINDS = [OPEN_ACTIVITY, CLICK_ACTIVITY, REPLY_ACTIVITY]


async def delivery_row(delivery_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await (
        CampaignDelivery.select(
            CampaignDelivery.id,
            CampaignDelivery.campaign,
            CampaignDelivery.contact,
            CampaignDelivery.sent_at,
            CampaignDelivery.campaign.name.as_alias("campaign_name"),
        )
        .where(CampaignDelivery.id == delivery_id)
        .first()
    )
    return row


async def insert(delivery: dict[str, Any], kind: str, now: dt.datetime, **values: Any) -> None:
    await Engagement.insert(
        Engagement(
            campaign=delivery["campaign"],
            delivery=delivery["id"],
            contact=delivery["contact"],
            kind=kind,
            at=now,
            created_at=now,
            updated_at=now,
            **values,
        )
    )


async def timeline_activity(
    context: PluginContext, delivery: dict[str, Any], kind: str, subject: str, **extra: Any
) -> str | None:
    """The timeline activity of a person's engagement; its id, or None (no contact any more)."""
    if not delivery.get("contact"):
        return None
    writer = context.as_plugin(keep_permissions=False, name="engagement tracking")
    values = {"kind": kind, "subject": subject[:300], "subject_type": "contact",
              "subject_id": int(delivery["contact"]), "occurred_at": dt.datetime.now(dt.UTC), **extra}  # fmt: skip
    try:
        made = await writer.system.create("activity", values)
    except ValidationFailed as exc:  # the contact was deleted since: the event still counts
        context.log.info("marketing: no timeline activity for delivery %s: %s", delivery["id"], exc)
        return None
    return str(made["id"])


def _agent(user_agent: str | None) -> str | None:
    return user_agent[:USER_AGENT_LENGTH] if user_agent else None


async def record_open(context: PluginContext, delivery_id: int, user_agent: str | None, ip: str | None) -> bool:
    """Record that the pixel of ``delivery_id`` was fetched; False for an unknown delivery."""
    delivery = await delivery_row(delivery_id)
    if delivery is None:
        return False
    now = dt.datetime.now(dt.UTC)
    reason = signatures.machine_open(user_agent, ip)
    activity = None
    if reason is None:
        seen = await Engagement.exists().where(
            (Engagement.delivery == delivery_id) & (Engagement.kind == "open") & (Engagement.machine == False)  # noqa: E712
        )
        if not seen:
            activity = await timeline_activity(
                context, delivery, OPEN_ACTIVITY, f"Opened “{delivery['campaign_name']}”"
            )
    await insert(delivery, "open", now, user_agent=_agent(user_agent), machine=reason is not None,
                  flag_reason=reason, activity=activity)  # fmt: skip
    return True


async def record_click(
    context: PluginContext, delivery_id: int, url: str, user_agent: str | None, ip: str | None
) -> bool:
    """Record that a link of ``delivery_id`` was followed; False for an unknown delivery."""
    delivery = await delivery_row(delivery_id)
    if delivery is None:
        return False
    settings = marketing_settings(context)
    now = dt.datetime.now(dt.UTC)
    reason = signatures.gateway_agent(user_agent) or signatures.too_soon(
        delivery.get("sent_at"), now, settings.click_scanner_seconds
    )
    if settings.click_burst_seconds > 0:
        since = now - dt.timedelta(seconds=settings.click_burst_seconds)
        recent = await Engagement.select(Engagement.id, Engagement.url, Engagement.scanner, Engagement.activity).where(
            (Engagement.delivery == delivery_id) & (Engagement.kind == "click") & (Engagement.at >= since)
        )
        if any(r["url"] != url for r in recent):
            reason = reason or "burst"
            await _flag_burst(context, [r for r in recent if not r["scanner"]])
    activity = None
    if reason is None:
        name = delivery["campaign_name"]
        activity = await timeline_activity(context, delivery, CLICK_ACTIVITY, f"Clicked a link in “{name}”", body=url)
    await insert(delivery, "click", now, url=url, user_agent=_agent(user_agent), scanner=reason is not None,
                  flag_reason=reason, activity=activity)  # fmt: skip
    return True


async def _flag_burst(context: PluginContext, earlier: list[dict[str, Any]]) -> None:
    """The clicks before a burst was seen are a scanner's too: flagged, and the timeline
    activities they made taken back."""
    if not earlier:
        return
    await Engagement.update(
        {Engagement.scanner: True, Engagement.flag_reason: "burst", Engagement.activity: None}
    ).where(Engagement.id.is_in([int(r["id"]) for r in earlier]))
    writer = context.as_plugin(keep_permissions=False, name="engagement tracking")
    for row in earlier:
        if row["activity"]:
            with contextlib.suppress(ValidationFailed):  # already gone
                await writer.system.delete("activity", int(row["activity"]))
