"""Who a campaign goes to, fixed when it starts: the segment's members with an email
address who may be sent its purpose (subscribed to the topic, their consent recorded,
no suppression stopping them), less the exclusion segments' members, written as one
delivery row each in two set-wise statements.  Eligibility is checked again for each
batch as it is sent (``still_eligible``), so someone who unsubscribes during a send is
skipped from then on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.consent import eligible_filter
from kith.plugins.marketing.segments.members import members_filter
from kith.sdk import PluginContext, ValidationFailed


def recipients_filter(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """The contact filter of the campaign's recipients."""
    if not campaign.get("segment"):
        raise ValidationFailed.single("segmentId", "required", "a campaign is sent to a segment: choose one")
    parts: list[dict[str, Any]] = [members_filter(int(campaign["segment"])), {"emails": {"isNull": False}}]
    for excluded in campaign.get("exclude_segments") or []:
        parts.append({"segmentMemberships": {"none": {"segmentId": {"eq": str(excluded)}}}})
    parts.append(eligible_filter(str(campaign.get("purpose") or "newsletter")))
    return {"and": parts}


async def still_eligible(context: PluginContext, campaign: Mapping[str, Any], contact_ids: list[int]) -> set[int]:
    """Those of ``contact_ids`` who may still be sent the campaign's purpose now."""
    if not contact_ids:
        return set()
    wanted = {"and": [{"id": {"in": [str(i) for i in contact_ids]}},
                      eligible_filter(str(campaign.get("purpose") or "newsletter"))]}  # fmt: skip
    return {int(c["id"]) for c in await context.system.list("contact", wanted, first=len(contact_ids))}


async def fix_recipients(context: PluginContext, campaign: Mapping[str, Any]) -> int:
    """Write a queued delivery for every recipient not yet given one; returns how many."""
    selected = await context.db.keep_selection(
        CampaignDelivery,
        fixed={"campaign": int(campaign["id"])},
        member="contact",
        values={"status": "queued"},
        entity="contact",
        filter_=recipients_filter(campaign),
    )
    return len(selected.added)
