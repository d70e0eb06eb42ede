"""The worker's batch path: a batch of events in one transaction and a few statements.

Handling an event alone costs a dozen statements (its record and conditions, each
action's write with its audit row and event, the effect, the runs, marking it done),
each a round trip.  ``BatchRun`` handles a run of consecutive claimed events together,
in ONE write transaction, so that a batch costs a number of statements that does not
grow with its events:

1. mark every event of the batch done: the worker claims the batch already marked done
   in this transaction (``Worker._claim_and_run``, ``marked=True``), or, for rows it
   claimed earlier with a lease, ``UPDATE … RETURNING id`` takes only the rows this
   worker still holds; on PostgreSQL the rows stay locked until the batch commits;
2. in *rounds*: read the records of the events still to run, with every rule's
   conditions as a ``CASE WHEN <filter> THEN 1 ELSE 0 END`` column, one statement per
   entity (compiled once per set of rules); walk the events in order and plan each
   rule's actions as writes (``RecordWrite``), rendering their templates; then write
   them all through ``RecordService.write_many`` (validation, hooks, audit rows and
   events, as one write at a time would) and store the effects with one insert;
3. write every rule's run record with one insert, then commit.

The guarantees are those of handling the events one at a time, in order:

* **Per-record order.** A rule sees its record as the rules and events before it left
  it.  A record written in a round is not read again in that round: the rule (and every
  later event on that record) waits for the next round, which reads it again.  A rule
  whose conditions look at other records (a relation or a reverse list) is tested only
  on a read made in the same round with nothing written before it.  If a hook, while
  the round's writes are made, changes a record the round has already read, the
  batch is abandoned (rolled back) and handled one event at a time.
* **Nothing lost, effects once.** Everything — effects, their effect records, runs and
  the events marked done (and, usually, their claim) — commits together or not at all.
  A worker killed mid-batch leaves the whole batch to be claimed again; no effect of it
  was kept.
* **Failures, retries and dead letters as before.** Any error (a refused write, a
  template that fails, a version conflict) rolls the batch back, and the worker hands
  its events one at a time to the ordinary path, which records the failing rule's run,
  retries it from the failed action with backoff and dead-letters it in the end, while
  the other events succeed.

Only events whose rules can keep these guarantees here are batched (``Batching``):
rules without ``run_as``, whose actions all write only to the database (``wait``
included), and whose templates are plain substitutions (a template that may run until
its time limit is never rendered while the batch holds the write lock).  Retries,
schedules, webhook deliveries, events claimed a second time and everything else go the
ordinary way, one at a time.  Core actions that write records (``update_fields``,
``create_record``, ``add_tag``, ``remove_tag``) are planned and written in bulk; any
other such action (``assign_owner``, a plugin's) runs on its own, when nothing is
pending before it in its round, and ends the round.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.automations import templates
from kith.core.automations.actions import (
    ActionContext,
    ActionType,
    CreateRecord,
    TagParams,
    UpdateFields,
    Wait,
    core_actions,
    to_record_input,
    toggled_tags,
)
from kith.core.automations.engine import INTERNAL_JOBS, RUN_JOB, AutomationEngine, _event_view, _json
from kith.core.automations.rules import Rule
from kith.core.automations.sandbox import is_substitution
from kith.core.entities import Entity
from kith.core.errors import ValidationFailed
from kith.core.plugins.jobs import JOB_PREFIX
from kith.core.records.change import Actor
from kith.core.records.encoding import decode_row, dumps, jsonable
from kith.core.records.service import Record, RecordWrite, track_writes
from kith.core.records.validation import graphql_name
from kith.core.storage.dialect import Prepared
from kith.core.storage.outbox import automation_depth, enqueue_many

if TYPE_CHECKING:
    from kith.core.runtime import Kith

EFFECT_COLUMNS = (("key", "VARCHAR"), ("result", "JSON"), ("at", "TIMESTAMPTZ"))
#: the run logs of skipped runs (as ``run_rule`` writes them; never changed in place)
GONE: list[dict[str, Any]] = [{"skipped": "the record no longer exists"}]
UNMET: list[dict[str, Any]] = [{"skipped": "conditions not met"}]
_SKIPPED = {id(GONE): dumps(GONE), id(UNMET): dumps(UNMET)}


#: per loaded rule: can the batch path run it; do its conditions read other records
_FITS: weakref.WeakKeyDictionary[Rule, bool] = weakref.WeakKeyDictionary()
_CROSSES: weakref.WeakKeyDictionary[Rule, bool] = weakref.WeakKeyDictionary()


class BatchAbandoned(Exception):
    """The batch cannot keep the guarantees of one-at-a-time handling; its events go
    the ordinary way."""


# -- which events can be batched -------------------------------------------------------------------


class Batching:
    """Decides which claimed events the batch path takes, with what rules."""

    def __init__(self, kith: Kith, rules: list[Rule]) -> None:
        self.kith = kith
        self.engine: AutomationEngine = kith.automations
        #: the rules that may fire on an event, by event name (in the rules' order)
        self._by_event: dict[str, list[Rule]] = {}
        for rule in rules:
            trigger = rule.trigger
            if trigger.kind == "event" and trigger.event:
                self._by_event.setdefault(trigger.event, []).append(rule)
            elif trigger.kind == "webhook":
                self._by_event.setdefault(f"webhook.{trigger.webhook}", []).append(rule)

    def firing(self, row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[Rule]] | None:
        """The payload of ``row`` (None: not read, no rule needed it) and the rules it
        fires, in order, when the batch path can take it; else None."""
        event_name = row["event"]
        if event_name == RUN_JOB or event_name in INTERNAL_JOBS or event_name.startswith(JOB_PREFIX):
            return None  # jobs (retries, waits, deliveries, schedules, mail, plugin jobs): one at a time
        if int(row.get("claims") or 0) > 1:
            return None  # a second claim (after a crash): one at a time
        event = row["event"]
        candidates = self._by_event.get(event)
        if not candidates:
            return None, []
        payload = _json(row["payload"])
        firing = [r for r in candidates if self.engine._fires(r, event, payload)]
        if not all(self.fits(rule) for rule in firing):
            return None
        return payload, firing

    def fits(self, rule: Rule) -> bool:
        fit = _FITS.get(rule)
        if fit is None:
            fit = _FITS[rule] = self._fits(rule)
        return fit

    def _fits(self, rule: Rule) -> bool:
        if rule.definition.run_as:
            return False
        for action, params in zip(rule.actions, rule.params, strict=True):
            if isinstance(params, Wait):
                continue
            if not action.transactional:
                return False  # effects outside the database are not undone by a rollback
        texts = templates.template_strings(rule.definition.conditions or {})
        texts += templates.template_strings([p.model_dump() for p in rule.params])
        return all(is_substitution(text) for text in texts)


def reads_other_records(kith: Kith, entity: Entity | None, conditions: Any) -> bool:
    """Do these conditions look at records other than the rule's own (a relation's
    fields, a reverse list)?  Unknown keys count as yes."""
    if entity is None or not conditions:
        return False
    if not isinstance(conditions, Mapping):
        return True
    relations = {spec.name for spec in entity.relation_fields() if spec.target}
    own = {graphql_name(spec) for spec in entity.fields.values()} | {"id", "createdAt", "updatedAt", "customFields"}
    for key, value in conditions.items():
        if key in ("and", "or"):
            if not isinstance(value, list) or any(reads_other_records(kith, entity, item) for item in value):
                return True
        elif key == "not":
            if reads_other_records(kith, entity, value):
                return True
        elif key in relations or key not in own:
            return True
    return False


# -- core actions planned as bulk writes -----------------------------------------------------------


@dataclass
class Planned:
    """An action's write, and how its result is told from the record written."""

    write: RecordWrite
    result: Callable[[Record], dict[str, Any]]


async def _plan_update(ctx: ActionContext, params: UpdateFields) -> Planned:
    assert ctx.entity is not None and ctx.record is not None
    values, errors = to_record_input(ctx.runtime, ctx.entity, await ctx.render(params.values), "values")
    if errors:
        raise ValidationFailed(errors)
    name = ctx.entity.name
    write = RecordWrite(name, values, ctx.actor, record_id=int(ctx.record["id"]), depth=ctx.depth)
    return Planned(write, lambda record: {"updated": name, "id": record["id"], "version": record["version"]})


async def _plan_create(ctx: ActionContext, params: CreateRecord) -> Planned:
    target = ctx.runtime.entity(params.entity)
    values, errors = to_record_input(ctx.runtime, target, await ctx.render(params.values), "values")
    if errors:
        raise ValidationFailed(errors)
    write = RecordWrite(target.name, values, ctx.actor, depth=ctx.depth)
    return Planned(write, lambda record: {"created": target.name, "id": record["id"]})


def _plan_tag(adding: bool) -> Callable[[ActionContext, TagParams], Awaitable[Planned]]:
    async def plan(ctx: ActionContext, params: TagParams) -> Planned:
        assert ctx.entity is not None and ctx.record is not None
        tag = str(await ctx.render(params.tag))
        outcome: dict[str, Any] = {}

        def change(current: Record) -> dict[str, Any] | None:
            # the tags as stored when the write is made, inside the batch's transaction
            tags = toggled_tags(current.get("tags"), tag, adding)
            if tags is None:
                outcome.update(tags=list(current.get("tags") or []), changed=False)
                return None
            outcome.update(tags=tags, changed=True)
            return {"tags": tags}

        write = RecordWrite(ctx.entity.name, change, ctx.actor, record_id=int(ctx.record["id"]), depth=ctx.depth)
        return Planned(write, lambda record: {"tags": outcome["tags"], "changed": outcome["changed"]})

    return plan


Planner = Callable[[ActionContext, Any], Awaitable[Planned]]


def _planners() -> dict[Callable[..., Any], Planner]:
    """The core actions that are written in bulk, by their ``run`` function: a plugin
    that registers an action under the same name has another ``run`` and runs as usual."""
    by_name: dict[str, Planner] = {
        "update_fields": _plan_update,
        "create_record": _plan_create,
        "add_tag": _plan_tag(True),
        "remove_tag": _plan_tag(False),
    }
    return {action.run: by_name[action.name] for action in core_actions() if action.name in by_name}


PLANNERS = _planners()


def planner_for(action: ActionType) -> Planner | None:
    return PLANNERS.get(action.run)


# -- one batch -------------------------------------------------------------------------------------


@dataclass
class Claimed:
    """A claimed outbox row, its payload, and the rules it fires (for the batch path)."""

    row: dict[str, Any]
    payload: dict[str, Any] | None = None  # None: not read yet
    rules: list[Rule] = field(default_factory=list)


@dataclass
class _Seen:
    """A record as read in a round (deleted ones too), and which rules' conditions hold.
    The row is decoded when a rule first needs the record itself."""

    entity: Entity
    row: dict[str, Any] | None
    holds: dict[str, bool]
    round: int
    _record: Record | None = None

    @property
    def exists(self) -> bool:
        return self.row is not None

    @property
    def deleted(self) -> bool:
        return self.row is not None and self.row.get("deleted_at") is not None

    @property
    def record(self) -> Record | None:
        if self._record is None and self.row is not None:
            self._record = decode_row(self.entity, self.row)
        return self._record


@dataclass
class _RuleRun:
    rule: Rule
    started_at: dt.datetime
    seconds: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    status: str = "succeeded"
    error: str | None = None
    began: bool = False
    next_action: int = 0
    record: Record | None = None


@dataclass
class _Event:
    row: dict[str, Any]
    parsed: dict[str, Any] | None
    rules: list[Rule]
    depth: int
    record_id: int | None
    deleted_ok: bool
    position: int = 0
    current: _RuleRun | None = None
    runs: list[_RuleRun] = field(default_factory=list)
    _view: dict[str, Any] | None = None

    @property
    def payload(self) -> dict[str, Any]:
        if self.parsed is None:
            self.parsed = _json(self.row["payload"])
        return self.parsed

    @property
    def view(self) -> dict[str, Any]:
        """What templates see as ``event``."""
        if self._view is None:
            self._view = _event_view(self.row, self.payload)
        return self._view

    @property
    def done(self) -> bool:
        return self.position >= len(self.rules)

    @property
    def order_key(self) -> tuple[str, int] | None:
        return None if self.record_id is None else (str(self.row.get("entity") or ""), self.record_id)


class BatchRun:
    """Handles ``rows`` (consecutive claimed events, each with the rules it fires) in the
    caller's write transaction.  Raises to have the transaction rolled back."""

    def __init__(self, kith: Kith, worker: str, rows: Sequence[Claimed], *, marked: bool = False) -> None:
        """``marked``: the rows were claimed already marked done in this transaction."""
        self.kith = kith
        self.marked = marked
        self.engine: AutomationEngine = kith.automations
        self.worker = worker
        self.rows = rows
        self.snapshots: dict[tuple[str, int], _Seen] = {}
        self.round = 0
        self.now = dt.datetime.now(dt.UTC)
        self.max_depth = kith.settings.automation_max_depth
        # what the current round has planned
        self.writes: list[RecordWrite] = []
        self.planned: list[tuple[_RuleRun, int, Planned, str]] = []
        self.effects: list[tuple[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self.touched: set[tuple[str, int]] = set()
        self.read: set[tuple[str, int]] = set()
        self.stop = False

    async def run(self) -> int:
        """Returns how many events it handled (those this worker still held)."""
        ids = [int(item.row["id"]) for item in self.rows]
        if self.marked:
            mine = set(ids)
        else:
            owned = await self.kith.db.fetch(
                QueryString(
                    "UPDATE kith_outbox SET status = 'done', processed_at = {}, last_error = NULL, "
                    "locked_until = NULL WHERE {} AND locked_by = {} AND status = 'pending' RETURNING id",
                    dt.datetime.now(dt.UTC),
                    self.kith.db.dialect.in_ids("id", ids),
                    self.worker,
                )
            )
            mine = {int(r["id"]) for r in owned}  # a row another worker took after our lease ran out is theirs
        events = [self._event(item) for item in self.rows if int(item.row["id"]) in mine]
        from kith.core.automations.webhooks import subscriptions_for

        for event in events:  # webhook deliveries, as handle() queues them
            for subscription in await subscriptions_for(self.kith, event.row["event"]):
                self.jobs.append(
                    self.engine.job(None, event.row, event.payload, start=0, attempt=1, delivery=subscription)
                )
        # every round plans at least one step (a rule tested, an action planned): a safety net
        limit = sum(len(rule.actions) + 1 for e in events for rule in e.rules) + 2
        todo = [e for e in events if not e.done]
        while todo or self.jobs:
            self.round += 1
            self.now = dt.datetime.now(dt.UTC)  # when the rules that start in this round start
            if self.round > limit:
                raise BatchAbandoned("the batch made no progress")
            await self._read(todo)
            await self._walk(todo)
            await self._flush()
            todo = [e for e in todo if not e.done]
        runs = []
        for event in events:
            for run in event.runs:
                rule = run.rule
                log_text = _SKIPPED.get(id(run.log)) or dumps(run.log)
                record_id = event.record_id if rule.entity is not None else None
                # the columns of engine.RUN_COLUMNS, as engine._run_row makes them
                runs.append(
                    (
                        rule.name,
                        event.row["id"],
                        rule.entity.name if rule.entity else None,
                        record_id,
                        1,
                        run.status,
                        log_text,
                        run.error,
                        run.started_at,
                        int(run.seconds * 1000),
                    )
                )
        await self.engine._record_runs(runs)
        return len(events)

    def _event(self, item: Claimed) -> _Event:
        row, payload = item.row, item.payload
        record_id = row.get("record_id")
        return _Event(
            row=row,
            parsed=payload,
            rules=item.rules,
            depth=int(row.get("depth") or 0),
            record_id=None if record_id is None else int(record_id),
            deleted_ok=str(row.get("event", "")).endswith(".deleted"),
        )

    def _crosses(self, rule: Rule) -> bool:
        crosses = _CROSSES.get(rule)
        if crosses is None:
            crosses = _CROSSES[rule] = reads_other_records(self.kith, rule.entity, rule.definition.conditions)
        return crosses

    # -- reading ------------------------------------------------------------------------------------

    async def _read(self, events: list[_Event]) -> None:
        """Read, one statement per entity, the records the remaining rules need and have
        no valid read of, with every rule's conditions."""
        wanted: dict[str, set[int]] = {}
        rules_of: dict[str, dict[str, Rule]] = {}
        for event in events:
            if event.done or event.record_id is None:
                continue
            for position in range(event.position, len(event.rules)):
                rule = event.rules[position]
                if rule.entity is None:
                    continue
                name = rule.entity.name
                if rule.definition.conditions:
                    rules_of.setdefault(name, {})[rule.name] = rule
                seen = self.snapshots.get((name, event.record_id))
                fresh_needed = (
                    position == event.position
                    and (event.current is None or not event.current.began)
                    and self._crosses(rule)
                    and (seen is None or seen.round != self.round)
                )
                if seen is None or fresh_needed:
                    wanted.setdefault(name, set()).add(event.record_id)
        dialect = self.kith.db.dialect
        for name, record_ids in wanted.items():
            entity = self.kith.entity(name)
            checks = list(rules_of.get(name, {}).values())
            key = ("read", name, tuple(rule.name for rule in checks))
            statement = self.engine.statements.get(key)
            if statement is None:
                columns = []
                for i, rule in enumerate(checks):
                    predicate = await self.engine.condition_sql(rule, include_deleted=True)
                    columns.append(QueryString(f"CASE WHEN {{}} THEN 1 ELSE 0 END AS _c{i}", predicate))
                select = "".join(", {}" for _ in columns)
                query = QueryString(
                    f'SELECT t.*{select} FROM "{entity.tablename}" t WHERE {{}}',
                    *columns,
                    dialect.in_ids("t.id", []),
                )
                sql, args = query.compile_string(engine_type=dialect.name)
                statement = (sql, args[:-1])  # the ids, the last argument, change with every read
                if not any(rule.conditions_templated for rule in checks):
                    self.engine.statements[key] = statement
            sql, args = statement
            rows = await self.kith.db.fetch(Prepared(sql, [*args, dialect.ids_value(sorted(record_ids))]))
            found: set[int] = set()
            marks = [(f"_c{i}", rule.name) for i, rule in enumerate(checks)]
            for row in rows:
                data = dict(row)
                holds = {name_: bool(data.pop(mark)) for mark, name_ in marks}
                record_id = int(data["id"])
                found.add(record_id)
                self.snapshots[(name, record_id)] = _Seen(entity, data, holds, self.round)
            for record_id in record_ids - found:
                self.snapshots[(name, record_id)] = _Seen(entity, None, {}, self.round)

    # -- planning -----------------------------------------------------------------------------------

    async def _walk(self, events: list[_Event]) -> None:
        waiting: set[tuple[str, int]] = set()
        for event in events:
            if self.stop:
                return
            if event.done:
                continue
            key = event.order_key
            if key is not None and key in waiting:
                continue  # an earlier event on this record waits: so does this one
            if not await self._advance(event) and key is not None:
                waiting.add(key)

    async def _advance(self, event: _Event) -> bool:
        """Take ``event`` as far as this round allows; True when its rules are all planned."""
        while not event.done:
            rule = event.rules[event.position]
            if event.current is None:
                event.current = _RuleRun(rule, self.now)
            run = event.current
            started = time.perf_counter()
            try:
                finished = await self._step(event, run)
            finally:
                run.seconds += time.perf_counter() - started
            if not finished:
                return False
            event.runs.append(run)
            event.current = None
            event.position += 1
            if self.stop:
                return False
        return True

    async def _step(self, event: _Event, run: _RuleRun) -> bool:
        """Plan what of ``run``'s rule this round can; True when the rule is finished."""
        rule = run.rule
        key = None if rule.entity is None or event.record_id is None else (rule.entity.name, event.record_id)
        if not run.began:
            if event.depth >= self.max_depth:
                run.began = True
                run.status = "failed"
                run.error = (
                    f"stopped: this event is {event.depth} automation steps deep (limit "
                    f"{self.max_depth}); the rule's actions may re-trigger it"
                )
                return True
            record: Record | None = None
            holds = True
            if key is not None:
                seen = self.snapshots.get(key)
                if seen is None or key in self.touched:
                    return False  # written in this round: read again in the next
                if self._crosses(rule) and (seen.round != self.round or self.writes):
                    return False  # its conditions read other records: only with nothing pending
                self.read.add(key)
                if not seen.exists or (seen.deleted and not event.deleted_ok):
                    run.began = True
                    run.status = "skipped"
                    run.log = GONE
                    return True
                holds = seen.holds.get(rule.name, True)
                if holds:
                    record = seen.record
            run.began = True
            if not holds:
                run.status = "skipped"
                run.log = UNMET
                return True
            run.record = record
        while run.next_action < len(rule.actions):
            index = run.next_action
            action, params = rule.actions[index], rule.params[index]
            action_key = f"{event.row['idempotency_key']}:{rule.name}:{index}"
            if key is not None:
                if key in self.touched:
                    return False  # the next action sees the record as written: next round
                seen = self.snapshots.get(key)
                if seen is None:
                    return False
                self.read.add(key)
                if seen.record is not None:
                    run.record = seen.record
            if isinstance(params, Wait):
                resume_at = dt.datetime.now(dt.UTC) + params.delta
                self.jobs.append(
                    self.engine.job(
                        rule, event.row, event.payload, start=index + 1, attempt=1, at=resume_at,
                        key=f"{action_key}:wait",
                    )
                )  # fmt: skip
                run.log.append({"action": action.name, "waiting_until": resume_at.isoformat()})
                run.status = "waiting"
                return True
            actor = Actor(name=f"automation:{rule.name}", source="automation")
            ctx = ActionContext(
                self.kith, rule.name, rule.entity, run.record, event.view, action_key, actor, event.depth
            )
            planner = planner_for(action)
            if planner is not None:
                planned = await planner(ctx, params)  # it writes nothing: the depth goes with its write
                run.log.append({"action": action.name})
                self.planned.append((run, len(run.log) - 1, planned, action_key))
                self.writes.append(planned.write)
                if planned.write.record_id is not None:
                    self.touched.add((self.kith.entity(planned.write.entity).name, int(planned.write.record_id)))
                run.next_action += 1
                continue
            # another action that writes records: alone, with everything before it written
            if self.writes:
                self.stop = True
                return False
            await ctx.prerender(params)
            with automation_depth(event.depth), track_writes() as written:
                result = await action.run(ctx, params)
            self.effects.append((action_key, result))
            run.log.append({"action": action.name, "done": jsonable(result)})
            run.next_action += 1
            self._forget(written)
            self.stop = True  # what it wrote is read again in the next round
            return run.next_action >= len(rule.actions)
        return True

    # -- writing --------------------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Write what the round planned, store the effects and queue the jobs."""
        if self.writes:
            with track_writes() as written:
                records = await self.kith.records.write_many(self.writes)
            for (run, position, planned, action_key), record in zip(self.planned, records, strict=True):
                result = planned.result(record)
                run.log[position] = {"action": run.log[position]["action"], "done": jsonable(result)}
                self.effects.append((action_key, result))
            created = {
                (self.kith.entity(w.entity).name, int(r["id"]))
                for w, r in zip(self.writes, records, strict=True)
                if w.record_id is None
            }
            side = written - self.touched - created  # what hooks wrote on their own
            if side & self.read:
                raise BatchAbandoned("a hook changed a record this round had read")
            self._forget(written)
        if self.effects:
            now = dt.datetime.now(dt.UTC)
            await self.kith.db.insert_rows(
                "kith_action_effect", EFFECT_COLUMNS, [(key, dumps(result), now) for key, result in self.effects]
            )
        if self.jobs:
            await enqueue_many(self.kith.db, self.jobs)
        self.writes, self.planned, self.effects, self.jobs = [], [], [], []
        self.touched, self.read = set(), set()
        self.stop = False

    def _forget(self, keys: set[tuple[str, int]]) -> None:
        for key in keys:
            self.snapshots.pop(key, None)


__all__ = ["BatchAbandoned", "BatchRun", "Batching", "Claimed", "RecordWrite"]
