"""The worker: drains the outbox, runs schedules, and keeps going after failures.

Rows are claimed with a lease (``locked_until``) in one short statement —
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share the queue
and never take the same row; SQLite serialises writers, so the same statement is
safe there.  A worker killed mid-batch leaves its rows leased; when the lease runs
out another worker (or the same one, restarted) takes them again, and the idempotency
keys of the actions already done make the second pass skip them.
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
        self._last_schedule_check = 0.0

    async def claim(self) -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC)
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
        await self.kith.automations.rules()  # one version check per batch
        for row in rows:
            if await self._process(row):
                # marked one by one: a crash loses at most the event being handled
                await self._finish(row, "done", None)
        self.processed += len(rows)
        return len(rows)

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
                dt.datetime.now(dt.UTC),
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
                dt.datetime.now(dt.UTC) + retry.delay,
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
