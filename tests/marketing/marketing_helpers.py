"""What the marketing tests share."""

from __future__ import annotations

from typing import Any

from kith.plugins.marketing.consent import subscribe
from kith.sdk.testing import make_contact, system_context


async def subscribed_contact(kith: Any, **values: Any) -> dict[str, Any]:
    """A contact subscribed (single opt-in) to both test topics: only a suppression stops them."""
    contact = await make_contact(kith, **values)
    for topic in ("newsletter", "offers"):
        await subscribe(system_context(kith), contact["id"], topic, source="test")
    return contact
