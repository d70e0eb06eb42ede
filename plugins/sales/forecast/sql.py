"""Periods of forecasts and KPIs, as filters of the record API.

Every figure depends on "which day did this happen, in UTC": a period's bounds are
inclusive whole days, so a timestamp is in it from the first day's midnight (UTC) up
to, not including, the midnight after the last day, on both engines alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Period:
    """Whole days from ``start`` to ``end``, both included, in UTC."""

    start: dt.date
    end: dt.date

    def days(self, field: str) -> dict[str, Any]:
        """A filter: the date ``field`` falls in the period."""
        return {field: {"gte": self.start.isoformat(), "lte": self.end.isoformat()}}

    def moments(self, field: str) -> dict[str, Any]:
        """A filter: the timestamp ``field`` falls on one of the period's days (UTC)."""
        first = dt.datetime.combine(self.start, dt.time(), dt.UTC)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC)
        return {field: {"gte": first.isoformat(), "lt": after.isoformat()}}


def every(*parts: dict[str, Any] | None) -> dict[str, Any]:
    """All of the filters (those given)."""
    given = [part for part in parts if part]
    return {"and": given} if len(given) > 1 else (given[0] if given else {})
