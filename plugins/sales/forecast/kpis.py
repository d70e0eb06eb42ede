"""Sales KPIs of a period: lead conversion, win rate, average deal size, sales cycle and
pipeline velocity — each with the counts it is computed from, so it can be checked.

Aggregates and counts through ``context.records`` (only what the viewer may read)
return whole numbers: counts, sums of minor units; the won deals of the period give
their cycles in whole seconds.  Each ratio is then one exact integer division here, rounded
half away from zero (``money.divide``): rates to hundredths of a percent, days to
hundredths of a day, money to the currency's minor unit.  Counts of deals span
currencies (a won deal is a won deal); money never does.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass

from kith.plugins.sales.forecast import money
from kith.plugins.sales.forecast.figures import check, deal_filter, minor, stages
from kith.plugins.sales.forecast.sql import Period, every
from kith.plugins.sales.forecast.viewer import Viewer

DAY = 86_400


@dataclass(frozen=True)
class CurrencyKpis:
    currency: str
    deals_won: int
    deals_lost: int
    won_amount: decimal.Decimal
    #: mean amount of the deals won in the period, to the minor unit (None: none won)
    average_deal_size: decimal.Decimal | None
    #: deals open now (any expected close date, not omitted from forecasts)
    open_deals: int
    #: expected won amount per day: open deals x win rate x average deal size / cycle days
    pipeline_velocity: decimal.Decimal | None


@dataclass(frozen=True)
class Kpis:
    period: Period
    pipeline_id: int | None
    owner_id: int | None
    #: None when the viewer may not read leads
    leads_created: int | None
    leads_converted: int | None
    lead_conversion_rate: decimal.Decimal | None
    deals_won: int
    deals_lost: int
    win_rate: decimal.Decimal | None
    #: won deals with a creation time (the ones the cycle is measured on)
    cycle_deals: int
    sales_cycle_days: decimal.Decimal | None
    currencies: list[CurrencyKpis]


def _percent(part: int, whole: int) -> decimal.Decimal | None:
    return None if whole == 0 else money.divide(100 * part, whole, 2)


async def compute(viewer: Viewer, period: Period, pipeline_id: int | None = None, owner_id: int | None = None) -> Kpis:
    check(period)
    deals = await _deal_counts(viewer, period, pipeline_id, owner_id)
    total = deals.pop(None)
    won, lost = total["won"], total["lost"]
    cycle_deals, cycle_seconds = total["cycle_deals"], total["cycle_seconds"]
    currencies = []
    for currency, row in sorted(deals.items()):
        assert currency is not None
        velocity = None
        if row["won"] and cycle_seconds > 0:
            # open x won/(won+lost) x won_amount/won_c / (cycle_seconds / (cycle_deals x DAY))
            velocity = money.rounded_major(
                row["open_now"] * won * row["won_amount"] * cycle_deals * DAY,
                (won + lost) * row["won"] * cycle_seconds,
                currency,
            )
        currencies.append(
            CurrencyKpis(
                currency=currency,
                deals_won=row["won"],
                deals_lost=row["lost"],
                won_amount=money.major(row["won_amount"], currency),
                average_deal_size=money.rounded_major(row["won_amount"], row["won"], currency) if row["won"] else None,
                open_deals=row["open_now"],
                pipeline_velocity=velocity,
            )
        )
    created = converted = None
    if viewer.reads_leads:
        created, converted = await _lead_counts(viewer, period, owner_id)
    return Kpis(
        period=period,
        pipeline_id=pipeline_id,
        owner_id=owner_id,
        leads_created=created,
        leads_converted=converted,
        lead_conversion_rate=None if created is None or converted is None else _percent(converted, created),
        deals_won=won,
        deals_lost=lost,
        win_rate=_percent(won, won + lost),
        cycle_deals=cycle_deals,
        sales_cycle_days=None if cycle_deals == 0 else money.divide(cycle_seconds, cycle_deals * DAY, 2),
        currencies=[c for c in currencies if c.deals_won or c.deals_lost or c.open_deals],
    )


async def _deal_counts(
    viewer: Viewer, period: Period, pipeline_id: int | None, owner_id: int | None
) -> dict[str | None, dict[str, int]]:
    """Counts and sums per currency, and over all deals (key None, counts only)."""
    records = viewer.context.records
    kinds = await stages()
    names = ("won", "lost", "won_amount", "cycle_deals", "cycle_seconds", "open_now")
    out: dict[str | None, dict[str, int]] = {None: dict.fromkeys(names, 0)}

    def add(currency: str | None, name: str, value: int) -> None:
        out[None][name] += value
        if currency is not None:  # deals without an amount count in the total only
            out.setdefault(currency, dict.fromkeys(names, 0))[name] += value

    these = deal_filter(pipeline_id, owner_id)
    by = ["stageId", "forecastCategory"]
    closed = await records.aggregate("deal", every(these, period.moments("closedAt")), group_by=by, sums=["amount"])
    won_stages = sorted(stage for stage, (kind, _p, _c) in kinds.items() if kind == "won")
    for group in closed:
        kind = kinds.get(group.key["stageId"] or 0, ("open", 0, None))[0]
        currency = group.key["amount.currency"]
        if kind != "open":
            add(currency, kind, group.count)
        if kind == "won":
            add(currency, "won_amount", minor(group))
    for group in await records.aggregate("deal", these, group_by=by, sums=["amount"]):
        kind, _probability, stage_category = kinds.get(group.key["stageId"] or 0, ("open", 0, None))
        if kind == "open" and (group.key["forecastCategory"] or stage_category) != "omitted":
            add(group.key["amount.currency"], "open_now", group.count)
    if won_stages:
        won = every(these, period.moments("closedAt"), {"stageId": {"in": won_stages}, "createdAt": {"isNull": False}})
        async for deal in records.each("deal", won):
            currency = (deal.get("amount") or {}).get("currency")
            seconds = math.floor(deal["closed_at"].timestamp()) - math.floor(deal["created_at"].timestamp())
            add(currency, "cycle_deals", 1)
            add(currency, "cycle_seconds", seconds)
    return out


async def _lead_counts(viewer: Viewer, period: Period, owner_id: int | None) -> tuple[int, int]:
    """Leads created in the period (a UTC day), and how many of them became a deal."""
    records = viewer.context.records
    created = every(period.moments("createdAt"), {"ownerId": {"eq": owner_id}} if owner_id is not None else None)
    converted = every(created, {"convertedDealId": {"isNull": False}})
    return await records.count("lead", created), await records.count("lead", converted)
