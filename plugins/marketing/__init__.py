"""Marketing: segments at a million contacts, consent, campaigns sent for real,
journeys and attribution.

Written only against ``kith.sdk``, like any third-party plugin.  Enable it with
``kith plugins enable marketing``.
"""

from kith.plugins.marketing.campaigns.models import CAMPAIGN_TABLES
from kith.plugins.marketing.consent.forms import FORM_TABLES
from kith.plugins.marketing.consent.models import CONSENT_TABLES
from kith.plugins.marketing.engagement.models import ENGAGEMENT_TABLES
from kith.plugins.marketing.journeys.models import JOURNEY_TABLES
from kith.plugins.marketing.migrations import MIGRATIONS
from kith.plugins.marketing.models import SEGMENT_TABLES
from kith.plugins.marketing.settings import MarketingSettings
from kith.sdk import Plugin

plugin = Plugin(
    name="marketing",
    version="0.1.0",
    summary="Segments, consent, campaigns over SMTP, journeys, attribution.",
    hooks="kith.plugins.marketing.hooks",
    tables=[*SEGMENT_TABLES, *CAMPAIGN_TABLES, *CONSENT_TABLES, *FORM_TABLES, *ENGAGEMENT_TABLES, *JOURNEY_TABLES],
    migrations=MIGRATIONS,
    source="kith.plugins.marketing",
    settings=MarketingSettings,
)
