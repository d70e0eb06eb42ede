"""SLAs on records: choosing a policy, recording history, storing the clocks and
raising ``sla.warning`` / ``sla.breached`` at the instant they come due.

Whenever a record with an SLA changes in a way the clock sees (a reply, a customer's
message, a status that pauses or solves it, its priority, a policy or calendar edit),
``refresh`` recomputes its clocks from the whole history (``clock.sla_clock``), stores
them with the figures reports read, and schedules one ``service.sla_check`` job at the
next instant a target warns or breaches.  That job refreshes again and raises the
events then due, so a breach is raised at its deadline by the worker that holds the
job, not found later by polling; a job made stale by a change (the deadline moved) finds
nothing due.  Each event is raised once per deadline, whichever process notices first.

Tickets raise ``sla.warning`` and ``sla.breached``; other records raise
``<entity>.sla_warning`` / ``<entity>.sla_breached`` (a rule's trigger names one entity).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kith.plugins.service.models import Calendar, SlaEvent, SlaPolicy, SlaStatus
from kith.plugins.service.sla.calendar import ALWAYS, BusinessCalendar
from kith.plugins.service.sla.clock import Event, SlaClock, TargetClock, Targets, sla_clock
from kith.sdk import DomainEvent, JobRun, PluginContext

CHECK_JOB = "service.sla_check"
RECOMPUTE_JOB = "service.sla_recompute"
#: entities other than tickets whose SLA events are declared (rules trigger on one entity)
OTHER_ENTITIES = ("contact", "organization", "activity", "lead", "deal", "quote")


def event_names(entity: str) -> tuple[str, str]:
    """(warning, breach) event names for ``entity``."""
    if entity == "ticket":
        return ("sla.warning", "sla.breached")
    return (f"{entity}.sla_warning", f"{entity}.sla_breached")


def domain_events() -> list[DomainEvent]:
    described = "payload: target (first_response, next_response, resolution), policy, deadline, priority"
    events = []
    for entity in ("ticket", *OTHER_ENTITIES):
        warning, breach = event_names(entity)
        events.append(DomainEvent(warning, entity, f"An SLA target passed its warning share ({described})."))
        events.append(DomainEvent(breach, entity, f"An SLA target passed its deadline unmet ({described})."))
    return events


def _json(value: Any, default: Any) -> Any:
    if isinstance(value, str):
        return json.loads(value) if value else default
    return default if value is None else value


async def policies(entity: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await (
        SlaPolicy.select()
        .where((SlaPolicy.entity == entity) & (SlaPolicy.active == True) & SlaPolicy.deleted_at.is_null())  # noqa: E712
        .order_by(SlaPolicy.position, SlaPolicy.id)
    )
    return rows


async def policy_for(context: PluginContext, entity: str, record_id: int) -> dict[str, Any] | None:
    """The first active policy (by position) whose conditions the record meets."""
    for policy in await policies(entity):
        conditions = _json(policy["conditions"], {})
        if not conditions or await context.system.count(entity, {"and": [{"id": {"eq": record_id}}, conditions]}):
            return policy
    return None


async def calendar_of(calendar_id: int | None) -> BusinessCalendar:
    """The policy's calendar (24/7 when it has none)."""
    if calendar_id is None:
        return ALWAYS
    row = await Calendar.select().where((Calendar.id == calendar_id) & Calendar.deleted_at.is_null()).first()
    if row is None:
        return ALWAYS
    return BusinessCalendar.from_spec(calendar_spec(row))


def calendar_spec(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "timezone": row.get("timezone") or "UTC",
        "hours": _json(row.get("hours"), {}),
        "holidays": _json(row.get("holidays"), []),
        "closures": _json(row.get("closures"), []),
    }


def targets_of(policy: Mapping[str, Any], priority: str | None) -> Targets:
    """The policy's targets for ``priority`` (its "default" when it names none), in working minutes."""
    table = _json(policy["targets"], {})
    chosen = table.get(priority or "normal") or table.get("default") or {}
    return Targets(**{name: float(minutes) * 60 for name, minutes in chosen.items() if minutes is not None})


async def record_event(
    entity: str, record_id: int, kind: str, at: dt.datetime, *, paused: bool = False, solved: bool = False
) -> None:
    """Add to a record's history as the clocks see it (in the caller's transaction)."""
    await SlaEvent.insert(SlaEvent(entity=entity, record_id=record_id, kind=kind, at=at, paused=paused, solved=solved))


async def history(entity: str, record: Mapping[str, Any]) -> list[Event]:
    rows = await (
        SlaEvent.select(SlaEvent.kind, SlaEvent.at, SlaEvent.paused, SlaEvent.solved)
        .where((SlaEvent.entity == entity) & (SlaEvent.record_id == int(record["id"])))
        .order_by(SlaEvent.at, SlaEvent.id)
    )
    events = [Event.created(record["created_at"])]
    for row in rows:
        kind = row["kind"]
        if kind == "status":
            events.append(Event.status(row["at"], paused=bool(row["paused"]), solved=bool(row["solved"])))
        elif kind in ("customer_message", "agent_reply"):
            events.append(Event(row["at"], kind))
    return events


def _state(clock: SlaClock) -> str:
    states = {t.state for t in clock.targets if t.goal is not None}
    if "breached" in states:
        return "breached"
    if clock.paused and "running" not in states and any(t.state == "paused" for t in clock.targets):
        return "paused"
    if any(t.state == "running" and t.warning_at is not None and t.warning_at <= clock.now for t in clock.targets):
        return "warning"
    if "running" in states or "paused" in states:
        return "ok"
    return "met" if any(t.state == "met" for t in clock.targets) else "ok"


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


async def refresh(
    context: PluginContext, entity: str, record: Mapping[str, Any], *, now: dt.datetime | None = None
) -> SlaClock | None:
    """Recompute ``record``'s clocks, store them, raise what is due, schedule the next check."""
    now = now or dt.datetime.now(dt.UTC)
    record_id = int(record["id"])
    policy = await policy_for(context, entity, record_id)
    stored = {
        row["target"]: row
        for row in await SlaStatus.select().where((SlaStatus.entity == entity) & (SlaStatus.record_id == record_id))
    }
    if policy is None:
        if stored:
            await SlaStatus.delete().where((SlaStatus.entity == entity) & (SlaStatus.record_id == record_id))
        if entity == "ticket" and record.get("sla_policy") is not None:
            await _summarise(context, record_id, None, None)
        return None
    clock = sla_clock(
        await history(entity, record),
        targets=targets_of(policy, record.get("priority")),
        calendar=await calendar_of(policy["calendar"]),
        now=now,
        warn_at=(policy["warn_percent"] or 80) / 100,
    )
    warning_name, breach_name = event_names(entity)
    rows = []
    for target in clock.targets:
        if target.goal is None:
            continue
        previous = stored.get(target.name) or {}
        warned_for, breached_for = previous.get("warned_for"), previous.get("breached_for")
        payload = {
            "target": target.name,
            "policy": policy["name"],
            "deadline": target.deadline.isoformat() if target.deadline else None,
            "priority": record.get("priority"),
        }
        if target.breached_at is not None and breached_for != target.breached_at:
            await context.emit(breach_name, entity, record_id, payload)
            breached_for = target.breached_at
        warn = target.warning_at
        if target.state == "running" and warn is not None and warn <= now and warned_for != warn:
            await context.emit(warning_name, entity, record_id, payload)
            warned_for = warn
        rows.append(_row(entity, record_id, policy["name"], target, warned_for, breached_for, now))
    await SlaStatus.delete().where((SlaStatus.entity == entity) & (SlaStatus.record_id == record_id))
    if rows:
        await SlaStatus.insert(*rows)
    upcoming = clock.next_change()
    if upcoming is not None:
        await context.schedule(
            CHECK_JOB,
            key=f"{entity}:{record_id}:{upcoming.isoformat()}",
            at=upcoming,
            payload={"entity": entity},
            entity=entity,
            record_id=record_id,
        )
    if entity == "ticket":
        await _summarise(context, record_id, policy["name"], clock)
    return clock


def _row(
    entity: str,
    record_id: int,
    policy: str,
    target: TargetClock,
    warned_for: Any,
    breached_for: Any,
    now: dt.datetime,
) -> SlaStatus:
    return SlaStatus(
        entity=entity,
        record_id=record_id,
        policy=policy,
        target=target.name,
        state=target.state,
        deadline=target.deadline,
        warning_at=target.warning_at,
        elapsed_seconds=round(target.elapsed),
        paused_seconds=round(target.paused),
        met_at=target.met_at,
        breached_at=target.breached_at,
        warned_for=warned_for,
        breached_for=breached_for,
        computed_at=now,
    )


async def _summarise(context: PluginContext, ticket_id: int, policy: str | None, clock: SlaClock | None) -> None:
    """The ticket's own SLA fields: what lists sort and filter on, and reports sum."""
    if clock is None:
        values: dict[str, Any] = {"sla_policy": None, "sla_due_at": None, "sla_state": None}
    else:
        running = [t.deadline for t in clock.targets if t.state == "running" and t.deadline is not None]
        values = {
            "sla_policy": policy,
            "sla_due_at": min(running, default=None),
            "sla_state": _state(clock),
            "first_response_seconds": _seconds(clock.first_response_time),
            "resolution_seconds": _seconds(clock.resolution_time),
            "paused_seconds": _seconds(clock.paused_time),
        }
    await context.as_plugin(keep_permissions=False, name="sla").system.update("ticket", ticket_id, values)


async def run_check(context: PluginContext, run: JobRun) -> None:
    """The scheduled check: refresh the record, raising what has come due."""
    entity = str(run.payload.get("entity") or run.entity)
    if run.record_id is None:
        return
    async with context.db.transaction():
        record = await context.system.get(entity, int(run.record_id))
        if record is not None:
            await refresh(context, entity, record)


async def refresh_all(context: PluginContext, entities: Sequence[str] | None = None) -> int:
    """Recompute every open record's clocks (after a policy or calendar edit); returns how many."""
    done = 0
    names = entities or sorted({p["entity"] for p in await policies_any()})
    for entity in names:
        ids = [
            row["record_id"]
            for row in await SlaStatus.select(SlaStatus.record_id).where(SlaStatus.entity == entity).distinct()
        ]
        candidates = set(ids)
        async for open_record in context.system.each(entity, _open_filter(entity)):
            candidates.add(open_record["id"])
        for record_id in sorted(candidates):
            async with context.db.transaction():
                current = await context.system.get(entity, record_id)
                if current is not None:
                    await refresh(context, entity, current)
                    done += 1
    return done


def _open_filter(entity: str) -> dict[str, Any]:
    return {"statusCategory": {"notIn": ["solved", "closed"]}} if entity == "ticket" else {}


# -- SLAs on records other than tickets ---------------------------------------------------

#: (when read, the entities other than tickets that have a policy); read again after
#: ``POLICY_CACHE_SECONDS``, or at once in the process that changed a policy
_policy_entities: tuple[float, frozenset[str]] = (0.0, frozenset())
POLICY_CACHE_SECONDS = 5.0


def forget_policies() -> None:
    global _policy_entities
    _policy_entities = (0.0, frozenset())


async def entities_with_policies() -> frozenset[str]:
    global _policy_entities
    read_at, names = _policy_entities
    if time.monotonic() - read_at > POLICY_CACHE_SECONDS:
        rows = await SlaPolicy.select(SlaPolicy.entity).where(
            (SlaPolicy.active == True) & SlaPolicy.deleted_at.is_null()  # noqa: E712
        )
        names = frozenset(str(row["entity"]) for row in rows) - {"ticket"}
        _policy_entities = (time.monotonic(), names)
    return names


async def _holds(context: PluginContext, entity: str, record_id: int, condition: Any) -> bool:
    condition = _json(condition, {})
    if not condition:
        return False
    return bool(await context.system.count(entity, {"and": [{"id": {"eq": record_id}}, condition]}))


async def _last_flags(entity: str, record_id: int) -> tuple[bool, bool, bool]:
    """(answered, paused, solved) as the record's history last recorded them."""
    rows = await (
        SlaEvent.select(SlaEvent.kind, SlaEvent.paused, SlaEvent.solved)
        .where((SlaEvent.entity == entity) & (SlaEvent.record_id == record_id))
        .order_by(SlaEvent.at, SlaEvent.id)
    )
    answered = any(row["kind"] == "agent_reply" for row in rows)
    status = [row for row in rows if row["kind"] == "status"]
    last = status[-1] if status else {"paused": False, "solved": False}
    return answered, bool(last["paused"]), bool(last["solved"])


async def record_written(context: PluginContext, entity: str, action: str, record: Mapping[str, Any]) -> None:
    """A record of an entity with a policy changed: turn what its policy's
    ``respondedWhen``, ``pausedWhen`` and ``solvedWhen`` filters say about it now into
    history, then refresh its clocks.  A lead's "first contact" is a policy on leads
    whose ``respondedWhen`` is ``{"status": {"ne": "new"}}``."""
    if entity == "ticket" or entity not in await entities_with_policies():
        return
    record_id = int(record["id"])
    if action == "delete":
        await SlaStatus.delete().where((SlaStatus.entity == entity) & (SlaStatus.record_id == record_id))
        return
    policy = await policy_for(context, entity, record_id)
    if policy is not None:
        now = dt.datetime.now(dt.UTC)
        answered, paused, solved = await _last_flags(entity, record_id)
        if not answered and await _holds(context, entity, record_id, policy["responded_when"]):
            await record_event(entity, record_id, "agent_reply", now)
        now_paused = await _holds(context, entity, record_id, policy["paused_when"])
        now_solved = await _holds(context, entity, record_id, policy["solved_when"])
        if (now_paused, now_solved) != (paused, solved):
            await record_event(entity, record_id, "status", now, paused=now_paused, solved=now_solved)
    await refresh(context, entity, record)


async def policies_any() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await SlaPolicy.select(SlaPolicy.entity).where(SlaPolicy.deleted_at.is_null())
    return rows


async def run_recompute(context: PluginContext, run: JobRun) -> None:
    """After a policy or calendar edit: every open record's clocks, computed anew."""
    entity = run.payload.get("entity")
    await refresh_all(context, [str(entity)] if entity else None)


async def setup_changed(context: PluginContext, what: str, record: Mapping[str, Any]) -> None:
    """A policy or calendar changed: recompute the clocks it may move, soon, in a job."""
    forget_policies()
    entity = record.get("entity") if what == "policy" else None
    await context.schedule(
        RECOMPUTE_JOB,
        key=f"{what}:{record['id']}:v{record['version']}",
        payload={"entity": entity} if entity else {},
    )
