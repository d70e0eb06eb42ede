"""Writing, scheduling, approving and cancelling posts, as the person doing it.

A post is written as a draft (the generated ``createSocialPost``), then scheduled to
one or more accounts with ``schedulePost``: each account gets a target with its own
variant text and an idempotency key that every attempt keeps.  A time without an
offset (``2026-03-05T09:00``) is read in each account's own time zone, so "9 in the
morning" is 9 in the morning for each audience.  When an account requires approval
the post waits (``awaiting_approval``) until a second person, one whose role may set
``approvedBy``, approves it; the author cannot approve their own post.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from kith.plugins.social.publishing import publisher
from kith.plugins.social.publishing.models import PostTarget, SocialPost
from kith.sdk import PluginContext, ValidationFailed


def due_time(at: str | dt.datetime, time_zone: str) -> dt.datetime:
    """``at`` as an aware UTC time: with an offset as given, without one in ``time_zone``."""
    if isinstance(at, str):
        try:
            parsed = dt.datetime.fromisoformat(at.strip())
        except ValueError:
            raise ValidationFailed.single(
                "at", "invalid", f"{at!r} is not an ISO 8601 time (2026-03-05T09:00)"
            ) from None
    else:
        parsed = at
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(time_zone))
    return parsed.astimezone(dt.UTC)


async def _post(context: PluginContext, post_id: int, action: str) -> dict[str, Any]:
    await context.require("social_post", action, post_id)
    found = await context.records.get("social_post", post_id)
    if found is None:
        raise ValidationFailed.single("postId", "not_found", f"no post {post_id}")
    return dict(found)


async def schedule(
    context: PluginContext, post_id: int, at: str | dt.datetime | None, targets: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Send a draft to ``targets`` (``{"accountId", "text"?}``) at ``at`` (None: now)."""
    post = await _post(context, post_id, "update")
    if post["status"] != "draft":
        raise ValidationFailed.single("postId", "not_draft", f"the post is {post['status']}, not a draft")
    if not targets:
        raise ValidationFailed.single("targets", "required", "choose at least one account")
    chosen: list[tuple[dict[str, Any], str | None]] = []
    for index, target in enumerate(targets):
        account_id = str(target.get("accountId") or target.get("account") or "")
        account = await context.records.get("social_account", int(account_id)) if account_id.isdigit() else None
        if account is None:
            raise ValidationFailed.single(f"targets[{index}].accountId", "not_found", f"no social account {account_id}")
        if account["status"] != "connected":
            raise ValidationFailed.single(
                f"targets[{index}].accountId", "not_connected", f"the account is {account['status']}"
            )
        text = target.get("text")
        if not (text if text is not None else post["text"]).strip() and post["media"] in (None, "", "[]"):
            raise ValidationFailed.single(f"targets[{index}].text", "required", "a post needs text or media")
        chosen.append((dict(account), text))
    if len({int(a["id"]) for a, _ in chosen}) != len(chosen):
        raise ValidationFailed.single("targets", "duplicate", "an account appears twice")
    needs_approval = any(a["requires_approval"] for a, _ in chosen) and not post.get("approved_by")
    now = dt.datetime.now(dt.UTC)
    async with context.db.transaction():
        writer = context.as_plugin()
        for account, text in chosen:
            due = due_time(at, str(account["time_zone"] or "UTC")) if at else now
            await PostTarget.insert(
                PostTarget(post=post_id, account=account["id"], text=text, status="pending",
                           idempotency_key=uuid.uuid4().hex, due_at=due, created_at=now, updated_at=now)
            )  # fmt: skip
        first_due = min(due_time(at, str(a["time_zone"] or "UTC")) for a, _ in chosen) if at else now
        status = "awaiting_approval" if needs_approval else "scheduled"
        await writer.records.update("social_post", post_id, {"status": status, "scheduled_at": first_due})
        if status == "scheduled":
            await _queue_all(context, post_id)
    return dict(await context.records.get("social_post", post_id) or {})


async def approve(context: PluginContext, post_id: int) -> dict[str, Any]:
    """A second person approves a post waiting for it; its targets are queued."""
    post = await _post(context, post_id, "update")
    if post["status"] != "awaiting_approval":
        raise ValidationFailed.single("postId", "not_awaiting", f"the post is {post['status']}")
    me = context.actor.user_id
    if me is not None and post.get("owner") == me:
        raise ValidationFailed.single("approvedBy", "same_person", "a post needs a second person's approval")
    async with context.db.transaction():
        # through the caller's grants: a role whose grant makes approvedBy read-only cannot approve
        await context.records.update("social_post", post_id, {"approved_by": me})
        stamp = {"status": "scheduled", "approved_at": dt.datetime.now(dt.UTC)}
        await context.as_plugin().records.update("social_post", post_id, stamp)
        await _queue_all(context, post_id)
    return dict(await context.records.get("social_post", post_id) or {})


async def cancel(context: PluginContext, post_id: int) -> dict[str, Any]:
    """Withdraw what has not gone out yet (published targets stay published)."""
    post = await _post(context, post_id, "update")
    async with context.db.transaction():
        await PostTarget.update({PostTarget.status: "cancelled", PostTarget.updated_at: dt.datetime.now(dt.UTC)}).where(
            (PostTarget.post == post_id) & (PostTarget.status == "pending")
        )
        if post["status"] in ("draft", "awaiting_approval", "scheduled"):
            await context.as_plugin().records.update("social_post", post_id, {"status": "cancelled"})
    return dict(await context.records.get("social_post", post_id) or {})


async def _queue_all(context: PluginContext, post_id: int) -> None:
    for target in await PostTarget.select().where((PostTarget.post == post_id) & (PostTarget.status == "pending")):
        await publisher.queue(context, target)


async def reply(context: PluginContext, account_id: int, in_reply_to: str, text: str) -> dict[str, Any]:
    """Publish ``text`` now as a reply in a thread on one account (an agent answering a
    social ticket): a post and one target, queued at once, no approval."""
    async with context.db.transaction():
        post = await context.as_plugin(keep_permissions=False, name="social reply").system.create(
            "social_post", {"text": text, "in_reply_to": in_reply_to, "status": "draft"}
        )
        await schedule(context.as_plugin(keep_permissions=False, name="social reply"), int(post["id"]), None,
                       [{"accountId": str(account_id)}])  # fmt: skip
    return dict(post)


async def targets_of(post_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await PostTarget.select().where(PostTarget.post == post_id).order_by(PostTarget.id)
    return rows


__all__ = ["SocialPost", "approve", "cancel", "due_time", "reply", "schedule", "targets_of"]
