"""The marketing plugin's schema steps."""

from __future__ import annotations

from kith.plugins.marketing.campaigns.models import CAMPAIGN_TABLES, Campaign, CampaignDelivery
from kith.plugins.marketing.consent.forms import WebForm
from kith.plugins.marketing.consent.migrations import CONSENT_MIGRATIONS
from kith.plugins.marketing.engagement.models import Engagement
from kith.plugins.marketing.journeys.models import JOURNEY_TABLES, JourneyEnrollment
from kith.plugins.marketing.models import SEGMENT_TABLES, SegmentMembership
from kith.sdk import add_columns, add_index, initial_migration

MIGRATIONS = [
    initial_migration(*SEGMENT_TABLES),
    # one membership per segment and contact, found from either side: a segment's members
    # (sending, counts) and a contact's segments (filters, the customer view)
    add_index("0002_one_membership", SegmentMembership, "segment", "contact", unique=True),
    add_index("0003_memberships_of_a_contact", SegmentMembership, "contact", "segment"),
    initial_migration(*CAMPAIGN_TABLES, name="0004_campaigns"),
    # one delivery per campaign and contact; the sender claims a campaign's rows by status
    add_index("0005_one_delivery", CampaignDelivery, "campaign", "contact", unique=True),
    add_index("0006_deliveries_by_status", CampaignDelivery, "campaign", "status", "id"),
    add_index("0007_deliveries_of_a_contact", CampaignDelivery, "contact", "sent_at"),
    # consent, suppression and unsubscribing (plugins/marketing/consent)
    *CONSENT_MIGRATIONS,
    # engagement tracking (plugins/marketing/engagement)
    add_columns("0200_campaign_tracking", Campaign, "track_opens", "track_clicks"),
    initial_migration(Engagement, name="0201_engagement"),
    # a delivery's events (first open, bursts, unique counts) and a campaign's (reports)
    add_index("0202_engagement_of_a_delivery", Engagement, "delivery", "kind", "at"),
    add_index("0203_engagement_of_a_campaign", Engagement, "campaign", "kind"),
    # web forms a site posts sign-ups to (plugins/marketing/consent/forms.py)
    initial_migration(WebForm, name="0300_web_forms"),
    # journeys (plugins/marketing/journeys)
    initial_migration(*JOURNEY_TABLES, name="0400_journeys"),
    add_index("0401_enrollments_of_a_journey", JourneyEnrollment, "journey", "contact", "run", unique=True),
    add_index("0402_enrollments_of_a_contact", JourneyEnrollment, "contact", "status"),
    add_columns("0403_waiting_for", JourneyEnrollment, "waiting_for"),
    # A/B tests of campaigns (plugins/marketing/campaigns/ab_test.py)
    add_columns("0500_ab_tests", Campaign, "variants", "test_share", "test_duration", "winner_by", "winner"),
    add_columns("0501_delivery_variant", CampaignDelivery, "variant"),
    add_columns("0502_send_window", Campaign, "window_start", "window_end", "window_timezone"),
]
