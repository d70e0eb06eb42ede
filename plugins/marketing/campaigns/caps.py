"""Frequency caps: at most so many marketing mails per contact a day, a week and a
month (the ``max_per_day`` / ``max_per_week`` / ``max_per_month`` settings), counted
over every campaign's sent deliveries, checked a batch at a time as the mail goes out.
A contact over a cap is skipped for this campaign (the delivery says why)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from piccolo.query.functions.aggregate import Count

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.settings import MarketingSettings

WINDOWS = (("day", 1), ("week", 7), ("month", 30))


async def over_cap(settings: MarketingSettings, contact_ids: Sequence[int]) -> dict[int, str]:
    """Those of ``contact_ids`` who have had their share already, with the cap they hit."""
    capped: dict[int, str] = {}
    if not contact_ids:
        return capped
    now = dt.datetime.now(dt.UTC)
    for name, days in WINDOWS:
        cap = getattr(settings, f"max_per_{name}")
        if cap is None:
            continue
        rows = await (
            CampaignDelivery.select(CampaignDelivery.contact, Count(CampaignDelivery.id, alias="sent"))
            .where(
                CampaignDelivery.contact.is_in(list(contact_ids))
                & CampaignDelivery.sent_at.is_not_null()
                & (CampaignDelivery.sent_at >= now - dt.timedelta(days=days))
            )
            .group_by(CampaignDelivery.contact)
        )
        for row in rows:
            if int(row["sent"]) >= cap and int(row["contact"]) not in capped:
                capped[int(row["contact"])] = f"frequency cap: {cap} a {name}"
    return capped
