"""Rules as data: parsing and validating what admins write (YAML or JSON) or plugins
declare, against the running Kith, so that a rule naming an unknown field, action or
parameter is refused with an error that names it.

A rule::

    name: customer-follow-up
    description: When a contact becomes a customer, a task for its owner in 3 days.
    enabled: true
    trigger: {event: contact.updated, changed: lifecycleStage, to: customer}
    conditions: {ownerId: {isNull: false}}          # the GraphQL filter language
    actions:
      - create_record:
          entity: activity
          values: {kind: task, subject: "Follow up with {{ record.first_name }}",
                   subjectType: contact, subjectId: "{{ record.id }}",
                   assigneeId: "{{ record.owner }}", dueAt: "{{ in_days(3) }}"}

Triggers: ``event`` (``<entity>.created|updated|deleted|restored`` or a plugin's domain
event; ``changed`` / ``from`` / ``to`` narrow updates), ``schedule`` (a cron expression,
with ``entity`` to act on each matching record), ``relative`` (``entity``, a date
``field`` and an ``offset`` like ``-3 days``), ``webhook`` (an inbound source), and
``manual`` (``entity``: run on demand).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kith.core.automations import templates
from kith.core.automations.actions import ActionType, Params
from kith.core.entities import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.plugins.context import PluginContext
from kith.core.records.filters import FilterCompiler
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.automations.rendering import TemplateRenderer
    from kith.core.runtime import Kith

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,119}$")
LIFECYCLE = ("created", "updated", "deleted", "restored")
OFFSET = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(minute|hour|day|week)s?\s*$")


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    event: str | None = None
    changed: list[str] | None = None
    from_: Any = Field(None, alias="from")
    to: Any = None
    schedule: str | None = None
    relative: dict[str, Any] | None = None
    webhook: str | None = None
    manual: str | None = None
    entity: str | None = None
    #: a domain event's payload must have these values (``{to_kind: won}``), or meet
    #: these comparisons (``{to: {gte: 80}}``; operators eq, ne, lt, lte, gt, gte, in)
    data: dict[str, Any] | None = None
    #: an update that changed only these fields does not fire (e.g. fields the rule's
    #: own actions write, so that a rule does not wake itself)
    ignore: list[str] | None = None

    @field_validator("changed", "ignore", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def kind(self) -> str:
        for kind in ("event", "schedule", "relative", "webhook", "manual"):
            if getattr(self, kind) is not None:
                return kind
        return "none"


class Step(BaseModel):
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class RuleDefinition(BaseModel):
    """A rule as written, before it is checked against the running Kith."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    enabled: bool = False
    trigger: Trigger
    conditions: dict[str, Any] | None = None
    actions: list[Step] = Field(min_length=1)
    #: email of a user whose grants the rule runs under (None: the system, unrestricted)
    run_as: str | None = None

    @field_validator("actions", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        """``- create_record: {...}`` is short for ``- {action: create_record, params: {...}}``."""
        if not isinstance(value, list):
            return value
        steps = []
        for item in value:
            if isinstance(item, dict) and "action" not in item and len(item) == 1:
                ((name, params),) = item.items()
                steps.append({"action": name, "params": params or {}})
            else:
                steps.append(item)
        return steps


class Rule:
    """A checked rule: its definition plus what the engine needs to run it."""

    def __init__(
        self,
        definition: RuleDefinition,
        entity: Entity | None,
        params: list[Params],
        actions: list[ActionType],
        source: str = "admin",
    ) -> None:
        self.definition = definition
        self.entity = entity
        self.params = params
        self.actions = actions
        self.source = source
        #: the conditions compiled to SQL, by include_deleted (``AutomationEngine.condition_sql``)
        self.compiled: dict[bool, Any] = {}
        self.conditions_templated = templates.contains_template(definition.conditions or {})

    @property
    def name(self) -> str:
        return self.definition.name

    async def conditions_now(self, renderer: TemplateRenderer) -> dict[str, Any] | None:
        """The conditions with their templates rendered for this moment, so a condition
        can say ``{updatedAt: {lt: "{{ in_days(-14) }}"}}``."""
        conditions = self.definition.conditions
        if conditions is None or not templates.contains_template(conditions):
            return conditions
        rendered: dict[str, Any] = await renderer.render(conditions, {})
        return rendered

    @property
    def trigger(self) -> Trigger:
        return self.definition.trigger

    @property
    def trigger_key(self) -> str | None:
        t = self.trigger
        return t.event or t.webhook or (self.entity.name if self.entity else None)

    def matches(self, event: str, payload: dict[str, Any]) -> bool:
        """Does an event of this name (with its ``changes``) fire this rule?"""
        trigger = self.trigger
        if trigger.event != event:
            return False
        if trigger.data and not all(_data_holds(payload.get(key), want) for key, want in trigger.data.items()):
            return False
        changes: dict[str, Any] = payload.get("changes") or {}
        if trigger.ignore and changes and set(changes) <= set(trigger.ignore):
            return False
        for name in trigger.changed or ():
            if name not in changes:
                return False
        if trigger.changed and len(trigger.changed) == 1:
            old, new = changes[trigger.changed[0]]
            if trigger.from_ is not None and old != trigger.from_:
                return False
            if trigger.to is not None and new != trigger.to:
                return False
        return True


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "in": lambda a, b: a in b,
}


def _data_holds(value: Any, want: Any) -> bool:
    if isinstance(want, dict) and want and set(want) <= set(_COMPARISONS):
        try:
            return all(_COMPARISONS[op](value, operand) for op, operand in want.items())
        except TypeError:  # e.g. comparing text with a number: not a match
            return False
    return bool(value == want)


def parse_offset(text: str) -> float:
    """``"-3 days"`` -> seconds."""
    match = OFFSET.match(text or "")
    if not match:
        raise ValueError("must look like '3 days', '-2 hours' or '30 minutes'")
    amount, unit = float(match.group(1)), match.group(2)
    return amount * {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}[unit]


def _field_names(kith: Kith, entity: Entity) -> set[str]:
    names = {graphql_name(spec) for spec in entity.fields.values()}
    names |= {f.path for f in kith.custom_fields.for_entity(entity.name)}
    return names


def _date_fields(kith: Kith, entity: Entity) -> set[str]:
    names = {graphql_name(s) for s in entity.fields.values() if s.kind in (FieldKind.DATE, FieldKind.DATETIME)}
    names |= {"createdAt", "updatedAt"}
    names |= {f.path for f in kith.custom_fields.for_entity(entity.name) if f.type in ("date", "datetime")}
    return names


async def check_rule(kith: Kith, raw: dict[str, Any], source: str = "admin") -> Rule:
    """Parse and check a rule; raises ``ValidationFailed`` naming every problem.

    Asynchronous because templates in the conditions are rendered (under the template
    limits) to check the filter they make."""
    try:
        definition = RuleDefinition.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(
            [FieldError(".".join(str(p) for p in err["loc"]) or None, "invalid", err["msg"]) for err in exc.errors()]
        ) from None
    errors: list[FieldError] = []
    if not NAME.match(definition.name):
        errors.append(FieldError("name", "invalid", "use lowercase letters, digits, '-', '_' and '.'"))
    entity = _check_trigger(kith, definition.trigger, errors)
    if definition.conditions:
        if entity is None:
            errors.append(FieldError("conditions", "invalid", "this trigger has no records to test conditions on"))
        else:
            try:
                templates.check(definition.conditions)
                conditions = await kith.templates.render(definition.conditions, {})
                FilterCompiler(kith.query.ctx).compile(entity, conditions, "t")
            except templates.TemplateProblem as exc:
                errors.append(FieldError("conditions", "invalid", str(exc)))
            except ValidationFailed as exc:
                errors += [FieldError(_under("conditions", e.field, "filter"), e.code, e.message) for e in exc.errors]
    params: list[Params] = []
    actions: list[ActionType] = []
    registry = kith.automations.actions
    context = PluginContext(kith)  # what an action's check reads with, as the system
    for index, step in enumerate(definition.actions):
        path = f"actions[{index}]"
        action = registry.get(step.action)
        if action is None:
            errors.append(
                FieldError(
                    f"{path}.action",
                    "unknown",
                    f"unknown action {step.action!r} (known: {', '.join(sorted(registry))})",
                )
            )
            continue
        try:
            checked = action.params.model_validate(step.params)
        except ValidationError as exc:
            errors += [
                FieldError(f"{path}.{'.'.join(str(p) for p in err['loc'])}".rstrip("."), "invalid", err["msg"])
                for err in exc.errors()
            ]
            continue
        if action.check is not None:
            errors += [
                FieldError(_under(path, e.field), e.code, e.message) for e in action.check(context, entity, checked)
            ]
        params.append(checked)
        actions.append(action)
    if errors:
        raise ValidationFailed(errors)
    return Rule(definition, entity, params, actions, source)


def _under(prefix: str, field: str | None, strip: str | None = None) -> str:
    if not field:
        return prefix
    if strip and field.startswith(strip):
        field = field[len(strip) :].lstrip(".")
    return f"{prefix}.{field}" if field else prefix


def _check_trigger(kith: Kith, trigger: Trigger, errors: list[FieldError]) -> Entity | None:
    kinds = [k for k in ("event", "schedule", "relative", "webhook", "manual") if getattr(trigger, k) is not None]
    if len(kinds) != 1:
        errors.append(
            FieldError("trigger", "invalid", "give exactly one of: event, schedule, relative, webhook, manual")
        )
        return None
    kind = kinds[0]
    entity: Entity | None = None
    if kind == "event":
        name = str(trigger.event)
        head, _, tail = name.partition(".")
        domain = kith.automations.events.get(name)
        if domain is not None:
            entity = kith.entity(domain.entity) if domain.entity in kith.entities else None
        elif head in kith.entities and tail in LIFECYCLE:
            entity = kith.entity(head)
        else:
            errors.append(
                FieldError(
                    "trigger.event",
                    "unknown",
                    f"unknown event {name!r}: use <entity>.created|updated|deleted|restored or a "
                    f"declared event ({', '.join(sorted(kith.automations.events)) or 'none declared'})",
                )
            )
            return None
        if trigger.changed and entity is not None:
            known = _field_names(kith, entity)
            for field_name in trigger.changed:
                if field_name not in known:
                    errors.append(
                        FieldError("trigger.changed", "unknown", f"{entity.name} has no field {field_name!r}")
                    )
        for field_name in trigger.ignore or ():
            if entity is not None and field_name not in _field_names(kith, entity):
                errors.append(FieldError("trigger.ignore", "unknown", f"{entity.name} has no field {field_name!r}"))
        if (trigger.from_ is not None or trigger.to is not None) and len(trigger.changed or []) != 1:
            errors.append(FieldError("trigger.to", "invalid", "from/to need exactly one field in changed"))
    elif kind == "schedule":
        if not croniter.is_valid(str(trigger.schedule)):
            errors.append(FieldError("trigger.schedule", "invalid", f"{trigger.schedule!r} is not a cron expression"))
        entity = _entity(kith, trigger.entity, "trigger.entity", errors, required=False)
    elif kind == "relative":
        spec = trigger.relative or {}
        unknown = set(spec) - {"entity", "field", "offset"}
        if unknown:
            errors.append(FieldError("trigger.relative", "invalid", f"unknown keys: {', '.join(sorted(unknown))}"))
        entity = _entity(kith, spec.get("entity"), "trigger.relative.entity", errors, required=True)
        if entity is not None and spec.get("field") not in _date_fields(kith, entity):
            errors.append(
                FieldError(
                    "trigger.relative.field", "invalid", f"{spec.get('field')!r} is not a date field of {entity.name}"
                )
            )
        try:
            parse_offset(str(spec.get("offset", "0 days")))
        except ValueError as exc:
            errors.append(FieldError("trigger.relative.offset", "invalid", str(exc)))
    elif kind == "webhook":
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,79}$", str(trigger.webhook)):
            errors.append(FieldError("trigger.webhook", "invalid", "a webhook source name (a-z, 0-9, -, _)"))
        entity = _entity(kith, trigger.entity, "trigger.entity", errors, required=False)
    else:
        entity = _entity(kith, trigger.manual, "trigger.manual", errors, required=True)
    return entity


def _entity(kith: Kith, name: Any, path: str, errors: list[FieldError], *, required: bool) -> Entity | None:
    if name is None:
        if required:
            errors.append(FieldError(path, "required", "name the entity"))
        return None
    if name not in kith.entities:
        errors.append(FieldError(path, "unknown", f"unknown entity {name!r}"))
        return None
    return kith.entity(str(name))
