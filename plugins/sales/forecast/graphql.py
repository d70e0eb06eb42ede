"""GraphQL of forecasts and KPIs: ``salesForecast``, ``salesKpis`` and the
``snapshotForecast`` mutation.

Every figure covers only the deals (and leads) the viewer may read, and a viewer who
may not see deal amounts gets no money figures at all.  Money figures are exact
decimals in one currency each: every row names its currency, and nothing is ever added
across currencies (there are no exchange rates here).
"""

from __future__ import annotations

import datetime as dt
import decimal
from enum import Enum
from typing import Optional

import strawberry
from strawberry.types import Info

from kith.plugins.sales.forecast import figures, kpis, snapshots
from kith.plugins.sales.forecast.sql import Period
from kith.plugins.sales.forecast.viewer import Viewer, viewer
from kith.sdk import UserError, ValidationFailed, context_from


@strawberry.enum(description="What the rows of a forecast are: one per owner, per owner's team, or per pipeline.")
class SalesForecastGrouping(Enum):
    OWNER = "owner"
    TEAM = "team"
    PIPELINE = "pipeline"


@strawberry.type(description="What the compared snapshot said for this row, and what closed won since differs by.")
class SalesForecastComparison:
    weighted: decimal.Decimal = strawberry.field(description="The snapshot's weighted pipeline.")
    commit: decimal.Decimal = strawberry.field(description="The snapshot's commit.")
    best_case: decimal.Decimal = strawberry.field(description="The snapshot's best case.")
    closed_minus_weighted: decimal.Decimal = strawberry.field(
        description="closedWon now minus the snapshot's weighted (above zero: more closed than forecast)."
    )
    closed_minus_commit: decimal.Decimal = strawberry.field(description="closedWon now minus the snapshot's commit.")
    closed_minus_best_case: decimal.Decimal = strawberry.field(
        description="closedWon now minus the snapshot's best case."
    )


@strawberry.type(description="One group's forecast in one currency (amounts are exact, in that currency).")
class SalesForecastRow:
    group_id: Optional[strawberry.ID] = strawberry.field(
        description="The owner's, team's or pipeline's id; null for Unassigned and for totals."
    )
    label: str = strawberry.field(description="User name (or email), team or pipeline name; Unassigned; Total.")
    currency: str
    open_count: int = strawberry.field(description="Open deals due in the period (expected close), not omitted.")
    pipeline: decimal.Decimal = strawberry.field(description="Sum of those open deals' amounts.")
    weighted: decimal.Decimal = strawberry.field(
        description="Sum of those open deals' amount x stage probability / 100 (exact; closed deals add nothing)."
    )
    commit: decimal.Decimal = strawberry.field(description="closedWon + open deals due in the period in commit.")
    best_case: decimal.Decimal = strawberry.field(description="commit + open deals due in the period in best case.")
    closed_won: decimal.Decimal = strawberry.field(description="Sum of deals won in the period (closedAt, UTC day).")
    closed_won_count: int
    closed_lost: decimal.Decimal = strawberry.field(description="Sum of deals lost in the period.")
    closed_lost_count: int
    comparison: Optional[SalesForecastComparison] = strawberry.field(
        description="Against the snapshot in comparedWith; null if there is none or it had no such row."
    )


@strawberry.type(description="A stored forecast: the figures as they were when it was taken.")
class SalesForecastSnapshot:
    id: strawberry.ID
    taken_at: dt.datetime
    taken_by: Optional[str]


@strawberry.type(description="The forecast of a period, per group and currency.")
class SalesForecast:
    start: dt.date
    end: dt.date
    group_by: SalesForecastGrouping
    pipeline_id: Optional[strawberry.ID]
    rows: list[SalesForecastRow] = strawberry.field(
        description="One per group and currency, by label (Unassigned last), then currency."
    )
    totals: list[SalesForecastRow] = strawberry.field(description="One per currency: all the rows of that currency.")
    compared_with: Optional[SalesForecastSnapshot] = strawberry.field(
        description="The latest snapshot of the same period, grouping and pipeline (taken for the same view "
        "of the deals), that each row's comparison is against."
    )


@strawberry.type(description="KPIs in one currency.")
class SalesKpisByCurrency:
    currency: str
    deals_won: int = strawberry.field(description="Deals in this currency won in the period.")
    deals_lost: int = strawberry.field(description="Deals in this currency lost in the period.")
    won_amount: decimal.Decimal = strawberry.field(description="Sum of the deals won in the period.")
    average_deal_size: Optional[decimal.Decimal] = strawberry.field(
        description="wonAmount / dealsWon, rounded half away from zero to the minor unit; null if none won."
    )
    open_deals: int = strawberry.field(description="Deals open now (any expected close date), not omitted.")
    pipeline_velocity: Optional[decimal.Decimal] = strawberry.field(
        description="Expected won amount per day: openDeals x winRate x averageDealSize / salesCycleDays, from the "
        "unrounded figures, rounded half away from zero to the minor unit; null when a factor is missing."
    )


@strawberry.type(description="Sales KPIs of a period, with the counts they come from.")
class SalesKpis:
    start: dt.date
    end: dt.date
    pipeline_id: Optional[strawberry.ID]
    owner_id: Optional[strawberry.ID]
    leads_created: Optional[int] = strawberry.field(
        description="Leads created in the period (null if you may not read leads)."
    )
    leads_converted: Optional[int] = strawberry.field(description="Of those, how many were converted into a deal.")
    lead_conversion_rate: Optional[decimal.Decimal] = strawberry.field(
        description="leadsConverted / leadsCreated in percent, 2 decimals; null without leads."
    )
    deals_won: int = strawberry.field(description="Deals won in the period (closedAt, UTC day), every currency.")
    deals_lost: int = strawberry.field(description="Deals lost in the period.")
    win_rate: Optional[decimal.Decimal] = strawberry.field(
        description="dealsWon / (dealsWon + dealsLost) in percent, 2 decimals; null when none closed."
    )
    sales_cycle_days: Optional[decimal.Decimal] = strawberry.field(
        description="Mean days from creation to close of the deals won in the period, 2 decimals."
    )
    currencies: list[SalesKpisByCurrency]


def _id(value: Optional[int]) -> Optional[strawberry.ID]:
    return None if value is None else strawberry.ID(str(value))


def _record_id(value: Optional[strawberry.ID], field: str) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed.single(field, "invalid", f"{value!r} is not a record id") from None


async def viewer_of(info: Info) -> Viewer:
    """The caller as a forecast viewer; refuses one who may not read deals or their amounts."""
    return await viewer(context_from(info))


def _comparison(value: Optional[figures.Comparison]) -> Optional[SalesForecastComparison]:
    if value is None:
        return None
    return SalesForecastComparison(
        weighted=value.weighted,
        commit=value.commit,
        best_case=value.best_case,
        closed_minus_weighted=value.closed_minus_weighted,
        closed_minus_commit=value.closed_minus_commit,
        closed_minus_best_case=value.closed_minus_best_case,
    )


def _row(row: figures.Row) -> SalesForecastRow:
    return SalesForecastRow(
        group_id=_id(row.group_id),
        label=row.label,
        currency=row.currency,
        open_count=row.open_count,
        pipeline=row.pipeline,
        weighted=row.weighted,
        commit=row.commit,
        best_case=row.best_case,
        closed_won=row.closed_won,
        closed_won_count=row.closed_won_count,
        closed_lost=row.closed_lost,
        closed_lost_count=row.closed_lost_count,
        comparison=_comparison(row.compared),
    )


def _snapshot(info: Optional[figures.SnapshotInfo]) -> Optional[SalesForecastSnapshot]:
    if info is None:
        return None
    return SalesForecastSnapshot(id=strawberry.ID(str(info.id)), taken_at=info.taken_at, taken_by=info.taken_by)


def _forecast(value: figures.Forecast) -> SalesForecast:
    return SalesForecast(
        start=value.period.start,
        end=value.period.end,
        group_by=SalesForecastGrouping(value.group_by),
        pipeline_id=_id(value.pipeline_id),
        rows=[_row(r) for r in value.rows],
        totals=[_row(r) for r in value.totals],
        compared_with=_snapshot(value.snapshot),
    )


def _kpis(value: kpis.Kpis) -> SalesKpis:
    return SalesKpis(
        start=value.period.start,
        end=value.period.end,
        pipeline_id=_id(value.pipeline_id),
        owner_id=_id(value.owner_id),
        leads_created=value.leads_created,
        leads_converted=value.leads_converted,
        lead_conversion_rate=value.lead_conversion_rate,
        deals_won=value.deals_won,
        deals_lost=value.deals_lost,
        win_rate=value.win_rate,
        sales_cycle_days=value.sales_cycle_days,
        currencies=[
            SalesKpisByCurrency(
                currency=c.currency,
                deals_won=c.deals_won,
                deals_lost=c.deals_lost,
                won_amount=c.won_amount,
                average_deal_size=c.average_deal_size,
                open_deals=c.open_deals,
                pipeline_velocity=c.pipeline_velocity,
            )
            for c in value.currencies
        ],
    )


async def _compute(
    info: Info, start: dt.date, end: dt.date, group_by: SalesForecastGrouping, pipeline_id: Optional[strawberry.ID]
) -> tuple[Viewer, figures.Forecast]:
    """The caller's forecast; a ValidationFailed (a bad argument) names the argument."""
    caller = await viewer_of(info)
    pipeline = _record_id(pipeline_id, "pipelineId")
    return caller, await figures.compute(caller, Period(start, end), group_by.value, pipeline)


@strawberry.type
class ForecastQueries:
    @strawberry.field(
        description="The forecast of a period (start and end days included, UTC) per owner, team or pipeline and "
        "per currency, over the deals you may read, compared with its latest snapshot."
    )
    async def sales_forecast(
        self,
        info: Info,
        start: dt.date,
        end: dt.date,
        group_by: SalesForecastGrouping = SalesForecastGrouping.OWNER,
        pipeline_id: Optional[strawberry.ID] = None,
    ) -> SalesForecast:
        caller, forecast = await _compute(info, start, end, group_by, pipeline_id)
        return _forecast(await snapshots.with_comparison(caller, forecast))

    @strawberry.field(
        description="Lead conversion, win rate, average deal size, sales cycle and pipeline velocity of a period "
        "(start and end days included, UTC), over the deals and leads you may read."
    )
    async def sales_kpis(
        self,
        info: Info,
        start: dt.date,
        end: dt.date,
        pipeline_id: Optional[strawberry.ID] = None,
        owner_id: Optional[strawberry.ID] = None,
    ) -> SalesKpis:
        caller = await viewer_of(info)
        pipeline = _record_id(pipeline_id, "pipelineId")
        owner = _record_id(owner_id, "ownerId")
        result = await kpis.compute(caller, Period(start, end), pipeline, owner)
        return _kpis(result)


@strawberry.type(description="A snapshot just taken, with the figures it stored.")
class SnapshotForecastPayload:
    snapshot: Optional[SalesForecastSnapshot]
    forecast: Optional[SalesForecast]
    errors: list[UserError]


@strawberry.type
class ForecastMutations:
    @strawberry.mutation(
        description="Store the forecast as it is now, to compare with what closes: salesForecast with the same "
        "period, grouping and pipeline then shows the latest snapshot beside each row."
    )
    async def snapshot_forecast(
        self,
        info: Info,
        start: dt.date,
        end: dt.date,
        group_by: SalesForecastGrouping = SalesForecastGrouping.OWNER,
        pipeline_id: Optional[strawberry.ID] = None,
    ) -> SnapshotForecastPayload:
        try:
            caller, forecast = await _compute(info, start, end, group_by, pipeline_id)
        except ValidationFailed as exc:
            return SnapshotForecastPayload(
                snapshot=None, forecast=None, errors=[UserError.from_error(e) for e in exc.errors]
            )
        taken = await snapshots.take(caller, forecast)
        return SnapshotForecastPayload(snapshot=_snapshot(taken), forecast=_forecast(forecast), errors=[])
