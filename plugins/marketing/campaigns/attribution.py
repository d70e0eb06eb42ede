"""Which deals a campaign won, and what it returned on its cost.

A *touch* is a campaign mail sent to a deal's contact before the deal was won (within
``attribution_window_days``).  A won deal's amount is shared among its contact's
touches by one of four models:

- ``first_touch``: all of it to the earliest touch;
- ``last_touch``: all of it to the latest;
- ``linear``: equal shares;
- ``time_decay``: shares halving for every ``half_life_days`` a touch came before the
  win (a touch the day before counts most).

Deals are read as the caller (a deal or contact they may not read brings nothing), and
only when a ``deal`` entity exists (the sales plugin); without it a campaign has no
revenue.  Amounts add up per currency; ROI is (revenue - cost) / cost in the cost's
currency.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.sdk import PluginContext, ValidationFailed

MODELS = ("first_touch", "last_touch", "linear", "time_decay")


@dataclass(frozen=True)
class Attribution:
    model: str
    #: won deals with a share from this campaign
    deals: int
    #: the campaign's share of their amounts, per currency (major units)
    revenue: dict[str, decimal.Decimal] = field(default_factory=dict)
    cost: Mapping[str, Any] | None = None
    #: (revenue - cost) / cost in the cost's currency; None without a cost
    roi: decimal.Decimal | None = None


def _at(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def shares(
    model: str, touches: list[tuple[dt.datetime, int]], won_at: dt.datetime, half_life_days: float
) -> dict[int, float]:
    """Each campaign's share (0..1) of a deal won at ``won_at`` with these (time,
    campaign) touches, by ``model``."""
    ordered = sorted(touches)
    if not ordered:
        return {}
    if model == "first_touch":
        return {ordered[0][1]: 1.0}
    if model == "last_touch":
        return {ordered[-1][1]: 1.0}
    weights: dict[int, float] = defaultdict(float)
    for at, campaign in ordered:
        if model == "linear":
            weights[campaign] += 1.0
        else:
            days = max((won_at - at).total_seconds(), 0) / 86400
            weights[campaign] += 0.5 ** (days / half_life_days)
    total = sum(weights.values())
    return {campaign: weight / total for campaign, weight in weights.items()}


async def attribute(
    context: PluginContext,
    campaign_id: int,
    model: str,
    *,
    window_days: float = 90,
    half_life_days: float = 7,
    narrow: Mapping[str, Any] | None = None,
) -> Attribution:
    """The won deals ``campaign_id`` had a share in by ``model``, read as the caller, and
    its ROI; ``narrow`` is a filter narrowing the won deals counted (a report's period)."""
    if model not in MODELS:
        raise ValidationFailed.single("model", "invalid", f"must be one of: {', '.join(MODELS)}")
    campaign = await context.records.get("campaign", campaign_id)
    if campaign is None:
        raise ValidationFailed.single("campaignId", "not_found", f"no campaign with id {campaign_id}")
    cost = campaign.get("cost")
    if "deal" not in context.entity_names() or not context.can("deal", "read"):
        return Attribution(model, 0, {}, cost, None)  # no deals, or none this reader may see
    touched = {"campaignDeliveries": {"some": {"campaignId": {"eq": str(campaign_id)}, "status": {"eq": "sent"}}}}
    won: dict[str, Any] = {"stage": {"kind": {"eq": "won"}}, "closedAt": {"isNull": False}, "contact": touched}
    if narrow:
        won = {"and": [won, dict(narrow)]}
    deals = [deal async for deal in context.records.each("deal", won)]
    contacts = sorted({int(d["contact"]) for d in deals if d.get("contact")})
    touches: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    if contacts:
        rows = await CampaignDelivery.select(
            CampaignDelivery.contact, CampaignDelivery.campaign, CampaignDelivery.sent_at
        ).where(
            CampaignDelivery.contact.is_in(contacts)
            & (CampaignDelivery.status == "sent")
            & CampaignDelivery.sent_at.is_not_null()
        )
        for row in rows:
            touches[int(row["contact"])].append((_at(row["sent_at"]), int(row["campaign"])))
    revenue: dict[str, decimal.Decimal] = defaultdict(decimal.Decimal)
    credited = 0
    for deal in deals:
        won_at = _at(deal["closed_at"])
        mine = [(at, c) for at, c in touches[int(deal["contact"])]
                if won_at - dt.timedelta(days=window_days) <= at <= won_at]  # fmt: skip
        share = shares(model, mine, won_at, half_life_days).get(campaign_id, 0.0)
        amount = deal.get("amount") or {}
        if share and amount.get("amount") is not None:
            credited += 1
            revenue[str(amount["currency"])] += (
                decimal.Decimal(str(amount["amount"])) * decimal.Decimal(share)
            ).quantize(decimal.Decimal("0.01"))
    roi = None
    if cost and cost.get("amount"):
        spent = decimal.Decimal(str(cost["amount"]))
        earned = revenue.get(str(cost["currency"]), decimal.Decimal(0))
        roi = ((earned - spent) / spent).quantize(decimal.Decimal("0.0001"))
    return Attribution(model, credited, dict(revenue), cost, roi)
