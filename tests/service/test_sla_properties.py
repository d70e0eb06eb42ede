"""The calendar arithmetic and the clock's deadlines against a brute-force walk over minutes.

The walk applies the defining model directly: a UTC minute is working time iff its local
wall-clock time (zoneinfo's conversion) is inside a working interval of that local
weekday, on a date that is not a holiday, outside every closure.  Inputs are whole
minutes, and the windows sit on DST changes of zones that have them (Lord Howe's is
half an hour).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith.plugins.service.sla import BusinessCalendar, Closure, Event, Targets, sla_clock

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
#: a DST change of each zone (local dates), and a plain day for UTC and India
ANCHORS = {
    "Europe/Berlin": [dt.date(2025, 3, 30), dt.date(2025, 10, 26)],
    "America/New_York": [dt.date(2025, 3, 9), dt.date(2025, 11, 2)],
    "Australia/Lord_Howe": [dt.date(2025, 4, 6), dt.date(2025, 10, 5)],
    "Asia/Kolkata": [dt.date(2025, 6, 1)],
}
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Case:
    calendar: BusinessCalendar
    zone: ZoneInfo
    hours: dict[int, list[tuple[int, int]]]
    holidays: frozenset[dt.date]
    closures: tuple[tuple[dt.datetime, dt.datetime], ...]
    start: dt.datetime  # UTC, whole minute

    def working(self, minute: dt.datetime) -> bool:
        wall = minute.astimezone(self.zone).replace(tzinfo=None)
        if wall.date() in self.holidays or any(a <= wall < b for a, b in self.closures):
            return False
        of_day = wall.hour * 60 + wall.minute
        return any(a <= of_day < b for a, b in self.hours.get(wall.weekday(), []))


@st.composite
def day_hours(draw: st.DrawFn) -> list[tuple[int, int]]:
    """0-2 intervals on a half-hour grid (many start or end near 01:00-03:00)."""
    count = draw(st.sampled_from([0, 2, 2, 4]))
    bounds = sorted(draw(st.sets(st.integers(0, 48), min_size=count, max_size=count)))
    return [(bounds[i] * 30, bounds[i + 1] * 30) for i in range(0, count, 2)]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zone_name = draw(st.sampled_from(sorted(ANCHORS)))
    zone = ZoneInfo(zone_name)
    anchor = draw(st.sampled_from(ANCHORS[zone_name]))
    hours = {day: draw(day_hours()) for day in range(7)}
    if not any(hours.values()):
        hours[anchor.weekday()] = [(60, 180)]
    holidays = frozenset(anchor + dt.timedelta(days=n) for n in draw(st.sets(st.integers(-1, 2), max_size=2)))
    closures: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    if draw(st.booleans()):
        begin = dt.datetime.combine(anchor, dt.time()) + draw(st.integers(0, 48 * 2)) * 30 * MINUTE
        closures = ((begin, begin + draw(st.integers(1, 12)) * 30 * MINUTE),)
    calendar = BusinessCalendar(zone_name, hours, sorted(holidays), [Closure(a, b) for a, b in closures])
    local_start = dt.datetime.combine(anchor - dt.timedelta(days=1), dt.time(), tzinfo=zone)
    start = local_start.astimezone(UTC) + draw(st.integers(0, 36 * 60)) * MINUTE
    return Case(calendar, zone, hours, holidays, closures, start)


def minutes(start: dt.datetime, count: int) -> list[dt.datetime]:
    return [start + n * MINUTE for n in range(count)]


@PROPERTY_SETTINGS
@given(case=cases(), length=st.integers(0, 2 * 24 * 60))
def test_between_matches_the_minute_walk(case: Case, length: int) -> None:
    end = case.start + length * MINUTE
    expected = 60 * sum(case.working(m) for m in minutes(case.start, length))
    assert case.calendar.between(case.start, end) == expected
    periods = list(case.calendar.working_periods(case.start, end))
    assert sum((b - a).total_seconds() for a, b in periods) == expected
    assert all(a < b for a, b in periods) and all(b1 < a2 for (_, b1), (a2, _) in pairwise(periods))


@PROPERTY_SETTINGS
@given(case=cases(), data=st.data())
def test_add_matches_the_minute_walk(case: Case, data: st.DataObject) -> None:
    window = minutes(case.start, 3 * 24 * 60)
    working = [m for m in window if case.working(m)]
    count = data.draw(st.integers(0, len(working)))
    expected = case.start if count == 0 else working[count - 1] + MINUTE
    assert case.calendar.add(case.start, count * 60) == expected
    assert case.calendar.between(case.start, expected) == count * 60


@PROPERTY_SETTINGS
@given(case=cases(), data=st.data())
def test_clock_deadlines_with_pauses_match_the_minute_walk(case: Case, data: st.DataObject) -> None:
    span = 2 * 24 * 60
    toggles = sorted(data.draw(st.sets(st.integers(1, span), max_size=6)))  # pause, resume, pause, ...
    now_minute = data.draw(st.integers(0, span))
    goal = data.draw(st.integers(1, 10 * 60))  # minutes
    history = [Event.created(case.start)]
    history += [Event.status(case.start + t * MINUTE, paused=n % 2 == 0) for n, t in enumerate(toggles)]
    now = case.start + now_minute * MINUTE

    def paused_during(minute: int) -> bool:
        """Paused during this minute: the history up to now decides (later events are unknown)."""
        return sum(1 for t in toggles if t <= min(minute, now_minute)) % 2 == 1

    threshold = goal * 48  # the 80% warning, in seconds
    elapsed = paused = running = 0
    deadline = warning = None
    for minute in range(3 * span):
        if deadline is not None and minute >= now_minute:
            break
        at = case.start + minute * MINUTE
        if not case.working(at):
            continue
        if paused_during(minute):
            paused += minute < now_minute
            continue
        if warning is None and 60 * running < threshold <= 60 * (running + 1):
            warning = at + dt.timedelta(seconds=threshold - 60 * running)
        running += 1
        elapsed += minute < now_minute
        if running == goal:
            deadline = at + MINUTE

    clock = sla_clock(history, targets=Targets(resolution=goal * 60), calendar=case.calendar, now=now)
    resolution = clock.resolution
    assert (resolution.elapsed, resolution.paused, clock.paused_time) == (60 * elapsed, 60 * paused, 60 * paused)
    if deadline is not None and deadline <= now:
        assert (resolution.state, resolution.breached_at, resolution.deadline) == ("breached", deadline, deadline)
    elif paused_during(now_minute):
        assert (resolution.state, resolution.deadline) == ("paused", None)
    elif deadline is not None:
        assert (resolution.state, resolution.deadline) == ("running", deadline)
    else:  # further out than the walk went
        assert resolution.state == "running"
        assert resolution.deadline is not None and resolution.deadline >= case.start + 3 * span * MINUTE
    if resolution.state == "paused" and (warning is None or warning > now):
        warning = None
    if warning is not None or resolution.state != "running":
        assert resolution.warning_at == warning
