"""The social section of a contact's single customer view: their handles on each
platform and their latest mentions with how they sounded, as the viewer may see them."""

from __future__ import annotations

from typing import Any

from kith.sdk import CustomerViewSection, PluginContext


async def section(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection | None:
    if not context.can("social_identity", "read"):
        return None
    theirs = {"contactId": {"eq": str(contact["id"])}}
    identities = await context.records.list("social_identity", theirs, order_by=[{"id": "ASC"}], first=50)
    mentions = []
    if context.can("social_mention", "read"):
        mentions = await context.records.list("social_mention", theirs, order_by=[{"postedAt": "DESC"}], first=10)
    items: list[dict[str, Any]] = [
        {"platform": i["platform"], "handle": i["handle"], "displayName": i.get("display_name"),
         "matchedBy": i["matched_by"], "profileUrl": i.get("profile_url")}
        for i in identities
    ]  # fmt: skip
    for m in mentions:
        posted = m["posted_at"].isoformat() if m.get("posted_at") else None
        items.append(
            {"mention": m["id"], "platform": m["platform"], "postedAt": posted, "text": str(m.get("text") or "")[:280],
             "sentiment": m.get("sentiment_label"), "url": m.get("url")}
        )  # fmt: skip
    if not items:
        return None
    return CustomerViewSection("Social", items, entity="social_identity")
