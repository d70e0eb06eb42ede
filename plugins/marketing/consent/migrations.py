"""The consent part's schema steps, appended to the plugin's (names from ``0100_``)."""

from __future__ import annotations

from kith.plugins.marketing.consent.models import ContactSuppression, Subscription, Suppression
from kith.sdk import add_index, initial_migration

CONSENT_MIGRATIONS = [
    initial_migration(Suppression, ContactSuppression, name="0100_consent_suppression"),
    # one link per entry and contact, found from either side: an entry's contacts (when it
    # changes) and a contact's entries (every send's filter, a contact written)
    add_index("0101_one_link", ContactSuppression, "suppression", "contact", unique=True),
    add_index("0102_links_of_a_contact", ContactSuppression, "contact", "suppression"),
    add_index("0103_suppression_of_a_contact", Suppression, "contact"),
    initial_migration(Subscription, name="0104_subscriptions"),
    # one state per contact, topic and channel; a send's filter finds a contact's by it
    add_index("0105_one_subscription", Subscription, "contact", "topic", "channel", unique=True),
]
