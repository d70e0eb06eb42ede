"""Campaign ROI as a report source, ``marketing.campaign_roi``: per campaign and
currency, the won deals it had a share in, its share of their amounts, its cost and its
return, ``(revenue - cost) / cost`` in the cost's currency.

The same attribution as the ``campaignAttribution`` field, through the reader's context:
campaigns they may read, and of those only the deals they may read bring revenue (a
sales rep's report counts their own deals).  The dashboard's date range picks the deals
by when they were won (``closedAt``), its filter narrows them where it names deal
fields.  Params: ``model`` (``first_touch``, ``last_touch``, ``linear`` (default) or
``time_decay``) and ``campaignId`` (one campaign).
"""

from __future__ import annotations

import decimal
from typing import Any

from kith.plugins.marketing.campaigns import attribution
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import PluginContext, ReportColumn, ReportRequest, ReportSource

COLUMNS = [
    ReportColumn("campaign", "Campaign", "dimension"),
    ReportColumn("currency", "Currency", "dimension"),
    ReportColumn("deals", "Won deals"),
    ReportColumn("revenue", "Revenue"),
    ReportColumn("cost", "Cost"),
    ReportColumn("roi", "ROI"),
]


async def run(context: PluginContext, request: ReportRequest) -> list[dict[str, Any]]:
    params = request.checked_params({"model": (attribution.MODELS, "linear")}, ids=("campaignId",))
    model, only = str(params["model"]), params["campaignId"]
    settings = marketing_settings(context)
    narrowing = [part for part in (request.within("closedAt"), request.filter_for("deal")) if part]
    deals = {"and": narrowing} if narrowing else None
    wanted = {"id": {"eq": only}} if only is not None else None
    rows: list[dict[str, Any]] = []
    async for campaign in context.records.each("campaign", wanted, order_by=[{"name": "ASC"}]):
        found = await attribution.attribute(
            context,
            int(campaign["id"]),
            model,
            window_days=settings.attribution_window_days,
            half_life_days=settings.attribution_half_life_days,
            narrow=deals,
        )
        cost = found.cost or {}
        cost_currency = cost.get("currency")
        known = sorted(set(found.revenue) | ({str(cost_currency)} if cost_currency else set()))
        currencies: list[str | None] = [*known] or [None]
        for currency in currencies:
            mine = currency is not None and currency == cost_currency
            rows.append(
                {
                    "campaign": campaign["name"],
                    "currency": currency,
                    "deals": found.deals,
                    "revenue": found.revenue.get(currency or "", decimal.Decimal(0)),
                    "cost": decimal.Decimal(str(cost["amount"])) if mine and cost.get("amount") else None,
                    "roi": found.roi if mine else None,
                }
            )
    return rows


SOURCE = ReportSource(
    name="marketing.campaign_roi",
    title="Campaign ROI",
    columns=COLUMNS,
    run=run,
    description="Won deals, attributed revenue, cost and return on cost per campaign and currency.",
)
