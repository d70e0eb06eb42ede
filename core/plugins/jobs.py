"""Plugin jobs: work a plugin asks the worker to do later, at a chosen time.

An SLA's breach is due at its deadline, a survey is resent after three days: a plugin
registers a ``Job`` (a name and an async handler) with ``kith_jobs`` and schedules runs
of it with ``PluginContext.schedule``.  A run is a row of the outbox, written in the
caller's transaction (a rolled-back write schedules nothing) and claimed by a worker
once its time has come, so it is neither polled for nor lost across restarts: a handler
that raises is retried with the engine's backoff, then dead-lettered where
``kith automations dead`` lists it.

A run's ``key`` makes scheduling idempotent: a second ``schedule`` with the same key is
a no-op, so "the breach check for ticket 7 at 10:30" is queued once however often the
ticket is saved.  Runs are not cancelled; a handler re-reads the state it acts on and
does nothing when the run has become stale (the deadline moved), which is simpler and
safer than finding and deleting queued rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kith.core.errors import KithError
from kith.core.records.encoding import jsonable
from kith.core.storage.outbox import enqueue

if TYPE_CHECKING:
    from kith.core.plugins.context import PluginContext
    from kith.core.runtime import Kith

log = logging.getLogger("kith.jobs")

#: outbox events that are plugin job runs start with this
JOB_PREFIX = "job."


@dataclass(frozen=True)
class JobRun:
    """One run of a job, as its handler gets it."""

    job: str
    key: str
    payload: Mapping[str, Any]
    entity: str
    record_id: int | None
    #: when it was due (``schedule``'s ``at``); the handler may run later than this
    due_at: dt.datetime | None
    #: how many times it failed before (0 on the first try)
    attempt: int


@dataclass(frozen=True)
class Job:
    """A kind of deferred work a plugin does: ``name`` (unique across plugins, say
    ``service.sla_check``) and ``handler(context, run)``, called as the system."""

    name: str
    handler: Callable[[PluginContext, JobRun], Awaitable[None]]
    description: str = ""
    plugin: str = field(default="", compare=False)


def collect(kith: Kith) -> dict[str, Job]:
    """Every enabled plugin's jobs by name; a name declared twice is an error naming both."""
    jobs: dict[str, Job] = {}
    for plugin, declared in kith.plugins.call("kith_jobs"):
        for job in declared:
            if job.name in jobs:
                raise KithError(f"job {job.name!r} is declared by both {jobs[job.name].plugin} and {plugin}")
            jobs[job.name] = Job(job.name, job.handler, job.description, plugin)
    return jobs


async def schedule(
    kith: Kith,
    job: str,
    *,
    key: str,
    at: dt.datetime | None = None,
    payload: Mapping[str, Any] | None = None,
    entity: str = "",
    record_id: int | None = None,
) -> bool:
    """Queue a run of ``job`` for ``at`` (now when None); returns False when a run with
    this ``key`` was queued before."""
    if job not in kith.automations.jobs:
        raise KithError(f"no enabled plugin declares the job {job!r} (kith_jobs)")
    if at is not None and at.tzinfo is None:
        raise KithError("a job's time must carry a time zone (a naive datetime is ambiguous)")
    body = {"key": key, "payload": jsonable(dict(payload or {})), "due_at": at.isoformat() if at else None}
    return await enqueue(
        kith.db,
        JOB_PREFIX + job,
        entity=entity,
        record_id=record_id,
        payload=body,
        key=f"{JOB_PREFIX}{job}:{key}",
        available_at=at,
    )


async def run(kith: Kith, row: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """Run the job an outbox row holds (the worker calls this); an exception propagates
    to the worker, which retries the row later."""
    from kith.core.plugins.context import PluginContext

    name = str(row["event"])[len(JOB_PREFIX) :]
    job = kith.automations.jobs.get(name)
    if job is None:
        log.warning("job %s has no handler (its plugin is disabled or gone); run %s dropped", name, row.get("id"))
        return
    due = body.get("due_at")
    await job.handler(
        PluginContext(kith),
        JobRun(
            job=name,
            key=str(body.get("key") or ""),
            payload=dict(body.get("payload") or {}),
            entity=str(row.get("entity") or ""),
            record_id=row.get("record_id"),
            due_at=dt.datetime.fromisoformat(due) if due else None,
            attempt=int(row.get("attempts") or 0),
        ),
    )
