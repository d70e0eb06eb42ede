"""Agent tools: macros (several changes to a ticket at once, made as the agent),
canned replies rendered from templates, and which of them an agent may use.

Templates are Jinja2 in a sandbox, with the ticket, its requester and the agent:
``Hello {{ requester.first_name }}, ticket {{ ticket.number }} is solved.``
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from kith.plugins.service import statuses
from kith.sdk import Change, FieldError, PluginContext, ValidationFailed

_TEMPLATES = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
STEPS = ("status", "priority", "type", "assign", "team", "add_tags", "remove_tags", "reply", "note")


def check_steps(value: Any) -> list[dict[str, Any]]:
    """A macro's steps, each refused by its index and name when it cannot run."""
    steps = json.loads(value) if isinstance(value, str) else value
    if not isinstance(steps, list) or not steps:
        raise ValidationFailed.single("actions", "invalid", "a macro needs a list of steps")
    problems = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1 or next(iter(step)) not in STEPS:
            problems.append(FieldError(f"actions[{index}]", "invalid", f"one of: {', '.join(STEPS)}"))
            continue
        ((name, argument),) = step.items()
        if name in ("reply", "note"):
            try:
                _TEMPLATES.parse(str(argument))
            except TemplateError as exc:
                problems.append(FieldError(f"actions[{index}].{name}", "invalid", f"template: {exc}"))
        if name in ("add_tags", "remove_tags") and not (
            isinstance(argument, list) and all(isinstance(t, str) for t in argument)
        ):
            problems.append(FieldError(f"actions[{index}].{name}", "invalid", "a list of tag names"))
    if problems:
        raise ValidationFailed(problems)
    return steps


def check_scope(change: Change) -> None:
    values = change.values
    before = change.before or {}
    scope = values.get("scope", before.get("scope") or "global")
    team = values.get("team", before.get("team"))
    if scope == "team" and team is None:
        raise ValidationFailed.single("teamId", "required", "a team macro or reply names its team")
    if scope == "personal" and values.get("owner", before.get("owner")) is None:
        if change.actor.user_id is None:
            raise ValidationFailed.single("ownerId", "required", "a personal macro or reply names its owner")
        values["owner"] = change.actor.user_id


def check_body(body: Any, field: str = "body") -> None:
    try:
        _TEMPLATES.parse(str(body or ""))
    except TemplateError as exc:
        raise ValidationFailed.single(field, "invalid", f"template: {exc}") from exc


async def available_to(context: PluginContext, row: Mapping[str, Any]) -> bool:
    """Whether the caller may use a macro or canned reply: global ones, their team's, their own."""
    if row["scope"] == "global" or context.user_id is None:
        return True
    if row["scope"] == "personal":
        return bool(row.get("owner") == context.user_id)
    user = await context.system.get("user", context.user_id)
    agent = await context.system.first("agent_profile", {"userId": {"eq": context.user_id}})
    team = await context.system.get("team", int(row["team"])) if row.get("team") else None
    names = set((agent or {}).get("teams") or [])
    return team is not None and ((user or {}).get("team") == team["id"] or team["name"] in names)


async def render(context: PluginContext, template: str, ticket: Mapping[str, Any]) -> str:
    requester = await context.records.get("contact", ticket["requester"]) if ticket.get("requester") else None
    agent = await context.system.get("user", context.user_id) if context.user_id else None
    try:
        return _TEMPLATES.from_string(template).render(
            ticket=dict(ticket), requester=dict(requester or {}), agent={"name": (agent or {}).get("name")}
        )
    except TemplateError as exc:
        raise ValidationFailed.single("body", "invalid", f"template: {exc}") from exc


async def _usable(context: PluginContext, entity: str, item_id: int, field: str) -> dict[str, Any]:
    row = await context.records.get(entity, item_id)
    if row is None or not await available_to(context, row):
        raise ValidationFailed.single(field, "not_found", f"no {entity.replace('_', ' ')} {item_id} for you")
    return row


async def _ticket(context: PluginContext, ticket_id: int) -> dict[str, Any]:
    ticket = await context.records.get("ticket", ticket_id)
    if ticket is None:
        raise ValidationFailed.single("ticketId", "not_found", f"ticket {ticket_id} does not exist")
    return ticket


async def render_canned(context: PluginContext, reply_id: int, ticket_id: int) -> str:
    reply = await _usable(context, "canned_reply", reply_id, "id")
    return await render(context, reply["body"], await _ticket(context, ticket_id))


async def apply_macro(context: PluginContext, macro_id: int, ticket_id: int) -> dict[str, Any]:
    """Run a macro's steps on a ticket as the caller, all or nothing; returns the ticket."""
    macro = await _usable(context, "macro", macro_id, "macroId")
    records = context.records
    async with context.db.transaction():
        ticket = await _ticket(context, ticket_id)
        changes: dict[str, Any] = {}
        tags = list(ticket.get("tags") or [])
        messages: list[dict[str, Any]] = []
        for index, step in enumerate(check_steps(macro["actions"])):
            ((name, argument),) = step.items()
            if name == "status":
                status = await statuses.named(str(argument))
                if status is None:
                    raise ValidationFailed.single(f"actions[{index}].status", "not_found", f"no status {argument!r}")
                changes["status"] = status["id"]
            elif name in ("priority", "type"):
                changes[name] = argument
            elif name == "assign":
                changes["assignee"] = (
                    context.user_id if argument == "me" else (None if argument is None else int(argument))
                )
            elif name == "team":
                team = await context.system.first("team", {"name": {"eq": str(argument)}})
                if team is None:
                    raise ValidationFailed.single(f"actions[{index}].team", "not_found", f"no team {argument!r}")
                changes["team"] = team["id"]
            elif name == "add_tags":
                tags += [t for t in argument if t not in tags]
                changes["tags"] = tags
            elif name == "remove_tags":
                tags = [t for t in tags if t not in argument]
                changes["tags"] = tags
            else:
                body = await render(context, str(argument), ticket)
                messages.append({"ticket": ticket_id, "kind": name, "body": body})
        for message in messages:
            await records.create("ticket_message", message)
        if changes:
            await records.update("ticket", ticket_id, changes)
        return await _ticket(context, ticket_id)
