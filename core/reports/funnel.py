"""Funnel reports: how many records reach each step (lead → qualified lead → deal →
won deal), and what share of the step before and of the first step that is.

Each step is a count of its entity's records matching its filter, read as the reader
(their scope, hidden fields read as empty), with the dashboard's filter and date range
applied as to any report; all steps are counted by one statement.  The steps are
counted independently: a funnel says how many records are at each stage, not which
record moved from one to the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import FieldError, ValidationFailed
from kith.core.reports.aggregates import Applied, conditions, entity_of
from kith.core.reports.definition import ReportDefinition
from kith.core.reports.result import ReportColumn, ReportResult, ratio

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

COLUMNS = [
    ReportColumn("step", "Step", "dimension"),
    ReportColumn("count", "Count", "measure"),
    ReportColumn("fromPrevious", "From the step before", "measure"),
    ReportColumn("fromFirst", "From the first step", "measure"),
]


def statement(
    kith: Kith, report: ReportDefinition, permissions: Permissions | None, applied: Applied = Applied()
) -> QueryString:
    """One statement counting every step (``s0``, ``s1``…); refuses a step that names an
    unknown entity or field, or one the reader may not read, naming the step."""
    errors: list[FieldError] = []
    counts: list[QueryString] = []
    for index, step in enumerate(report.steps):
        where_is = f"steps[{index}]"
        try:
            entity = entity_of(kith, step.entity, f"{where_is}.entity")
            if permissions is not None and not permissions.allows(entity.name, "read"):
                raise ValidationFailed.single(
                    f"{where_is}.entity", "forbidden", f"you may not read {entity.name} records"
                )
        except ValidationFailed as exc:
            errors += exc.errors
            continue
        try:  # the dashboard's filter and date range: their errors are not the step's
            extra = conditions(
                kith,
                entity,
                applied,
                permissions,
                date_field=report.date_field or "createdAt",
                time_zone=report.time_zone,
            )
        except ValidationFailed as exc:
            errors += [e for e in exc.errors if e not in errors]
            continue
        try:
            where = kith.query.where(entity, step.filter, extra=extra, viewer=permissions)
        except ValidationFailed as exc:
            errors += [FieldError(f"{where_is}.{e.field}", e.code, e.message) for e in exc.errors]
            continue
        counts.append(QueryString(f'(SELECT COUNT(*) FROM "{entity.tablename}" t WHERE {{}}) AS s{index}', where))
    if errors:
        raise ValidationFailed(errors)
    return QueryString("SELECT " + ", ".join("{}" for _ in counts), *counts)


async def run(kith: Kith, report: ReportDefinition, permissions: Permissions | None, applied: Applied) -> ReportResult:
    row = await kith.db.fetch_one(statement(kith, report, permissions, applied))
    assert row is not None
    rows: list[dict[str, Any]] = []
    first: int | None = None
    previous: int | None = None
    for index, step in enumerate(report.steps):
        count = int(row[f"s{index}"] or 0)
        rows.append(
            {
                "step": step.label,
                "count": count,
                "fromPrevious": None if previous is None else ratio(count, previous),
                "fromFirst": None if first is None else ratio(count, first),
            }
        )
        first = count if first is None else first
        previous = count
    return ReportResult(list(COLUMNS), rows)
