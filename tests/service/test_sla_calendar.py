"""Business calendars: working time in a zone, with breaks, holidays, closures and DST days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kith.plugins.service.sla import ALWAYS, BusinessCalendar, Closure, SlaSpecError

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600


def at(zone: dt.tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return at(UTC, year, month, day, hour, minute)


def calendar(zone: str, **hours: list[str]) -> BusinessCalendar:
    return BusinessCalendar.from_spec({"timezone": zone, "hours": hours})


OFFICE = calendar(
    "Europe/Berlin", **{day: ["09:00-12:00", "13:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
)


def test_lunch_break() -> None:
    monday = dt.date(2025, 6, 2)
    assert monday.weekday() == 0
    assert OFFICE.add(at(BERLIN, 2025, 6, 2, 11), 2 * HOUR) == at(BERLIN, 2025, 6, 2, 14)
    assert OFFICE.between(at(BERLIN, 2025, 6, 2, 8), at(BERLIN, 2025, 6, 2, 18)) == 7 * HOUR
    assert list(OFFICE.working_periods(at(BERLIN, 2025, 6, 2, 11), at(BERLIN, 2025, 6, 2, 14))) == [
        (utc(2025, 6, 2, 9), utc(2025, 6, 2, 10)),
        (utc(2025, 6, 2, 11), utc(2025, 6, 2, 12)),
    ]
    assert not OFFICE.is_working(at(BERLIN, 2025, 6, 2, 12, 30))


def test_split_shifts() -> None:
    shifts = calendar("Europe/Berlin", mon=["06:00-10:00", "16:00-20:00"], tue=["06:00-10:00"])
    # 1 h before the morning shift ends, 2 h in the evening one
    assert shifts.add(at(BERLIN, 2025, 6, 2, 9), 3 * HOUR) == at(BERLIN, 2025, 6, 2, 18)
    # from the evening shift on Monday to Tuesday's morning shift
    assert shifts.add(at(BERLIN, 2025, 6, 2, 19), 2 * HOUR) == at(BERLIN, 2025, 6, 3, 7)
    assert shifts.between(at(BERLIN, 2025, 6, 2, 0), at(BERLIN, 2025, 6, 3, 0)) == 8 * HOUR


def test_night_shift_across_midnight_is_one_period() -> None:
    nights = calendar("Europe/Berlin", mon=["22:00-24:00"], tue=["00:00-06:00"])
    assert list(nights.working_periods(at(BERLIN, 2025, 6, 2), at(BERLIN, 2025, 6, 4))) == [
        (at(BERLIN, 2025, 6, 2, 22).astimezone(UTC), at(BERLIN, 2025, 6, 3, 6).astimezone(UTC))
    ]
    assert nights.add(at(BERLIN, 2025, 6, 2, 23), 2 * HOUR) == at(BERLIN, 2025, 6, 3, 1)


def test_holidays_and_partial_day_closures() -> None:
    closed = OFFICE.with_holidays(
        [dt.date(2025, 6, 3)], [Closure(dt.datetime(2025, 6, 4, 14), dt.datetime(2025, 6, 4, 16), "training")]
    )
    # Monday 16:00 + 3 h: Monday's last hour, Tuesday is a holiday, Wednesday 09:00-11:00
    assert closed.add(at(BERLIN, 2025, 6, 2, 16), 3 * HOUR) == at(BERLIN, 2025, 6, 4, 11)
    # Wednesday loses two afternoon hours to the training
    assert closed.between(at(BERLIN, 2025, 6, 4), at(BERLIN, 2025, 6, 5)) == 5 * HOUR
    assert not closed.is_working(at(BERLIN, 2025, 6, 4, 15))


def test_spring_forward_skips_the_missing_hour_berlin() -> None:
    # 2025-03-30 (a Sunday) at 02:00 Berlin clocks jump to 03:00
    early = calendar("Europe/Berlin", sun=["01:00-04:00", "09:00-17:00"])
    day = (at(BERLIN, 2025, 3, 30), at(BERLIN, 2025, 3, 31))
    assert early.between(*day) == (2 + 8) * HOUR
    assert next(early.working_periods(*day)) == (utc(2025, 3, 30, 0), utc(2025, 3, 30, 2))
    # from 01:30 (CET), one hour of working time ends at 03:30 (CEST)
    assert early.add(at(BERLIN, 2025, 3, 30, 1, 30), HOUR) == utc(2025, 3, 30, 1, 30)
    assert early.add(at(BERLIN, 2025, 3, 30, 1, 30), HOUR).astimezone(BERLIN).hour == 3


def test_fall_back_counts_the_repeated_hour_twice_new_york() -> None:
    # 2025-11-02 (a Sunday) at 02:00 EDT New York clocks go back to 01:00 EST
    night = calendar("America/New_York", sun=["00:00-03:00"])
    assert night.between(at(NEW_YORK, 2025, 11, 2), at(NEW_YORK, 2025, 11, 3)) == 4 * HOUR
    assert list(night.working_periods(at(NEW_YORK, 2025, 11, 2), at(NEW_YORK, 2025, 11, 3))) == [
        (utc(2025, 11, 2, 4), utc(2025, 11, 2, 8))
    ]
    # from 00:30 EDT, 2.5 h: 01:00-02:00 EDT, then 01:00-02:00 EST again
    assert night.add(at(NEW_YORK, 2025, 11, 2, 0, 30), 2.5 * HOUR) == utc(2025, 11, 2, 7)


def test_spring_forward_new_york_and_fall_back_berlin() -> None:
    night_ny = calendar("America/New_York", sun=["01:00-04:00"])
    assert night_ny.between(at(NEW_YORK, 2025, 3, 9), at(NEW_YORK, 2025, 3, 10)) == 2 * HOUR
    night_berlin = calendar("Europe/Berlin", sun=["01:00-04:00"])
    assert night_berlin.between(at(BERLIN, 2025, 10, 26), at(BERLIN, 2025, 10, 27)) == 4 * HOUR
    # 3.5 h from 01:00 CEST: 01:00-03:00 CEST, 02:00-03:30 CET
    assert night_berlin.add(at(BERLIN, 2025, 10, 26, 1), 3.5 * HOUR) == utc(2025, 10, 26, 2, 30)


def test_office_hours_on_a_dst_day_keep_their_length() -> None:
    # the changed hour is outside 09:00-17:00: Monday after each change has 7 h as usual,
    # and the weekend in between none
    assert OFFICE.between(at(BERLIN, 2025, 3, 29), at(BERLIN, 2025, 4, 1)) == 7 * HOUR
    assert OFFICE.add(at(BERLIN, 2025, 3, 28, 16), 2 * HOUR) == at(BERLIN, 2025, 3, 31, 10)
    assert OFFICE.add(at(BERLIN, 2025, 10, 24, 16), 2 * HOUR) == at(BERLIN, 2025, 10, 27, 10)


def test_24_7_calendar_is_calendar_time() -> None:
    start, end = at(BERLIN, 2025, 3, 29, 12), at(BERLIN, 2025, 3, 31, 12)
    # (end - start) would be 48 h: Python subtracts wall-clock times of one zone
    assert ALWAYS.between(start, end) == (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == 47 * HOUR
    assert ALWAYS.add(start, 47 * HOUR) == end
    assert ALWAYS.add(start, 1000 * HOUR) == start.astimezone(UTC) + dt.timedelta(hours=1000)


def test_a_thousand_business_hours() -> None:
    # 1,000 h of a 35-hour week from Monday 09:00 Berlin, across both DST changes: 28 weeks
    # and 20 h (Monday 7 + Tuesday 7 + Wednesday 6: to 16:00)
    start = at(BERLIN, 2025, 1, 6, 9)
    end = OFFICE.add(start, 1000 * HOUR)
    assert end == at(BERLIN, 2025, 7, 23, 16)
    assert OFFICE.between(start, end) == 1000 * HOUR


def test_add_zero_and_between_agree() -> None:
    saturday = at(BERLIN, 2025, 6, 7, 10)
    assert OFFICE.add(saturday, 0) == saturday
    # a span ending exactly where a working period ends stops there, not the next morning
    assert OFFICE.add(at(BERLIN, 2025, 6, 2, 16), HOUR) == at(BERLIN, 2025, 6, 2, 17)
    assert OFFICE.between(saturday, OFFICE.add(saturday, 90)) == 90
    assert OFFICE.between(at(BERLIN, 2025, 6, 3), at(BERLIN, 2025, 6, 2)) == 0
    with pytest.raises(ValueError, match="negative"):
        OFFICE.add(saturday, -1)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        OFFICE.add(dt.datetime(2025, 6, 2, 9), 60)
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        OFFICE.between(at(BERLIN, 2025, 6, 2), dt.datetime(2025, 6, 3))


def test_validation_errors_name_the_field() -> None:
    with pytest.raises(SlaSpecError) as caught:
        BusinessCalendar.from_spec(
            {
                "timezone": "Mars/Olympus_Mons",
                "hours": {
                    "mon": ["09:00-17:00", "12:00-13:00"],
                    "tue": ["17:00-09:00"],
                    "funday": ["09:00-17:00"],
                    "wed": ["9am-5pm"],
                },
                "closures": [{"start": "2025-06-02T12:00", "end": "2025-06-02T11:00"}],
            }
        )
    problems = {e.field: e.message for e in caught.value.errors}
    assert problems == {
        "timezone": "unknown time zone 'Mars/Olympus_Mons'",
        "hours.mon[1]": "12:00-13:00 overlaps 09:00-17:00 (hours.mon[0])",
        "hours.tue[0]": "ends at 09:00, not after its start 17:00",
        "hours.funday": "unknown weekday 'funday'; use mon, tue, wed, thu, fri, sat, sun",
        "hours.wed[0]": "'9am-5pm' is not an interval like 09:00-17:00 (times 00:00 to 24:00)",
        "closures[0].end": "a closure must end after it starts",
    }
    assert isinstance(caught.value, ValueError)
    with pytest.raises(SlaSpecError, match=r"holidays\[0\]\.date: .*month"):
        BusinessCalendar.from_spec({"timezone": "UTC", "hours": {"mon": ["09:00-17:00"]}, "holidays": ["2025-13-01"]})
    with pytest.raises(SlaSpecError, match="hours: the week has no working time"):
        BusinessCalendar.from_spec({"timezone": "UTC", "hours": {"sat": []}})


def test_spec_round_trip() -> None:
    spec = {
        "timezone": "Europe/Berlin",
        "hours": {"mon": ["09:00-12:00", "13:00-24:00"], "Tuesday": ["00:00-06:00"]},
        "holidays": ["2025-12-25", {"date": "2025-12-26", "name": "Boxing Day"}],
        "closures": [{"start": "2025-12-24T12:00", "end": "2025-12-25T00:00", "name": "Christmas Eve"}],
    }
    built = BusinessCalendar.from_spec(spec)
    assert built.to_spec() == {
        "timezone": "Europe/Berlin",
        "hours": {"mon": ["09:00-12:00", "13:00-24:00"], "tue": ["00:00-06:00"]},
        "holidays": [{"date": "2025-12-25", "name": ""}, {"date": "2025-12-26", "name": "Boxing Day"}],
        "closures": [{"start": "2025-12-24T12:00:00", "end": "2025-12-25T00:00:00", "name": "Christmas Eve"}],
    }
    assert BusinessCalendar.from_spec(built.to_spec()) == built
