"""SLA math for the service plugin: business calendars and the SLA clock, pure functions
with no database (see docs/service-sla.md).

* ``BusinessCalendar`` (and ``ALWAYS``): which instants are working time, and the
  arithmetic on it (``add``, ``between``, ``working_periods``);
* ``read_ical``: holidays and closures from an iCalendar file;
* ``sla_clock``: a ticket's first-response, next-response and resolution targets as a
  function of its history.
"""

from kith.plugins.service.sla.calendar import ALWAYS, WEEKDAYS, BusinessCalendar, Closure, Holiday, SlaSpecError
from kith.plugins.service.sla.clock import Event, SlaClock, TargetClock, Targets, sla_clock
from kith.plugins.service.sla.ical import ImportedHolidays, read_ical

__all__ = [
    "ALWAYS",
    "WEEKDAYS",
    "BusinessCalendar",
    "Closure",
    "Event",
    "Holiday",
    "ImportedHolidays",
    "SlaClock",
    "SlaSpecError",
    "TargetClock",
    "Targets",
    "read_ical",
    "sla_clock",
]
