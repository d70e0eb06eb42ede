"""The product: ``kith init --distribution realestate`` enables the plugin and adds what
an agency needs on top of it — the buyer preferences on contacts, a rule that tags
buyers, and the tags themselves.

Buyer preferences are custom fields rather than columns of the plugin's own because
they are the agency's to change: an admin can add "garden" or "parking" with
``kith fields add`` without a new release, and every field is typed in GraphQL,
filterable and importable like a built-in one.  Installing again (after an upgrade) only
adds what is new.
"""

from __future__ import annotations

from typing import Any

from kith.sdk import Distribution

from kith_realestate import REQUIRES_KITH, __version__
from kith_realestate.models import PROPERTY_TYPES

BUYER_FIELDS: tuple[dict[str, Any], ...] = (
    {
        "entity": "contact",
        "name": "buyer_intent",
        "type": "single_select",
        "label": "Looking to",
        "choices": ["buy", "rent"],
    },
    {
        "entity": "contact",
        "name": "buyer_max_price",
        "type": "money",
        "label": "Budget (price, or monthly rent)",
        "indexed": True,
    },
    {"entity": "contact", "name": "buyer_min_bedrooms", "type": "integer", "label": "Bedrooms, at least"},
    {"entity": "contact", "name": "buyer_cities", "type": "text", "label": "Cities (comma-separated)"},
    {
        "entity": "contact",
        "name": "buyer_property_types",
        "type": "multi_select",
        "label": "Property types",
        "choices": list(PROPERTY_TYPES),
    },
)


def _tag_buyers(event: str) -> dict[str, Any]:
    trigger: dict[str, Any] = {"event": f"contact.{event}"}
    if event == "updated":
        trigger["changed"] = "customFields.buyerMaxPrice"
    return {
        "name": f"realestate.tag-buyer-{event}",
        "description": "Tag a contact 'buyer' once they have a budget, so the buyers are one filter away.",
        "enabled": True,
        "trigger": trigger,
        "conditions": {"customFields": {"buyer_max_price": {"isNull": False}}},
        "actions": [{"add_tag": {"tag": "buyer"}}],
    }


distribution = Distribution(
    name="realestate",
    version=__version__,
    summary="A CRM for estate agencies: listings, viewings and buyers matched to what comes on the market.",
    plugins=("realestate",),
    custom_fields=BUYER_FIELDS,
    rules=(_tag_buyers("created"), _tag_buyers("updated")),
    records=(
        {"entity": "tag", "values": {"name": "buyer", "color": "#2E7D32"}},
        {"entity": "tag", "values": {"name": "vendor", "color": "#1565C0"}},
    ),
    requires_kith=REQUIRES_KITH,
)
