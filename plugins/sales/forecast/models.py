"""Forecast snapshots: what the forecast said at a moment, to compare with what closed."""

from __future__ import annotations

from piccolo.columns import JSON, Date, Integer, Serial, Timestamptz, Varchar
from piccolo.table import Table


class ForecastSnapshot(Table, tablename="sales_forecast_snapshot"):
    id: Serial  # (Piccolo's primary key, declared for type checkers)
    taken_at = Timestamptz(null=True, default=None)
    period_start = Date(null=True, default=None)
    period_end = Date(null=True, default=None)
    group_by = Varchar(length=20, default="owner")
    pipeline = Integer(null=True, default=None)
    taken_by = Varchar(length=200, null=True, default=None)
    #: whose deals it covers: "all", or "user:<id>" for a viewer who sees only some;
    #: a snapshot is compared only with forecasts of the same audience
    audience = Varchar(length=60, null=True, default=None)
    figures = JSON(default="[]")


FORECAST_TABLES: list[type[Table]] = [ForecastSnapshot]
