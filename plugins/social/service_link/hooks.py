"""The glue's hook implementations."""

from __future__ import annotations

from typing import Any

from kith.plugins.social.service_link import tickets
from kith.sdk import ActionType, Change, GraphQLTypes, entity_hook, hookimpl


@hookimpl
def kith_automation_actions() -> list[ActionType]:
    return [
        ActionType(
            "create_social_ticket", tickets.CreateSocialTicket, tickets.run, tickets.describe,
            "Make a ticket of a social mention (or add it to its thread's ticket).", check=tickets.check,
        )
    ]  # fmt: skip


@hookimpl
def kith_graphql_mutations(types: GraphQLTypes) -> list[type]:
    from kith.plugins.social.service_link.graphql import social_ticket_mutations

    return [social_ticket_mutations(types)]


@hookimpl
def kith_automation_functions() -> dict[str, Any]:
    return {"social.follow_thread": tickets.follow_thread}


@hookimpl
def kith_automation_rules() -> list[dict[str, Any]]:
    return [
        {
            "name": "social.negative-mention-to-ticket",
            "description": "A mention scored at or below the negative threshold becomes a ticket.",
            "enabled": True,
            "trigger": {"event": "social.negative_mention"},
            "actions": [{"create_social_ticket": {}}],
        },
        {
            "name": "social.direct-message-to-ticket",
            "description": "A direct message to an account becomes a ticket.",
            "enabled": True,
            "trigger": {"event": "social.mention_received"},
            "conditions": {"kind": {"eq": "message"}},
            "actions": [{"create_social_ticket": {}}],
        },
        {
            "name": "social.thread-reply-joins-ticket",
            "description": "A reply in a thread that became a ticket joins that ticket's conversation.",
            "enabled": True,
            "trigger": {"event": "social.mention_received"},
            "conditions": {"parentId": {"isNull": False}},
            "actions": [{"call_function": {"function": "social.follow_thread", "args": {}}}],
        },
    ]


@entity_hook("kith_after_create", "ticket_message")
async def ticket_message_after_create(change: Change) -> None:
    await tickets.reply_out(change)
