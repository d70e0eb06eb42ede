"""The marketing section of a contact's single customer view: the campaign mails sent to
them, newest first, and what they did with each.

A send is a *touch* (attribution counts it) but not a timeline activity: a campaign to
100k contacts would write 100k activities in the send's hot path and bury the
timeline's human events.  The deliveries are the record of the touches, and this
section shows them beside the timeline; what a person did (opened, clicked, replied) is
on the timeline as well.  Every read is ``context.records``: the viewer's visibility.
"""

from __future__ import annotations

from typing import Any

from kith.sdk import CustomerViewSection, PluginContext

#: the engagement kinds a person's section shows, by how the item names them
_SHOWN = {"open": "opened", "click": "clicked", "reply": "replied"}


async def section(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection | None:
    if not context.can("campaign_delivery", "read"):
        return None
    mine = {"contactId": {"eq": str(contact["id"])}}
    deliveries = await context.records.list(
        "campaign_delivery", mine, order_by=[{"sentAt": "DESC"}, {"id": "DESC"}], first=100
    )
    if not deliveries:
        return CustomerViewSection("Campaign mails", [], entity="campaign_delivery")
    campaigns = {
        int(c["id"]): c["name"]
        for c in await context.records.list(
            "campaign", {"id": {"in": sorted({str(d["campaign"]) for d in deliveries})}}, first=100
        )
    }
    done: dict[int, set[str]] = {}
    if context.can("campaign_engagement", "read"):
        human = {**mine, "kind": {"in": list(_SHOWN)}, "machine": {"eq": False}, "scanner": {"eq": False}}
        async for row in context.records.each("campaign_engagement", human):
            done.setdefault(int(row["delivery"]), set()).add(_SHOWN[str(row["kind"])])
    items = [
        {
            "id": row["id"],
            "campaign": campaigns.get(int(row["campaign"])),
            "status": row["status"],
            "sentAt": row["sent_at"].isoformat() if row.get("sent_at") else None,
            "variant": row.get("variant"),
            "engagement": sorted(done.get(int(row["id"]), ())),
        }
        for row in deliveries
    ]
    return CustomerViewSection("Campaign mails", items, entity="campaign_delivery")
