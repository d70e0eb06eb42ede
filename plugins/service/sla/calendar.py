"""Business calendars: which instants count as working time for an SLA.

The model, which everything here must agree with exactly (the tests check it by brute
force): a UTC instant is working time iff its local wall-clock time in the calendar's
zone (zoneinfo's conversion of that instant) falls inside one of the working intervals of
that local weekday, its local date is not a holiday, and it is not inside a closure.

So on a spring-forward day the skipped wall-clock hour simply never happens (an interval
09:00-17:00 around a 02:00->03:00 jump is unaffected; one of 01:00-04:00 lasts two
hours), and on a fall-back day the repeated wall-clock hour counts twice (01:00-04:00
lasts four).  Intervals are minutes of the day, ``[start, end)``, ``end`` up to 24:00;
a night shift is two intervals, 22:00-24:00 on one day and 00:00-06:00 on the next, and
the two join into one working period.

The arithmetic walks the UTC time line in runs of constant UTC offset (at most a day
long, so a year of calendar time is a few hundred steps): inside a run wall-clock time is
UTC plus a fixed offset, so a run's working time is its wall-clock window intersected
with the working intervals, shifted back.  Offset changes are found by bisection to the
microsecond, which is what makes DST days exact rather than approximately right.  (The
one assumption: a zone's offset does not change twice within one day and come back to
where it was, which no zone in the tz database does.)
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kith.sdk import FieldError, ValidationFailed

#: weekday names as the spec writes them, Monday first (``date.weekday()`` order)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

_DAY = dt.timedelta(days=1)
_MICROSECOND = dt.timedelta(microseconds=1)
_UTC = dt.UTC


class SlaSpecError(ValidationFailed, ValueError):
    """A calendar, an iCalendar file or a set of targets was refused; each error names its field.

    A ``ValidationFailed`` so the plugin's API can hand the errors to a client as they are,
    and a ``ValueError`` for code that uses the math on its own.
    """


@dataclass(frozen=True, order=True)
class Holiday:
    """A whole local date on which no interval counts."""

    date: dt.date
    name: str = ""


@dataclass(frozen=True, order=True)
class Closure:
    """A closed stretch of local wall-clock time, ``[start, end)`` (naive datetimes)."""

    start: dt.datetime
    end: dt.datetime
    name: str = ""


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def aware_utc(value: dt.datetime, name: str) -> dt.datetime:
    """``value`` as a naive UTC datetime (the internal form), refusing naive input.

    A naive datetime has no instant: guessing a zone for it is how SLA deadlines end up
    an hour off, so it is an error rather than a default.
    """
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive datetime {value.isoformat()}")
    return value.astimezone(_UTC).replace(tzinfo=None)


def _check_zone(timezone: str | ZoneInfo, problems: list[FieldError]) -> ZoneInfo | None:
    if isinstance(timezone, ZoneInfo):
        if timezone.key is None:
            problems.append(FieldError("timezone", "invalid", "give the zone by its IANA name"))
            return None
        return timezone
    if not isinstance(timezone, str) or not timezone:
        problems.append(FieldError("timezone", "required", "an IANA time zone name such as Europe/Berlin"))
        return None
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(FieldError("timezone", "unknown", f"unknown time zone {timezone!r}"))
        return None


def _check_hours(
    hours: Mapping[int, Iterable[tuple[int, int] | None]], problems: list[FieldError]
) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The week as sorted intervals per weekday; ``None`` holds the place of an interval
    that could not be read (already reported), so later positions keep their numbers."""
    week: list[list[tuple[int, int, int]]] = [[] for _ in WEEKDAYS]  # (start, end, position)
    for weekday, intervals in hours.items():
        if not isinstance(weekday, int) or not 0 <= weekday <= 6:
            problems.append(FieldError(f"hours.{weekday}", "unknown_weekday", "a weekday is 0 (Monday) to 6 (Sunday)"))
            continue
        for position, interval in enumerate(intervals):
            if interval is None:
                continue
            start, end = interval
            field = f"hours.{WEEKDAYS[weekday]}[{position}]"
            if not (0 <= start <= MINUTES_PER_DAY and 0 <= end <= MINUTES_PER_DAY):
                problems.append(FieldError(field, "out_of_range", "times are from 00:00 to 24:00"))
            elif end <= start:
                problems.append(
                    FieldError(field, "end_before_start", f"ends at {hhmm(end)}, not after its start {hhmm(start)}")
                )
            else:
                week[weekday].append((start, end, position))
    for weekday, day in enumerate(week):
        day.sort()
        reach: tuple[int, int, int] | None = None  # the interval reaching furthest so far
        for start, end, position in day:
            if reach is not None and start < reach[1]:
                problems.append(
                    FieldError(
                        f"hours.{WEEKDAYS[weekday]}[{position}]",
                        "overlap",
                        f"{hhmm(start)}-{hhmm(end)} overlaps {hhmm(reach[0])}-{hhmm(reach[1])} "
                        f"(hours.{WEEKDAYS[weekday]}[{reach[2]}])",
                    )
                )
            if reach is None or end > reach[1]:
                reach = (start, end, position)
    if not problems and not any(week):
        problems.append(FieldError("hours", "empty", "the week has no working time"))
    return tuple(tuple((start, end) for start, end, _ in day) for day in week)


def _check_holidays(holidays: Iterable[dt.date | Holiday], problems: list[FieldError]) -> dict[dt.date, str]:
    found: dict[dt.date, str] = {}
    for position, entry in enumerate(holidays):
        holiday = entry if isinstance(entry, Holiday) else Holiday(entry)
        if isinstance(holiday.date, dt.datetime) or not isinstance(holiday.date, dt.date):
            problems.append(FieldError(f"holidays[{position}]", "invalid", "a holiday is a whole local date"))
            continue
        names = [name for name in (found.get(holiday.date), holiday.name) if name]
        found[holiday.date] = " / ".join(dict.fromkeys(names))
    return dict(sorted(found.items()))


def _check_closures(closures: Iterable[Closure], problems: list[FieldError]) -> tuple[Closure, ...]:
    kept: list[Closure] = []
    for position, closure in enumerate(closures):
        field = f"closures[{position}]"
        if any(not isinstance(moment, dt.datetime) for moment in (closure.start, closure.end)):
            problems.append(FieldError(field, "invalid", "start and end are local date-times"))
        elif closure.start.tzinfo is not None or closure.end.tzinfo is not None:
            problems.append(
                FieldError(field, "not_local", "give local wall-clock times in the calendar's zone, without an offset")
            )
        elif closure.end <= closure.start:
            problems.append(FieldError(f"{field}.end", "end_before_start", "a closure must end after it starts"))
        else:
            kept.append(closure)
    return tuple(sorted(kept))


def _merged(closures: Sequence[Closure]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for closure in closures:  # sorted by start
        if merged and closure.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closure.end))
        else:
            merged.append((closure.start, closure.end))
    return merged


class BusinessCalendar:
    """Working time: weekly intervals in one IANA zone, minus holidays and closures.

    ``hours`` maps a weekday (0 = Monday) to its ``(start, end)`` minutes of the day.
    Every result is a timezone-aware UTC datetime; every datetime given must be aware.
    """

    __slots__ = ("_closed_ends", "_closed_starts", "_closures", "_holidays", "_hours", "_zone")

    def __init__(
        self,
        timezone: str | ZoneInfo,
        hours: Mapping[int, Iterable[tuple[int, int]]],
        holidays: Iterable[dt.date | Holiday] = (),
        closures: Iterable[Closure] = (),
    ) -> None:
        problems: list[FieldError] = []
        zone = _check_zone(timezone, problems)
        week = _check_hours(hours, problems)
        found_holidays = _check_holidays(holidays, problems)
        found_closures = _check_closures(closures, problems)
        if problems or zone is None:
            raise SlaSpecError(problems)
        self._zone = zone
        self._hours = week
        self._holidays = found_holidays
        self._closures = found_closures
        merged = _merged(found_closures)
        self._closed_starts = [start for start, _ in merged]
        self._closed_ends = [end for _, end in merged]

    # -- building ------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BusinessCalendar:
        """A calendar from plain data (see ``spec.py`` for the format); errors name the field."""
        from kith.plugins.service.sla.spec import calendar_arguments

        return cls(**calendar_arguments(spec))

    def to_spec(self) -> dict[str, Any]:
        """Plain data that ``from_spec`` turns back into an equal calendar."""
        from kith.plugins.service.sla.spec import calendar_spec

        return calendar_spec(self)

    def with_holidays(
        self, holidays: Iterable[dt.date | Holiday] = (), closures: Iterable[Closure] = ()
    ) -> BusinessCalendar:
        """This calendar with more holidays and closures (an iCalendar import, say)."""
        return BusinessCalendar(
            self._zone,
            dict(enumerate(self._hours)),
            [*self.holidays, *holidays],
            [*self._closures, *closures],
        )

    # -- what it holds -------------------------------------------------------------------

    @property
    def timezone(self) -> str:
        return str(self._zone.key)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def hours(self) -> dict[int, tuple[tuple[int, int], ...]]:
        """Weekday -> its working intervals in minutes, sorted (closed days left out)."""
        return {weekday: day for weekday, day in enumerate(self._hours) if day}

    @property
    def holidays(self) -> tuple[Holiday, ...]:
        return tuple(Holiday(day, name) for day, name in self._holidays.items())

    @property
    def closures(self) -> tuple[Closure, ...]:
        return self._closures

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash((self.timezone, self._hours, tuple(self._holidays), self._closures))

    def __repr__(self) -> str:
        return f"BusinessCalendar.from_spec({self.to_spec()!r})"

    # -- the model, and the arithmetic built on it -----------------------------------------

    def is_working(self, at: dt.datetime) -> bool:
        """The definition itself, instant by instant."""
        local = aware_utc(at, "at").replace(tzinfo=_UTC).astimezone(self._zone).replace(tzinfo=None)
        if local.date() in self._holidays or self._closed(local):
            return False
        midnight = dt.datetime.combine(local.date(), dt.time())
        minute = (local - midnight) / dt.timedelta(minutes=1)
        return any(start <= minute < end for start, end in self._hours[local.weekday()])

    def working_periods(self, start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """The working time in ``[start, end)`` as ordered, disjoint UTC ``(start, end)`` pairs.

        Touching periods are joined, so a night shift split at midnight is one period.
        """
        stop = aware_utc(end, "end")
        pending: tuple[dt.datetime, dt.datetime] | None = None
        for a, b in self._walk(aware_utc(start, "start"), stop):
            if pending is not None and a <= pending[1]:
                pending = (pending[0], b)
                continue
            if pending is not None:
                yield pending[0].replace(tzinfo=_UTC), pending[1].replace(tzinfo=_UTC)
            pending = (a, b)
        if pending is not None:
            yield pending[0].replace(tzinfo=_UTC), pending[1].replace(tzinfo=_UTC)

    def between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Working seconds in ``[start, end)`` (0 when ``end`` is not after ``start``)."""
        return self.working_time(start, end).total_seconds()

    def working_time(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """``between`` as an exact timedelta (microseconds, no float rounding)."""
        total = dt.timedelta()
        for a, b in self._walk(aware_utc(start, "start"), aware_utc(end, "end")):
            total += b - a
        return total

    def add(self, start: dt.datetime, seconds: float | dt.timedelta) -> dt.datetime:
        """The earliest instant by which ``seconds`` of working time have passed since ``start``.

        So ``between(start, add(start, s)) == s``, and ``add(start, 0) == start``.  Time
        before the next working instant does not count; a span that ends exactly at the
        end of a working period returns that end (17:00), not the next morning.
        """
        remaining = seconds if isinstance(seconds, dt.timedelta) else dt.timedelta(seconds=seconds)
        if remaining < dt.timedelta():
            raise ValueError(f"seconds must not be negative, got {remaining.total_seconds()}")
        at = aware_utc(start, "start")
        if not remaining:
            return at.replace(tzinfo=_UTC)
        for a, b in self._walk(at, None):
            if b - a >= remaining:
                return (a + remaining).replace(tzinfo=_UTC)
            remaining -= b - a
        raise AssertionError("unreachable: a calendar always has working time ahead")  # pragma: no cover

    # -- internals (naive UTC and naive local datetimes) ----------------------------------

    def _offset(self, utc: dt.datetime) -> dt.timedelta:
        offset = utc.replace(tzinfo=_UTC).astimezone(self._zone).utcoffset()
        assert offset is not None  # a ZoneInfo always has one
        return offset

    def _transition(self, start: dt.datetime, stop: dt.datetime, offset: dt.timedelta) -> dt.datetime:
        """The first instant after ``start`` (and at most ``stop``) whose offset is not ``offset``."""
        low, high = 0, (stop - start) // _MICROSECOND
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(start + middle * _MICROSECOND) == offset:
                low = middle
            else:
                high = middle
        return start + high * _MICROSECOND

    def _walk(self, start: dt.datetime, end: dt.datetime | None) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Ordered, disjoint naive-UTC working periods in ``[start, end)``; ``end=None`` runs on.

        Periods are not joined across runs, so an endless walk still yields as it goes.
        """
        at = start
        offset = self._offset(at)
        while end is None or at < end:
            stop = at + _DAY if end is None else min(at + _DAY, end)
            next_offset = self._offset(stop)
            if next_offset != offset:
                stop = self._transition(at, stop, offset)
                next_offset = self._offset(stop)
            for a, b in self._wall_periods(at + offset, stop + offset):
                yield a - offset, b - offset
            at, offset = stop, next_offset

    def _wall_periods(self, start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working wall-clock periods within the local window ``[start, end)``."""
        day = start.date()
        last = (end - _MICROSECOND).date()
        while day <= last:
            intervals = self._hours[day.weekday()]
            if intervals and day not in self._holidays:
                midnight = dt.datetime.combine(day, dt.time())
                for first, until in intervals:
                    a = max(start, midnight + dt.timedelta(minutes=first))
                    b = min(end, midnight + dt.timedelta(minutes=until))
                    if a < b:
                        yield from self._open(a, b)
            day += _DAY

    def _open(self, start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """``[start, end)`` minus the closures."""
        index = bisect.bisect_right(self._closed_ends, start)
        while index < len(self._closed_starts) and self._closed_starts[index] < end:
            if self._closed_starts[index] > start:
                yield start, self._closed_starts[index]
            start = max(start, self._closed_ends[index])
            index += 1
        if start < end:
            yield start, end

    def _closed(self, local: dt.datetime) -> bool:
        index = bisect.bisect_right(self._closed_starts, local) - 1
        return index >= 0 and local < self._closed_ends[index]


#: every instant is working time: SLAs measured in plain calendar time (24/7)
ALWAYS = BusinessCalendar("UTC", {weekday: [(0, MINUTES_PER_DAY)] for weekday in range(7)})
