"""A business calendar as plain data (JSON, YAML, a GraphQL input), and back.

::

    {
        "timezone": "Europe/Berlin",
        "hours": {"mon": ["09:00-12:30", "13:30-17:00"], "sat": ["10:00-14:00"]},
        "holidays": ["2025-12-25", {"date": "2025-12-26", "name": "Boxing Day"}],
        "closures": [{"start": "2025-12-24T12:00", "end": "2025-12-25T00:00", "name": "Christmas Eve"}],
    }

``hours`` keys are weekdays (``mon`` … ``sun``, or full names); a day left out is closed;
an interval is ``HH:MM-HH:MM`` and may end at ``24:00``.  Closures are local wall-clock
times without an offset.  Every problem is reported at once, each with its field path
(``hours.mon[1]``, ``closures[0].end``) and the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from kith.plugins.service.sla.calendar import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    Closure,
    Holiday,
    SlaSpecError,
    _check_closures,
    _check_hours,
    _check_zone,
    hhmm,
)
from kith.sdk import FieldError

if TYPE_CHECKING:
    from kith.plugins.service.sla.calendar import BusinessCalendar

_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY_NAMES = {name: index for index, name in enumerate(WEEKDAYS)} | {
    name: index
    for index, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}


class _HolidaySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date
    name: str = ""

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, data: Any) -> Any:
        """A holiday may be written as just its date."""
        return {"date": data} if isinstance(data, str | dt.date) else data


class _ClosureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: dt.datetime
    end: dt.datetime
    name: str = ""


class _CalendarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str
    hours: dict[str, list[str]]
    holidays: list[_HolidaySpec] = []
    closures: list[_ClosureSpec] = []


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _minutes(hours: str, minutes: str) -> int | None:
    value = int(hours) * 60 + int(minutes)
    return value if int(minutes) < 60 and value <= MINUTES_PER_DAY else None


def _parse_hours(hours: Mapping[str, list[str]], problems: list[FieldError]) -> dict[int, list[tuple[int, int] | None]]:
    """Weekday -> intervals in minutes; ``None`` marks one that could not be read."""
    week: dict[int, list[tuple[int, int] | None]] = {}
    for key, intervals in hours.items():
        weekday = _DAY_NAMES.get(key.strip().lower())
        if weekday is None:
            problems.append(
                FieldError(f"hours.{key}", "unknown_weekday", f"unknown weekday {key!r}; use {', '.join(WEEKDAYS)}")
            )
            continue
        if weekday in week:
            problems.append(FieldError(f"hours.{key}", "duplicate", f"{WEEKDAYS[weekday]} is given twice"))
            continue
        parsed: list[tuple[int, int] | None] = []
        for position, text in enumerate(intervals):
            match = _INTERVAL.match(text)
            start = _minutes(match[1], match[2]) if match else None
            end = _minutes(match[3], match[4]) if match else None
            if start is None or end is None:
                field = f"hours.{WEEKDAYS[weekday]}[{position}]"
                reason = f"{text!r} is not an interval like 09:00-17:00 (times 00:00 to 24:00)"
                problems.append(FieldError(field, "invalid", reason))
                parsed.append(None)
            else:
                parsed.append((start, end))
        week[weekday] = parsed
    return week


def calendar_arguments(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``BusinessCalendar``'s arguments from a spec, or every problem with its field."""
    try:
        parsed = _CalendarSpec.model_validate(spec)
    except ValidationError as error:
        raise SlaSpecError(
            [FieldError(_path(e["loc"]), e["type"], e["msg"]) for e in error.errors(include_url=False)]
        ) from None
    problems: list[FieldError] = []
    week = _parse_hours(parsed.hours, problems)
    holidays = [Holiday(h.date, h.name) for h in parsed.holidays]
    closures = [Closure(c.start, c.end, c.name) for c in parsed.closures]
    if problems:  # the rest is checked too, so one answer lists every problem
        _check_zone(parsed.timezone, problems)
        _check_hours(week, problems)
        _check_closures(closures, problems)
        raise SlaSpecError(problems)
    return {
        "timezone": parsed.timezone,
        "hours": {day: [interval for interval in intervals if interval] for day, intervals in week.items()},
        "holidays": holidays,
        "closures": closures,
    }


def calendar_spec(calendar: BusinessCalendar) -> dict[str, Any]:
    return {
        "timezone": calendar.timezone,
        "hours": {
            WEEKDAYS[weekday]: [f"{hhmm(start)}-{hhmm(end)}" for start, end in intervals]
            for weekday, intervals in calendar.hours.items()
        },
        "holidays": [{"date": h.date.isoformat(), "name": h.name} for h in calendar.holidays],
        "closures": [
            {"start": c.start.isoformat(), "end": c.end.isoformat(), "name": c.name} for c in calendar.closures
        ],
    }
