"""Holidays from an iCalendar (.ics) file, such as a public-holiday feed or a team calendar.

* an all-day event is a holiday on each of its dates (``DTEND`` is exclusive, so a
  three-day event written 2 June to 5 June covers 2, 3 and 4 June; no ``DTEND`` means
  one day);
* a timed event is a closure, from its start to its end as wall-clock time in the
  business calendar's zone (an event written in another zone is converted; a floating
  one is taken as local);
* recurring events (``RRULE``, ``RDATE``, ``EXDATE``, moved occurrences) are expanded
  by ``recurring-ical-events`` within the dates asked for, so a yearly holiday written
  once lands on every year of the range.

Cancelled events (``STATUS:CANCELLED``) and events that end where they start are left
out.  Each holiday keeps the event's ``SUMMARY`` as its name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from kith.plugins.service.sla.calendar import Closure, Holiday, SlaSpecError, _check_zone
from kith.sdk import FieldError


@dataclass(frozen=True)
class ImportedHolidays:
    """What a file contributes: pass both to ``BusinessCalendar.with_holidays``."""

    holidays: tuple[Holiday, ...]
    closures: tuple[Closure, ...]


def _local(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return moment if moment.tzinfo is None else moment.astimezone(zone).replace(tzinfo=None)


def read_ical(data: bytes | str, *, start: dt.date, end: dt.date, timezone: str | ZoneInfo) -> ImportedHolidays:
    """The holidays and closures of ``data`` that fall in ``[start, end)``.

    ``timezone`` is the business calendar's zone: timed events become closures in its
    wall-clock time.  A file that is not iCalendar raises ``SlaSpecError`` naming
    the field ``ical``.
    """
    problems: list[FieldError] = []
    zone = _check_zone(timezone, problems)
    if zone is None:
        raise SlaSpecError(problems)
    try:
        calendar = icalendar.Calendar.from_ical(data)
        events = recurring_ical_events.of(calendar).between(start, end)
    except ValueError as error:  # icalendar's and recurring-ical-events' parse errors are ValueErrors
        raise SlaSpecError([FieldError("ical", "invalid", f"not a readable iCalendar file: {error}")]) from None
    holidays: set[Holiday] = set()
    closures: set[Closure] = set()
    for event in events:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        name = str(event.get("SUMMARY", ""))
        first = event["DTSTART"].dt
        until = event["DTEND"].dt if "DTEND" in event else None
        if isinstance(first, dt.datetime):
            closure = Closure(_local(first, zone), _local(until or first, zone), name)
            if closure.start < closure.end:
                closures.add(closure)
            continue
        day, last = first, (until or first + dt.timedelta(days=1))
        while day < last:
            if start <= day < end:
                holidays.add(Holiday(day, name))
            day += dt.timedelta(days=1)
    return ImportedHolidays(tuple(sorted(holidays)), tuple(sorted(closures)))
