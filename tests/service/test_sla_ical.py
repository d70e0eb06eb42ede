"""Holidays and closures imported from iCalendar files into a business calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kith.plugins.service.sla import BusinessCalendar, Closure, Holiday, SlaSpecError, read_ical

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
OFFICE = BusinessCalendar.from_spec(
    {"timezone": "Europe/Berlin", "hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}}
)


def ics(*events: str) -> str:
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:{n}@test\r\nDTSTAMP:20250101T000000Z\r\n{e.strip()}\r\nEND:VEVENT\r\n"
        for n, e in enumerate(events)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Kith tests//EN\r\n{body}END:VCALENDAR\r\n"


def test_holiday_imported_from_an_icalendar_file() -> None:
    data = ics("SUMMARY:Whit Monday\r\nDTSTART;VALUE=DATE:20250609\r\nDTEND;VALUE=DATE:20250610")
    imported = read_ical(data.encode(), start=dt.date(2025, 1, 1), end=dt.date(2026, 1, 1), timezone="Europe/Berlin")
    assert imported.holidays == (Holiday(dt.date(2025, 6, 9), "Whit Monday"),)
    assert imported.closures == ()
    calendar = OFFICE.with_holidays(imported.holidays, imported.closures)
    # Friday 16:00 + 2 h: Friday's last hour, Whit Monday off, Tuesday 09:00-10:00
    friday = dt.datetime(2025, 6, 6, 16, tzinfo=BERLIN)
    assert calendar.add(friday, 2 * HOUR) == dt.datetime(2025, 6, 10, 10, tzinfo=BERLIN)
    assert calendar.holidays == (Holiday(dt.date(2025, 6, 9), "Whit Monday"),)


def test_yearly_recurring_icalendar_holiday() -> None:
    data = ics("SUMMARY:Day of German Unity\r\nDTSTART;VALUE=DATE:19901003\r\nRRULE:FREQ=YEARLY")
    imported = read_ical(data, start=dt.date(2025, 1, 1), end=dt.date(2028, 1, 1), timezone="Europe/Berlin")
    assert imported.holidays == tuple(
        Holiday(dt.date(year, 10, 3), "Day of German Unity") for year in (2025, 2026, 2027)
    )


def test_recurring_holiday_with_an_exception_date() -> None:
    data = ics(
        "SUMMARY:Founders' day\r\nDTSTART;VALUE=DATE:20240315\r\nRRULE:FREQ=YEARLY\r\nEXDATE;VALUE=DATE:20260315"
    )
    imported = read_ical(data, start=dt.date(2025, 1, 1), end=dt.date(2028, 1, 1), timezone="Europe/Berlin")
    assert [h.date for h in imported.holidays] == [dt.date(2025, 3, 15), dt.date(2027, 3, 15)]


def test_multi_day_holiday() -> None:
    # DTEND is exclusive: 22 December to 2 January is 22-31 December and 1 January
    data = ics("SUMMARY:Winter break\r\nDTSTART;VALUE=DATE:20251222\r\nDTEND;VALUE=DATE:20260102")
    imported = read_ical(data, start=dt.date(2025, 1, 1), end=dt.date(2027, 1, 1), timezone="Europe/Berlin")
    assert [h.date for h in imported.holidays] == [dt.date(2025, 12, d) for d in range(22, 32)] + [dt.date(2026, 1, 1)]
    assert {h.name for h in imported.holidays} == {"Winter break"}
    calendar = OFFICE.with_holidays(imported.holidays)
    # Friday 19 December 16:00 + 2 h: one hour that day, the next on Friday 2 January
    start = dt.datetime(2025, 12, 19, 16, tzinfo=BERLIN)
    assert calendar.add(start, 2 * HOUR) == dt.datetime(2026, 1, 2, 10, tzinfo=BERLIN)
    # only the dates inside the range asked for
    clipped = read_ical(data, start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 1), timezone="Europe/Berlin")
    assert [h.date for h in clipped.holidays] == [dt.date(2026, 1, 1)]


def test_timed_icalendar_event_becomes_a_closure_in_the_calendars_zone() -> None:
    data = ics(
        "SUMMARY:All-hands\r\nDTSTART;TZID=America/New_York:20250604T080000\r\nDTEND;TZID=America/New_York:20250604T100000",
        "SUMMARY:Cancelled party\r\nSTATUS:CANCELLED\r\nDTSTART:20250605T140000Z\r\nDTEND:20250605T160000Z",
    )
    imported = read_ical(data, start=dt.date(2025, 6, 1), end=dt.date(2025, 7, 1), timezone="Europe/Berlin")
    # 08:00-10:00 in New York (EDT) is 14:00-16:00 in Berlin (CEST)
    assert imported.closures == (Closure(dt.datetime(2025, 6, 4, 14), dt.datetime(2025, 6, 4, 16), "All-hands"),)
    calendar = OFFICE.with_holidays(closures=imported.closures)
    wednesday = (dt.datetime(2025, 6, 4, tzinfo=BERLIN), dt.datetime(2025, 6, 5, tzinfo=BERLIN))
    assert calendar.between(*wednesday) == 6 * HOUR


def test_a_file_that_is_not_icalendar_names_the_field() -> None:
    with pytest.raises(SlaSpecError, match=r"^ical: not a readable iCalendar file") as caught:
        read_ical("this is not a calendar", start=dt.date(2025, 1, 1), end=dt.date(2026, 1, 1), timezone="UTC")
    assert caught.value.errors[0].field == "ical"
    with pytest.raises(SlaSpecError, match=r"^timezone: unknown time zone 'Europe/Atlantis'"):
        read_ical(ics(), start=dt.date(2025, 1, 1), end=dt.date(2026, 1, 1), timezone="Europe/Atlantis")
