"""GraphQL for reports: ``reports``, ``report(id)``, ``runReport``, ``saveReport`` and
``deleteReport``.

Every signed-in caller may list and read saved reports (questions, not figures); the
figures come from ``runReport``, computed as the caller, so each sees only what their
own permissions let them see.  Changing or deleting a saved report is for its owner
and admins.  ``runReport`` takes a saved report's ``id`` or a ``definition`` to try one
out before saving it, plus what a dashboard applies to all its reports: a date range
and a filter.
"""

import datetime
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kith.core.errors import NotFound, ValidationFailed
from kith.core.graphql.common import UserError
from kith.core.graphql.convert import record_id
from kith.core.reports import store
from kith.core.reports.definition import parse_definition
from kith.core.reports.runner import run_report, run_saved_report


@strawberry.type(description="A saved report: a question about the records, answered by `runReport` as whoever asks.")
class Report:
    id: strawberry.ID
    name: str
    description: str
    definition: JSON = strawberry.field(description="The report definition (docs/reports.md): kind and its parts.")
    kind: str = strawberry.field(description="aggregate, funnel, cohort or source.")
    owner_id: Optional[strawberry.ID] = strawberry.field(
        description="The user who saved it (they and admins may change it); null for the system's."
    )
    created_at: Optional[datetime.datetime]
    updated_at: Optional[datetime.datetime]


@strawberry.type(description="One column of a report's result.")
class ReportResultColumn:
    name: str = strawberry.field(description="The key of this column in each row.")
    label: str
    kind: str = strawberry.field(description="dimension (what a row is about) or measure (a number about it).")


@strawberry.type(description="A report's figures, computed as you: columns, and rows keyed by column name.")
class ReportResult:
    columns: list[ReportResultColumn]
    rows: JSON = strawberry.field(description="A list of objects keyed by column name (numbers, text, null).")


@strawberry.input(description="A saved report's name, description and definition.")
class ReportInput:
    name: str
    definition: JSON = strawberry.field(description="The report definition (docs/reports.md).")
    description: str = ""


@strawberry.type
class ReportPayload:
    report: Optional[Report]
    errors: list[UserError]


def _report(saved: store.SavedReport) -> Report:
    return Report(
        id=strawberry.ID(str(saved.id)),
        name=saved.name,
        description=saved.description,
        definition=JSON(saved.definition.to_json()),
        kind=saved.definition.kind,
        owner_id=None if saved.owner is None else strawberry.ID(str(saved.owner)),
        created_at=saved.created_at,
        updated_at=saved.updated_at,
    )


def _definition(value: Any) -> dict[str, Any]:
    """A definition sent as JSON: an object (or its text)."""
    if isinstance(value, str):
        return parse_definition(value, "definition").to_json()
    if not isinstance(value, dict):
        raise ValidationFailed.single("definition", "invalid", "a report definition is a JSON object")
    return value


def _filter(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed.single("filter", "invalid", "a filter is a JSON object")
    return value


def _failed(exc: ValidationFailed) -> ReportPayload:
    return ReportPayload(report=None, errors=[UserError.from_error(e) for e in exc.errors])


@strawberry.type
class ReportQueries:
    @strawberry.field(description="Every saved report, by name (their figures: `runReport(id: …)`).")
    async def reports(self, info: Info) -> list[Report]:
        context = info.context
        return [_report(r) for r in await store.list_reports(context.kith, context.permissions)]

    @strawberry.field(description="One saved report, or null when there is none with this id.")
    async def report(self, info: Info, id: strawberry.ID) -> Optional[Report]:
        context = info.context
        try:
            return _report(await store.get_report(context.kith, record_id(id), context.permissions))
        except NotFound:
            return None

    @strawberry.field(
        description="The figures of a saved report (`id`) or of a `definition`, computed as you: only records "
        "you may read count, fields hidden from you count as empty. `dateFrom` (included) and `dateTo` "
        "(excluded) apply to the report's date field; `filter` is ANDed with the report's own, where the "
        "report's entity has the fields it names. Bad input is a BAD_USER_INPUT error naming the part."
    )
    async def run_report(
        self,
        info: Info,
        id: Optional[strawberry.ID] = None,
        definition: Optional[JSON] = None,
        date_from: Optional[datetime.datetime] = None,
        date_to: Optional[datetime.datetime] = None,
        filter: Optional[JSON] = None,
    ) -> ReportResult:
        context = info.context
        if (id is None) == (definition is None):
            raise ValidationFailed.single("id", "invalid", "give either a saved report's id or a definition")
        extra = _filter(filter)
        if id is not None:
            result = await run_saved_report(
                context.kith, record_id(id), context.permissions, date_from=date_from, date_to=date_to, filter=extra
            )
        else:
            result = await run_report(
                context.kith,
                _definition(definition),
                context.permissions,
                date_from=date_from,
                date_to=date_to,
                filter=extra,
            )
        return ReportResult(
            columns=[ReportResultColumn(name=c.name, label=c.label, kind=c.kind) for c in result.columns],
            rows=JSON(result.rows),
        )


@strawberry.type
class ReportMutations:
    @strawberry.mutation(
        description="Save a report (no `id`) or change one (its owner or an admin). The definition is checked "
        "as you save it: an unknown entity, field or source is an error naming the part (definition.groupBy[0])."
    )
    async def save_report(self, info: Info, input: ReportInput, id: Optional[strawberry.ID] = None) -> ReportPayload:
        context = info.context
        try:
            saved = await store.save_report(
                context.kith,
                input.name,
                _definition(input.definition),
                context.permissions,
                description=input.description,
                report_id=None if id is None else record_id(id),
                owner=None if context.principal is None else context.principal.user_id,
            )
        except ValidationFailed as exc:
            return _failed(exc)
        return ReportPayload(report=_report(saved), errors=[])

    @strawberry.mutation(description="Delete a saved report and its delivery schedules (its owner or an admin).")
    async def delete_report(self, info: Info, id: strawberry.ID) -> ReportPayload:
        context = info.context
        try:
            deleted = await store.delete_report(context.kith, record_id(id), context.permissions)
        except ValidationFailed as exc:
            return _failed(exc)
        return ReportPayload(report=_report(deleted), errors=[])
