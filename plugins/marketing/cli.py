"""``kith marketing …``: segments and campaigns from the command line."""

from __future__ import annotations

import click

from kith.plugins.marketing.campaigns import control
from kith.plugins.marketing.segments import engine
from kith.plugins.marketing.segments.members import members_filter
from kith.sdk import KithError, PluginContext, ValidationFailed, with_context


@click.group("marketing")
def marketing_group() -> None:
    """Marketing: segments and campaigns."""


@marketing_group.command("segments")
@with_context
async def segments(context: PluginContext) -> None:
    """Every segment with its kind and how many members it has."""
    for segment in await context.records.list("segment", order_by=[{"name": "ASC"}], first=1000):
        count = await context.records.count("contact", members_filter(int(segment["id"])))
        moving = " (relative to now)" if segment.get("time_relative") else ""
        click.echo(f"{segment['name']:<40} {segment['kind']:<8} {count:>9}{moving}")


@marketing_group.command("refresh")
@click.option("--segment", "name", help="Only this segment (by name); default: every dynamic segment.")
@with_context
async def refresh(context: PluginContext, name: str | None) -> None:
    """Bring dynamic segments up to date as a whole now (writes keep them current; this
    catches changes further away, such as a renamed deal stage)."""
    chosen = await engine.dynamic_segments(context)
    if name is not None:
        chosen = [s for s in chosen if s["name"] == name]
        if not chosen:
            raise KithError(f"no dynamic segment named {name!r}")
    for segment in chosen:
        changed = await engine.bring_up_to_date(context, segment)
        click.echo(f"{segment['name']}: {len(changed.added)} joined, {len(changed.removed)} left")


@marketing_group.command("campaigns")
@with_context
async def campaigns(context: PluginContext) -> None:
    """Every campaign with its status and its deliveries by status."""
    for campaign in await context.records.list("campaign", order_by=[{"name": "ASC"}], first=1000):
        report = await control.report(context, int(campaign["id"]))
        counts = ", ".join(f"{status} {n}" for status, n in sorted(report.by_status.items())) or "no deliveries"
        click.echo(f"{campaign['name']:<40} {campaign['status']:<10} {counts}")


@marketing_group.command("send")
@click.argument("campaign")
@with_context
async def send(context: PluginContext, campaign: str) -> None:
    """Start sending the CAMPAIGN (by name) now; the worker sends it."""
    found = await context.records.first("campaign", {"name": {"eq": campaign}})
    if found is None:
        raise KithError(f"no campaign named {campaign!r}")
    try:
        await control.start(context, int(found["id"]))
    except ValidationFailed as exc:
        raise KithError("; ".join(f"{e.field}: {e.message}" for e in exc.errors)) from exc
    report = await control.report(context, int(found["id"]))
    click.echo(f"{campaign}: sending to {sum(report.by_status.values())} recipient(s)")
