"""SQL fragments for forecasts and KPIs: periods and conjunctions.

Every figure depends on "which day did this happen, in UTC" and "how many seconds
between two moments"; the engine spells those (``kith.db.dialect.utc_date`` and
``epoch_seconds``), so a period's bounds are inclusive whole days and a mean duration
is exact on both engines, with no engine test here.
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
