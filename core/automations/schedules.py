"""Time-based triggers: cron schedules and times relative to a record's date field.

Each worker checks them every ``schedule_check_seconds``.  A firing is claimed by
moving the rule's ``next_run_at`` / ``checked_until`` forward with a compare-and-set,
so one worker fires it, and each resulting job has an idempotency key (rule, fire
time, record), so even a repeated claim cannot queue the same run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any

from croniter import croniter
from piccolo.querystring import QueryString

from kith.core.automations.rules import Rule, parse_offset
from kith.core.errors import ValidationFailed

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger("kith.schedules")
PAGE = 500


def next_fire(cron: str, after: dt.datetime) -> dt.datetime:
    return croniter(cron, after).get_next(dt.datetime).astimezone(dt.UTC)


async def fire_due(kith: Kith, now: dt.datetime | None = None) -> int:
    """Queue the runs of every schedule and relative trigger that is due; returns how many."""
    now = now or dt.datetime.now(dt.UTC)
    queued = 0
    for rule in await kith.automations.rules():
        kind = rule.trigger.kind
        if kind == "schedule":
            queued += await _fire_schedule(kith, rule, now)
        elif kind == "relative":
            queued += await _fire_relative(kith, rule, now)
    return queued


async def _claim(kith: Kith, rule: Rule, column: str, old: Any, new: dt.datetime) -> bool:
    condition = f"{column} IS NULL" if old is None else f"{column} = {{}}"
    args = [new, rule.name] + ([] if old is None else [old])
    rows = await kith.db.fetch(
        QueryString(
            f"UPDATE kith_automation_rule SET {column} = {{}} WHERE name = {{}} AND {condition} RETURNING name", *args
        )
    )
    return bool(rows)


async def _state(kith: Kith, rule: Rule, column: str) -> Any:
    row = await kith.db.fetch_one(
        QueryString(f"SELECT {column} AS v FROM kith_automation_rule WHERE name = {{}}", rule.name)
    )
    return row["v"] if row else None


async def _fire_schedule(kith: Kith, rule: Rule, now: dt.datetime) -> int:
    cron = str(rule.trigger.schedule)
    due = await _state(kith, rule, "next_run_at")
    if due is None:  # first sight of this rule: schedule, do not fire retroactively
        await _claim(kith, rule, "next_run_at", None, next_fire(cron, now))
        return 0
    if due > now or not await _claim(kith, rule, "next_run_at", due, next_fire(cron, now)):
        return 0
    return await _queue_schedule(kith, rule, f"schedule:{rule.name}:{due.strftime('%Y%m%dT%H%M%S')}")


async def _queue_schedule(kith: Kith, rule: Rule, key: str) -> int:
    """Queue one firing of a schedule rule (on every record its conditions match)."""
    if rule.entity is None:
        origin = {"idempotency_key": key, "event": "schedule", "depth": 0}
        return int(await kith.automations.schedule_rule_run(rule, origin, {}, start=0, attempt=1, now=True))
    conditions = await rule.conditions_now(kith.templates)
    return await _each_record(kith, rule, conditions, key, "schedule")


async def fire_now(kith: Kith, name: str, now: dt.datetime | None = None) -> int:
    """Queue one firing of the schedule rule ``name`` now, whatever its cron says, and
    leave its schedule as it was; returns how many runs were queued.  Each call is a
    firing of its own (the next night, for a nightly rule), even within one second:
    its runs get keys of their own, so their actions are not taken for retries of the
    previous firing's."""
    rule = next((r for r in await kith.automations.rules() if r.name == name), None)
    if rule is None:
        raise ValidationFailed.single("rule", "unknown", f"no enabled rule named {name!r}")
    if rule.trigger.kind != "schedule":
        raise ValidationFailed.single("rule", "invalid", f"{name} is not a schedule rule (it has no cron to fire)")
    moment = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")
    return await _queue_schedule(kith, rule, f"schedule:{rule.name}:now:{moment}:{uuid.uuid4().hex[:12]}")


async def _fire_relative(kith: Kith, rule: Rule, now: dt.datetime) -> int:
    spec = rule.trigger.relative or {}
    offset = dt.timedelta(seconds=parse_offset(str(spec.get("offset", "0 days"))))
    checked = await _state(kith, rule, "checked_until")
    if checked is None:  # start watching from now; no backfill of the past
        await _claim(kith, rule, "checked_until", None, now)
        return 0
    if checked >= now or not await _claim(kith, rule, "checked_until", checked, now):
        return 0
    low, high = checked - offset, now - offset  # the field's values whose moment came
    field = str(spec["field"])
    assert rule.entity is not None
    definition = kith.custom_fields.get(rule.entity.name, _custom_name(kith, rule, field) or "")
    if definition is not None and definition.type == "date":
        bounds: dict[str, Any] = {"gt": low.date().isoformat(), "lte": high.date().isoformat()}
    else:
        bounds = {"gt": low.isoformat(), "lte": high.isoformat()}
    window = (
        {"customFields": {field.removeprefix("customFields."): bounds}}
        if field.startswith("customFields.")
        else {field: bounds}
    )
    now_conditions = await rule.conditions_now(kith.templates)
    conditions = {"and": [window, now_conditions]} if now_conditions else window
    return await _each_record(kith, rule, conditions, f"relative:{rule.name}", "relative", value_field=field)


def _custom_name(kith: Kith, rule: Rule, field: str) -> str | None:
    if not field.startswith("customFields.") or rule.entity is None:
        return None
    short = field.removeprefix("customFields.")
    for definition in kith.custom_fields.for_entity(rule.entity.name):
        if short in (definition.name, definition.path.removeprefix("customFields.")):
            return definition.name
    return None


async def _each_record(
    kith: Kith, rule: Rule, conditions: dict[str, Any] | None, key: str, event: str, value_field: str | None = None
) -> int:
    """Queue one run per record matching ``conditions``, a page at a time."""
    from kith.core.records.query import ListRequest

    assert rule.entity is not None
    queued = 0
    after = None
    while True:
        page = await kith.query.list(kith.db, ListRequest(rule.entity, conditions, first=PAGE, after=after))
        for index, record in enumerate(page.rows):
            suffix = f"{record['id']}"
            if value_field:
                suffix += ":" + str(page.keys[index][-1]) + ":" + _value(record, value_field)
            origin = {
                "idempotency_key": f"{key}:{suffix}",
                "event": event,
                "record_id": record["id"],
                "entity": rule.entity.name,
                "depth": 0,
            }
            queued += await kith.automations.schedule_rule_run(rule, origin, {}, start=0, attempt=1, now=True)
        if not page.has_next_page:
            return queued
        after = page.end_cursor


def _value(record: dict[str, Any], field: str) -> str:
    if field.startswith("customFields."):
        return str((record.get("custom") or {}).get(field.removeprefix("customFields.")))
    snake = "".join("_" + c.lower() if c.isupper() else c for c in field)
    return str(record.get(snake))
