"""Delivering a scheduled report: the worker's ``kith.reports.deliver`` job.

A delivery runs the saved report as the schedule's owner (their permissions, as if they
opened it), writes it as CSV or XLSX, and in one transaction: moves the schedule on to
its next time (a compare-and-set on the time this delivery was due), stores the file,
queues the mail with it attached (the mail service's outbox: the worker sends it over
SMTP, retrying what fails) and queues the next delivery.  So:

- a crash before that transaction commits leaves nothing behind, and the job, still
  pending, is run again;
- a crash after it, before the worker marked the job done, leads to a second run that
  finds the schedule already moved on and does nothing: no report is mailed twice;
- a deleted or changed schedule leaves its queued delivery stale, and it does nothing.

A worker that was down for days does not mail every missed day: the next time is the
first one after now.  A report that can no longer run (a field it uses was removed, its
owner was deactivated) is not mailed; the schedule records why (``last_error``, shown by
``kith reports schedule list``) and tries again at its next time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import KithError, NotFound
from kith.core.files import store_file
from kith.core.records.export_xlsx import XlsxWriter
from kith.core.reports.result import ReportResult
from kith.core.reports.schedules import (
    SCHEDULE_TABLE,
    Schedule,
    get_schedule,
    next_run,
    previous_period,
    queue_delivery,
)

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

log = logging.getLogger("kith.reports")

CONTENT_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def as_csv(result: ReportResult) -> bytes:
    """The result as CSV (UTF-8 with a byte order mark, so spreadsheets read accents),
    the column labels as the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([column.label for column in result.columns])
    for row in result.rows:
        writer.writerow(["" if row.get(c.name) is None else row.get(c.name) for c in result.columns])
    return ("\ufeff" + buffer.getvalue()).encode()


def as_xlsx(result: ReportResult, title: str) -> bytes:
    """The result as a workbook: numbers as numbers, text always as text."""
    writer = XlsxWriter(title, [column.label for column in result.columns])
    writer.append([[row.get(c.name) for c in result.columns] for row in result.rows])
    buffer = io.BytesIO()
    writer.save(buffer)
    return buffer.getvalue()


def file_name(name: str, due: dt.datetime, extension: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "report"
    return f"{slug}-{due.strftime('%Y-%m-%d')}.{extension}"


async def permissions_of(kith: Kith, user_id: int | None) -> Permissions | None:
    """What the schedule's owner may see (None: the system, every record)."""
    if user_id is None:
        return None
    from kith.core.security.permissions import permissions_for

    principal = await kith.auth.principal_for_user(user_id, "token")
    return await permissions_for(kith, principal)


async def deliver_job(kith: Kith, row: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    """The worker's handler of one delivery (``INTERNAL_JOBS``)."""
    await deliver(kith, int(payload["schedule"]), dt.datetime.fromisoformat(str(payload["due"])))


async def deliver(kith: Kith, schedule_id: int, due: dt.datetime, *, now: dt.datetime | None = None) -> bool:
    """Mail the report of ``schedule_id`` due at ``due``; False when the delivery is
    stale (done before, or the schedule changed or is gone)."""
    from kith.core.mail.outbound import Mail
    from kith.core.reports.runner import run_saved_report
    from kith.core.reports.store import get_report

    now = now or dt.datetime.now(dt.UTC)
    try:
        schedule = await get_schedule(kith, schedule_id)
        report = await get_report(kith, schedule.report)
    except NotFound:
        return False
    if schedule.next_run_at is None or schedule.next_run_at != due:
        return False
    following = _next(schedule, max(due, now))
    span = previous_period(schedule, due) if schedule.span == "previous" else (None, None)
    data: bytes | None = None
    error: str | None = None
    try:
        permissions = await permissions_of(kith, schedule.run_as)
        result = await run_saved_report(kith, report.id, permissions, date_from=span[0], date_to=span[1])
        data = as_csv(result) if schedule.format == "csv" else as_xlsx(result, report.name)
    except KithError as exc:  # ValidationFailed too: the report cannot run as it stands
        error = str(exc) or type(exc).__name__
        log.warning("scheduled report %s (schedule %s) was not sent: %s", report.id, schedule.id, error)
    async with kith.db.write_transaction():
        claimed = await kith.db.fetch(
            QueryString(
                f'UPDATE "{SCHEDULE_TABLE}" SET next_run_at = {{}}, last_error = {{}}, '
                "last_sent_at = CASE WHEN {} THEN {} ELSE last_sent_at END, updated_at = {} "
                "WHERE id = {} AND next_run_at = {} RETURNING id",
                following,
                error,
                data is not None,
                now,
                now,
                schedule.id,
                due,
            )
        )
        if not claimed:
            return False  # another run of this delivery got here first
        if data is not None:
            stamp = due.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")
            stored = await store_file(
                kith.db,
                data,
                name=file_name(report.name, due, schedule.format),
                content_type=CONTENT_TYPES[schedule.format],
                key=f"kith.reports:{schedule.id}:{stamp}",
            )
            await Mail(kith).send(_mail(report.name, report.description, schedule, span, stored.id))
        await queue_delivery(kith, schedule.id, following)
    return data is not None


def _next(schedule: Schedule, after: dt.datetime) -> dt.datetime:
    return next_run(
        schedule.cadence, schedule.at_time, schedule.time_zone, after, weekday=schedule.weekday, day=schedule.day
    )


def _mail(
    name: str, description: str, schedule: Schedule, span: tuple[dt.datetime | None, dt.datetime | None], file_id: int
) -> Any:
    from kith.core.mail.outbound import OutboundMail

    start, end = span
    period = ""
    if start is not None and end is not None:
        last = (end - dt.timedelta(days=1)).date()
        period = f" ({start.date().isoformat()} to {last.isoformat()})" if last != start.date() else f" ({last})"
    lines = [f"{name}{period}, attached as {schedule.format.upper()}."]
    if description:
        lines += ["", description]
    lines += ["", f"Sent {schedule.describe()}. Ask the report's owner to change or stop this mail."]
    return OutboundMail(
        to=list(schedule.recipients),
        subject=f"{name}{period}",
        text="\n".join(lines),
        attachments=[file_id],
        headers={"X-Kith-Report": str(schedule.report)},
    )
