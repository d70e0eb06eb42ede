"""Sales KPIs of a period: lead conversion, win rate, average deal size, sales cycle and
pipeline velocity — each with the counts it is computed from, so it can be checked.

Two SQL statements (deals, leads) return whole numbers: counts, sums of minor units,
sums of whole seconds.  Each ratio is then one exact integer division here, rounded
half away from zero (``money.divide``): rates to hundredths of a percent, days to
hundredths of a day, money to the currency's minor unit.  Counts of deals span
currencies (a won deal is a won deal); money never does.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from typing import Any

from piccolo.querystring import QueryString

from kith.plugins.sales.forecast import money
from kith.plugins.sales.forecast.figures import check, classified_deals
from kith.plugins.sales.forecast.sql import Period, conjunction, equals, within
from kith.plugins.sales.forecast.viewer import Viewer
from kith.sdk import Kith

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


async def compute(
    kith: Kith, viewer: Viewer, period: Period, pipeline_id: int | None = None, owner_id: int | None = None
) -> Kpis:
    check(period)
    deals = await _deal_counts(kith, viewer, period, pipeline_id, owner_id)
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
        created, converted = await _lead_counts(kith, viewer, period, owner_id)
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
    kith: Kith, viewer: Viewer, period: Period, pipeline_id: int | None, owner_id: int | None
) -> dict[str | None, dict[str, int]]:
    """Counts and sums per currency, and over all deals (key None, counts only)."""
    dialect = kith.db.dialect
    closed = within("d.closed_on", period)
    cycle = f"({dialect.epoch_seconds('d.closed_at')} - {dialect.epoch_seconds('d.created_at')})"
    measures = QueryString(
        "SUM(CASE WHEN d.kind = 'won' AND {} THEN 1 ELSE 0 END) AS won, "
        "SUM(CASE WHEN d.kind = 'lost' AND {} THEN 1 ELSE 0 END) AS lost, "
        "SUM(CASE WHEN d.kind = 'won' AND {} THEN d.amount ELSE 0 END) AS won_amount, "
        "SUM(CASE WHEN d.kind = 'won' AND d.created_at IS NOT NULL AND {} THEN 1 ELSE 0 END) AS cycle_deals, "
        f"SUM(CASE WHEN d.kind = 'won' AND d.created_at IS NOT NULL AND {{}} THEN {cycle} ELSE 0 END) "
        "AS cycle_seconds, "
        "SUM(CASE WHEN d.kind = 'open' AND d.category <> 'omitted' THEN 1 ELSE 0 END) AS open_now",
        closed,
        closed,
        closed,
        closed,
        closed,
    )
    rows = await kith.db.fetch(
        QueryString(
            "WITH d AS ({}) "
            "SELECT 0 AS is_total, d.currency AS currency, {} FROM d GROUP BY d.currency "
            "UNION ALL SELECT 1 AS is_total, NULL AS currency, {} FROM d",
            classified_deals(kith, viewer, pipeline_id=pipeline_id, owner_id=owner_id, with_amount=False),
            measures,
            measures,
        )
    )
    names = ("won", "lost", "won_amount", "cycle_deals", "cycle_seconds", "open_now")
    out: dict[str | None, dict[str, int]] = {}
    for row in rows:
        if row["is_total"] or row["currency"] is not None:  # deals without an amount count in the total only
            out[None if row["is_total"] else row["currency"]] = {name: money.as_int(row[name]) for name in names}
    return out


async def _lead_counts(kith: Kith, viewer: Viewer, period: Period, owner_id: int | None) -> tuple[int, int]:
    """Leads created in the period (a UTC day), and how many of them became a deal."""
    where = [QueryString("t.deleted_at IS NULL"), within(kith.db.dialect.utc_date("t.created_at"), period)]
    if viewer.leads is not None:
        where.append(viewer.leads)
    if owner_id is not None:
        where.append(equals("t.owner", owner_id))
    row: Any = (
        await kith.db.fetch(
            QueryString(
                "SELECT COUNT(*) AS created, "
                "SUM(CASE WHEN t.converted_deal IS NOT NULL THEN 1 ELSE 0 END) AS converted FROM sales_lead t WHERE {}",
                conjunction(where),
            )
        )
    )[0]
    return money.as_int(row["created"]), money.as_int(row["converted"])
