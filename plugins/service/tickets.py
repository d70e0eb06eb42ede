"""A ticket's life: numbering and defaults on create, what a status change means
(solved and closed times, the category kept with the ticket), and what each message
of the conversation does to its ticket (response times, a customer's reply reopening a
solved ticket).  Called from the plugin's lifecycle hooks."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from kith.plugins.service import statuses
from kith.plugins.service.models import DONE_CATEGORIES, Ticket
from kith.sdk import Change, PluginContext, ValidationFailed

#: the prefix of ticket numbers; a mail subject carries "[T-00042]"
NUMBER_PREFIX = "T-"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def before_create(change: Change) -> None:
    """Number the ticket, give it a status (the first "new" one unless chosen), its
    organization (the requester's), and the secret that threads its mail."""
    values = change.values
    context = change.context
    status = await statuses.get(values.get("status")) if values.get("status") else await statuses.first_of("new")
    if status is None:
        field = "statusId" if values.get("status") else None
        raise ValidationFailed.single(field, "not_found", "no such ticket status (create one in the category 'new')")
    values["status"] = status["id"]
    values["status_category"] = status["category"]
    _stamp_status(values, status["category"], {})
    if values.get("requester") is not None and values.get("organization") is None:
        requester = await context.system.get("contact", int(values["requester"]))
        if requester is not None and requester.get("organization") is not None:
            values["organization"] = requester["organization"]
    if values.get("assignee") is not None:
        values["assigned_at"] = _now()
    values["number"] = await context.db.next_number(Ticket, Ticket.number, prefix=NUMBER_PREFIX)
    values["thread_token"] = secrets.token_hex(12)


async def before_update(change: Change) -> None:
    values = change.values
    before = change.before or {}
    if "status" in values and values["status"] != before.get("status"):
        status = await statuses.get(values["status"])
        if status is None:
            raise ValidationFailed.single("statusId", "not_found", "no such ticket status")
        merged = values.get("merged_into", before.get("merged_into"))
        if merged is not None and status["category"] not in DONE_CATEGORIES:
            raise ValidationFailed.single(
                "statusId", "invalid", "this ticket was merged into another; unmerge it before reopening it"
            )
        values["status_category"] = status["category"]
        _stamp_status(values, status["category"], before)
    if "assignee" in values and values["assignee"] != before.get("assignee"):
        values["assigned_at"] = _now() if values["assignee"] is not None else None


def _stamp_status(values: dict[str, Any], category: str, before: dict[str, Any]) -> None:
    """Solved and closed times follow the category: set on entering, kept through
    solved -> closed, cleared when the ticket is reopened."""
    now = _now()
    if category in DONE_CATEGORIES:
        if before.get("solved_at") is None:
            values["solved_at"] = now
        values["closed_at"] = now if category == "closed" else None
    else:
        values["solved_at"] = None
        values["closed_at"] = None


async def reopen_for_customer(context: PluginContext, ticket: dict[str, Any]) -> None:
    """A customer wrote: a ticket that waits on them or was solved is open again (a
    closed ticket stays closed; its mail starts a follow-up instead, see ``mailroom``)."""
    if ticket["status_category"] not in ("waiting_on_customer", "solved"):
        return
    status = await statuses.first_of("open")
    if status is not None:
        await context.as_plugin(keep_permissions=False).records.update("ticket", ticket["id"], {"status": status["id"]})


#: the ticket fields the SLA engine writes (by their GraphQL names): a change of only
#: these is its own summary, not a reason to compute the clocks again
SLA_SUMMARY = frozenset(
    {"slaPolicy", "slaDueAt", "slaState", "firstResponseSeconds", "resolutionSeconds", "pausedSeconds"}
)


async def after_write(change: Change) -> None:
    """Keep the SLA clocks current, and queue routing when a ticket needs an agent or
    its agent has room again."""
    from kith.plugins.service import routing
    from kith.plugins.service.sla import engine

    after = change.after or {}
    before = change.before or {}
    if change.changed and set(change.changed) <= SLA_SUMMARY:
        return
    if change.action == "update" and after.get("status") != before.get("status"):
        status = await statuses.get(after.get("status"))
        await engine.record_event(
            "ticket",
            after["id"],
            "status",
            after["updated_at"],
            paused=bool(status and status["pauses_sla"]),
            solved=after["status_category"] in DONE_CATEGORIES,
        )
    if change.action != "delete":
        await engine.refresh(change.context, "ticket", after)
    if after["status_category"] == "solved" and before.get("status_category") not in DONE_CATEGORIES:
        from kith.plugins.service import satisfaction

        await satisfaction.ticket_solved(change.context, after)
    tag = f"ticket:{after['id']}:v{after['version']}"
    waiting = after.get("assignee") is None and after.get("team") is not None and after.get("deleted_at") is None
    if waiting and after["status_category"] not in DONE_CATEGORIES and after.get("merged_into") is None:
        await routing.request(change.context, int(after["team"]), tag)
    agent = before.get("assignee")
    if agent is None:
        return
    freed = (
        after.get("assignee") != agent
        or (after["status_category"] in DONE_CATEGORIES and before.get("status_category") not in DONE_CATEGORIES)
        or after.get("deleted_at") is not None
    )
    if freed:
        for team in await routing.teams_of_agent(int(agent)):
            await routing.request(change.context, team, tag)
