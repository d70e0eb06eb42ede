"""What the consent part holds about a person, for ``kith gdpr export|erase``.

Their subscriptions (exported; they hold no personal value) and their suppression
entries (those naming them, and those for their addresses) are their own records:
exported in full, and on erasure the entries' address is cleared by the core (``email``
is personal).  The entries themselves stay, by the address's keyed hash, and every
address of the erased person gets an ``erased`` entry if nothing stops it for all
marketing yet: a contact created later with the address is still never mailed, and the
address is not kept in clear anywhere.
"""

from __future__ import annotations

from typing import Any

from kith.plugins.marketing.consent.models import Subscription, Suppression
from kith.plugins.marketing.consent.suppression import address_hash
from kith.sdk import Erasure, PersonalRecords, PluginContext


async def _entries(context: PluginContext, contact: dict[str, Any]) -> list[int]:
    hashes = [address_hash(context, e) for e in contact.get("emails") or []]
    mine: Any = Suppression.contact == int(contact["id"])
    if hashes:
        mine = mine | Suppression.email_hash.is_in(hashes)
    return [int(r["id"]) for r in await Suppression.select(Suppression.id).where(mine)]


async def personal_records(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    entries = await _entries(context, contact)
    rows = await Subscription.select(Subscription.id).where(Subscription.contact == int(contact["id"]))
    found = {"suppression": entries, "topic_subscription": [int(r["id"]) for r in rows]}
    return PersonalRecords(erase=found) if any(found.values()) else None


async def erase(context: PluginContext, contact: dict[str, Any], erasure: Erasure) -> None:
    """Every address of the person stays suppressed for all marketing, by hash only."""
    writer = context.as_plugin(keep_permissions=False, name="erasure")
    for email in contact.get("emails") or []:
        hashed = address_hash(context, email)
        stopping = (Suppression.email_hash == hashed) & Suppression.topic.is_null() & Suppression.deleted_at.is_null()
        if not await Suppression.exists().where(stopping):
            await writer.records.create(
                "suppression",
                {"email_hash": hashed, "contact": int(contact["id"]), "reason": "erased", "source": "erasure"},
            )
