"""GraphQL for automations: rules as data, dry runs, runs and the dead-letter list.

Rules travel as JSON (the same structure as the YAML files), so one definition format
serves the CLI, GraphQL and plugins.

Every field here, read or write, first calls ``_require_manager``: only admins and
roles with the ``manage_automations`` capability see rules, dry runs (rendered as the
system or a rule's ``run_as`` user), run history and the dead-letter list, whose
contents are not limited by the caller's own record scope.  Queries refuse with a
``forbidden`` error; mutations answer it in their ``errors``.
"""

import datetime
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kith.core.automations import service
from kith.core.errors import ValidationFailed
from kith.core.graphql.common import UserError
from kith.core.security.roles import MANAGE_AUTOMATIONS


@strawberry.type(description="An automation rule.")
class AutomationRule:
    name: str
    description: str
    trigger: str = strawberry.field(description="The trigger, in words.")
    enabled: bool
    source: str = strawberry.field(description="admin, or plugin:<name> for rules a plugin ships.")
    version: int
    definition: JSON = strawberry.field(description="The rule as data (the YAML structure).")


@strawberry.type
class AutomationRulePayload:
    rule: Optional[AutomationRule]
    errors: list[UserError]


@strawberry.type
class AutomationDryRunItem:
    record_id: Optional[strawberry.ID]
    label: str
    actions: list[str] = strawberry.field(description="What each action would do to this record.")


@strawberry.type(description="What a rule would do to existing records; nothing is changed.")
class AutomationDryRun:
    total: int = strawberry.field(description="How many records the conditions match.")
    items: list[AutomationDryRunItem]
    errors: list[UserError]


@strawberry.type(description="One attempt of one rule on one record.")
class AutomationRun:
    id: strawberry.ID
    rule: str
    entity: Optional[str]
    record_id: Optional[strawberry.ID]
    attempt: int
    status: str = strawberry.field(description="succeeded, skipped, waiting, retrying, failed or dead.")
    actions: JSON
    error: Optional[str]
    started_at: Optional[datetime.datetime]
    duration_ms: int


@strawberry.type(description="A job that failed every attempt (the dead-letter list).")
class FailedAutomationJob:
    id: strawberry.ID
    rule: Optional[str]
    entity: str
    record_id: Optional[strawberry.ID]
    attempts: int
    error: str
    created_at: Optional[datetime.datetime]


@strawberry.type
class AutomationJobPayload:
    ok: bool
    errors: list[UserError]


def _rule(info: service.RuleInfo) -> AutomationRule:
    return AutomationRule(
        name=info.name,
        description=info.description,
        trigger=info.trigger,
        enabled=info.enabled,
        source=info.source,
        version=info.version,
        definition=JSON(info.definition),
    )


def _require_manager(info: Info) -> None:
    """Refuse unless the caller manages automations (admins and the system always do)."""
    context = info.context
    if context.principal is None or context.principal.is_admin:
        return
    if context.permissions is None:  # a signed-in non-admin always has permissions; be safe
        raise ValidationFailed.single(None, "forbidden", "you may not manage automations")
    context.permissions.require_capability(MANAGE_AUTOMATIONS, "manage automations")


def _errors(exc: ValidationFailed) -> list[UserError]:
    return [UserError.from_error(e) for e in exc.errors]


@strawberry.type
class AutomationQueries:
    @strawberry.field(description="Every automation rule.")
    async def automation_rules(self, info: Info) -> list[AutomationRule]:
        _require_manager(info)
        return [_rule(r) for r in await service.list_rules(info.context.kith)]

    @strawberry.field(description="Dry run of a saved rule (by name) or of a definition not yet saved.")
    async def automation_dry_run(
        self, info: Info, name: Optional[str] = None, definition: Optional[JSON] = None, limit: int = 20
    ) -> AutomationDryRun:
        _require_manager(info)
        target: Any = definition if definition is not None else name
        if target is None:
            return AutomationDryRun(
                total=0,
                items=[],
                errors=[UserError(field="name", code="required", message="give a rule name or a definition")],
            )
        try:
            total, items = await service.dry_run(info.context.kith, target, max(0, min(limit, 100)))
        except ValidationFailed as exc:
            return AutomationDryRun(total=0, items=[], errors=_errors(exc))
        return AutomationDryRun(
            total=total,
            items=[
                AutomationDryRunItem(
                    record_id=strawberry.ID(str(i.record_id)) if i.record_id else None, label=i.label, actions=i.actions
                )
                for i in items
            ],
            errors=[],
        )

    @strawberry.field(description="Recent runs, newest first, of one rule and/or one record.")
    async def automation_runs(
        self, info: Info, rule: Optional[str] = None, record_id: Optional[strawberry.ID] = None, limit: int = 50
    ) -> list[AutomationRun]:
        _require_manager(info)
        rows = await service.runs(
            info.context.kith, rule, int(record_id) if record_id else None, max(0, min(limit, 500))
        )
        return [
            AutomationRun(
                id=strawberry.ID(str(r["id"])),
                rule=r["rule"],
                entity=r["entity"],
                record_id=strawberry.ID(str(r["record_id"])) if r["record_id"] is not None else None,
                attempt=r["attempt"],
                status=r["status"],
                actions=r["actions"],
                error=r["error"],
                started_at=r["started_at"],
                duration_ms=r["duration_ms"],
            )
            for r in rows
        ]

    @strawberry.field(description="Jobs that failed every attempt; replay with retryAutomationJob.")
    async def failed_automation_jobs(self, info: Info) -> list[FailedAutomationJob]:
        _require_manager(info)
        return [
            FailedAutomationJob(
                id=strawberry.ID(str(j.id)),
                rule=j.rule,
                entity=j.entity,
                record_id=strawberry.ID(str(j.record_id)) if j.record_id is not None else None,
                attempts=j.attempts,
                error=j.error,
                created_at=j.created_at,
            )
            for j in await service.failed_jobs(info.context.kith)
        ]


@strawberry.type
class AutomationMutations:
    @strawberry.mutation(description="Create or replace a rule from its definition (the YAML structure as JSON).")
    async def apply_automation_rule(self, info: Info, definition: JSON) -> AutomationRulePayload:
        kith = info.context.kith
        try:
            _require_manager(info)
        except ValidationFailed as exc:
            return AutomationRulePayload(rule=None, errors=_errors(exc))
        if not isinstance(definition, dict):
            return AutomationRulePayload(
                rule=None, errors=[UserError(field="definition", code="invalid", message="must be an object")]
            )
        try:
            rule, _created = await service.apply_rule(kith, definition)
        except ValidationFailed as exc:
            return AutomationRulePayload(rule=None, errors=_errors(exc))
        return AutomationRulePayload(rule=_rule(await service.get_rule(kith, rule.name)), errors=[])

    @strawberry.mutation(description="Enable or disable a rule.")
    async def set_automation_rule_enabled(self, info: Info, name: str, enabled: bool) -> AutomationRulePayload:
        kith = info.context.kith
        try:
            _require_manager(info)
            await service.set_enabled(kith, name, enabled)
            return AutomationRulePayload(rule=_rule(await service.get_rule(kith, name)), errors=[])
        except ValidationFailed as exc:
            return AutomationRulePayload(rule=None, errors=_errors(exc))

    @strawberry.mutation(description="Delete a rule.")
    async def delete_automation_rule(self, info: Info, name: str) -> AutomationJobPayload:
        return await _job_change(lambda: service.delete_rule(info.context.kith, name), info)

    @strawberry.mutation(description="Queue a rule now on records, by id and/or by filter (the manual trigger).")
    async def run_automation_rule(
        self, info: Info, name: str, record_ids: Optional[list[strawberry.ID]] = None, filter: Optional[JSON] = None
    ) -> AutomationJobPayload:
        async def run() -> None:
            ids = [int(i) for i in record_ids or []]
            await service.run_on(info.context.kith, name, ids, filter if isinstance(filter, dict) else None)

        return await _job_change(run, info)

    @strawberry.mutation(description="Put a failed job back in the queue, due now.")
    async def retry_automation_job(self, info: Info, id: strawberry.ID) -> AutomationJobPayload:
        return await _job_change(lambda: service.retry_job(info.context.kith, int(id)), info)

    @strawberry.mutation(description="Drop a failed job for good.")
    async def discard_automation_job(self, info: Info, id: strawberry.ID) -> AutomationJobPayload:
        return await _job_change(lambda: service.discard_job(info.context.kith, int(id)), info)


async def _job_change(action: Any, info: Info) -> AutomationJobPayload:
    try:
        _require_manager(info)
        await action()
    except ValidationFailed as exc:
        return AutomationJobPayload(ok=False, errors=_errors(exc))
    except ValueError:
        return AutomationJobPayload(ok=False, errors=[UserError(field="id", code="invalid", message="not an id")])
    return AutomationJobPayload(ok=True, errors=[])
