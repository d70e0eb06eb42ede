"""``kith service …``: the helpdesk at a glance, routing, SLAs, holidays and NPS surveys."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from kith.plugins.service import calendars, routing, satisfaction
from kith.plugins.service.models import STATUS_CATEGORIES
from kith.plugins.service.sla import engine
from kith.sdk import KithError, PluginContext, ValidationFailed, with_context


@click.group("service")
def service_group() -> None:
    """Service: tickets, queues, SLAs, holidays and satisfaction surveys."""


@service_group.command("status")
@with_context
async def status(context: PluginContext) -> None:
    """Open tickets by status category, unassigned ones by team, and SLA breaches."""
    records = context.records
    for category in STATUS_CATEGORIES:
        click.echo(f"{category:<24} {await records.count('ticket', {'statusCategory': {'eq': category}}):>6}")
    open_filter: dict[str, Any] = {"statusCategory": {"notIn": ["solved", "closed"]}}
    unassigned = await records.count("ticket", {**open_filter, "assigneeId": {"isNull": True}})
    breached = await records.count("ticket", {**open_filter, "slaState": {"eq": "breached"}})
    click.echo(f"{'unassigned (open)':<24} {unassigned:>6}")
    click.echo(f"{'SLA breached (open)':<24} {breached:>6}")


@service_group.command("route")
@click.option("--team", "team_name", help="Route only this team's queue (default: every team with a queue).")
@with_context
async def route(context: PluginContext, team_name: str | None) -> None:
    """Hand unassigned tickets to available agents now (routing also runs by itself)."""
    if team_name:
        team = await context.system.first("team", {"name": {"eq": team_name}})
        if team is None:
            raise KithError(f"no team named {team_name!r}")
        teams = [int(team["id"])]
    else:
        teams = await routing.teams_with_queues()
    total = 0
    for team_id in teams:
        for made in await routing.route_team(context, team_id):
            agent = await context.system.get("user", made.agent)
            click.echo(f"{made.number} -> {(agent or {}).get('email', made.agent)}")
            total += 1
    click.echo(f"Assigned {total} ticket(s)")


@service_group.command("recompute-sla")
@click.option("--entity", help="Only records of this entity (default: every entity with a policy).")
@with_context
async def recompute_sla(context: PluginContext, entity: str | None) -> None:
    """Recompute every open record's SLA clocks now (edits to policies and calendars do it by themselves)."""
    done = await engine.refresh_all(context, [entity] if entity else None)
    click.echo(f"Recomputed the SLA clocks of {done} record(s)")


@service_group.command("import-holidays")
@click.argument("calendar")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day to take (default: today).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Day after the last (default: two years on).")
@with_context
async def import_holidays(
    context: PluginContext, calendar: str, file: Path, start: dt.datetime | None, end: dt.datetime | None
) -> None:
    """Add the holidays of an iCalendar FILE (.ics) to the business CALENDAR (by name)."""
    found = await context.records.first("business_calendar", {"name": {"eq": calendar}})
    if found is None:
        raise KithError(f"no business calendar named {calendar!r}")
    first = start.date() if start else dt.date.today()
    last = end.date() if end else first.replace(year=first.year + 2)
    try:
        data = await asyncio.to_thread(file.read_bytes)
        _updated, added = await calendars.import_holidays(context, found["id"], data, start=first, end=last)
    except ValidationFailed as exc:
        raise KithError("; ".join(f"{e.field}: {e.message}" for e in exc.errors)) from exc
    click.echo(f"Added {added} holiday(s) or closure(s) to {calendar} ({first} to {last})")


@service_group.command("send-nps")
@click.option("--filter", "filter_json", default="{}", help="Which contacts, in the filter language (JSON).")
@click.option("--limit", type=int, default=1000, show_default=True, help="Ask at most this many contacts.")
@with_context
async def send_nps(context: PluginContext, filter_json: str, limit: int) -> None:
    """Mail an NPS survey (0-10) to contacts with an email address."""
    try:
        condition = json.loads(filter_json)
    except json.JSONDecodeError as exc:
        raise KithError(f"--filter is not JSON: {exc.msg}") from exc
    if not context.mail.configured:
        raise KithError("set mail_from (KITH_MAIL_FROM) first: surveys go out by mail")
    sent = 0
    async for contact in context.records.each("contact", condition):
        if sent >= limit:
            break
        async with context.db.transaction():
            if await satisfaction.send(context, "nps", contact) is not None:
                sent += 1
    click.echo(f"Sent {sent} NPS survey(s)")
