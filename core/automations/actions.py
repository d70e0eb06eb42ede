"""Actions: what a rule does.  Each has typed parameters (a pydantic model) that are
validated when the rule is saved, a ``check`` against the running Kith (fields exist,
templates compile), a ``run`` and a ``describe`` for dry runs.

The core ships update_fields, create_record, assign_owner, add_tag, remove_tag, wait,
send_webhook and call_function; plugins add theirs with ``kith_automation_actions``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kith.core.automations import templates
from kith.core.entities import Entity, FieldKind
from kith.core.errors import FieldError
from kith.core.plugins.context import runtime_of
from kith.core.records.change import Actor
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.plugins.context import PluginContext
    from kith.core.runtime import Kith


class Params(BaseModel):
    """Base of action parameters: unknown parameters are refused, by name."""

    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=Params)


@dataclass
class ActionContext:
    """What an action sees when it runs.  ``context`` is what a plugin's action works
    with; ``runtime`` is the running Kith, for the core's own actions."""

    runtime: Kith
    rule: str
    entity: Entity | None
    record: dict[str, Any] | None
    event: dict[str, Any]
    key: str  # idempotency key of this execution: stable across retries
    actor: Actor
    depth: int = 0
    #: outputs of the templates rendered ahead by ``prerender``, by template text
    rendered: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> PluginContext:
        """Records, events and settings for the action, acting as the rule's actor
        (its ``run_as`` user, or the system)."""
        from kith.core.plugins.context import PluginContext

        return PluginContext(self.runtime, self.actor)

    def template_context(self) -> dict[str, Any]:
        """What templates see; for a ``run_as`` rule, only what that user may read."""
        return {"record": self.visible_record() or {}, "event": self.visible_event(), "rule": self.rule}

    def visible_record(self) -> dict[str, Any] | None:
        """The record as the rule's user may see it (the system: all of it)."""
        from kith.core.automations.visibility import mask

        seen: dict[str, Any] | None = mask(self.runtime, self.actor.permissions, self.entity, {"record": self.record})[
            "record"
        ]
        return seen

    def visible_event(self) -> dict[str, Any]:
        """``event`` (its ``changes`` and ``data``) as the rule's user may see it."""
        from kith.core.automations.visibility import mask

        return mask(self.runtime, self.actor.permissions, self.entity, self.event, self.event.get("name"))

    async def render(self, value: Any) -> Any:
        """``value`` with its templates rendered for this record and event (in a child
        process, under the template limits: see ``rendering.py``)."""
        texts = templates.template_strings(value)
        if texts and all(text in self.rendered for text in texts):
            return templates.substitute(value, self.rendered)
        return await self.runtime.templates.render(value, self.template_context())

    async def prerender(self, params: Params) -> None:
        """Render the templates of ``params`` now, so that ``render`` inside the action's
        write transaction only looks their outputs up: a template that runs to its time
        limit must not hold the database's write lock meanwhile.  Outputs are never
        rendered again, so a record value that looks like a template stays text."""
        texts = templates.template_strings(params.model_dump())
        if texts:
            outputs = await self.runtime.templates.render(texts, self.template_context())
            self.rendered.update(zip(texts, outputs, strict=True))


async def rendered_params(ctx: ActionContext, params: P) -> P:
    """``params`` with every template rendered for ``ctx``: what ``describe`` is given in
    a dry run, since describing is synchronous and rendering is not."""
    values = params.model_dump()
    if not templates.contains_template(values):
        return params
    return params.model_copy(update=await ctx.render(values))


@dataclass(frozen=True)
class ActionType:
    """An action kind.  ``run`` returns a JSON-ready result stored with its effect."""

    name: str
    params: type[Params]
    run: Callable[[ActionContext, Any], Awaitable[dict[str, Any]]]
    #: says what it would do, for dry runs; given the params with their templates rendered
    describe: Callable[[ActionContext, Any], str]
    description: str = ""
    check: Callable[[PluginContext, Entity | None, Any], list[FieldError]] | None = None
    #: writes through the record service: its effect is committed with the write
    transactional: bool = True
    plugin: str | None = None


# -- values by client-facing name -> record service input -------------------------------


def toggled_tags(tags: list[str] | None, tag: str, adding: bool) -> list[str] | None:
    """``tags`` with ``tag`` added (or removed), or None when that changes nothing."""
    current = list(tags or [])
    if adding and tag not in current:
        return [*current, tag]
    if not adding and tag in current:
        current.remove(tag)
        return current
    return None


def to_record_input(
    kith: Kith, entity: Entity, values: Mapping[str, Any], path: str
) -> tuple[dict[str, Any], list[FieldError]]:
    """``{"firstName": …, "organizationId": …, "customFields": {"tier": …}}`` -> service input."""
    by_name: dict[str, str] = {}
    for spec in entity.fields.values():
        by_name[graphql_name(spec)] = spec.name
        by_name[spec.name] = spec.name
        if spec.kind is FieldKind.RELATION:
            by_name[graphql_name(spec).removesuffix("Id")] = spec.name
    custom_names: dict[str, str] = {}
    for definition in kith.custom_fields.for_entity(entity.name):
        custom_names[definition.name] = definition.name
        custom_names[definition.path.removeprefix("customFields.")] = definition.name
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key, value in values.items():
        if key in ("customFields", "custom"):
            if not isinstance(value, Mapping):
                errors.append(FieldError(f"{path}.{key}", "invalid", "must be a mapping of custom fields"))
                continue
            custom: dict[str, Any] = {}
            for name, item in value.items():
                if name not in custom_names:
                    errors.append(
                        FieldError(f"{path}.{key}.{name}", "unknown", f"{entity.name} has no custom field {name!r}")
                    )
                else:
                    custom[custom_names[name]] = item
            out["custom"] = custom
        elif key in by_name:
            out[by_name[key]] = value
        else:
            errors.append(FieldError(f"{path}.{key}", "unknown", f"{entity.name} has no field {key!r}"))
    return out, errors


def _template_errors(value: Any, path: str) -> list[FieldError]:
    try:
        templates.check(value)
    except templates.TemplateProblem as exc:
        return [FieldError(path, "invalid", str(exc))]
    return []


# -- update_fields ------------------------------------------------------------------------


class UpdateFields(Params):
    values: dict[str, Any] = Field(description="Fields to set, by their GraphQL names; values may be templates.")


def _check_update(context: PluginContext, entity: Entity | None, params: UpdateFields) -> list[FieldError]:
    if entity is None:
        return [FieldError("values", "invalid", "update_fields needs a rule whose trigger has a record")]
    _, errors = to_record_input(runtime_of(context), entity, params.values, "values")
    return errors + _template_errors(params.values, "values")


async def _run_update(ctx: ActionContext, params: UpdateFields) -> dict[str, Any]:
    assert ctx.entity is not None and ctx.record is not None
    values, errors = to_record_input(ctx.runtime, ctx.entity, await ctx.render(params.values), "values")
    if errors:
        from kith.core.errors import ValidationFailed

        raise ValidationFailed(errors)
    record = await ctx.runtime.records.update(ctx.entity.name, ctx.record["id"], values, ctx.actor)
    return {"updated": ctx.entity.name, "id": record["id"], "version": record["version"]}


def _describe_update(ctx: ActionContext, params: UpdateFields) -> str:
    return f"set {_pairs(params.values)} on {_label(ctx)}"


# -- create_record ------------------------------------------------------------------------


class CreateRecord(Params):
    entity: str = Field(description="What to create, e.g. activity.")
    values: dict[str, Any] = Field(description="Its fields by GraphQL name; values may be templates.")


def _check_create(context: PluginContext, entity: Entity | None, params: CreateRecord) -> list[FieldError]:
    kith = runtime_of(context)
    if params.entity not in kith.entities:
        return [FieldError("entity", "unknown", f"unknown entity {params.entity!r}")]
    _, errors = to_record_input(kith, kith.entity(params.entity), params.values, "values")
    return errors + _template_errors(params.values, "values")


async def _run_create(ctx: ActionContext, params: CreateRecord) -> dict[str, Any]:
    target = ctx.runtime.entity(params.entity)
    values, errors = to_record_input(ctx.runtime, target, await ctx.render(params.values), "values")
    if errors:
        from kith.core.errors import ValidationFailed

        raise ValidationFailed(errors)
    record = await ctx.runtime.records.create(target.name, values, ctx.actor)
    return {"created": target.name, "id": record["id"]}


def _describe_create(ctx: ActionContext, params: CreateRecord) -> str:
    return f"create {params.entity} with {_pairs(params.values)}"


# -- tags ---------------------------------------------------------------------------------


class TagParams(Params):
    tag: str = Field(min_length=1, max_length=80)


def _check_tags(context: PluginContext, entity: Entity | None, params: TagParams) -> list[FieldError]:
    if entity is None or "tags" not in entity.fields:
        return [FieldError("tag", "invalid", "the rule's records have no tags")]
    return _template_errors(params.tag, "tag")


def _tag_action(adding: bool) -> Callable[[ActionContext, TagParams], Awaitable[dict[str, Any]]]:
    async def run(ctx: ActionContext, params: TagParams) -> dict[str, Any]:
        assert ctx.entity is not None and ctx.record is not None
        tag = str(await ctx.render(params.tag))
        # read the tags inside this transaction: another rule may have changed them
        current = await ctx.runtime.records.get(ctx.entity.name, ctx.record["id"])
        tags = toggled_tags(current.get("tags"), tag, adding)
        if tags is None:
            return {"tags": list(current.get("tags") or []), "changed": False}
        await ctx.runtime.records.update(ctx.entity.name, ctx.record["id"], {"tags": tags}, ctx.actor)
        return {"tags": tags, "changed": True}

    return run


#: one function each, so that the worker can tell the core's tag actions by their ``run``
_add_tag = _tag_action(True)
_remove_tag = _tag_action(False)


# -- assign_owner -------------------------------------------------------------------------


class AssignOwner(Params):
    team: str = Field(description="Team name; its active users share the work.")
    strategy: Literal["round_robin", "least_loaded"] = "round_robin"
    field: str = Field("ownerId", description="The user field to set (ownerId, assigneeId, …).")


def _owner_column(entity: Entity, name: str) -> str | None:
    for spec in entity.fields.values():
        if spec.kind is FieldKind.RELATION and spec.target == "user" and name in (graphql_name(spec), spec.name):
            return spec.name
    return None


def _check_assign(context: PluginContext, entity: Entity | None, params: AssignOwner) -> list[FieldError]:
    if entity is None or _owner_column(entity, params.field) is None:
        return [FieldError("field", "invalid", f"{params.field!r} is not a user field of the rule's records")]
    return []


async def _team_users(kith: Kith, team: str) -> list[int]:
    rows = await kith.db.execute(
        "SELECT u.id FROM kith_user u JOIN team t ON t.id = u.team WHERE t.name = {} "
        "AND u.is_active = {} AND u.deleted_at IS NULL AND t.deleted_at IS NULL ORDER BY u.id",
        team,
        True,
    )
    return [int(r["id"]) for r in rows]


async def _run_assign(ctx: ActionContext, params: AssignOwner) -> dict[str, Any]:
    assert ctx.entity is not None and ctx.record is not None
    column = _owner_column(ctx.entity, params.field)
    assert column is not None
    users = await _team_users(ctx.runtime, params.team)
    if not users:
        from kith.core.errors import ValidationFailed

        raise ValidationFailed.single("team", "invalid", f"team {params.team!r} has no active users")
    if params.strategy == "least_loaded":
        placeholders = ", ".join("{}" for _ in users)
        rows = await ctx.runtime.db.execute(
            f'SELECT "{column}" AS owner, COUNT(*) AS n FROM "{ctx.entity.tablename}" '
            f'WHERE deleted_at IS NULL AND "{column}" IN ({placeholders}) GROUP BY "{column}"',
            *users,
        )
        load = {int(r["owner"]): int(r["n"]) for r in rows}
        chosen = min(users, key=lambda user: (load.get(user, 0), user))
    else:
        from kith.core.automations.state import next_counter

        turn = await next_counter(ctx.runtime.db, f"round_robin:{ctx.rule}:{params.team}")
        chosen = users[(turn - 1) % len(users)]
    await ctx.runtime.records.update(ctx.entity.name, ctx.record["id"], {column: chosen}, ctx.actor)
    return {"assigned": chosen, "field": params.field}


# -- wait ---------------------------------------------------------------------------------


class Wait(Params):
    days: float = 0
    hours: float = 0
    minutes: float = 0
    seconds: float = 0

    @model_validator(mode="after")
    def _positive(self) -> Wait:
        if self.delta.total_seconds() <= 0:
            raise ValueError("wait needs a positive duration (days, hours, minutes or seconds)")
        return self

    @property
    def delta(self) -> dt.timedelta:
        return dt.timedelta(days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds)


async def _run_wait(ctx: ActionContext, params: Wait) -> dict[str, Any]:  # handled by the engine
    raise RuntimeError("wait is scheduled by the engine, not run")


# -- send_webhook -------------------------------------------------------------------------


class SendWebhook(Params):
    url: str = Field(pattern=r"^https?://")
    secret: str = Field(description="Signing secret (whsec_… base64, as Standard Webhooks).")
    event: str = Field("automation", description="The event type sent in the body.")
    data: dict[str, Any] | None = Field(None, description="Body data (templates allowed); default: the record.")


async def _run_webhook(ctx: ActionContext, params: SendWebhook) -> dict[str, Any]:
    from kith.core.automations.webhooks import deliver

    data = await ctx.render(params.data) if params.data is not None else {"record": ctx.visible_record()}
    status = await deliver(params.url, params.secret, ctx.key, params.event, data, allow=ctx.runtime.settings)
    return {"delivered": params.url, "status": status, "webhook_id": ctx.key}


def _webhook_url_errors(context: PluginContext, url: str) -> list[FieldError]:
    """A URL whose host is a literal internal address is refused when the rule is saved."""
    from kith.core.security.outbound import OutboundRefused, check_outbound_url

    try:
        check_outbound_url(url, runtime_of(context).settings)
    except OutboundRefused as exc:
        return [FieldError("url", "refused", str(exc))]
    return []


# -- call_function ------------------------------------------------------------------------


class CallFunction(Params):
    function: str = Field(description="A function a plugin registered with kith_automation_functions.")
    args: dict[str, Any] = Field(default_factory=dict)


def _check_call(context: PluginContext, entity: Entity | None, params: CallFunction) -> list[FieldError]:
    functions = runtime_of(context).automations.functions
    if params.function not in functions:
        known = ", ".join(sorted(functions)) or "none"
        return [FieldError("function", "unknown", f"no function {params.function!r} is registered (known: {known})")]
    return _template_errors(params.args, "args")


async def _run_call(ctx: ActionContext, params: CallFunction) -> dict[str, Any]:
    import inspect

    function = ctx.runtime.automations.functions[params.function]
    result = function(ctx, **await ctx.render(params.args))
    if inspect.isawaitable(result):
        result = await result
    return {
        "function": params.function,
        "result": result
        if isinstance(result, dict | list | str | int | float | bool) or result is None
        else str(result),
    }


# -- helpers ------------------------------------------------------------------------------


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def _label(ctx: ActionContext) -> str:
    if ctx.entity is None or ctx.record is None:
        return "no record"
    return f"{ctx.entity.name} {ctx.record['id']}"


@dataclass
class ActionRegistry:
    actions: dict[str, ActionType] = field(default_factory=dict)

    def add(self, action: ActionType) -> None:
        if action.name in self.actions:
            raise ValueError(f"action {action.name!r} is already registered")
        self.actions[action.name] = action


def core_actions() -> list[ActionType]:
    return [
        ActionType(
            "update_fields", UpdateFields, _run_update, _describe_update, "Set fields of the record.", _check_update
        ),
        ActionType(
            "create_record",
            CreateRecord,
            _run_create,
            _describe_create,
            "Create a record (a task on the timeline, say).",
            _check_create,
        ),
        ActionType(
            "assign_owner",
            AssignOwner,
            _run_assign,
            lambda ctx, p: f"assign {_label(ctx)} to a member of {p.team} ({p.strategy})",
            "Give the record to a member of a team, round-robin or least-loaded.",
            _check_assign,
        ),
        ActionType(
            "add_tag",
            TagParams,
            _add_tag,
            lambda ctx, p: f"add tag {p.tag!r} to {_label(ctx)}",
            "Add a tag to the record.",
            _check_tags,
        ),
        ActionType(
            "remove_tag",
            TagParams,
            _remove_tag,
            lambda ctx, p: f"remove tag {p.tag!r} from {_label(ctx)}",
            "Remove a tag from the record.",
            _check_tags,
        ),
        ActionType(
            "wait",
            Wait,
            _run_wait,
            lambda ctx, p: f"wait {p.delta}",
            "Wait, then go on with the next action.",
            transactional=False,
        ),
        ActionType(
            "send_webhook",
            SendWebhook,
            _run_webhook,
            lambda ctx, p: f"POST a signed {p.event!r} webhook to {p.url}",
            "Send a signed webhook (Standard Webhooks headers).",
            lambda context, e, p: _webhook_url_errors(context, p.url) + _template_errors(p.data, "data"),
            transactional=False,
        ),
        ActionType(
            "call_function",
            CallFunction,
            _run_call,
            lambda ctx, p: f"call {p.function}({_pairs(p.args)})",
            "Call a Python function a plugin registered.",
            _check_call,
            transactional=False,
        ),
    ]
