"""The service plugin's hooks: what it declares to the core, and the lifecycle hooks
that keep tickets, their conversation and their clocks consistent.

Lifecycle hooks are scoped to their entity with ``entity_hook``; the work is done in
``tickets`` and ``conversation``.
"""

from __future__ import annotations

from typing import Any

import click

from kith.plugins.service import (
    automations,
    conversation,
    knowledge,
    mailroom,
    privacy,
    routing,
    satisfaction,
    tickets,
    tools,
)
from kith.plugins.service import entities as declarations
from kith.plugins.service.sla import engine as sla
from kith.plugins.service.sla import setup
from kith.sdk import (
    Change,
    CustomerViewSection,
    DomainEvent,
    Entity,
    Erasure,
    GraphQLTypes,
    InboundMail,
    Job,
    PersonalRecords,
    PluginContext,
    ReportSource,
    RoleDefinition,
    entity_hook,
    hookimpl,
)


@hookimpl
def kith_entities() -> list[Entity]:
    return declarations.entities()


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return declarations.roles()


@hookimpl
def kith_graphql_queries(types: GraphQLTypes) -> list[type]:
    from kith.plugins.service.graphql import ServiceQueries, knowledge_queries

    return [ServiceQueries, knowledge_queries(types)]


@hookimpl
def kith_graphql_mutations(types: GraphQLTypes) -> list[type]:
    from kith.plugins.service.graphql import mutations

    return [mutations(types)]


@hookimpl(trylast=True)
async def kith_mail_received(context: PluginContext, message: InboundMail) -> str | None:
    """Mail to the helpdesk's addresses becomes tickets and replies (see ``mailroom``);
    last in line, so a plugin that wants bounces or other mail first gets it."""
    return await mailroom.received(context, message)


@hookimpl
def kith_activity_kinds() -> list[str]:
    return [conversation.TIMELINE_KIND]


@entity_hook("kith_before_create", "ticket")
async def ticket_before_create(change: Change) -> None:
    await tickets.before_create(change)


@entity_hook("kith_before_update", "ticket")
async def ticket_before_update(change: Change) -> None:
    await tickets.before_update(change)


@entity_hook("kith_before_create", "ticket_message")
async def message_before_create(change: Change) -> None:
    await conversation.before_create(change)


@entity_hook("kith_after_write", "ticket_message")
async def message_after_write(change: Change) -> None:
    await conversation.after_write(change)


@hookimpl
async def kith_personal_data(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    """The person's tickets, the messages on them and those they wrote, attachments, surveys."""
    return await privacy.personal_records(context, contact)


@hookimpl
async def kith_erase_personal_data(context: PluginContext, contact: dict[str, Any], erasure: Erasure) -> None:
    await privacy.erase(context, contact, erasure)


@hookimpl
async def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection:
    """The person's tickets, newest first, within what the viewer may read."""
    rows = await context.records.list(
        "ticket", {"requesterId": {"eq": contact["id"]}}, order_by=[{"createdAt": "DESC"}], first=100
    )
    items = [
        {
            "id": row["id"],
            "number": row["number"],
            "subject": row["subject"],
            "status": row["status_category"],
            "priority": row["priority"],
            "satisfaction": row.get("satisfaction"),
            "slaState": row.get("sla_state"),
        }
        for row in rows
    ]
    return CustomerViewSection("Tickets", items, entity="ticket")


@hookimpl
async def kith_demo_data(context: PluginContext, seed: int) -> dict[str, int]:
    from kith.plugins.service.demo import load

    return await load(context, seed)


@hookimpl
def kith_cli_commands() -> list[click.Command]:
    from kith.plugins.service.cli import service_group

    return [service_group]


@hookimpl
def kith_jobs() -> list[Job]:
    return [
        Job(routing.ROUTE_JOB, routing.run_job, "Hand a team's unassigned tickets to its agents"),
        Job(sla.CHECK_JOB, sla.run_check, "Raise the SLA warnings and breaches that have come due"),
        Job(sla.RECOMPUTE_JOB, sla.run_recompute, "Recompute open records' SLA clocks after a policy or calendar edit"),
        Job(satisfaction.SEND_JOB, satisfaction.run_send, "Send a solved ticket's satisfaction survey"),
        Job(satisfaction.REMIND_JOB, satisfaction.run_remind, "Remind a requester of an unanswered survey"),
    ]


@entity_hook("kith_before_create", "sla_policy")
async def policy_before_create(change: Change) -> None:
    await setup.policy_before_write(change)


@entity_hook("kith_before_update", "sla_policy")
async def policy_before_update(change: Change) -> None:
    await setup.policy_before_write(change)


@entity_hook("kith_before_create", "business_calendar")
def calendar_before_create(change: Change) -> None:
    setup.calendar_before_write(change)


@entity_hook("kith_before_update", "business_calendar")
def calendar_before_update(change: Change) -> None:
    setup.calendar_before_write(change)


@entity_hook("kith_before_create", "macro", "canned_reply")
def tool_before_create(change: Change) -> None:
    _check_tool(change)


@entity_hook("kith_before_update", "macro", "canned_reply")
def tool_before_update(change: Change) -> None:
    _check_tool(change)


def _check_tool(change: Change) -> None:
    tools.check_scope(change)
    if change.entity == "macro" and "actions" in change.values:
        tools.check_steps(change.values["actions"])
    if change.entity == "canned_reply" and "body" in change.values:
        tools.check_body(change.values["body"])


@entity_hook("kith_before_create", "kb_article")
def article_before_create(change: Change) -> None:
    knowledge.before_write(change)


@entity_hook("kith_before_update", "kb_article")
def article_before_update(change: Change) -> None:
    knowledge.before_write(change)


@hookimpl
def kith_report_sources() -> list[ReportSource]:
    from kith.plugins.service.sla.report_source import SOURCE

    return [SOURCE]


@hookimpl
def kith_routes() -> list[Any]:
    return [*knowledge.ROUTES, *satisfaction.ROUTES]


@hookimpl
async def kith_after_write(change: Change) -> None:
    """SLAs on any entity: a record of an entity with a policy moves its clocks."""
    if change.after is not None:
        await sla.record_written(change.context, change.entity, change.action, change.after)


@entity_hook("kith_after_write", "sla_policy")
async def policy_after_write(change: Change) -> None:
    await sla.setup_changed(change.context, "policy", change.after or {})


@entity_hook("kith_after_write", "business_calendar")
async def calendar_after_write(change: Change) -> None:
    await sla.setup_changed(change.context, "calendar", change.after or {})


@hookimpl
def kith_automation_functions() -> dict[str, Any]:
    return dict(automations.FUNCTIONS)


@hookimpl
def kith_automation_rules() -> list[dict[str, Any]]:
    return automations.rules()


@hookimpl
def kith_automation_events() -> list[DomainEvent]:
    return [*sla.domain_events(), *satisfaction.events()]


@entity_hook("kith_after_write", "ticket")
async def ticket_after_write(change: Change) -> None:
    await tickets.after_write(change)


@entity_hook("kith_after_write", "agent_profile")
async def agent_after_write(change: Change) -> None:
    """An agent with more room (available again, a higher capacity, a new team) may
    take queued tickets now."""
    after = change.after or {}
    if change.action == "delete" or not after.get("available"):
        return
    for team in await routing.team_ids(after.get("teams") or []):
        await routing.request(change.context, team, f"agent:{after['id']}:v{after['version']}")


@entity_hook("kith_after_write", "team_queue")
async def queue_after_write(change: Change) -> None:
    after = change.after or {}
    if change.action != "delete" and after.get("team") is not None:
        await routing.request(change.context, int(after["team"]), f"queue:{after['id']}:v{after['version']}")
