"""Making and following social tickets (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field

from kith.plugins.social.models import Mention
from kith.plugins.social.publishing import posts
from kith.sdk import ActionContext, Change, FieldError, Params, PluginContext, ValidationFailed


class CreateSocialTicket(Params):
    """The action's parameters: who handles the ticket (a team by name, so its queue
    routes it) and how urgent it is."""

    model_config = ConfigDict(extra="forbid")

    team: str | None = Field(default=None, description="The team whose queue routes the ticket (by name).")
    priority: str | None = Field(
        default=None, description="low, normal, high or urgent (the ticket's default if unset)."
    )


def describe(ctx: ActionContext, params: CreateSocialTicket) -> str:
    return f"make a ticket of the mention{f' for team {params.team}' if params.team else ''}"


def check(context: PluginContext, entity: Any, params: CreateSocialTicket) -> list[FieldError]:
    """When the rule is saved: it acts on social mentions (its trigger's records)."""
    name = getattr(entity, "name", entity)
    if name not in (None, "social_mention"):
        return [FieldError("entity", "invalid", f"create_social_ticket acts on social mentions, not {name}")]
    return []


async def run(ctx: ActionContext, params: CreateSocialTicket) -> dict[str, Any]:
    """The action: the mention's thread's ticket gets it, or a new ticket is made."""
    context = ctx.context.as_plugin(keep_permissions=False, name="social tickets")
    ticket_id, created = await make_ticket(context, int((ctx.record or {}).get("id") or 0), params)
    return {"ticket": ticket_id, "created": created}


async def make_ticket(context: PluginContext, mention_id: int, params: CreateSocialTicket) -> tuple[int | None, bool]:
    """The mention's ticket: the one it is already on, its thread's, or a new one
    (created: True).  Under a lock on the mention, so a rule and an agent acting at
    once make one ticket."""
    async with context.db.transaction():
        await context.db.lock_rows(Mention, [mention_id])
        mention = await Mention.select().where(Mention.id == mention_id).first()
        if mention is None:
            return None, False
        if mention["ticket"]:
            return int(mention["ticket"]), False
        ticket_id = await thread_ticket(mention)
        created = ticket_id is None
        if ticket_id is None:
            team = await context.system.first("team", {"name": {"eq": params.team}}) if params.team else None
            if params.team and team is None:
                raise ValidationFailed.single("team", "not_found", f"no team named {params.team!r}")
            subject = f"@{mention['author_handle']} on {mention['platform']}: {_first_line(mention['text'])}"
            values: dict[str, Any] = {"subject": subject[:300], "channel": "social", "requester": mention["contact"],
                                      "team": team["id"] if team else None}  # fmt: skip
            if params.priority:
                values["priority"] = params.priority
            ticket_id = int((await context.system.create("ticket", values))["id"])
        await add_to_ticket(context, ticket_id, mention)
        return ticket_id, created


async def thread_ticket(mention: Mapping[str, Any]) -> int | None:
    """The ticket an earlier mention of the same thread became, if any."""
    if not mention.get("thread"):
        return None
    earlier = (
        await Mention.select(Mention.ticket)
        .where((Mention.thread == mention["thread"]) & Mention.ticket.is_not_null())
        .order_by(Mention.id, ascending=False)
        .first()
    )
    return int(earlier["ticket"]) if earlier else None


async def add_to_ticket(context: PluginContext, ticket_id: int, mention: Mapping[str, Any]) -> None:
    """The mention as the requester's inbound message on the ticket."""
    values = {
        "ticket": ticket_id,
        "kind": "reply",
        "direction": "inbound",
        "author_contact": mention["contact"],
        "body": str(mention["text"] or "(no text)"),
        "message_id": f"social:{mention['platform']}:{mention['platform_id']}",
    }
    await context.system.create("ticket_message", values)
    await Mention.update({Mention.ticket: ticket_id}).where(Mention.id == mention["id"])


async def follow_thread(ctx: ActionContext) -> dict[str, Any]:
    """The shipped rule's function: a reply in a thread that is a ticket joins it."""
    mention = await Mention.select().where(Mention.id == int((ctx.record or {}).get("id") or 0)).first()
    if mention is None or mention["ticket"]:
        return {"ticket": None}
    ticket_id = await thread_ticket(mention)
    if ticket_id is None:
        return {"ticket": None}
    await add_to_ticket(ctx.context.as_plugin(keep_permissions=False, name="social tickets"), ticket_id, mention)
    return {"ticket": ticket_id}


async def reply_out(change: Change) -> None:
    """An agent's public reply on a social ticket goes back to the thread it came from,
    through the account that received it (published exactly once, like any post)."""
    message = change.after or {}
    if message.get("kind") != "reply" or message.get("direction") != "outbound" or not message.get("ticket"):
        return
    last = (
        await Mention.select()
        .where((Mention.ticket == message["ticket"]) & Mention.account.is_not_null())
        .order_by(Mention.id, ascending=False)
        .first()
    )
    if last is None:
        return  # not a social ticket
    text = str(message.get("body") or "").strip()
    handle = str(last["author_handle"])
    if last["kind"] != "message" and f"@{handle}" not in text:
        text = f"@{handle} {text}"  # a public reply names who it answers, so they are notified
    await posts.reply(change.context, int(last["account"]), str(last["platform_id"]), text)


def _first_line(text: Any) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else "(no text)"
    return line[:120]
