"""Running a report as a reader: ``run_report`` and ``run_saved_report``.

Every figure is computed as the reader — the ``Permissions`` a GraphQL resolver has for
its caller (None: the system, unrestricted) — so a user whose scope is ``own`` sees
figures of their own records only, and a field hidden from them counts as empty.  A
saved report holds no figures and no one's permissions: whoever runs it gets their own
answer.  ``check`` builds a report's statements without running them, which is how a
report is refused when it is saved rather than when someone first looks at it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kith.core.errors import FieldError, ValidationFailed
from kith.core.records.local_time import check_time_zone
from kith.core.reports import aggregates, cohort, funnel
from kith.core.reports.aggregates import Applied, entity_of
from kith.core.reports.definition import ReportDefinition, parse_definition
from kith.core.reports.result import ReportResult
from kith.core.reports.scope import narrowed
from kith.core.reports.sources import ReportRequest, find, run_source
from kith.core.reports.store import get_report

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions


def _prefixed(errors: list[FieldError], path: str) -> list[FieldError]:
    if not path:
        return errors
    return [FieldError(f"{path}.{e.field}" if e.field else path, e.code, e.message) for e in errors]


def check(kith: Kith, report: ReportDefinition, permissions: Permissions | None = None, *, path: str = "") -> None:
    """Refuse a report that could not run for ``permissions`` (unknown entity, field or
    source, a filter that does not compile, a bad time zone), each error under ``path``."""
    try:
        check_time_zone(report.time_zone)
        if report.kind == "aggregate":
            aggregates.plan(kith, report, permissions)
        elif report.kind == "funnel":
            funnel.statement(kith, report, permissions)
        elif report.kind == "cohort":
            cohort.statement(kith, report, permissions)
        else:
            find(kith, str(report.source))
    except ValidationFailed as exc:
        raise ValidationFailed(_prefixed(exc.errors, path)) from None


async def run_report(
    kith: Kith,
    definition: ReportDefinition | Mapping[str, Any] | str,
    permissions: Permissions | None,
    *,
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    filter: Mapping[str, Any] | None = None,
) -> ReportResult:
    """Run ``definition`` (a ``ReportDefinition`` or its JSON) as ``permissions``.

    ``date_from`` / ``date_to`` (aware datetimes; from included, to excluded) and
    ``filter`` (a GraphQL filter, ANDed with the report's own) are what a dashboard
    applies to all its reports: the range to the report's date field, the filter only
    where the report's entity has the fields it names.  Bad input raises
    ``ValidationFailed`` naming the part (``groupBy[0]``, ``measures[1].field``)."""
    report = parse_definition(definition, "")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise ValidationFailed.single("dateTo", "invalid", "the range ends before it starts")
    applied = Applied(date_from, date_to, filter)
    if report.kind == "aggregate":
        return await aggregates.run(kith, report, permissions, applied)
    if report.kind == "funnel":
        return await funnel.run(kith, report, permissions, applied)
    if report.kind == "cohort":
        return await cohort.run(kith, report, permissions, applied)
    source = find(kith, str(report.source))
    check_time_zone(report.time_zone)
    if filter is not None and not isinstance(filter, Mapping):
        raise ValidationFailed.single("filter", "invalid", "must be an object")

    def narrow(entity: str) -> dict[str, Any] | None:
        return narrowed(kith, entity_of(kith, entity), filter) if entity in kith.entities else None

    request = ReportRequest(dict(report.params), date_from, date_to, report.time_zone, filter, narrow)
    return await run_source(kith, source, permissions, request)


async def run_saved_report(
    kith: Kith,
    report_id: int,
    permissions: Permissions | None,
    *,
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    filter: Mapping[str, Any] | None = None,
) -> ReportResult:
    """Run the saved report ``report_id`` as ``permissions`` (``run_report``'s keywords)."""
    saved = await get_report(kith, report_id, permissions)
    return await run_report(kith, saved.definition, permissions, date_from=date_from, date_to=date_to, filter=filter)
