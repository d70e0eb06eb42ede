"""``kith sales forecast`` and ``kith sales kpis``: the same figures as GraphQL, as tables.

The CLI runs as the system, so it sees every deal; its snapshots are the ones compared
with the forecasts of viewers who see every deal (managers, admins).
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kith.plugins.sales.cli import pipeline_id, sales_group
from kith.plugins.sales.forecast import figures, kpis, snapshots
from kith.plugins.sales.forecast.sql import Period
from kith.plugins.sales.forecast.viewer import viewer
from kith.sdk import KithError, PluginContext, with_context

DAY = click.DateTime(formats=["%Y-%m-%d"])


def _console() -> Console:
    """A terminal gets its own width and colours; a pipe gets wide plain lines (scripts, tests)."""
    tty = sys.stdout.isatty()
    return Console(width=None if tty else 200, no_color=not tty, highlight=False)


async def _pipeline_id(name: str | None) -> int | None:
    if name is None:
        return None
    found = await pipeline_id(name)
    if found is None:
        raise KithError(f"no pipeline named {name!r}")
    return found


def _text(value: decimal.Decimal | int | None) -> str:
    return "" if value is None else str(value)


def _or_none(value: decimal.Decimal | None, unit: str) -> str:
    """A KPI with its unit, or "none" when it would divide by zero."""
    return "none" if value is None else f"{value}{unit}"


def forecast_table(forecast: figures.Forecast) -> Table:
    """The rows, then the totals per currency; the snapshot's figures when there is one."""
    period = f"{forecast.period.start} to {forecast.period.end}"
    table = Table(title=f"Forecast {period} by {forecast.group_by}")
    headers = ["", "currency", "open", "pipeline", "weighted", "commit", "best case", "won", "lost"]
    if forecast.snapshot is not None:
        headers += ["snap. weighted", "snap. commit", "snap. best case", "won - snap. commit"]
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index < 2 else "right")
    last_group = forecast.rows[-1] if forecast.rows else None
    for row in [*forecast.rows, *forecast.totals]:
        cells = [
            row.label,
            row.currency,
            str(row.open_count),
            str(row.pipeline),
            str(row.weighted),
            str(row.commit),
            str(row.best_case),
            f"{row.closed_won} ({row.closed_won_count})",
            f"{row.closed_lost} ({row.closed_lost_count})",
        ]
        if forecast.snapshot is not None:
            old = row.compared
            cells += (
                [_text(old.weighted), _text(old.commit), _text(old.best_case), _text(old.closed_minus_commit)]
                if old
                else ["", "", "", ""]
            )
        table.add_row(*cells, end_section=row is last_group)  # a line between the groups and the totals
    return table


@sales_group.command("forecast")
@click.option("--start", type=DAY, required=True, help="First day of the period (YYYY-MM-DD, UTC).")
@click.option("--end", type=DAY, required=True, help="Last day of the period, included.")
@click.option("--by", "group_by", type=click.Choice(figures.GROUPINGS), default="owner", show_default=True)
@click.option("--pipeline", help="Only this pipeline (by name).")
@click.option("--snapshot", is_flag=True, help="Also store these figures, to compare with what closes.")
@with_context
async def forecast_command(
    context: PluginContext, start: dt.datetime, end: dt.datetime, group_by: Any, pipeline: str | None, snapshot: bool
) -> None:
    """Pipeline, weighted, commit, best case and closed deals of a period, per group and
    currency, beside the latest snapshot of the same period."""
    caller = await viewer(context)
    computed = await figures.compute(caller, Period(start.date(), end.date()), group_by, await _pipeline_id(pipeline))
    shown = await snapshots.with_comparison(caller, computed)
    console = _console()
    if not shown.rows:
        console.print("No deals due or closed in this period.")
    else:
        console.print(forecast_table(shown))
    if shown.snapshot is not None:
        when = shown.snapshot.taken_at.strftime("%Y-%m-%d %H:%M UTC")
        console.print(f"Compared with snapshot {shown.snapshot.id} taken {when} by {shown.snapshot.taken_by}.")
    if snapshot:
        taken = await snapshots.take(caller, computed)
        console.print(f"Snapshot {taken.id} taken.")


@sales_group.command("kpis")
@click.option("--start", type=DAY, required=True, help="First day of the period (YYYY-MM-DD, UTC).")
@click.option("--end", type=DAY, required=True, help="Last day of the period, included.")
@click.option("--pipeline", help="Only this pipeline (by name).")
@with_context
async def kpis_command(context: PluginContext, start: dt.datetime, end: dt.datetime, pipeline: str | None) -> None:
    """Lead conversion, win rate, sales cycle, average deal size and pipeline velocity."""
    period = Period(start.date(), end.date())
    result = await kpis.compute(await viewer(context), period, await _pipeline_id(pipeline))
    console = _console()
    conversion = _or_none(result.lead_conversion_rate, "%")
    console.print(f"Lead conversion: {conversion} ({result.leads_converted} of {result.leads_created} leads)")
    console.print(f"Win rate: {_or_none(result.win_rate, '%')} (won {result.deals_won}, lost {result.deals_lost})")
    cycle = _or_none(result.sales_cycle_days, " days")
    console.print(f"Sales cycle: {cycle} ({result.cycle_deals} deals won with a creation time)")
    if result.currencies:
        table = Table("currency", "won", "lost", "won amount", "average deal", "open", "velocity / day")
        for c in result.currencies:
            table.add_row(
                c.currency,
                str(c.deals_won),
                str(c.deals_lost),
                str(c.won_amount),
                _text(c.average_deal_size),
                str(c.open_deals),
                _text(c.pipeline_velocity),
            )
        console.print(table)
