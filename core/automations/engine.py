"""The automation engine: which rules an event fires, and running a rule durably.

Running a rule: load the record as it is now, test the conditions in SQL (the same
filter compiler as GraphQL), then run the actions in order.  Each action execution
has an idempotency key (event key, rule, action index) that is stable across retries;
an action that writes through the record service commits its effect record in the
same transaction as its write, so a retry after a crash skips it instead of doing it
twice.  A failure schedules a retry of the rule from the failed action, with jittered
exponential backoff; after ``automation_max_attempts`` the job is dead-lettered.
A ``wait`` schedules the rest of the rule for later.  A rule whose actions re-trigger
it stops at ``automation_max_depth`` with a recorded error.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.automations import templates, visibility
from kith.core.automations.actions import ActionContext, ActionType, Wait, core_actions
from kith.core.automations.rules import Rule, check_rule
from kith.core.errors import KithError, ValidationFailed
from kith.core.plugins import jobs
from kith.core.plugins.jobs import Job
from kith.core.records.change import Actor
from kith.core.records.encoding import dumps, jsonable, loads
from kith.core.storage.meta import get_meta, set_meta
from kith.core.storage.outbox import automation_depth, enqueue

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger("kith.automations")

RUN_JOB = "automation.run"  # a rule to (re)run: retries, waits, schedules, manual runs
#: columns of a run record, with their SQL types (``_run_row`` makes the rows)
RUN_COLUMNS = (
    ("rule", "VARCHAR"),
    ("event_id", "BIGINT"),
    ("entity", "VARCHAR"),
    ("record_id", "BIGINT"),
    ("attempt", "INTEGER"),
    ("status", "VARCHAR"),
    ("actions", "JSON"),
    ("error", "TEXT"),
    ("started_at", "TIMESTAMPTZ"),
    ("duration_ms", "INTEGER"),
)
RULES_VERSION = "rules_version"
#: the core's own jobs the worker runs (event -> "module:function" taking (kith, row,
#: payload)), ahead of rules and webhooks: they are work, not events anyone subscribes to.
#: A job raises ``RetryJob`` (start -1) to be tried again later, ``DeadLetter`` to give up.
INTERNAL_JOBS = {
    "kith.mail.received": "kith.core.mail.inbound:dispatch_job",
    "kith.mail.send": "kith.core.mail.outbound:deliver_job",
    "kith.reports.deliver": "kith.core.reports.delivery:deliver_job",
}


@dataclass(frozen=True)
class DomainEvent:
    """An event a plugin declares (``deal.stage_changed``), so rules can trigger on it.

    ``reveals`` maps payload keys to the field of ``entity`` whose value they carry
    (``{"from": "stage", "to": "stage"}``): a subscriber or ``run_as`` rule that may not
    see that field does not get those keys.  Keys named after a field need no entry.
    """

    name: str
    entity: str
    description: str = ""
    reveals: Mapping[str, str] = field(default_factory=dict)


class AutomationEngine:
    def __init__(self, kith: Kith) -> None:
        self.kith = kith
        self.actions: dict[str, ActionType] = {}
        self.events: dict[str, DomainEvent] = {}
        self.functions: dict[str, Any] = {}
        #: plugin jobs by name (``kith_jobs``)
        self.jobs: dict[str, Job] = {}
        self._rules: list[Rule] = []
        self._rules_version: int | None = None
        #: (name, event patterns) of enabled webhook subscriptions; None: read again
        self.subscription_cache: list[tuple[str, list[str]]] | None = None
        #: SQL compiled for the loaded rules (the batch path's record reads), emptied
        #: when the rules are read again
        self.statements: dict[Any, Any] = {}

    # -- registries ---------------------------------------------------------------------

    def load_registries(self) -> None:
        """Core and plugin actions, domain events and functions (at start and on reload)."""
        actions = {a.name: a for a in core_actions()}
        for plugin, contributed in self.kith.plugins.call("kith_automation_actions"):
            for action in contributed:
                actions[action.name] = ActionType(**{**action.__dict__, "plugin": plugin})
        self.actions = actions
        # every entity can be imported: one event per finished import, for rules that
        # want to act once per file rather than once per record (core/imports/runner.py)
        imported = [
            DomainEvent(f"{e.name}.imported", e.name, f"An import of {e.name} records finished (one event per file).")
            for e in self.kith.entities
        ]
        declared = [e for _plugin, events in self.kith.plugins.call("kith_automation_events") for e in events]
        self.events = {e.name: e for e in [*imported, *declared]}
        self.functions = {
            name: fn
            for _plugin, registered in self.kith.plugins.call("kith_automation_functions")
            for name, fn in registered.items()
        }
        self.jobs = jobs.collect(self.kith)
        self._rules_version = None  # re-check rules against the new registries

    async def rules(self, *, refresh: bool = True, version: int | None = None) -> list[Rule]:
        """Enabled rules, re-read when any process changed one.

        Workers check the version once per batch (``rules()``, or ``version`` when they
        read it with their claim) and pass ``refresh=False`` per event, so the check
        costs at most one statement per batch.
        """
        if not refresh and self._rules_version is not None:
            return self._rules
        if version is None:
            version = int(await get_meta(self.kith.db, RULES_VERSION) or 0)
        if version != self._rules_version:
            rows = await self.kith.db.execute(
                "SELECT name, definition, source FROM kith_automation_rule WHERE enabled = {} ORDER BY name", True
            )
            rules = []
            for row in rows:
                if not self._plugin_active(row["source"]):
                    continue  # a disabled plugin's rules rest until it is enabled again
                try:
                    rules.append(await check_rule(self.kith, _json(row["definition"]), row["source"]))
                except ValidationFailed as exc:  # e.g. a field it uses was removed
                    log.error("rule %s is enabled but no longer valid, skipped: %s", row["name"], exc)
            self._rules = rules
            self._rules_version = version
            self.subscription_cache = None
            self.statements = {}
        return self._rules

    def _plugin_active(self, source: str | None) -> bool:
        plugin = (source or "").removeprefix("plugin:") if (source or "").startswith("plugin:") else None
        return plugin is None or plugin in self.kith.plugins.active

    async def rules_changed(self) -> None:
        value = int(await get_meta(self.kith.db, RULES_VERSION) or 0)
        await set_meta(self.kith.db, RULES_VERSION, str(value + 1))

    # -- events -------------------------------------------------------------------------

    async def emit(self, event: str, entity: str, record_id: int | None, payload: dict[str, Any]) -> None:
        """Announce a domain event (in the caller's transaction, if any)."""
        await enqueue(self.kith.db, event, entity=entity, record_id=record_id, payload=jsonable(payload))

    async def handle(self, row: dict[str, Any]) -> None:
        """Process one outbox row; raises ``RetryJob`` / ``DeadLetter`` for a failed job."""
        event = row["event"]
        payload = _json(row["payload"])
        if event == RUN_JOB:
            await self._run_job(row, payload)
            return
        if event.startswith(jobs.JOB_PREFIX):
            await jobs.run(self.kith, row, payload)
            return
        job = INTERNAL_JOBS.get(event)
        if job is not None:
            module, _, function = job.partition(":")
            await getattr(importlib.import_module(module), function)(self.kith, row, payload)
            return
        from kith.core.automations.webhooks import subscriptions_for

        rules = await self.rules(refresh=False)
        for subscription in await subscriptions_for(self.kith, event):
            await self.schedule_rule_run(None, row, payload, start=0, attempt=1, delivery=subscription, now=True)
        firing = [r for r in rules if r.trigger.kind in ("event", "webhook") and self._fires(r, event, payload)]
        if not firing:
            return
        # Only the first claim of an event can find no effects of its own: later claims
        # (after a crash) look each action's idempotency key up before running it.
        fresh = int(row.get("claims") or 0) <= 1
        runs: list[tuple[Any, ...]] = []
        snapshot: Snapshot | None = None
        try:
            for rule in firing:
                if snapshot is None or snapshot.stale:
                    snapshot = await self._snapshot(firing, row)
                await self.run_rule(rule, row, payload, start=0, attempt=1, snapshot=snapshot, fresh=fresh, runs=runs)
        finally:
            await self._record_runs(runs)

    def _fires(self, rule: Rule, event: str, payload: dict[str, Any]) -> bool:
        if rule.trigger.kind == "webhook":
            return event == f"webhook.{rule.trigger.webhook}"
        return rule.matches(event, payload)

    async def _run_job(self, row: dict[str, Any], job: dict[str, Any]) -> None:
        if job.get("delivery"):
            from kith.core.automations.webhooks import deliver_event

            await deliver_event(self.kith, job, row)
            return
        rule = next((r for r in await self.rules() if r.name == job["rule"]), None)
        if rule is None and job.get("manual"):
            rule = await self.load_rule(job["rule"])
        if rule is None:
            log.warning("rule %s is gone or disabled; job %s dropped", job["rule"], row["id"])
            return
        origin = {
            **row,
            "idempotency_key": job["key"],
            "record_id": job.get("record_id"),
            "entity": job.get("entity"),
            "depth": row["depth"],
        }
        await self.run_rule(
            rule, origin, job.get("payload") or {}, start=job.get("start", 0), attempt=row["attempts"] + 1, job_row=row
        )

    async def load_rule(self, name: str) -> Rule | None:
        row = await self.kith.db.fetch_one(
            QueryString("SELECT definition, source FROM kith_automation_rule WHERE name = {}", name)
        )
        return await check_rule(self.kith, _json(row["definition"]), row["source"]) if row else None

    # -- running a rule -----------------------------------------------------------------

    async def run_rule(
        self,
        rule: Rule,
        origin: dict[str, Any],
        payload: dict[str, Any],
        *,
        start: int,
        attempt: int,
        job_row: dict[str, Any] | None = None,
        snapshot: Snapshot | None = None,
        fresh: bool = False,
        runs: list[tuple[Any, ...]] | None = None,
    ) -> str:
        """Run ``rule`` for the event ``origin``; returns the run's status.

        ``snapshot`` (when the caller already read the record and every rule's
        conditions in one statement) saves the per-rule reads; ``runs`` collects the
        run record for one insert per event instead of one per rule.
        """
        started = time.perf_counter()
        started_at = dt.datetime.now(dt.UTC)
        entity = rule.entity
        record_id = origin.get("record_id") if entity is not None else None
        depth = int(origin.get("depth") or 0)
        log_entries: list[dict[str, Any]] = []
        key = f"{origin['idempotency_key']}:{rule.name}"
        status, error = "succeeded", None
        retry: RetryJob | None = None
        try:
            if depth >= self.kith.settings.automation_max_depth:
                raise LoopStopped(
                    f"stopped: this event is {depth} automation steps deep (limit "
                    f"{self.kith.settings.automation_max_depth}); the rule's actions may re-trigger it"
                )
            if snapshot is not None and snapshot.entity is entity:
                record, holds = snapshot.record, snapshot.holds.get(rule.name, True)
            else:
                record = await self._current_record(rule, record_id, origin)
                holds = start > 0 or await self._conditions_hold(rule, record_id, origin)
            identity = await self._identity(rule)
            if record is not None and identity is not None and identity.permissions is not None:
                if not await identity.permissions.can_see(rule.entity, record["id"]):
                    record, holds = None, False
                    log_entries.append({"skipped": f"{rule.definition.run_as} may not see this record"})
                else:
                    record = self._as_seen(rule, identity, record)
            if entity is not None and record_id is not None and record is None:
                status = "skipped"
                if not log_entries:
                    log_entries.append({"skipped": "the record no longer exists"})
            elif not holds:
                status = "skipped"
                log_entries.append({"skipped": "conditions not met"})
            else:
                status = await self._run_actions(
                    rule, origin, payload, record, key, start, depth, log_entries, fresh=fresh, actor=identity
                )
                if snapshot is not None and any("done" in e for e in log_entries):
                    snapshot.stale = True  # the next rule must see what this one changed
        except Unrunnable as exc:
            status, error = "failed", str(exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            failed_at = start + len([e for e in log_entries if "done" in e or "already_done" in e])
            log_entries.append(
                {"action": rule.actions[failed_at].name if failed_at < len(rule.actions) else None, "error": error}
            )
            status, retry = await self._retry_or_dead(rule, origin, payload, failed_at, attempt, error, job_row)
        duration = int((time.perf_counter() - started) * 1000)
        run = self._run_row(rule, origin, record_id, attempt, status, log_entries, error, started_at, duration)
        if runs is not None:
            runs.append(run)
        else:
            await self._record_runs([run])
        if retry is not None:
            raise retry
        if job_row is not None and status == "dead":
            raise DeadLetter(error or "failed")
        return status

    async def _identity(self, rule: Rule) -> Actor | None:
        """The actor of a rule with ``run_as``: that user's grants limit what it sees and does."""
        email = rule.definition.run_as
        if not email:
            return None
        from kith.core.security.permissions import permissions_for

        user = await self.kith.auth.user_by_email(email)
        if user is None:
            raise Unrunnable(f"rule {rule.name} runs as {email}, who no longer exists")
        principal = await self.kith.auth.principal_for_user(int(user["id"]), "automation")
        permissions = None if principal.is_admin else await permissions_for(self.kith, principal)
        try:  # grants may have changed since the rule was saved
            visibility.check_run_as(self.kith, permissions, rule)
        except ValidationFailed as exc:
            raise Unrunnable(f"rule {rule.name}: {exc.errors[0].message}") from None
        return Actor(f"automation:{rule.name} as {email}", "automation", principal.user_id, permissions)

    def _as_seen(self, rule: Rule, actor: Actor | None, record: dict[str, Any]) -> dict[str, Any]:
        """The record as a ``run_as`` rule's user may see it (the same mask as payloads)."""
        if actor is None or actor.permissions is None:
            return record
        seen: dict[str, Any] = visibility.mask(self.kith, actor.permissions, rule.entity, {"record": record})["record"]
        return seen

    async def _current_record(self, rule: Rule, record_id: Any, origin: dict[str, Any]) -> dict[str, Any] | None:
        if rule.entity is None or record_id is None:
            return None
        deleted_ok = str(origin.get("event", "")).endswith(".deleted")
        rows = await self.kith.db.fetch(
            QueryString(
                f'SELECT * FROM "{rule.entity.tablename}" WHERE id = {{}}'
                + ("" if deleted_ok else " AND deleted_at IS NULL"),
                int(record_id),
            )
        )
        if not rows:
            return None
        from kith.core.records.encoding import decode_row

        return decode_row(rule.entity, rows[0])

    async def _conditions_hold(self, rule: Rule, record_id: Any, origin: dict[str, Any]) -> bool:
        if not rule.definition.conditions or rule.entity is None or record_id is None:
            return True
        where = await self.condition_sql(rule, include_deleted=str(origin.get("event", "")).endswith(".deleted"))
        row = await self.kith.db.fetch_one(
            QueryString(
                f'SELECT 1 AS ok FROM "{rule.entity.tablename}" t WHERE t.id = {{}} AND {{}}', int(record_id), where
            )
        )
        return row is not None

    async def _run_actions(
        self,
        rule: Rule,
        origin: dict[str, Any],
        payload: dict[str, Any],
        record: dict[str, Any] | None,
        key: str,
        start: int,
        depth: int,
        log_entries: list[dict[str, Any]],
        *,
        fresh: bool = False,
        actor: Actor | None = None,
    ) -> str:
        actor = actor or Actor(name=f"automation:{rule.name}", source="automation")
        for index in range(start, len(rule.actions)):
            action, params = rule.actions[index], rule.params[index]
            action_key = f"{key}:{index}"
            if isinstance(params, Wait):
                resume_at = dt.datetime.now(dt.UTC) + params.delta
                await self.schedule_rule_run(
                    rule, origin, payload, start=index + 1, attempt=1, at=resume_at, key=f"{action_key}:wait"
                )
                log_entries.append({"action": action.name, "waiting_until": resume_at.isoformat()})
                return "waiting"
            done = None if fresh else await self._effect(action_key)
            if done is not None:
                log_entries.append({"action": action.name, "already_done": done})
                continue
            ctx = ActionContext(
                self.kith, rule.name, rule.entity, record, _event_view(origin, payload), action_key, actor, depth
            )
            await ctx.prerender(params)  # before the transaction: rendering may take template_timeout_seconds
            with automation_depth(depth):
                if action.transactional:
                    async with self.kith.db.write_transaction():
                        result = await action.run(ctx, params)
                        await self._save_effect(action_key, result)
                else:
                    result = await action.run(ctx, params)
                    await self._save_effect(action_key, result)
            log_entries.append({"action": action.name, "done": jsonable(result)})
            if record is not None and rule.entity is not None and action.transactional:
                fresh_record = await self._current_record(rule, record["id"], origin)
                record = self._as_seen(rule, actor, fresh_record) if fresh_record is not None else record
        return "succeeded"

    async def _effect(self, key: str) -> Any:
        row = await self.kith.db.fetch_one(QueryString("SELECT result FROM kith_action_effect WHERE key = {}", key))
        return None if row is None else _json(row["result"])

    async def _save_effect(self, key: str, result: dict[str, Any]) -> None:
        await self.kith.db.fetch(
            QueryString(
                "INSERT INTO kith_action_effect (key, result, at) VALUES ({}, {}, {})",
                key,
                dumps(result),
                dt.datetime.now(dt.UTC),
            )
        )

    # -- retries and scheduling -----------------------------------------------------------

    def backoff(self, attempt: int) -> dt.timedelta:
        """Jittered exponential backoff: base * 2^(attempt-1), between half and all of it."""
        base = self.kith.settings.automation_retry_base_seconds
        delay = min(base * 2 ** (attempt - 1), self.kith.settings.automation_retry_max_seconds)
        return dt.timedelta(seconds=delay * (0.5 + random.random() / 2))

    async def _retry_or_dead(
        self,
        rule: Rule,
        origin: dict[str, Any],
        payload: dict[str, Any],
        start: int,
        attempt: int,
        error: str,
        job_row: dict[str, Any] | None,
    ) -> tuple[str, RetryJob | None]:
        """Decide what follows a failure: a retry later, or the dead-letter list."""
        if attempt >= self.kith.settings.automation_max_attempts:
            log.error("rule %s gave up after %d attempts: %s", rule.name, attempt, error)
            if job_row is None:  # the first attempt was the last: keep a job to inspect and replay
                await self.schedule_rule_run(
                    rule,
                    origin,
                    payload,
                    start=start,
                    attempt=attempt,
                    key=f"{origin['idempotency_key']}:{rule.name}:dead",
                    dead=error,
                )
            return "dead", None
        log.warning("rule %s failed (attempt %d), will retry: %s", rule.name, attempt, error)
        if job_row is not None:  # the worker reschedules this job
            return "retrying", RetryJob(self.backoff(attempt), start, error)
        await self.schedule_rule_run(
            rule,
            origin,
            payload,
            start=start,
            attempt=attempt,
            at=dt.datetime.now(dt.UTC) + self.backoff(attempt),
            key=f"{origin['idempotency_key']}:{rule.name}:retry",
            error=error,
        )
        return "retrying", None

    async def schedule_rule_run(
        self,
        rule: Rule | None,
        origin: dict[str, Any],
        payload: dict[str, Any],
        *,
        start: int,
        attempt: int,
        at: dt.datetime | None = None,
        key: str | None = None,
        dead: str | None = None,
        error: str | None = None,
        delivery: Any = None,
        now: bool = False,
        manual: bool = False,
    ) -> bool:
        """Queue a run of ``rule`` (or a webhook delivery) from action ``start``."""
        item = self.job(
            rule, origin, payload, start=start, attempt=attempt, at=at, key=key, failed=bool(dead or error),
            delivery=delivery, manual=manual,
        )  # fmt: skip
        key = item["key"]
        added = await enqueue(self.kith.db, **item)
        if (dead or error) and added:
            status = "dead" if dead else "pending"
            await self.kith.db.fetch(
                QueryString(
                    "UPDATE kith_outbox SET status = {}, last_error = {} WHERE idempotency_key = {}",
                    status,
                    dead or error,
                    key,
                )
            )
        return added

    def job(
        self,
        rule: Rule | None,
        origin: dict[str, Any],
        payload: dict[str, Any],
        *,
        start: int,
        attempt: int,
        at: dt.datetime | None = None,
        key: str | None = None,
        failed: bool = False,
        delivery: Any = None,
        manual: bool = False,
    ) -> dict[str, Any]:
        """The outbox row (``enqueue``'s arguments) of a run of ``rule`` from action
        ``start``, or of a webhook delivery."""
        job = {
            "rule": rule.name if rule else None,
            "key": origin["idempotency_key"],
            "entity": origin.get("entity"),
            "record_id": origin.get("record_id"),
            "event": origin.get("event"),
            "payload": payload,
            "start": start,
            "manual": manual,
        }
        if delivery is not None:
            job["delivery"] = delivery
            key = key or f"{origin['idempotency_key']}:webhook:{delivery['name']}"
        return {
            "event": RUN_JOB,
            "entity": origin.get("entity") or "",
            "record_id": origin.get("record_id"),
            "payload": job,
            "key": key,
            "available_at": at,
            "depth": int(origin.get("depth") or 0),
            "attempts": attempt if failed else 0,
        }

    def _run_row(
        self,
        rule: Rule,
        origin: dict[str, Any],
        record_id: Any,
        attempt: int,
        status: str,
        log_entries: list[dict[str, Any]],
        error: str | None,
        started_at: dt.datetime,
        duration_ms: int,
    ) -> tuple[Any, ...]:
        return (
            rule.name,
            origin.get("id"),
            rule.entity.name if rule.entity else None,
            int(record_id) if record_id is not None else None,
            attempt,
            status,
            dumps(log_entries),
            error,
            started_at,
            duration_ms,
        )

    async def _record_runs(self, runs: list[tuple[Any, ...]]) -> None:
        await self.kith.db.insert_rows("kith_automation_run", RUN_COLUMNS, runs)

    async def condition_sql(self, rule: Rule, *, include_deleted: bool) -> QueryString | None:
        """``rule``'s conditions as a SQL predicate on alias ``t`` (None: it has none),
        compiled once per loaded rule unless they hold templates (rendered anew each time)."""
        if rule.entity is None or not rule.definition.conditions:
            return None
        if rule.conditions_templated:
            conditions = await rule.conditions_now(self.kith.templates)
            return self.kith.query.where(rule.entity, conditions, include_deleted=include_deleted)
        compiled = rule.compiled.get(include_deleted)
        if compiled is None:
            compiled = self.kith.query.where(rule.entity, rule.definition.conditions, include_deleted=include_deleted)
            rule.compiled[include_deleted] = compiled
        return compiled

    async def _snapshot(self, rules: list[Rule], origin: dict[str, Any]) -> Snapshot:
        """The event's record and whether each rule's conditions hold, in one statement."""
        entity = rules[0].entity
        record_id = origin.get("record_id")
        if entity is None or record_id is None or any(r.entity is not entity for r in rules):
            return Snapshot(None, None, {})
        deleted = str(origin.get("event", "")).endswith(".deleted")
        checks = [r for r in rules if r.definition.conditions]
        columns = []
        for i, r in enumerate(checks):
            predicate = await self.condition_sql(r, include_deleted=deleted)
            columns.append(QueryString(f"CASE WHEN {{}} THEN 1 ELSE 0 END AS _c{i}", predicate))
        select = "".join(", {}" for _ in columns)
        row = await self.kith.db.fetch_one(
            QueryString(
                f'SELECT t.*{select} FROM "{entity.tablename}" t WHERE t.id = {{}}'
                + ("" if deleted else " AND t.deleted_at IS NULL"),
                *columns,
                int(record_id),
            )
        )
        if row is None:
            return Snapshot(entity, None, {})
        data = dict(row)
        holds = {r.name: bool(data.pop(f"_c{i}")) for i, r in enumerate(checks)}
        from kith.core.records.encoding import decode_row

        return Snapshot(entity, decode_row(entity, data), holds)

    # -- running on demand ------------------------------------------------------------------

    async def run_now(self, rule_name: str, record_ids: Iterable[int]) -> int:
        """Queue a run of ``rule_name`` on each record (the manual trigger); returns how many."""
        rule = await self.load_rule(rule_name)
        if rule is None:
            raise ValidationFailed.single("rule", "not_found", f"no rule named {rule_name!r}")
        count = 0
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        async with self.kith.db.write_transaction():
            for record_id in record_ids:
                origin = {
                    "idempotency_key": f"manual:{rule.name}:{record_id}:{stamp}",
                    "record_id": record_id,
                    "entity": rule.entity.name if rule.entity else None,
                    "event": "manual",
                    "depth": 0,
                }
                count += await self.schedule_rule_run(rule, origin, {}, start=0, attempt=1, now=True, manual=True)
        return count


@dataclass
class Snapshot:
    """An event's record as it is now, and which rules' conditions it meets."""

    entity: Any
    record: dict[str, Any] | None
    holds: dict[str, bool]
    stale: bool = False


class Unrunnable(KithError):
    """The rule cannot run here and retrying will not help; recorded as failed."""


class LoopStopped(Unrunnable):
    """A rule ran too many automation steps deep."""


class DeadLetter(KithError):
    """The job failed for the last time; the worker marks it dead."""


class RetryJob(KithError):
    """The job failed; the worker reschedules it after ``delay`` from action ``start``."""

    def __init__(self, delay: dt.timedelta, start: int, error: str) -> None:
        super().__init__(error)
        self.delay = delay
        self.start = start
        self.error = error


def _event_view(origin: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """What templates see as ``event``: its name, a record change's ``changes``, and
    ``data`` — an inbound webhook's body, or a domain event's payload (what its
    trigger's ``data`` matched).  A ``run_as`` rule's templates see it masked
    (``ActionContext.template_context``)."""
    view = visibility.event_view(payload)
    return {"name": origin.get("event"), "changes": view["changes"], "data": view["data"]}


def _json(value: Any) -> Any:
    return loads(value) if isinstance(value, str) else value


__all__ = ["AutomationEngine", "DomainEvent", "templates"]
