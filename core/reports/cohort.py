"""Cohort reports: records grouped by the month of their first activity, and how many of
each cohort were active again 1, 2, 3… months later.

A record's activity is its timeline (the ``activity`` entity, ``subject_type`` /
``subject_id``); months are calendar months in the report's time zone.  One statement
does it: the activities the reader may see (matching ``activityFilter``) of the records
the reader may see (matching ``filter`` and the dashboard's filter), each with its month
as a number; each record's first month; and per cohort and month after, how many
different records had an activity then.  A month that has not ended yet for a cohort
(it is in the future) is empty, not zero.  The dashboard's date range picks the cohorts
whose first month falls in it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import FieldError, ValidationFailed
from kith.core.records.aggregate import bucket_sql, operand
from kith.core.records.filters import FilterCompiler
from kith.core.records.local_time import check_time_zone
from kith.core.records.query import ALIAS
from kith.core.reports.aggregates import Applied, entity_of
from kith.core.reports.definition import ReportDefinition
from kith.core.reports.result import ReportColumn, ReportResult
from kith.core.reports.scope import narrowed

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

DEFAULT_ENTITY = "contact"


def columns(months: int) -> list[ReportColumn]:
    return [
        ReportColumn("cohort", "First active", "dimension"),
        ReportColumn("size", "Records", "measure"),
        *(ReportColumn(f"month_{k}", f"Month {k}", "measure") for k in range(1, months + 1)),
    ]


def _month_number(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_text(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def statement(
    kith: Kith, report: ReportDefinition, permissions: Permissions | None, applied: Applied = Applied()
) -> QueryString:
    errors: list[FieldError] = []
    try:
        entity = entity_of(kith, report.entity or DEFAULT_ENTITY)
        if not entity.timeline:
            raise ValidationFailed.single("entity", "invalid", f"{entity.name} records have no timeline of activities")
        activity = kith.entities.get("activity")
        if permissions is not None:
            for name in (entity.name, activity.name):
                if not permissions.allows(name, "read"):
                    raise ValidationFailed.single("entity", "forbidden", f"you may not read {name} records")
    except ValidationFailed as exc:
        raise ValidationFailed(exc.errors) from None
    try:
        check_time_zone(report.time_zone)
    except ValidationFailed as exc:
        errors += exc.errors
    extra: list[QueryString] = []
    try:
        dashboard = narrowed(kith, entity, applied.filter)
        if dashboard:
            extra.append(FilterCompiler(kith.query.ctx, permissions).compile(entity, dashboard, ALIAS))
        records = kith.query.where(entity, report.filter, extra=extra, viewer=permissions)
    except ValidationFailed as exc:
        errors += exc.errors
    try:
        activities = kith.query.where(activity, report.activity_filter, viewer=permissions)
    except ValidationFailed as exc:
        errors += [
            FieldError("activityFilter" + (e.field or "").removeprefix("filter"), e.code, e.message) for e in exc.errors
        ]
    if errors:
        raise ValidationFailed(errors)
    postgres = kith.db.dialect.is_postgres
    occurred, _kind = operand(kith.query, activity, "occurredAt", "activityFilter", permissions)
    month = bucket_sql(postgres, occurred, "month", report.time_zone, "datetime")
    number = f"(CAST(substr({month}, 1, 4) AS INTEGER) * 12 + CAST(substr({month}, 6, 2) AS INTEGER) - 1)"
    subject_type, subject_id = activity.attachment or ("subject_type", "subject_id")
    cohorts = _cohort_bounds(applied, report.time_zone)
    return QueryString(
        f'WITH acts AS (SELECT {ALIAS}."{subject_id}" AS sid, {number} AS mi '
        f'FROM "{activity.tablename}" {ALIAS} WHERE {{}} AND {ALIAS}."{subject_type}" = {{}} '
        f'AND {ALIAS}."{subject_id}" IN (SELECT {ALIAS}.id FROM "{entity.tablename}" {ALIAS} WHERE {{}})), '
        "firsts AS (SELECT sid, MIN(mi) AS c FROM acts WHERE mi IS NOT NULL GROUP BY sid) "
        "SELECT f.c AS cohort, a.mi - f.c AS k, COUNT(DISTINCT a.sid) AS n "
        "FROM firsts f JOIN acts a ON a.sid = f.sid "
        f"WHERE a.mi - f.c BETWEEN 0 AND {int(report.months)} AND f.c BETWEEN {cohorts[0]} AND {cohorts[1]} "
        "GROUP BY f.c, a.mi - f.c ORDER BY 1, 2",
        activities,
        entity.name,
        records,
    )


def _cohort_bounds(applied: Applied, time_zone: str) -> tuple[int, int]:
    """The first and last cohort month (as numbers) the date range covers."""
    zone = zoneinfo.ZoneInfo(time_zone)
    low, high = 0, 10_000 * 12
    if applied.date_from is not None:
        low = _month_number(applied.date_from.astimezone(zone).date())
    if applied.date_to is not None:
        high = _month_number((applied.date_to - dt.timedelta(microseconds=1)).astimezone(zone).date())
    return low, high


async def run(kith: Kith, report: ReportDefinition, permissions: Permissions | None, applied: Applied) -> ReportResult:
    found: dict[int, dict[int, int]] = {}
    for counted in await kith.db.fetch(statement(kith, report, permissions, applied)):
        found.setdefault(int(counted["cohort"]), {})[int(counted["k"])] = int(counted["n"])
    now = _month_number(dt.datetime.now(zoneinfo.ZoneInfo(report.time_zone)).date())
    rows: list[dict[str, Any]] = []
    for cohort in sorted(found):
        counts = found[cohort]
        row: dict[str, Any] = {"cohort": _month_text(cohort), "size": counts.get(0, 0)}
        for k in range(1, report.months + 1):
            row[f"month_{k}"] = None if cohort + k > now else counts.get(k, 0)
        rows.append(row)
    return ReportResult(columns(report.months), rows)
