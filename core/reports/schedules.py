"""Delivery schedules: a saved report mailed to people daily, weekly or monthly, at a
local time in a time zone, as CSV or XLSX, computed as the schedule's owner.

A schedule is a row; each delivery is a job of the worker's queue (``kith.reports.deliver``,
``delivery.py``) queued for the schedule's next time, with the schedule id and that time
as its idempotency key.  Saving a schedule queues its next delivery in the same
transaction, and each delivery queues the one after it in the transaction that sends it,
so nothing polls for due schedules, a restart loses none, and none runs twice.

Times are local: "weekly on Monday at 08:00 in Europe/Berlin" is 07:00 UTC in winter and
06:00 UTC in summer.  A local time the clocks skip (02:30 on the night they go forward)
runs when the clocks show it would have been (03:30); one they show twice runs the first
time.  A monthly schedule on day 31 runs on the last day of shorter months.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Literal

from email_validator import EmailNotValidError, validate_email
from piccolo.columns import BigInt, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.querystring import QueryString
from piccolo.table import Table

from kith.core.errors import FieldError, NotFound, ValidationFailed
from kith.core.records.encoding import dumps
from kith.core.records.local_time import check_time_zone

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

SCHEDULE_TABLE = "kith_report_schedule"
DELIVER_JOB = "kith.reports.deliver"
Cadence = Literal["daily", "weekly", "monthly"]
Format = Literal["csv", "xlsx"]
Span = Literal["all", "previous"]
CADENCES: tuple[Cadence, ...] = ("daily", "weekly", "monthly")
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
SPANS: tuple[Span, ...] = ("all", "previous")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_RECIPIENTS = 50


class ReportScheduleRow(Table, tablename=SCHEDULE_TABLE):
    """One delivery schedule of a saved report."""

    id: Serial  # Piccolo's primary key, declared for type checkers

    report = BigInt()
    recipients = Text()  # JSON list of addresses
    format = Varchar(length=8, default="csv")
    cadence = Varchar(length=10, default="daily")
    at_time = Varchar(length=5, default="08:00")  # HH:MM, local
    weekday = Integer(null=True, default=None)  # 0 Monday … 6 Sunday (weekly)
    day = Integer(null=True, default=None)  # 1-31 (monthly)
    time_zone = Varchar(length=60, default="UTC")
    #: "all": the report as it is; "previous": the day, week or month that just ended
    span = Varchar(length=10, default="all")
    run_as = BigInt(null=True, default=None)  # the user the figures are computed as (None: the system)
    next_run_at = Timestamptz(null=True, default=None)
    last_sent_at = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


@dataclass(frozen=True)
class Schedule:
    id: int
    report: int
    recipients: list[str]
    format: Format
    cadence: Cadence
    at_time: dt.time
    weekday: int | None
    day: int | None
    time_zone: str
    span: Span
    run_as: int | None
    next_run_at: dt.datetime | None
    last_sent_at: dt.datetime | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: Any) -> Schedule:
        recipients = row["recipients"]
        return cls(
            id=int(row["id"]),
            report=int(row["report"]),
            recipients=list(json.loads(recipients) if isinstance(recipients, str) else recipients),
            format=row["format"],
            cadence=row["cadence"],
            at_time=dt.time.fromisoformat(str(row["at_time"])),
            weekday=row["weekday"],
            day=row["day"],
            time_zone=str(row["time_zone"]),
            span=row["span"],
            run_as=None if row["run_as"] is None else int(row["run_as"]),
            next_run_at=row["next_run_at"],
            last_sent_at=row["last_sent_at"],
            last_error=row["last_error"],
        )

    def describe(self) -> str:
        """``weekly on monday at 08:00 Europe/Berlin``."""
        when = {
            "daily": "daily",
            "weekly": f"weekly on {WEEKDAYS[self.weekday or 0]}",
            "monthly": f"monthly on day {self.day}",
        }
        return f"{when[self.cadence]} at {self.at_time.strftime('%H:%M')} {self.time_zone}"


def _runs_on(cadence: str, weekday: int | None, day: int | None, date: dt.date) -> bool:
    if cadence == "daily":
        return True
    if cadence == "weekly":
        return date.weekday() == (weekday or 0)
    last = calendar.monthrange(date.year, date.month)[1]
    return date.day == min(day or 1, last)


def next_run(
    cadence: str,
    at_time: dt.time,
    time_zone: str,
    after: dt.datetime,
    *,
    weekday: int | None = None,
    day: int | None = None,
) -> dt.datetime:
    """The first time after ``after`` the schedule runs (in UTC)."""
    zone = zoneinfo.ZoneInfo(time_zone)
    date = after.astimezone(zone).date()
    for _ in range(400):
        if _runs_on(cadence, weekday, day, date):
            moment = dt.datetime.combine(date, at_time, zone).astimezone(dt.UTC)
            if moment > after:
                return moment
        date += dt.timedelta(days=1)
    raise AssertionError("a schedule runs at least once a month")  # pragma: no cover


def previous_period(schedule: Schedule, due: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The day, week or month (local) that ended before the delivery due at ``due``."""
    zone = zoneinfo.ZoneInfo(schedule.time_zone)
    today = due.astimezone(zone).date()
    if schedule.cadence == "daily":
        start, end = today - dt.timedelta(days=1), today
    elif schedule.cadence == "weekly":
        end = today - dt.timedelta(days=today.weekday())
        start = end - dt.timedelta(days=7)
    else:
        end = today.replace(day=1)
        start = (end - dt.timedelta(days=1)).replace(day=1)
    midnight = dt.time()
    return dt.datetime.combine(start, midnight, zone), dt.datetime.combine(end, midnight, zone)


def _checked(
    recipients: list[str], format: str, cadence: str, at: str, time_zone: str, weekday: Any, day: Any, span: str
) -> tuple[list[str], dt.time, int | None, int | None]:
    errors: list[FieldError] = []
    addresses: list[str] = []
    if not recipients:
        errors.append(FieldError("recipients", "required", "give at least one address"))
    for index, address in enumerate(recipients[:MAX_RECIPIENTS]):
        try:
            bare = parseaddr(str(address))[1] or str(address)  # "Ann <ann@example.com>" is ann@example.com
            addresses.append(validate_email(bare, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            errors.append(FieldError(f"recipients[{index}]", "invalid", str(exc)))
    if len(recipients) > MAX_RECIPIENTS:
        errors.append(FieldError("recipients", "invalid", f"at most {MAX_RECIPIENTS} addresses"))
    for name, value, allowed in (("format", format, FORMATS), ("cadence", cadence, CADENCES), ("span", span, SPANS)):
        if value not in allowed:
            errors.append(FieldError(name, "invalid", f"one of: {', '.join(allowed)}"))
    at_time = dt.time(8)
    try:
        at_time = dt.time.fromisoformat(at)
        if at_time.second or at_time.microsecond or at_time.tzinfo:
            raise ValueError
    except (TypeError, ValueError):
        errors.append(FieldError("at", "invalid", "a local time as HH:MM, e.g. 08:00"))
    try:
        check_time_zone(time_zone)
    except ValidationFailed as exc:
        errors += exc.errors
    if cadence == "weekly":
        if isinstance(weekday, str) and weekday.lower() in WEEKDAYS:
            weekday = WEEKDAYS.index(weekday.lower())
        if not isinstance(weekday, int) or not 0 <= weekday <= 6:
            errors.append(FieldError("weekday", "invalid", "a weekly schedule needs a weekday (monday … sunday)"))
    else:
        weekday = None
    if cadence == "monthly":
        if not isinstance(day, int) or not 1 <= day <= 31:
            errors.append(FieldError("day", "invalid", "a monthly schedule needs a day of the month, 1-31"))
    else:
        day = None
    if errors:
        raise ValidationFailed(errors)
    return addresses, at_time, weekday, day


async def create_schedule(
    kith: Kith,
    report_id: int,
    *,
    recipients: list[str],
    format: str = "csv",
    cadence: str = "daily",
    at: str = "08:00",
    time_zone: str = "UTC",
    weekday: int | str | None = None,
    day: int | None = None,
    span: str = "all",
    run_as: int | None = None,
    permissions: Permissions | None = None,
    now: dt.datetime | None = None,
) -> Schedule:
    """Schedule the saved report ``report_id`` for delivery; its figures are computed as
    ``run_as`` (default: the person scheduling it; None with no one: the system).  Only
    the report's owner or an admin may schedule it, and only an admin for someone else.
    The first delivery is queued in the same transaction."""
    from kith.core.reports.store import get_report, require_change

    addresses, at_time, weekday_number, day_number = _checked(
        list(recipients), format, cadence, at, time_zone, weekday, day, span
    )
    if not kith.settings.mail_from:
        raise ValidationFailed.single(
            None, "unsupported", "mail_from is not set (KITH_MAIL_FROM): scheduled reports could not be sent"
        )
    caller = None if permissions is None else permissions.principal.user_id
    owner = run_as if run_as is not None else caller
    if permissions is not None and not permissions.unrestricted and owner != caller:
        raise ValidationFailed.single("runAs", "forbidden", "only an admin may schedule a report as someone else")
    if owner is not None:
        user = await kith.db.fetch_one(
            QueryString("SELECT id FROM kith_user WHERE id = {} AND deleted_at IS NULL", int(owner))
        )
        if user is None:
            raise ValidationFailed.single("runAs", "not_found", f"no user {owner}")
    now = now or dt.datetime.now(dt.UTC)
    first = next_run(cadence, at_time, time_zone, now, weekday=weekday_number, day=day_number)
    async with kith.db.write_transaction():
        report = await get_report(kith, report_id)
        require_change(report, permissions)
        row = await kith.db.fetch_one(
            QueryString(
                f'INSERT INTO "{SCHEDULE_TABLE}" (report, recipients, format, cadence, at_time, weekday, day, '
                "time_zone, span, run_as, next_run_at, created_at, updated_at) "
                "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
                report.id,
                dumps(addresses),
                format,
                cadence,
                at_time.strftime("%H:%M"),
                weekday_number,
                day_number,
                time_zone,
                span,
                owner,
                first,
                now,
                now,
            )
        )
        assert row is not None
        schedule = Schedule.from_row(row)
        await queue_delivery(kith, schedule.id, first)
    return schedule


async def queue_delivery(kith: Kith, schedule_id: int, due: dt.datetime) -> bool:
    """Queue the delivery of ``schedule_id`` due at ``due`` (once: keyed by both)."""
    from kith.core.storage.outbox import enqueue

    return await enqueue(
        kith.db,
        DELIVER_JOB,
        entity="report_schedule",
        record_id=schedule_id,
        payload={"schedule": schedule_id, "due": due.astimezone(dt.UTC).isoformat()},
        key=f"{DELIVER_JOB}:{schedule_id}:{due.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%S')}",
        available_at=due,
        depth=0,
    )


async def get_schedule(kith: Kith, schedule_id: int) -> Schedule:
    row = await kith.db.fetch_one(QueryString(f'SELECT * FROM "{SCHEDULE_TABLE}" WHERE id = {{}}', int(schedule_id)))
    if row is None:
        raise NotFound("report schedule", schedule_id)
    return Schedule.from_row(row)


async def list_schedules(kith: Kith, report_id: int | None = None) -> list[Schedule]:
    """The schedules (of one report), by id."""
    if report_id is None:
        rows = await kith.db.fetch(QueryString(f'SELECT * FROM "{SCHEDULE_TABLE}" ORDER BY id'))
    else:
        rows = await kith.db.fetch(
            QueryString(f'SELECT * FROM "{SCHEDULE_TABLE}" WHERE report = {{}} ORDER BY id', int(report_id))
        )
    return [Schedule.from_row(row) for row in rows]


async def delete_schedule(kith: Kith, schedule_id: int, permissions: Permissions | None = None) -> Schedule:
    """Stop a schedule (the report's owner or an admin); a delivery already queued for it
    finds it gone and sends nothing."""
    from kith.core.reports.store import get_report, require_change

    async with kith.db.write_transaction():
        schedule = await get_schedule(kith, schedule_id)
        require_change(await get_report(kith, schedule.report), permissions)
        await kith.db.fetch(QueryString(f'DELETE FROM "{SCHEDULE_TABLE}" WHERE id = {{}}', schedule.id))
    return schedule
