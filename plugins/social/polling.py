"""Fetching from platforms that are asked rather than pushing: ``social.poll``, one run
per account every ``poll_seconds``.

Items are stored before the cursor moves (one transaction: both or neither), so a crash
after a fetch fetches the same items again and stores nothing twice.  A rate limit
waits for the platform's reset; expired credentials mark the account
``reconnect_needed`` and stop its polling until it is connected again.

An account has one chain of runs.  A second one can start (a reconnect while the
account was still polled): the regular runs are keyed by their ``poll_seconds`` slot,
so two chains ask for the same slot's key within two rounds, the job queue keeps one,
and the other ends.  ``kith social poll`` fetches without queueing anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from typing import Any

from kith.plugins.social import accounts, intake
from kith.plugins.social.connectors.base import ConnectorError, RateLimited, TokenExpired
from kith.plugins.social.connectors.registry import connector
from kith.plugins.social.settings import social_settings
from kith.sdk import JobRun, PluginContext, Records

POLL_JOB = "social.poll"


async def start(context: PluginContext, account_id: int) -> None:
    """Poll a (re)connected account now; its chain goes on from there."""
    now = dt.datetime.now(dt.UTC)
    await _schedule(context, account_id, now, f"start:{now.timestamp()}")


async def run_poll(context: PluginContext, run: JobRun) -> None:
    """The job: one fetch, and the account's next run queued with what it stored.  Its
    clock is the later of now and the run's due time (the worker decides when a run is
    due; tests move its clock)."""
    now = max(dt.datetime.now(dt.UTC), run.due_at or dt.datetime.now(dt.UTC))
    await fetch_once(context, int(run.record_id or 0), reschedule=True, now=now)


async def fetch_once(
    context: PluginContext, account_id: int, *, reschedule: bool = False, now: dt.datetime | None = None
) -> None:
    """Fetch what is new for the account and store it; with ``reschedule``, queue the
    next run (in the same transaction as the stored items and the cursor)."""
    account = await context.system.get("social_account", account_id)
    if account is None or account["status"] != "connected":
        return  # paused or waiting for a person: a reconnect starts polling again
    expires = account.get("token_expires_at")
    if expires is not None and expires <= (now or dt.datetime.now(dt.UTC)):
        await accounts.needs_reconnect(context, account_id, "its token expired")
        return
    found = connector(context, str(account["platform"]))
    every = social_settings(context).poll_seconds
    now = now or dt.datetime.now(dt.UTC)
    called_at = dt.datetime.now(dt.UTC)
    try:
        async with accounts.opened(context, account) as access:
            fetched = await found.fetch_items(access, account.get("cursor"))
    except TokenExpired as exc:
        # refused credentials a person replaced meanwhile: the reconnect polls again
        await accounts.needs_reconnect(context, account_id, exc.reason, called_at=called_at)
        return
    except ConnectorError as exc:
        await _note(context, account, exc.reason)
        if reschedule:
            later = exc.retry_at if isinstance(exc, RateLimited) and exc.retry_at else now
            await _next(context, account_id, max(later, now + dt.timedelta(seconds=1)), every)
        return
    async with context.db.transaction():
        await intake.store(context, account, fetched.items)
        values: dict[str, Any] = {"fetched_at": now, "last_error": None}
        if fetched.cursor is not None:
            values["cursor"] = fetched.cursor
        await _writer(context).update("social_account", account_id, values)
        if reschedule and fetched.more:  # the rest of a long backlog, right away
            page = hashlib.sha256(str(fetched.cursor).encode()).hexdigest()[:16]
            await _schedule(context, account_id, now, f"more:{page}")
        elif reschedule:
            await _next(context, account_id, now, every)


async def _next(context: PluginContext, account_id: int, after: dt.datetime, every: float) -> None:
    """The regular run: at the start of the first ``every``-second slot after ``after``,
    keyed by that slot."""
    slot = math.floor(after.timestamp() / every) + 1
    await _schedule(context, account_id, dt.datetime.fromtimestamp(slot * every, dt.UTC), str(slot))


async def _schedule(context: PluginContext, account_id: int, at: dt.datetime, key: str) -> None:
    await context.schedule(
        POLL_JOB, key=f"{POLL_JOB}:{account_id}:{key}", at=at, entity="social_account", record_id=account_id
    )


def _writer(context: PluginContext) -> Records:
    """Polling's writes (the cursor, the last error) are the plugin's own."""
    return context.as_plugin(keep_permissions=False, name="social polling").records


async def _note(context: PluginContext, account: Mapping[str, Any], reason: str) -> None:
    await _writer(context).update("social_account", account["id"], {"last_error": reason[:2000]})
