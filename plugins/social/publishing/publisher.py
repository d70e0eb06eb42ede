"""Publishing one target exactly once: the state machine behind ``social.publish``.

The danger in publishing is the call whose answer never comes: the platform may have
posted it.  Retrying blindly posts twice; giving up silently loses it.  So a target
moves through states kept in the database, each step in its own short transaction:

``pending`` -> ``publishing`` (claimed, attempt counted, committed *before* the call)
-> ``published`` / ``failed`` (a refusal that retrying cannot fix) / back to ``pending``
(rate limited or unreachable *before* sending: nothing can exist) / ``unknown`` (sent,
no answer).

``unknown`` is settled against the platform: a connector whose platform honours
idempotency keys sends the post again with the same key while the platform remembers
it (the platform answers with the post it already has, or makes it once); otherwise,
or later, ``find_published`` looks for it.  Found: ``published``; surely absent:
``pending`` again; still cannot tell: checked again later, and after ``MAX_CHECKS`` the
target ``needs_attention`` from a person, with what is known.  A worker killed during
the call leaves the target ``publishing``: a run is queued for when that call is taken
to have died (``STALE_CALL``), and it treats the target as ``unknown``.  While the
account waits for a person to reconnect it, targets keep their state and are queued
again by the reconnect.

Budgets are respected before calling: at most ``limits.concurrency`` calls in flight
per account, at most ``posts_per_day`` (the account's, else the connector's) published
per day in the account's time zone, and the platform's own usage headers
(``RateLimited`` before the limit, from the connector).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from kith.plugins.social import accounts
from kith.plugins.social.connectors.base import (
    Connector,
    ConnectorError,
    Media,
    OutcomeUnknown,
    PostRequest,
    Published,
    RateLimited,
    Rejected,
    TokenExpired,
)
from kith.plugins.social.connectors.registry import connector
from kith.plugins.social.publishing.models import PostTarget, SocialPost
from kith.sdk import JobRun, PluginContext

PUBLISH_JOB = "social.publish"
#: attempts at a target that could not reach the platform before it is failed
MAX_ATTEMPTS = 6
#: checks of an unknown outcome before a person is asked
MAX_CHECKS = 5
#: a call in flight longer than this is taken to have died with its worker (seconds)
STALE_CALL = 120
TERMINAL = ("published", "failed", "needs_attention", "cancelled")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff(attempt: int) -> dt.timedelta:
    """5 s, 20 s, 80 s, … up to 30 minutes between tries."""
    return dt.timedelta(seconds=min(5 * 4 ** max(attempt - 1, 0), 1800))


async def queue(
    context: PluginContext, target: Mapping[str, Any], at: dt.datetime | None = None, *, why: str = ""
) -> None:
    """Queue the next step for ``target``: idempotent per state of the target (its
    ``updated_at`` moves with every change), so asking twice for one state queues once
    and no later state can reuse a key already taken."""
    changed = target.get("updated_at") or target.get("created_at")
    version = f"{changed.timestamp():.6f}" if changed is not None else "0"
    step = f"{target['id']}:{target.get('attempts') or 0}:{target.get('checks') or 0}:{version}{why and ':' + why}"
    when = at or target.get("due_at") or _now()
    await context.schedule(
        PUBLISH_JOB, key=f"{PUBLISH_JOB}:{step}:{int(when.timestamp())}", at=when,
        entity="social_post_target", record_id=int(target["id"]),
    )  # fmt: skip


async def _target(target_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await PostTarget.select().where(PostTarget.id == target_id).first()
    return row


async def _set(context: PluginContext, target_id: int, **values: Any) -> dict[str, Any]:
    columns = {getattr(PostTarget, name): value for name, value in values.items()}
    columns[PostTarget.updated_at] = _now()
    await PostTarget.update(columns).where(PostTarget.id == target_id)
    found = await _target(target_id)
    assert found is not None
    return found


async def run_publish(context: PluginContext, run: JobRun) -> None:
    """The job: take the target one step further.  Its clock is the later of now and
    the run's due time: the worker decides when a step is due (tests move its clock)."""
    target_id = int(run.record_id or 0)
    now = max(_now(), run.due_at or _now())
    claimed = await _claim(context, target_id, now)
    if claimed is None:
        return
    target, account, mode = claimed
    found = connector(context, str(account["platform"]))
    request = await _request(context, target)
    try:
        async with accounts.opened(context, account) as access:
            if mode == "find":
                result: Published | None = await found.find_published(access, request)
            else:
                result = await found.publish(access, request)
    except ConnectorError as exc:
        await _failed_call(context, target, account, mode, exc, now)
        return
    if result is None:  # surely absent: publishing it is safe
        updated = await _set(context, target_id, status="pending", error=None)
        await queue(context, updated)
        return
    await _published(context, target, result)


async def _claim(
    context: PluginContext, target_id: int, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """Decide this step under a row lock: ``publish`` (first or another try), ``republish``
    (an unknown outcome, with the same idempotency key), ``find`` (an unknown outcome
    looked for) or nothing (done, not due, over a budget: queued for later)."""
    async with context.db.transaction():
        await context.db.lock_rows(PostTarget, [target_id])
        target = await _target(target_id)
        if target is None or target["status"] in TERMINAL:
            return None
        account = await context.system.get("social_account", int(target["account"]))
        if account is None:
            await _set(context, target_id, status="failed", error="the account was removed")
            return None
        if target["status"] == "publishing" and not _stale(target, now):
            # another worker's call is in flight; if that worker dies, this run settles it
            await queue(context, target, target["updated_at"] + dt.timedelta(seconds=STALE_CALL + 1))
            return None
        if account["status"] != "connected":
            # nothing can be sent or looked for until a person connects the account again;
            # the target keeps its state (an unknown outcome stays to be settled) and
            # ``accounts.reconnect`` queues it again
            await _set(context, target_id, error=f"waiting for the account: it is {account['status']}")
            return None
        found = connector(context, str(account["platform"]))
        if target["status"] in ("publishing", "unknown"):
            mode = _settle_mode(found, target, now)
            checked = await _set(context, target_id, status="unknown", checks=int(target["checks"] or 0) + 1)
            return checked, account, mode
        if target["due_at"] and target["due_at"] > now:
            return None  # not yet: its own job comes
        wait = await _budget_wait(found, account, target_id, now)
        if wait is not None:
            updated = await _set(context, target_id, due_at=wait)
            await queue(context, updated, wait)
            return None
        first = target.get("first_attempt_at") or _now()
        claimed = await _set(
            context, target_id, status="publishing", attempts=int(target["attempts"] or 0) + 1, first_attempt_at=first
        )
        return claimed, account, "publish"


def _stale(target: Mapping[str, Any], now: dt.datetime) -> bool:
    updated = target.get("updated_at")
    return updated is None or (now - updated).total_seconds() > STALE_CALL


def _settle_mode(found: Connector, target: Mapping[str, Any], now: dt.datetime) -> str:
    """Send again with the key while the platform remembers it, else look for the post."""
    first_try = target.get("first_attempt_at") or target.get("created_at") or now
    remembered = (now - first_try).total_seconds() < found.limits.idempotency_seconds * 0.9
    return "republish" if found.supports_idempotency and remembered else "find"


async def _budget_wait(
    found: Connector, account: Mapping[str, Any], target_id: int, now: dt.datetime
) -> dt.datetime | None:
    """When this target may go out without passing a budget (None: now)."""
    busy = await PostTarget.count().where(
        (PostTarget.account == account["id"]) & (PostTarget.status == "publishing") & (PostTarget.id != target_id)
        & (PostTarget.updated_at > now - dt.timedelta(seconds=STALE_CALL))
    )  # fmt: skip
    if busy >= found.limits.concurrency:
        return now + dt.timedelta(seconds=2)
    per_day = account.get("posts_per_day") or found.limits.posts_per_day
    if per_day:
        zone = ZoneInfo(str(account.get("time_zone") or "UTC"))
        local = now.astimezone(zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        done = await PostTarget.count().where(
            (PostTarget.account == account["id"]) & (PostTarget.status == "published")
            & (PostTarget.published_at >= midnight.astimezone(dt.UTC))
        )  # fmt: skip
        if done >= per_day:
            return (midnight + dt.timedelta(days=1)).astimezone(dt.UTC)
    return None


async def _request(context: PluginContext, target: Mapping[str, Any]) -> PostRequest:
    post = await SocialPost.select().where(SocialPost.id == target["post"]).first()
    assert post is not None
    media = []
    for file_id in json.loads(post["media"] or "[]"):
        stored = await context.files.read(int(file_id))
        if stored is not None and stored.data is not None:
            media.append(Media(stored.name, stored.content_type, stored.data))
    text = target["text"] if target.get("text") is not None else post["text"]
    first_try = target.get("first_attempt_at")
    return PostRequest(str(text), str(target["idempotency_key"]), post.get("in_reply_to"), tuple(media), first_try)


async def _published(context: PluginContext, target: Mapping[str, Any], result: Published) -> None:
    async with context.db.transaction():
        await _set(context, int(target["id"]), status="published", platform_id=result.platform_id, url=result.url,
                   published_at=_now(), error=None)  # fmt: skip
        await _post_progress(context, int(target["post"]))
        payload = {"targetId": int(target["id"]), "platformId": result.platform_id, "url": result.url}
        await context.emit("social.post_published", "social_post", int(target["post"]), payload)


async def _failed_call(
    context: PluginContext,
    target: Mapping[str, Any],
    account: Mapping[str, Any],
    mode: str,
    error: ConnectorError,
    now: dt.datetime,
) -> None:
    target_id = int(target["id"])
    settling = mode != "publish"
    async with context.db.transaction():
        if isinstance(error, TokenExpired):
            # refused before anything was made (a publish) or before anything was learnt
            # (a settling call): the target waits in its state for the reconnect
            flagged = await accounts.needs_reconnect(
                context, int(account["id"]), error.reason, called_at=target["updated_at"]
            )
            why = f"waiting for the account: {error.reason}" if flagged else f"credentials replaced: {error.reason}"
            counted = "checks" if settling else "attempts"  # the call that was refused does not count
            updated = await _set(
                context, target_id, status="unknown" if settling else "pending", error=why[:2000],
                **{counted: max(int(target[counted] or 0) - 1, 0)},
            )  # fmt: skip
            if not flagged:  # reconnected while the call was out: again, with the new credentials
                await queue(context, updated, now)
            return
        if isinstance(error, Rejected):
            await _finish(context, target, "failed", error.reason)
            return
        if isinstance(error, OutcomeUnknown) or settling:
            checks = int(target["checks"] or 0)  # a settling call was counted when it was claimed
            if settling and error.retry_at is not None:
                checks = max(checks - 1, 0)  # the platform only said "later": that was no check
            if checks >= MAX_CHECKS:
                why = f"could not tell whether it was published ({error.reason}); check the account"
                await _finish(context, target, "needs_attention", why)
                return
            when = _later(error, now, backoff(max(checks, 1)))
            updated = await _set(context, target_id, status="unknown", checks=checks, error=error.reason)
            await queue(context, updated, when)
            return
        # rate limited or unreachable before sending: nothing can exist, so try again later;
        # a platform saying "not now" is no failed attempt
        attempts = int(target["attempts"] or 0)
        if isinstance(error, RateLimited):
            attempts = max(attempts - 1, 0)
        if attempts >= MAX_ATTEMPTS and not isinstance(error, RateLimited):
            await _finish(context, target, "failed", f"gave up after {attempts} attempts: {error.reason}")
            return
        when = _later(error, now, backoff(attempts))
        updated = await _set(context, target_id, status="pending", attempts=attempts, due_at=when, error=error.reason)
        await queue(context, updated, when)


def _later(error: ConnectorError, now: dt.datetime, otherwise: dt.timedelta) -> dt.datetime:
    """When the platform said to come back (never sooner than a second: its reset may lie
    behind the worker's clock), else after ``otherwise``."""
    if error.retry_at is not None:
        return max(error.retry_at, now + dt.timedelta(seconds=1))
    return now + otherwise


async def requeue_account(context: PluginContext, account_id: int) -> int:
    """Queue every open target of an account again (after it was reconnected)."""
    waiting = await PostTarget.select().where(
        (PostTarget.account == account_id) & PostTarget.status.not_in(list(TERMINAL))
    )
    now = _now()
    for target in waiting:  # keyed by the reconnect: a key the target's own runs took cannot swallow it
        await queue(context, target, max(now, target.get("due_at") or now), why=f"reconnected {now.timestamp()}")
    return len(waiting)


async def _finish(context: PluginContext, target: Mapping[str, Any], status: str, reason: str) -> None:
    await _set(context, int(target["id"]), status=status, error=reason[:2000])
    await _post_progress(context, int(target["post"]))
    event = "social.post_failed" if status == "failed" else "social.post_needs_attention"
    await context.emit(
        event, "social_post", int(target["post"]), {"targetId": int(target["id"]), "reason": reason[:500]}
    )


async def _post_progress(context: PluginContext, post_id: int) -> None:
    """A post is ``done`` once every target has ended."""
    open_targets = await PostTarget.count().where(
        (PostTarget.post == post_id) & PostTarget.status.not_in(list(TERMINAL))
    )
    if open_targets == 0:
        await SocialPost.update({SocialPost.status: "done", SocialPost.updated_at: _now()}).where(
            (SocialPost.id == post_id) & (SocialPost.status == "scheduled")
        )
