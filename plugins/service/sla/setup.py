"""Checking SLA policies and business calendars as they are written.

Their structured parts are stored as JSON text; each is parsed, checked and written
back in one canonical form, and a problem is refused with the field and the reason
(``hours.mon[1]: ...``), so the clocks never meet a policy they cannot use.
"""

from __future__ import annotations

import json
from typing import Any

from kith.plugins.service.models import PRIORITIES, SLA_TARGETS
from kith.plugins.service.sla.calendar import BusinessCalendar, SlaSpecError
from kith.sdk import Change, FieldError, ValidationFailed

#: a policy's targets may name a priority, or "default" for the others
TARGET_KEYS = (*PRIORITIES, "default")


def parse(value: Any, field: str, kind: type) -> Any:
    """``value`` (JSON text, or already a dict / list) as ``kind``; a clear error otherwise."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else kind()
        except json.JSONDecodeError as exc:
            raise ValidationFailed.single(field, "invalid", f"is not valid JSON: {exc.msg}") from exc
    if value is None:
        value = kind()
    if not isinstance(value, kind):
        raise ValidationFailed.single(field, "invalid", f"must be a JSON {'object' if kind is dict else 'list'}")
    return value


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def check_targets(targets: Any) -> dict[str, dict[str, float]]:
    table = parse(targets, "targets", dict)
    problems = []
    for key, goals in table.items():
        if key not in TARGET_KEYS:
            problems.append(FieldError(f"targets.{key}", "invalid", f"name a priority ({', '.join(TARGET_KEYS)})"))
            continue
        if not isinstance(goals, dict):
            problems.append(FieldError(f"targets.{key}", "invalid", "must map targets to working minutes"))
            continue
        for name, minutes in goals.items():
            if name not in SLA_TARGETS:
                problems.append(FieldError(f"targets.{key}.{name}", "invalid", f"one of {', '.join(SLA_TARGETS)}"))
            elif minutes is not None and (
                isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0
            ):
                problems.append(FieldError(f"targets.{key}.{name}", "invalid", "a positive number of working minutes"))
    if problems:
        raise ValidationFailed(problems)
    return table


async def policy_before_write(change: Change) -> None:
    values = change.values
    before = change.before or {}
    entity = values.get("entity", before.get("entity") or "ticket")
    if "entity" in values and entity not in change.context.entity_names():
        raise ValidationFailed.single("entity", "invalid", f"no entity named {entity!r}")
    if "targets" in values:
        values["targets"] = _text(check_targets(values["targets"]))
    for field in ("conditions", "responded_when", "solved_when", "paused_when"):
        if field in values or (field == "conditions" and "entity" in values):
            raw = values.get(field, before.get(field))
            condition = parse(raw, _camel(field), dict)
            if condition:
                try:
                    await change.context.system.count(entity, {"and": [{"id": {"eq": 0}}, condition]})
                except ValidationFailed as exc:
                    reason = "; ".join(e.message for e in exc.errors)
                    raise ValidationFailed.single(
                        _camel(field), "invalid", f"not a filter of {entity}: {reason}"
                    ) from exc
            values[field] = _text(condition)


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


def calendar_before_write(change: Change) -> None:
    values = change.values
    before = change.before or {}
    if not {"timezone", "hours", "holidays", "closures"} & set(values):
        return
    spec = {
        "timezone": values.get("timezone", before.get("timezone") or "UTC"),
        "hours": parse(values.get("hours", before.get("hours")), "hours", dict),
        "holidays": parse(values.get("holidays", before.get("holidays")), "holidays", list),
        "closures": parse(values.get("closures", before.get("closures")), "closures", list),
    }
    try:
        calendar = BusinessCalendar.from_spec(spec)
    except SlaSpecError as exc:
        raise ValidationFailed(exc.errors) from exc
    canonical = calendar.to_spec()
    values["timezone"] = canonical["timezone"]
    for key in ("hours", "holidays", "closures"):
        values[key] = _text(canonical.get(key, {} if key == "hours" else []))
