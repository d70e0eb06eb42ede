"""What the marketing plugin declares: its entities, and how each role may use them."""

from __future__ import annotations

import json
from typing import Any

from kith.plugins.marketing.campaigns.ab_test import WINNER_BY
from kith.plugins.marketing.campaigns.models import CAMPAIGN_STATUSES, DELIVERY_STATUSES, Campaign, CampaignDelivery
from kith.plugins.marketing.consent import entities as consent
from kith.plugins.marketing.engagement.models import ENGAGEMENT_KINDS, Engagement
from kith.plugins.marketing.journeys.models import (
    ENROLLMENT_STATUSES,
    JOURNEY_STATUSES,
    REENTRY,
    Journey,
    JourneyEnrollment,
)
from kith.plugins.marketing.models import SEGMENT_KINDS, Segment, SegmentMembership
from kith.sdk import Entity, Grant, RoleDefinition


def _filter_text(value: Any, region: Any) -> str:
    """A definition is given as a filter object (or its JSON) and stored as compact JSON;
    the before-hooks compile it, so a bad field is refused by name."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON: {exc.msg}") from exc
    if parsed is None:
        parsed = {}
    if not isinstance(parsed, dict):
        raise ValueError("must be a filter object, like {lifecycleStage: {eq: customer}}")
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def entities() -> list[Entity]:
    return [
        Entity(
            "segment",
            Segment,
            required=("name",),
            searchable=("name",),
            choices={"kind": SEGMENT_KINDS},
            normalisers={"definition": _filter_text},
            read_only=("time_relative", "refreshed_at"),
            reverse={"owner": None},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "segment_membership",
            SegmentMembership,
            label="Segment membership",
            required=("segment", "contact"),
            choices={"source": ("rule", "manual")},
            reverse={"segment": "memberships", "contact": "segmentMemberships"},
            owner_via="contact",
            mutations=False,
            timeline=False,
            customizable=False,
        ),
        Entity(
            "campaign",
            Campaign,
            required=("name", "subject"),
            searchable=("name", "subject"),
            choices={"status": CAMPAIGN_STATUSES, "winner_by": WINNER_BY},
            normalisers={"exclude_segments": _id_list, "variants": _json_list},
            money={"cost": "cost_currency"},
            # the status moves through startCampaign, pauseCampaign, … only
            read_only=("status", "started_at", "finished_at", "winner"),
            reverse={"segment": "campaigns", "owner": None},
            timeline=False,
        ),
        Entity(
            "campaign_delivery",
            CampaignDelivery,
            label="Campaign delivery",
            plural="campaign_deliveries",
            required=("campaign",),
            choices={"status": DELIVERY_STATUSES},
            reverse={"campaign": "deliveries", "contact": "campaignDeliveries"},
            owner_via="contact",
            mutations=False,
            timeline=False,
            customizable=False,
        ),
        Entity(
            "campaign_engagement",
            Engagement,
            label="Campaign engagement",
            required=("campaign", "delivery", "kind"),
            choices={"kind": ENGAGEMENT_KINDS},
            reverse={"campaign": "engagements", "delivery": "engagements", "contact": "campaignEngagements"},
            owner_via="contact",
            mutations=False,  # written by the tracking routes and the bounce reader only
            timeline=False,
            customizable=False,
        ),
        *consent.entities(),
        Entity(
            "journey",
            Journey,
            required=("name",),
            searchable=("name",),
            choices={"status": JOURNEY_STATUSES, "reentry": REENTRY},
            normalisers={"steps": _json_list, "goal": _filter_text},
            reverse={"segment": "journeys", "owner": None},
            timeline=False,
        ),
        Entity(
            "journey_enrollment",
            JourneyEnrollment,
            label="Journey enrollment",
            required=("journey",),
            choices={"status": ENROLLMENT_STATUSES},
            reverse={"journey": "enrollments", "contact": "journeyEnrollments"},
            owner_via="contact",
            mutations=False,
            timeline=False,
            customizable=False,
        ),
    ]


def _json_list(value: Any, region: Any) -> str:
    """A JSON list field (a journey's steps, a campaign's A/B variants): given as a list
    (or its JSON), stored as compact JSON; what each item says is checked where it is
    used (the journey's before-hooks, the campaign's start)."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON: {exc.msg}") from exc
    if not isinstance(parsed, list):
        raise ValueError("must be a list of steps")
    return json.dumps(parsed, separators=(",", ":"))


def _id_list(value: Any, region: Any) -> list[str]:
    """Segment ids as a list of id strings (a JSON list field)."""
    items = json.loads(value) if isinstance(value, str) else value
    if items is None:
        return []
    if not isinstance(items, list) or not all(str(i).isdigit() for i in items):
        raise ValueError("must be a list of segment ids")
    return [str(int(i)) for i in items]


READ = Grant(actions=["read"])
ALL = Grant(actions=["read", "create", "update", "delete", "restore"])


def roles() -> list[RoleDefinition]:
    """Marketers build segments and campaigns from the contacts they may read; marketing
    admins also own the set-up every marketer shares."""
    marketer = {
        "segment": ALL,
        "campaign": ALL,
        "campaign_delivery": READ,
        "campaign_engagement": READ,
        "journey": ALL,
        "journey_enrollment": READ,
        "segment_membership": READ,
        "contact": Grant(actions=["read", "update"]),
        "organization": READ,
        "activity": READ,
        **{name: READ for name in ("user", "team", "tag")},
        **consent.marketer_grants(),
    }
    return [
        RoleDefinition(
            name="marketer", description="Builds segments and campaigns and reads their results.", grants=marketer
        ),
        RoleDefinition(
            name="marketing_admin",
            description="A marketer who also owns the marketing set-up and sees every contact.",
            grants={**marketer, "contact": ALL, "*": READ, **consent.admin_grants()},
        ),
    ]
