"""``kith reports …``: saved reports, run as someone, and their delivery by mail."""

from __future__ import annotations

import datetime as dt
import json
import sys
import zoneinfo
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from kith.cli.common import KithCliError, console, with_kith
from kith.core.runtime import Kith


@click.group("reports")
def reports_group() -> None:
    """Saved reports: list, save, run as someone, and schedule delivery by mail."""


async def _permissions(kith: Kith, email: str | None) -> Any:
    """The permissions of the user with ``email`` (None: the system, every record)."""
    if not email:
        return None
    from kith.core.security.permissions import permissions_for

    user = await kith.auth.user_by_email(email)
    if user is None:
        raise KithCliError(f"no user with email {email!r}")
    return await permissions_for(kith, await kith.auth.principal_for_user(int(user["id"]), "cli"))


def _json(value: str | None, what: str) -> Any:
    """A JSON option: the JSON itself, or ``@file`` to read it from a file."""
    if value is None:
        return None
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KithCliError(f"{what}: not JSON: {exc}") from None


@reports_group.command("list")
@with_kith
async def list_command(kith: Kith) -> None:
    """The saved reports, by name."""
    from kith.core.reports import list_reports
    from kith.core.reports.schedules import list_schedules

    reports = await list_reports(kith)
    schedules = await list_schedules(kith)
    table = Table("id", "name", "kind", "about", "owner", "schedules", title="Saved reports")
    for report in reports:
        definition = report.definition
        about = definition.source or definition.entity or ", ".join(step.entity for step in definition.steps)
        owned = sum(1 for s in schedules if s.report == report.id)
        table.add_row(
            str(report.id), report.name, definition.kind, about or "contact", str(report.owner or "-"), str(owned)
        )
    console.print(table)
    console.print(f"{len(reports)} saved report(s)")


@reports_group.command("show")
@click.argument("report_id", type=int)
@with_kith
async def show_command(kith: Kith, report_id: int) -> None:
    """A saved report's definition, as JSON."""
    from kith.core.reports import get_report

    report = await get_report(kith, report_id)
    click.echo(json.dumps({"id": report.id, "name": report.name, "description": report.description,
                           "definition": report.definition.to_json()}, indent=2))  # fmt: skip


@reports_group.command("save")
@click.argument("name")
@click.option("--definition", "definition", required=True, help="The report definition: JSON, or @file.json.")
@click.option("--description", default="", help="What the report answers.")
@click.option("--id", "report_id", type=int, help="Change this saved report instead of saving a new one.")
@click.option("--as", "as_user", help="Save as this user (email): they own it; checked against what they may read.")
@with_kith
async def save_command(
    kith: Kith, name: str, definition: str, description: str, report_id: int | None, as_user: str | None
) -> None:
    """Save a report as NAME (checked first: an unknown field is an error naming it)."""
    from kith.core.reports import save_report

    saved = await save_report(
        kith,
        name,
        _json(definition, "--definition"),
        await _permissions(kith, as_user),
        description=description,
        report_id=report_id,
    )
    console.print(f"Saved report {saved.id}: {saved.name} ({saved.definition.kind})")


@reports_group.command("delete")
@click.argument("report_id", type=int)
@with_kith
async def delete_command(kith: Kith, report_id: int) -> None:
    """Delete a saved report and its delivery schedules."""
    from kith.core.reports import delete_report

    deleted = await delete_report(kith, report_id)
    console.print(f"Deleted report {deleted.id}: {deleted.name}")


def _moment(value: str | None, zone: str, what: str) -> dt.datetime | None:
    """An ISO date (midnight in ``zone``) or date-time (without an offset: in ``zone``)."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise KithCliError(f"{what}: {value!r} is not an ISO date or date-time (2026-03-01)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))


@reports_group.command("run")
@click.argument("report_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--as", "as_user", help="Run as this user (email): only the records they may read count.")
@click.option("--from", "date_from", help="From this date or time on (ISO; dates in the report's time zone).")
@click.option("--to", "date_to", help="Before this date or time (ISO; excluded).")
@click.option("--filter", "filter_", help="A filter ANDed with the report's (JSON), where its entity has the fields.")
@with_kith
async def run_command(
    kith: Kith,
    report_id: int,
    fmt: str,
    as_user: str | None,
    date_from: str | None,
    date_to: str | None,
    filter_: str | None,
) -> None:
    """Run saved report REPORT_ID and print its figures."""
    from kith.core.reports import get_report, run_saved_report
    from kith.core.reports.delivery import as_csv

    report = await get_report(kith, report_id)
    zone = report.definition.time_zone
    result = await run_saved_report(
        kith,
        report_id,
        await _permissions(kith, as_user),
        date_from=_moment(date_from, zone, "--from"),
        date_to=_moment(date_to, zone, "--to"),
        filter=_json(filter_, "--filter"),
    )
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    elif fmt == "csv":
        sys.stdout.write(as_csv(result).decode("utf-8-sig"))
    else:
        table = Table(*(column.label for column in result.columns), title=report.name)
        for row in result.rows:
            table.add_row(*("" if row.get(c.name) is None else str(row.get(c.name)) for c in result.columns))
        console.print(table)


@reports_group.command("sources")
@with_kith
async def sources_command(kith: Kith) -> None:
    """The report sources enabled plugins offer (kind "source")."""
    from kith.core.reports.sources import collect

    table = Table("source", "title", "plugin", "columns", title="Report sources")
    sources = collect(kith)
    for name, source in sorted(sources.items()):
        table.add_row(name, source.title, source.plugin, ", ".join(c.name for c in source.columns))
    console.print(table)
    console.print(f"{len(sources)} source(s)")


@reports_group.group("schedule")
def schedule_group() -> None:
    """Mail a saved report daily, weekly or monthly: add, list, remove."""


@schedule_group.command("add")
@click.argument("report_id", type=int)
@click.option("--to", "recipients", multiple=True, required=True, help="A recipient's address (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option(
    "--every", "cadence", type=click.Choice(["daily", "weekly", "monthly"]), default="daily", show_default=True
)
@click.option("--weekday", help="For --every weekly: monday … sunday.")
@click.option("--day", type=click.IntRange(1, 31), help="For --every monthly: the day of the month (31: the last).")
@click.option("--at", "at", default="08:00", show_default=True, help="The local time, HH:MM.")
@click.option("--tz", "time_zone", default="UTC", show_default=True, help="The time zone of --at (IANA name).")
@click.option(
    "--span",
    type=click.Choice(["all", "previous"]),
    default="all",
    show_default=True,
    help="previous: only the day, week or month that just ended.",
)
@click.option("--as", "as_user", help="Compute it as this user (email); default: the system, every record.")
@with_kith
async def schedule_add(
    kith: Kith,
    report_id: int,
    recipients: tuple[str, ...],
    fmt: str,
    cadence: str,
    weekday: str | None,
    day: int | None,
    at: str,
    time_zone: str,
    span: str,
    as_user: str | None,
) -> None:
    """Mail saved report REPORT_ID to --to addresses on a schedule."""
    from kith.core.reports.schedules import create_schedule

    permissions = await _permissions(kith, as_user)
    schedule = await create_schedule(
        kith,
        report_id,
        recipients=list(recipients),
        format=fmt,
        cadence=cadence,
        weekday=weekday,
        day=day,
        at=at,
        time_zone=time_zone,
        span=span,
        run_as=None if permissions is None else permissions.principal.user_id,
    )
    assert schedule.next_run_at is not None
    console.print(
        f"Schedule {schedule.id}: report {report_id} {schedule.describe()} as {fmt.upper()} to "
        f"{', '.join(schedule.recipients)}; next {schedule.next_run_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )


@schedule_group.command("list")
@click.argument("report_id", type=int, required=False)
@with_kith
async def schedule_list(kith: Kith, report_id: int | None) -> None:
    """The delivery schedules (of REPORT_ID)."""
    from kith.core.reports.schedules import list_schedules

    schedules = await list_schedules(kith, report_id)
    table = Table("id", "report", "when", "format", "to", "as", "next (UTC)", "last sent", "error", title="Schedules")
    for s in schedules:
        table.add_row(
            str(s.id), str(s.report), s.describe(), s.format, ", ".join(s.recipients), str(s.run_as or "system"),
            f"{s.next_run_at.astimezone(dt.UTC):%Y-%m-%d %H:%M}" if s.next_run_at else "-",
            f"{s.last_sent_at.astimezone(dt.UTC):%Y-%m-%d %H:%M}" if s.last_sent_at else "-", s.last_error or "",
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(schedules)} schedule(s)")


@schedule_group.command("remove")
@click.argument("schedule_id", type=int)
@with_kith
async def schedule_remove(kith: Kith, schedule_id: int) -> None:
    """Stop delivery schedule SCHEDULE_ID."""
    from kith.core.reports.schedules import delete_schedule

    removed = await delete_schedule(kith, schedule_id)
    console.print(f"Removed schedule {removed.id} of report {removed.report}")
