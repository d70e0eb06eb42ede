"""The few SQL fragments where SQLite and PostgreSQL differ, for forecasts and KPIs.

SQLite keeps timestamps as UTC text (``2025-03-01 09:30:00.123456+00:00``, written by
Piccolo) and dates as ``YYYY-MM-DD`` text; PostgreSQL has real types.  Every figure
depends on "which day did this happen, in UTC" and "how many seconds between two
moments", so both are spelt here once, to give the same answer on both engines:

- a day is compared as a date (``date(x)`` on SQLite, ``(x AT TIME ZONE 'UTC')::date``
  on PostgreSQL), so a period's bounds are inclusive whole days;
- a duration is the difference of whole epoch seconds (``strftime('%s')`` truncates
  the fraction on SQLite, ``FLOOR(EXTRACT(EPOCH ...))`` on PostgreSQL), an integer on
  both, so a mean duration is exact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from piccolo.querystring import QueryString


@dataclass(frozen=True)
class Period:
    """Whole days from ``start`` to ``end``, both included, in UTC."""

    start: dt.date
    end: dt.date


def utc_date(is_postgres: bool, column: str) -> str:
    """The UTC calendar day of a timestamp column."""
    if is_postgres:
        return f"(({column}) AT TIME ZONE 'UTC')::date"
    return f"date({column})"


def epoch_seconds(is_postgres: bool, column: str) -> str:
    """Whole seconds since 1970 of a timestamp column (an integer on both engines)."""
    if is_postgres:
        return f"FLOOR(EXTRACT(EPOCH FROM {column}))"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def within(expression: str, period: Period) -> QueryString:
    """``expression`` (a date) falls in ``period``; false when it is NULL."""
    return QueryString(f"({expression} >= {{}} AND {expression} <= {{}})", period.start, period.end)


def conjunction(parts: list[QueryString]) -> QueryString:
    """``a AND b AND …`` of the parts (TRUE when there are none)."""
    if not parts:
        return QueryString("1 = 1")
    return QueryString(" AND ".join("{}" for _ in parts), *parts)


def equals(column: str, value: Any) -> QueryString:
    return QueryString(f"{column} = {{}}", value)
