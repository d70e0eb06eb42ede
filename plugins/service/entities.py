"""What the service plugin declares: its entities, and how each role may use them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kith.plugins.service.models import (
    ARTICLE_STATUSES,
    CHANNELS,
    DIRECTIONS,
    MACRO_SCOPES,
    MESSAGE_KINDS,
    PRIORITIES,
    ROUTING_STRATEGIES,
    STATUS_CATEGORIES,
    SURVEY_KINDS,
    SURVEY_STATUSES,
    TICKET_TYPES,
    AgentProfile,
    Calendar,
    CannedReply,
    KbArticle,
    KbCategory,
    Macro,
    SlaPolicy,
    Survey,
    TeamQueue,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketStatus,
)
from kith.sdk import Entity, Grant, RoleDefinition


def _json_text(kind: type) -> Callable[[Any, Any], str]:
    """A normaliser for a field holding JSON text: the API takes an object (or a list)
    or its JSON, and it is stored as compact JSON; the before-hooks check its meaning."""

    def normalise(value: Any, region: Any) -> str:
        try:
            parsed = json.loads(value) if value else kind()
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON: {exc.msg}") from exc
        if not isinstance(parsed, kind):
            raise ValueError(f"must be a JSON {'object' if kind is dict else 'list'}")
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"))

    return normalise


OBJECT, LIST = _json_text(dict), _json_text(list)

#: fields the plugin keeps itself: the clocks, the conversation's times, numbering, threading
TICKET_COMPUTED = (
    "number",
    "status_category",
    "assigned_at",
    "first_response_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "solved_at",
    "closed_at",
    "sla_policy",
    "sla_due_at",
    "sla_state",
    "first_response_seconds",
    "resolution_seconds",
    "paused_seconds",
    "merged_into",
    "split_from",
    "thread_token",
    "satisfaction",
)


def entities() -> list[Entity]:
    return [
        Entity(
            "ticket_status",
            TicketStatus,
            label="Ticket status",
            plural="ticket_statuses",
            required=("name", "category"),
            choices={"category": STATUS_CATEGORIES},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "ticket",
            Ticket,
            required=("subject",),
            searchable=("subject", "number"),
            choices={"channel": CHANNELS, "priority": PRIORITIES, "type": TICKET_TYPES},
            read_only=TICKET_COMPUTED,
            reverse={"requester": "tickets", "organization": "tickets", "merged_into": None, "split_from": None},
            owners=("assignee",),
        ),
        Entity(
            "ticket_message",
            TicketMessage,
            label="Ticket message",
            required=("ticket",),
            choices={"kind": MESSAGE_KINDS, "direction": DIRECTIONS},
            personal=("body", "full_body"),
            read_only=("direction", "author", "author_contact", "full_body", "message_id", "origin_ticket", "delivery"),
            reverse={"ticket": "messages", "origin_ticket": None, "author_contact": None, "seen_message": None},
            owner_via="ticket",
            timeline=False,
            customizable=False,
        ),
        Entity(
            "macro",
            Macro,
            required=("name", "actions"),
            searchable=("name",),
            choices={"scope": MACRO_SCOPES},
            normalisers={"actions": LIST},
            reverse={"team": None, "owner": None},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "canned_reply",
            CannedReply,
            label="Canned reply",
            plural="canned_replies",
            required=("name", "body"),
            searchable=("name", "body"),
            choices={"scope": MACRO_SCOPES},
            reverse={"team": None, "owner": None},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "kb_category",
            KbCategory,
            label="Knowledge base category",
            plural="kb_categories",
            required=("name",),
            timeline=False,
            customizable=False,
        ),
        Entity(
            "kb_article",
            KbArticle,
            label="Knowledge base article",
            required=("title",),
            searchable=("title",),
            choices={"status": ARTICLE_STATUSES},
            read_only=("published_at",),
            reverse={"category": "articles", "owner": None},
            timeline=False,
        ),
        Entity(
            "survey",
            Survey,
            label="Satisfaction survey",
            choices={"kind": SURVEY_KINDS, "status": SURVEY_STATUSES},
            personal=("comment",),
            reverse={"ticket": "surveys", "contact": "surveys"},
            owner_via="ticket",
            mutations=False,
            timeline=False,
            customizable=False,
        ),
        Entity(
            "ticket_attachment",
            TicketAttachment,
            label="Ticket attachment",
            required=("message", "file"),
            read_only=("file", "name", "content_type", "size", "inline"),
            reverse={"message": "attachments"},
            owner_via="message",
            mutations=False,
            timeline=False,
            customizable=False,
        ),
        Entity(
            "agent_profile",
            AgentProfile,
            label="Agent",
            required=("user",),
            reverse={"user": None},
            read_only=("last_assigned_at",),
            timeline=False,
            customizable=False,
        ),
        Entity(
            "team_queue",
            TeamQueue,
            label="Team queue",
            required=("team",),
            choices={"strategy": ROUTING_STRATEGIES},
            reverse={"team": None},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "business_calendar",
            Calendar,
            label="Business calendar",
            required=("name",),
            normalisers={"hours": OBJECT, "holidays": LIST, "closures": LIST},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "sla_policy",
            SlaPolicy,
            label="SLA policy",
            plural="sla_policies",
            required=("name",),
            normalisers={
                name: OBJECT for name in ("conditions", "targets", "responded_when", "solved_when", "paused_when")
            },
            reverse={"calendar": "policies"},
            timeline=False,
            customizable=False,
        ),
    ]


READ = Grant(actions=["read"])
#: the service set-up that agents read and service admins change
SETUP = (
    "ticket_status",
    "team_queue",
    "business_calendar",
    "sla_policy",
    "agent_profile",
    "macro",
    "canned_reply",
    "kb_category",
    "kb_article",
)


def roles() -> list[RoleDefinition]:
    """Agents work tickets (all of them: a helpdesk shares its queue); team leads also
    route and manage their team's agents; service admins own the set-up.  The core's
    ``support_agent`` gets the agent's grants."""
    agent = {
        **{name: READ for name in SETUP},
        "ticket": Grant(actions=["read", "create", "update"]),
        "ticket_message": Grant(actions=["read", "create"]),
        "ticket_attachment": READ,
        "survey": READ,
        "contact": Grant(actions=["read", "create", "update"]),
        "organization": Grant(actions=["read", "create", "update"]),
        "activity": Grant(actions=["read", "create"]),
        **{name: READ for name in ("user", "team", "tag")},
    }
    return [
        RoleDefinition(name="agent", description="Works tickets: replies, notes, status, assignment.", grants=agent),
        RoleDefinition(name="support_agent", grants=agent),
        RoleDefinition(
            name="team_lead",
            description="An agent who also routes tickets and sets their team's agents' availability and capacity.",
            grants={
                **agent,
                "ticket": Grant(actions=["read", "create", "update", "delete", "restore"]),
                "agent_profile": Grant(actions=["read", "create", "update"]),
                "team_queue": Grant(actions=["read", "update"]),
                "macro": Grant(actions=["read", "create", "update", "delete", "restore"]),
                "canned_reply": Grant(actions=["read", "create", "update", "delete", "restore"]),
                "kb_category": Grant(actions=["read", "create", "update", "delete", "restore"]),
                "kb_article": Grant(actions=["read", "create", "update", "delete", "restore"]),
            },
        ),
        RoleDefinition(
            name="service_admin",
            description="Runs the helpdesk: statuses, queues, calendars, SLA policies, agents, every ticket.",
            grants={
                **{
                    name: Grant(actions=["read", "create", "update", "delete", "restore"])
                    for name in (*SETUP, "ticket", "ticket_message")
                },
                "*": READ,
            },
        ),
    ]
