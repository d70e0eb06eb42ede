"""Forecast snapshots: what the forecast said at a moment, kept to compare with what
actually closed once the period has run.

A snapshot stores the rows and totals exactly as the forecast showed them (decimals
as strings), for one period, grouping and pipeline, and for one *audience* (see
``Viewer.audience``): a forecast is compared with the most recent snapshot of the same
period, grouping, pipeline and audience.  Snapshots are derived figures written by this
plugin alone (like the audit journal), not records, so they are inserted here rather
than through the record service.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from typing import Any

from piccolo.querystring import QueryString

from kith.plugins.sales.forecast.figures import Comparison, Forecast, Row, SnapshotInfo, sort_key
from kith.plugins.sales.forecast.money import major
from kith.plugins.sales.forecast.sql import Period
from kith.plugins.sales.forecast.viewer import Viewer
from kith.sdk import Kith

_DECIMALS = ("pipeline", "weighted", "commit", "best_case", "closed_won", "closed_lost")
_INTEGERS = ("open_count", "closed_won_count", "closed_lost_count")


def _to_json(row: Row) -> dict[str, Any]:
    data: dict[str, Any] = {"group_id": row.group_id, "label": row.label, "currency": row.currency, "total": row.total}
    data.update({name: str(getattr(row, name)) for name in _DECIMALS})
    data.update({name: getattr(row, name) for name in _INTEGERS})
    return data


def _from_json(data: dict[str, Any]) -> Row:
    figures: dict[str, Any] = {name: decimal.Decimal(data[name]) for name in _DECIMALS}
    figures.update({name: int(data[name]) for name in _INTEGERS})
    return Row(
        group_id=data["group_id"], label=data["label"], currency=data["currency"], total=bool(data["total"]), **figures
    )


def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, str):  # SQLite text, when the driver did not convert it
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def take(kith: Kith, viewer: Viewer, forecast: Forecast) -> SnapshotInfo:
    """Store ``forecast`` (its own rows and totals, not its comparison) as a snapshot."""
    now = dt.datetime.now(dt.UTC)
    figures = [_to_json(row) for row in [*forecast.rows, *forecast.totals]]
    rows = await kith.db.execute(
        "INSERT INTO sales_forecast_snapshot (taken_at, period_start, period_end, group_by, pipeline, taken_by, "
        "audience, figures) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        now,
        forecast.period.start,
        forecast.period.end,
        forecast.group_by,
        forecast.pipeline_id,
        viewer.name,
        viewer.audience,
        json.dumps(figures, separators=(",", ":")),
    )
    return SnapshotInfo(int(rows[0]["id"]), now, viewer.name)


async def latest(
    kith: Kith, viewer: Viewer, period: Period, group_by: str, pipeline_id: int | None
) -> tuple[SnapshotInfo, list[Row]] | None:
    """The most recent snapshot of this period, grouping and pipeline for the viewer's
    audience, with its rows (None if there is none)."""
    pipeline = QueryString("pipeline IS NULL") if pipeline_id is None else QueryString("pipeline = {}", pipeline_id)
    found = await kith.db.fetch(
        QueryString(
            "SELECT id, taken_at, taken_by, figures FROM sales_forecast_snapshot WHERE period_start = {} "
            "AND period_end = {} AND group_by = {} AND audience = {} AND {} AND taken_at IS NOT NULL "
            "ORDER BY taken_at DESC, id DESC LIMIT 1",
            period.start,
            period.end,
            group_by,
            viewer.audience,
            pipeline,
        )
    )
    if not found:
        return None
    record = found[0]
    figures = record["figures"]
    data = json.loads(figures) if isinstance(figures, str) else figures
    info = SnapshotInfo(int(record["id"]), _timestamp(record["taken_at"]), record["taken_by"])
    return info, [_from_json(item) for item in data]


def compare(forecast: Forecast, snapshot: SnapshotInfo, then: list[Row]) -> Forecast:
    """``forecast`` with each row set against the snapshot's row of the same group and
    currency.  A group the snapshot had but the forecast no longer has (its deals moved
    out of the period, or to another owner) appears with zero figures, so what was
    forecast for it is not lost from the comparison."""
    earlier = {row.key: row for row in then}

    def against(row: Row) -> Row:
        old = earlier.get(row.key)
        if old is None:
            return row
        return dataclasses.replace(
            row,
            compared=Comparison(
                weighted=old.weighted,
                commit=old.commit,
                best_case=old.best_case,
                closed_minus_weighted=row.closed_won - old.weighted,
                closed_minus_commit=row.closed_won - old.commit,
                closed_minus_best_case=row.closed_won - old.best_case,
            ),
        )

    current = {row.key for row in [*forecast.rows, *forecast.totals]}
    gone = [_zero(row) for row in then if row.key not in current]
    rows = sorted([*forecast.rows, *(r for r in gone if not r.total)], key=sort_key)
    totals = sorted([*forecast.totals, *(r for r in gone if r.total)], key=lambda r: r.currency)
    return dataclasses.replace(
        forecast, rows=[against(r) for r in rows], totals=[against(r) for r in totals], snapshot=snapshot
    )


def _zero(row: Row) -> Row:
    zeros: dict[str, Any] = {name: major(0, row.currency) for name in _DECIMALS}
    return dataclasses.replace(row, open_count=0, closed_won_count=0, closed_lost_count=0, **zeros)


async def with_comparison(kith: Kith, viewer: Viewer, forecast: Forecast) -> Forecast:
    """``forecast`` compared with its latest snapshot, if there is one."""
    found = await latest(kith, viewer, forecast.period, forecast.group_by, forecast.pipeline_id)
    return forecast if found is None else compare(forecast, *found)
