"""The rules the service plugin ships (admins own them once stored: edit or disable
them like any rule) and the functions they call."""

from __future__ import annotations

from typing import Any

from kith.plugins.service import statuses
from kith.sdk import ActionContext

#: how long a solved ticket stays solved (open to a customer's reply) before it closes
CLOSE_AFTER = "7 days"


async def close_ticket(ctx: ActionContext) -> dict[str, Any]:
    """Close a ticket that is still solved (a reply since reopened it: leave it)."""
    record = ctx.record or {}
    if record.get("status_category") != "solved":
        return {"closed": False}
    closed = await statuses.first_of("closed")
    if closed is None:
        return {"closed": False}
    await ctx.context.as_plugin(keep_permissions=False, name="automation").system.update(
        "ticket", int(record["id"]), {"status": closed["id"]}
    )
    return {"closed": True}


FUNCTIONS = {"service.close_ticket": close_ticket}


def rules() -> list[dict[str, Any]]:
    return [
        {
            "name": "service.escalate-sla-breach",
            "description": "A ticket whose SLA target passed its deadline becomes urgent.",
            "enabled": True,
            "trigger": {"event": "sla.breached"},
            "conditions": {"priority": {"ne": "urgent"}, "statusCategory": {"notIn": ["solved", "closed"]}},
            "actions": [{"update_fields": {"values": {"priority": "urgent"}}}],
        },
        {
            "name": "service.close-solved",
            "description": f"A ticket solved {CLOSE_AFTER} ago, with no reply since, is closed.",
            "enabled": True,
            "trigger": {"relative": {"entity": "ticket", "field": "solvedAt", "offset": CLOSE_AFTER}},
            "conditions": {"statusCategory": {"eq": "solved"}},
            "actions": [{"call_function": {"function": "service.close_ticket", "args": {}}}],
        },
    ]
