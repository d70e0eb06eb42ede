"""The worker: drains the outbox, runs schedules, and keeps going after failures.

Rows are claimed with a lease (``locked_until``) in one short statement —
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share the queue
and never take the same row; SQLite serialises writers, so the same statement is
safe there.  The lease is short (``worker_lease_seconds``, 30 s by default) and a live
worker renews it — a heartbeat every third of the lease while it works through the
batch — so a slow job is never taken from a worker that is still on it, while a worker
that died leaves its rows to another within one lease.  The idempotency keys of the
actions already done make that second pass skip them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.automations.batch import BatchAbandoned, Batching, BatchRun, Claimed
from kith.core.automations.engine import RULES_VERSION, DeadLetter, RetryJob
from kith.core.errors import KithError
from kith.core.records.encoding import dumps

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.storage.database import Database

log = logging.getLogger("kith.worker")


@contextlib.asynccontextmanager
async def _batch_transaction(db: Database) -> AsyncIterator[None]:
    """A batch's write transaction, with Python's cyclic garbage collector paused.

    A batch allocates a great many short-lived objects that are freed by reference
    counting when it ends; collecting while it runs would only move them into the
    older generations, whose full passes then rescan all of Kith's long-lived objects."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        async with db.write_transaction():
            yield
    finally:
        if enabled:
            gc.enable()


def default_batch(kith: Kith) -> int:
    """How many events a worker claims when ``worker_batch`` is unset.

    A larger batch spreads each batch's fixed statements over more events (1,000 handle
    about a fifth more events a second than 200 on PostgreSQL), and on PostgreSQL it
    locks only the rows it writes.  On SQLite a batch holds the one write lock of the
    whole database, so it stays small enough that the API's writes wait at most a few
    hundred milliseconds behind it."""
    return 1000 if kith.db.dialect.is_postgres else 200


class Worker:
    def __init__(self, kith: Kith, name: str | None = None, batch: int | None = None) -> None:
        self.kith = kith
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch = batch or kith.settings.worker_batch or default_batch(kith)
        self.lease = dt.timedelta(seconds=kith.settings.worker_lease_seconds)
        self.processed = 0
        #: how many heartbeats renewed this worker's lease (for logs and tests)
        self.renewals = 0
        #: the time leases are measured against (tests replace it to move time on)
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        self._last_schedule_check = 0.0
        #: the last batch failed: the next claim is handled one event at a time
        self._one_by_one = False

    async def claim(self) -> list[dict[str, Any]]:
        now = self.clock()
        rows = await self.kith.db.fetch(
            QueryString(
                "UPDATE kith_outbox SET locked_by = {}, locked_until = {}, claims = claims + 1 WHERE id IN ("
                "SELECT id FROM kith_outbox WHERE status = 'pending' AND available_at <= {} "
                "AND (locked_until IS NULL OR locked_until < {}) ORDER BY id LIMIT {}"
                f"{self.kith.db.dialect.skip_locked()}) RETURNING *",
                self.name,
                now + self.lease,
                now,
                now,
                self.batch,
            )
        )
        return sorted((dict(r) for r in rows), key=lambda r: r["id"])

    async def run_once(self) -> int:
        """Claim one batch and process it; returns how many rows were handled.

        The batch is claimed, marked done and handled in one transaction when its first
        events can take the batch path (``batch.py``): a crash then undoes the claim
        with everything else, and the events are free for any worker at once.  The
        events after those, and a batch that failed, are claimed with a lease and
        handled as before: runs of events the batch path takes in one transaction each,
        the others one at a time, in the order claimed."""
        await self._schedules()
        if not self._one_by_one:
            handled = await self._claim_and_run()
            if handled is not None:
                return handled
        rows = await self.claim()
        if not rows:
            return 0
        await self._handle_leased(rows)
        return len(rows)

    async def _claim_and_run(self) -> int | None:
        """Claim a batch marked done and handle its leading batchable events, in one
        transaction; the rest stay claimed with a lease and are handled after it.
        None when the batch failed (rolled back: claim the usual way, one at a time)."""
        db = self.kith.db
        rest: list[dict[str, Any]] = []
        try:
            async with _batch_transaction(db):
                now = self.clock()
                claimed = await db.fetch(
                    QueryString(
                        "UPDATE kith_outbox SET status = 'done', processed_at = {}, last_error = NULL, "
                        "locked_by = {}, locked_until = NULL, claims = claims + 1 WHERE id IN ("
                        "SELECT id FROM kith_outbox WHERE status = 'pending' AND available_at <= {} "
                        "AND (locked_until IS NULL OR locked_until < {}) ORDER BY id LIMIT {}"
                        f"{db.dialect.skip_locked()}) RETURNING *, "
                        "(SELECT value FROM kith_meta WHERE key = {}) AS kith_rules_version",
                        now,
                        self.name,
                        now,
                        now,
                        self.batch,
                        RULES_VERSION,
                    )
                )
                if not claimed:
                    return 0
                rows = sorted((dict(r) for r in claimed), key=lambda r: r["id"])
                version = int(rows[0]["kith_rules_version"] or 0)  # read with the claim: the version check
                for row in rows:
                    del row["kith_rules_version"]
                rules = await self.kith.automations.rules(version=version)
                segments = self._segments(rows, Batching(self.kith, rules))
                batch, first = segments[0]
                if batch:
                    await BatchRun(self.kith, self.name, first, marked=True).run()
                rest = rows[len(first) :] if batch else rows
                if rest:  # claimed as claim() does: pending, leased to this worker
                    await db.fetch(
                        QueryString(
                            "UPDATE kith_outbox SET status = 'pending', processed_at = NULL, locked_until = {} "
                            "WHERE {}",
                            now + self.lease,
                            db.dialect.in_ids("id", [row["id"] for row in rest]),
                        )
                    )
                    for row in rest:
                        row.update(status="pending", processed_at=None, locked_until=now + self.lease)
        except Exception as exc:
            self._batch_failed(exc, "claimed")
            self._one_by_one = True  # the next claim goes the careful way
            return None
        self.processed += len(rows) - len(rest)
        if rest:
            await self._handle_leased(rest)
        return len(rows)

    async def _handle_leased(self, rows: list[dict[str, Any]]) -> None:
        """Handle rows claimed with a lease (renewed while they are handled)."""
        careful, self._one_by_one = self._one_by_one, False
        async with self._heartbeat([row["id"] for row in rows]):
            rules = await self.kith.automations.rules()  # one version check per batch
            for batch, group in self._segments(rows, Batching(self.kith, rules)):
                if batch and not careful and await self._run_batch(group):
                    continue
                for item in group:
                    row = item.row
                    if await self._process(row):
                        # marked one by one: a crash loses at most the event being handled
                        await self._finish(row, "done", None)
        self.processed += len(rows)

    def _batch_failed(self, exc: Exception, what: str) -> None:
        if isinstance(exc, BatchAbandoned | KithError):
            log.info("worker %s: a %s batch goes one event at a time: %s", self.name, what, exc)
        else:
            log.exception("worker %s: a %s batch failed; its events go one at a time", self.name, what)

    @staticmethod
    def _segments(rows: list[dict[str, Any]], batching: Batching) -> list[tuple[bool, list[Claimed]]]:
        """``rows`` in claim order, cut into runs the batch path takes (True) and runs it
        does not (False)."""
        segments: list[tuple[bool, list[Claimed]]] = []
        for row in rows:
            firing = batching.firing(row)
            batch = firing is not None
            if not segments or segments[-1][0] != batch:
                segments.append((batch, []))
            segments[-1][1].append(Claimed(row) if firing is None else Claimed(row, *firing))
        return segments

    async def _run_batch(self, group: list[Claimed]) -> bool:
        """Handle ``group`` (leased) in one transaction; False (and nothing written) if it
        failed, so that the caller handles its events one at a time."""
        try:
            async with _batch_transaction(self.kith.db):
                await BatchRun(self.kith, self.name, group).run()
        except Exception as exc:
            self._batch_failed(exc, "leased")
            return False
        return True

    async def renew(self, ids: list[int]) -> int:
        """Extend the lease of those of ``ids`` this worker still holds; returns how many.

        Only rows still locked by this worker and not yet finished or rescheduled (both
        clear ``locked_until``) are extended: a row another worker took after a stall
        stays theirs, and a finished row is not locked again."""
        if not ids:
            return 0
        marks = ", ".join("{}" for _ in ids)
        rows = await self.kith.db.fetch(
            QueryString(
                f"UPDATE kith_outbox SET locked_until = {{}} WHERE id IN ({marks}) AND locked_by = {{}} "
                "AND status = 'pending' AND locked_until IS NOT NULL RETURNING id",
                self.clock() + self.lease,
                *ids,
                self.name,
            )
        )
        return len(rows)

    @contextlib.asynccontextmanager
    async def _heartbeat(self, ids: list[int]) -> AsyncIterator[None]:
        """Renew the batch's lease every third of it while the body runs."""
        stop = asyncio.Event()
        interval = self.lease.total_seconds() / 3

        async def beat() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
                    return
                try:
                    if await self.renew(ids):
                        self.renewals += 1
                except Exception:  # the next beat tries again; the lease has slack for two misses
                    log.exception("worker %s: renewing its lease failed", self.name)

        task = asyncio.create_task(beat(), name=f"kith-worker-heartbeat-{self.name}")
        try:
            yield
        finally:
            stop.set()
            await task

    async def _process(self, row: dict[str, Any]) -> bool:
        """Handle one row; True when it is done (the caller marks it)."""
        engine = self.kith.automations
        try:
            await engine.handle(row)
        except RetryJob as retry:
            await self._reschedule(row, retry)
            return False
        except DeadLetter as dead:
            await self._finish(row, "dead", str(dead))
            return False
        except Exception as exc:  # a bug or an outage: keep the row, try again later
            log.exception("worker %s: event %s failed", self.name, row["id"])
            attempt = row["attempts"] + 1
            if attempt >= self.kith.settings.automation_max_attempts:
                await self._finish(row, "dead", f"{type(exc).__name__}: {exc}")
            else:
                await self._reschedule(row, RetryJob(engine.backoff(attempt), -1, f"{type(exc).__name__}: {exc}"))
            return False
        return True

    async def _finish(self, row: dict[str, Any], status: str, error: str | None) -> None:
        await self.kith.db.fetch(
            QueryString(
                "UPDATE kith_outbox SET status = {}, processed_at = {}, last_error = {}, locked_until = NULL, "
                "attempts = attempts + {} WHERE id = {} AND locked_by = {}",
                status,
                self.clock(),
                error,
                1 if status == "dead" else 0,
                row["id"],
                self.name,
            )
        )

    async def _reschedule(self, row: dict[str, Any], retry: RetryJob) -> None:
        payload = row["payload"]
        if retry.start >= 0:
            data = json.loads(payload) if isinstance(payload, str) else dict(payload)
            data["start"] = retry.start
            payload = dumps(data)
        await self.kith.db.fetch(
            QueryString(
                "UPDATE kith_outbox SET attempts = attempts + 1, available_at = {}, last_error = {}, "
                "locked_until = NULL, payload = {} WHERE id = {} AND locked_by = {}",
                self.clock() + retry.delay,
                retry.error,
                payload,
                row["id"],
                self.name,
            )
        )

    async def _schedules(self) -> None:
        """Fire due schedules and relative-time triggers, at most once per interval."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_schedule_check < self.kith.settings.schedule_check_seconds:
            return
        self._last_schedule_check = loop.time()
        from kith.core.automations.schedules import fire_due

        try:
            await fire_due(self.kith)
        except Exception:
            log.exception("worker %s: schedules failed", self.name)

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        """Process until nothing is due (tests, ``kith worker --once``): due schedules
        are fired first, and again whenever the queue looks empty."""
        total = 0
        self._last_schedule_check = -1e9
        fired = True  # the first round fires them
        for _ in range(max_rounds):
            handled = await self.run_once()
            total += handled
            if handled:
                fired = False
            elif fired:
                return total  # schedules were just fired and nothing is due
            else:
                self._last_schedule_check = -1e9  # fire them in the next round
                fired = True
        return total

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        poll = self.kith.settings.worker_poll_seconds
        gather = min(poll, self.kith.settings.worker_gather_seconds)
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                await self.kith.refresh_if_changed()
                handled = await self.run_once()
            except Exception:
                log.exception("worker %s: round failed; pausing", self.name)
                handled = 0
            # an empty queue: look again in ``poll``; a batch that was not full (events come
            # in one by one, as the API writes them): let a few more gather first, so the
            # batch's fixed statements and commit are shared by them rather than paid by
            # each (on SQLite, in this very process)
            pause = poll if handled == 0 else gather if handled < self.batch else 0.0
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
        log.info("worker %s stopped after %d events", self.name, self.processed)
