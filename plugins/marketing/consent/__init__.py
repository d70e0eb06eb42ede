"""Consent, suppression and unsubscribing for the marketing plugin.

What a sender calls (all take a ``PluginContext``):

- ``eligible_filter(purpose, channel="email")``: a contact filter for who may be sent
  ``purpose``; ``and`` it with the audience and select set-wise, as the system;
- ``list_unsubscribe_headers(context, contact_id, campaign_key)``: the RFC 2369 / 8058
  headers for one mail; ``unsubscribe_url(...)``: the link for its footer;
- ``suppress(context, email=..., reason=...)``: a bounce or complaint stops mail to the
  address; ``is_suppressed(context, email, topic)`` checks one address.
"""

from kith.plugins.marketing.consent.audience import eligible_filter
from kith.plugins.marketing.consent.links import list_unsubscribe_headers, preferences_url, unsubscribe_url
from kith.plugins.marketing.consent.subscriptions import subscribe, unsubscribe
from kith.plugins.marketing.consent.suppression import is_suppressed, suppress

__all__ = [
    "eligible_filter",
    "is_suppressed",
    "list_unsubscribe_headers",
    "preferences_url",
    "subscribe",
    "suppress",
    "unsubscribe",
    "unsubscribe_url",
]
