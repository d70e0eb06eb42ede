"""Importing holidays into a business calendar from an iCalendar file (a public-holiday
feed, an office's closing days), through the one write path: the calendar's edit is
checked, audited and recomputes the open clocks like any other."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kith.plugins.service.sla import BusinessCalendar, read_ical
from kith.plugins.service.sla.engine import calendar_spec
from kith.sdk import PluginContext, ValidationFailed


async def import_holidays(
    context: PluginContext, calendar_id: int, data: bytes | str, *, start: dt.date, end: dt.date
) -> tuple[dict[str, Any], int]:
    """Add the holidays and closures of ``data`` in ``[start, end)`` to the calendar;
    returns it and how many days or closures were new."""
    row = await context.records.get("business_calendar", calendar_id)
    if row is None:
        raise ValidationFailed.single("calendarId", "not_found", f"calendar {calendar_id} does not exist")
    if end <= start:
        raise ValidationFailed.single("to", "invalid", "the end of the range comes after its start")
    current = BusinessCalendar.from_spec(calendar_spec(row))
    imported = read_ical(data, start=start, end=end, timezone=current.timezone)
    closures = [c for c in imported.closures if c not in current.closures]  # a second import adds nothing
    merged = current.with_holidays(imported.holidays, closures)
    before = len(current.holidays) + len(current.closures)
    added = len(merged.holidays) + len(merged.closures) - before
    spec = merged.to_spec()
    updated = await context.records.update(
        "business_calendar",
        calendar_id,
        # as JSON text: an empty list would read as "no value" to the field's validation
        {"holidays": json.dumps(spec.get("holidays", [])), "closures": json.dumps(spec.get("closures", []))},
    )
    return updated, added
