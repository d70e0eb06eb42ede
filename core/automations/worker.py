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
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.automations.engine import DeadLetter, RetryJob
from kith.core.records.encoding import dumps

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger("kith.worker")


class Worker:
    def __init__(self, kith: Kith, name: str | None = None, batch: int | None = None) -> None:
        self.kith = kith
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch = batch or kith.settings.worker_batch
        self.lease = dt.timedelta(seconds=kith.settings.worker_lease_seconds)
        self.processed = 0
        #: how many heartbeats renewed this worker's lease (for logs and tests)
        self.renewals = 0
        #: the time leases are measured against (tests replace it to move time on)
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        self._last_schedule_check = 0.0

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
        """Claim one batch and process it; returns how many rows were handled."""
        await self._schedules()
        rows = await self.claim()
        if not rows:
            return 0
        async with self._heartbeat([row["id"] for row in rows]):
            await self.kith.automations.rules()  # one version check per batch
            for row in rows:
                if await self._process(row):
                    # marked one by one: a crash loses at most the event being handled
                    await self._finish(row, "done", None)
        self.processed += len(rows)
        return len(rows)

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
        """Process until nothing is due (tests, ``kith worker --once``)."""
        total = 0
        for _ in range(max_rounds):
            self._last_schedule_check = -1e9
            handled = await self.run_once()
            total += handled
            if handled == 0:
                return total
        return total

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        poll = self.kith.settings.worker_poll_seconds
        log.info("worker %s started", self.name)
        while not stop.is_set():
            try:
                await self.kith.refresh_if_changed()
                handled = await self.run_once()
            except Exception:
                log.exception("worker %s: round failed; pausing", self.name)
                handled = 0
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll)
        log.info("worker %s stopped after %d events", self.name, self.processed)
