"""What a marketer does with a campaign: send it now or at a time, pause, resume or
cancel it, send a test, and read how it went."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kith.plugins.marketing.campaigns import ab_test, recipients, rendering, sender, window
from kith.plugins.marketing.engagement import report as engagement_report
from kith.plugins.marketing.engagement.report import EngagementFigures
from kith.sdk import OutboundMail, PluginContext, ValidationFailed

#: which statuses each action may start from
_FROM = {
    "start": ("draft", "scheduled"),
    "schedule": ("draft", "scheduled"),
    "pause": ("sending", "scheduled"),
    "resume": ("paused",),
    "cancel": ("draft", "scheduled", "sending", "paused"),
}


async def _campaign(context: PluginContext, campaign_id: int, action: str) -> dict[str, Any]:
    campaign = await context.records.get("campaign", campaign_id)
    if campaign is None:
        raise ValidationFailed.single("id", "not_found", f"no campaign with id {campaign_id}")
    await context.require("campaign", "update", campaign_id)
    if campaign["status"] not in _FROM[action]:
        raise ValidationFailed.single(
            "status", "invalid", f"a {campaign['status']} campaign cannot {action} (only {', '.join(_FROM[action])})"
        )
    return dict(campaign)


async def start(context: PluginContext, campaign_id: int, at: dt.datetime | None = None) -> dict[str, Any]:
    """Fix the recipients and start sending now, or at ``at`` (then the recipients are
    fixed when it starts)."""
    campaign = await _campaign(context, campaign_id, "schedule" if at else "start")
    rendering.compile_templates(campaign)  # a broken template is refused before anything is sent
    ab_test.check(campaign, context.entity_names())
    window.parse(campaign)
    for variant in ab_test.variants(campaign):
        rendering.compile_templates({**campaign, **variant})
    recipients.recipients_filter(campaign)
    async with context.db.transaction():
        if at is not None and at > dt.datetime.now(dt.UTC):
            updated = await context.as_plugin().records.update(
                "campaign", campaign_id, {"status": "scheduled", "scheduled_at": at}
            )
            await context.schedule(START_JOB, key=f"{START_JOB}:{campaign_id}:{at.isoformat()}", at=at,
                                   entity="campaign", record_id=campaign_id)  # fmt: skip
            return updated
        return await _begin(context, campaign)


START_JOB = "marketing.campaign_start"


async def run_start(context: PluginContext, run: Any) -> None:
    """The job behind a scheduled campaign: start it, unless it was changed meanwhile."""
    campaign = await context.system.get("campaign", int(run.record_id or 0))
    if campaign is None or campaign["status"] != "scheduled":
        return
    scheduled = campaign.get("scheduled_at")
    if scheduled is not None and run.due_at is not None and abs((scheduled - run.due_at).total_seconds()) > 1:
        return  # rescheduled: that run starts it
    await _begin(context.as_plugin(keep_permissions=False, name="marketing"), dict(campaign))


async def _begin(context: PluginContext, campaign: dict[str, Any]) -> dict[str, Any]:
    async with context.db.transaction():
        await recipients.fix_recipients(context, campaign)
        await ab_test.split(context, campaign)
        updated = await context.as_plugin().system.update(
            "campaign", campaign["id"], {"status": "sending", "started_at": dt.datetime.now(dt.UTC)}
        )
        await sender.schedule_slice(context, int(campaign["id"]), 0)
    return updated


async def pause(context: PluginContext, campaign_id: int) -> dict[str, Any]:
    await _campaign(context, campaign_id, "pause")
    return await context.as_plugin().records.update("campaign", campaign_id, {"status": "paused"})


async def resume(context: PluginContext, campaign_id: int) -> dict[str, Any]:
    await _campaign(context, campaign_id, "resume")
    async with context.db.transaction():
        updated = await context.as_plugin().records.update("campaign", campaign_id, {"status": "sending"})
        await sender.schedule_slice(context, campaign_id, int(dt.datetime.now(dt.UTC).timestamp()))
    return updated


async def cancel(context: PluginContext, campaign_id: int) -> dict[str, Any]:
    """Stop for good: deliveries not yet sent stay as they are, unsent."""
    await _campaign(context, campaign_id, "cancel")
    return await context.as_plugin().records.update(
        "campaign", campaign_id, {"status": "cancelled", "finished_at": dt.datetime.now(dt.UTC)}
    )


async def send_test(context: PluginContext, campaign_id: int, to: Sequence[str], contact_id: int | None) -> int:
    """The campaign as ``contact_id`` (one you may read; else a sample) would get it, to
    ``to`` now, marked as a test; it is not a delivery and counts nowhere."""
    campaign = await context.records.get("campaign", campaign_id)
    if campaign is None:
        raise ValidationFailed.single("id", "not_found", f"no campaign with id {campaign_id}")
    await context.require("campaign", "update", campaign_id)
    if not to:
        raise ValidationFailed.single("to", "required", "give at least one address")
    contact: dict[str, Any] = {"first_name": "Ann", "last_name": "Example", "emails": ["ann@example.com"]}
    if contact_id is not None:
        found = await context.records.get("contact", contact_id)
        if found is None:
            raise ValidationFailed.single("contactId", "not_found", f"no contact with id {contact_id}")
        contact = dict(found)
    rendered = rendering.render(rendering.compile_templates(campaign), contact, campaign)
    for address in to:
        await context.mail.send(
            OutboundMail(
                to=address,
                subject=f"[TEST] {rendered.subject}",
                text=rendered.text,
                html=rendered.html,
                from_address=campaign.get("from_address") or None,
            )
        )
    return len(to)


@dataclass(frozen=True)
class Report:
    """A campaign's deliveries by status, as the reader may see them, and how many were
    handed to SMTP more than once (sent again after a crash: possible duplicates)."""

    by_status: dict[str, int]
    resent: int
    #: opens, clicks, bounces, complaints and unsubscribes (``engagement.report``)
    engagement: EngagementFigures | None = None


async def report(context: PluginContext, campaign_id: int, include_flagged: bool = False) -> Report:
    campaign = await context.records.get("campaign", campaign_id)
    if campaign is None:
        raise ValidationFailed.single("id", "not_found", f"no campaign with id {campaign_id}")
    ours = {"campaignId": {"eq": str(campaign_id)}}
    groups = await context.records.aggregate("campaign_delivery", ours, group_by=["status"])
    by_status = {str(g.key["status"]): g.count for g in groups}
    resent = await context.records.count("campaign_delivery", {**ours, "attempts": {"gt": 1}})
    engaged: EngagementFigures | None = None
    if context.can("campaign_engagement", "read"):  # else the report is the deliveries alone
        engaged = await engagement_report.figures(context, campaign_id, by_status, include_flagged)
    return Report(by_status, resent, engaged)
