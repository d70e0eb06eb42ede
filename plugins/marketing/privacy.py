"""What the marketing plugin holds about a person, for ``kith gdpr export|erase``: the
consent part's records (``consent.privacy``), and the person's campaign deliveries,
opens and clicks, segment memberships and journey paths, which are only about them.
They hold nothing personal of their own beyond what the core clears, and stay so a
campaign's figures still add up."""

from __future__ import annotations

from typing import Any

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.consent import privacy as consent_privacy
from kith.plugins.marketing.engagement.models import Engagement
from kith.plugins.marketing.journeys.models import JourneyEnrollment
from kith.plugins.marketing.models import SegmentMembership
from kith.sdk import Erasure, PersonalRecords, PluginContext


async def personal_records(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    consent = await consent_privacy.personal_records(context, contact)
    contact_id = int(contact["id"])
    deliveries = await CampaignDelivery.select(CampaignDelivery.id).where(CampaignDelivery.contact == contact_id)
    memberships = await SegmentMembership.select(SegmentMembership.id).where(SegmentMembership.contact == contact_id)
    engagement = await Engagement.select(Engagement.id).where(Engagement.contact == contact_id)
    journeys = await JourneyEnrollment.select(JourneyEnrollment.id).where(JourneyEnrollment.contact == contact_id)
    found: dict[str, list[int]] = {
        **{name: list(ids) for name, ids in (consent.erase if consent else {}).items()},
        "campaign_delivery": [int(r["id"]) for r in deliveries],
        "segment_membership": [int(r["id"]) for r in memberships],
        "campaign_engagement": [int(r["id"]) for r in engagement],
        "journey_enrollment": [int(r["id"]) for r in journeys],
    }
    return PersonalRecords(erase=found) if any(found.values()) else None


async def erase(context: PluginContext, contact: dict[str, Any], erasure: Erasure) -> None:
    await consent_privacy.erase(context, contact, erasure)
