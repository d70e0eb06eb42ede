"""Forecast snapshots: what the forecast said at a moment, kept to compare with what
actually closed once the period has run.

A snapshot stores the rows and totals exactly as the forecast showed them (decimals
as strings), for one period, grouping and pipeline, and for one *audience* (see
``Viewer.audience``): a forecast is compared with the most recent snapshot of the same
period, grouping, pipeline and audience.  Snapshots are derived figures written by this
plugin alone (like the audit journal), not records, so they are inserted here rather
than through the record service (Piccolo queries on the plugin's own table).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from typing import Any

from kith.plugins.sales.forecast.figures import Comparison, Forecast, Row, SnapshotInfo, sort_key
from kith.plugins.sales.forecast.models import ForecastSnapshot
from kith.plugins.sales.forecast.money import major
from kith.plugins.sales.forecast.sql import Period
from kith.plugins.sales.forecast.viewer import Viewer

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


async def take(viewer: Viewer, forecast: Forecast) -> SnapshotInfo:
    """Store ``forecast`` (its own rows and totals, not its comparison) as a snapshot."""
    now = dt.datetime.now(dt.UTC)
    figures = [_to_json(row) for row in [*forecast.rows, *forecast.totals]]
    snapshot = ForecastSnapshot(
        taken_at=now,
        period_start=forecast.period.start,
        period_end=forecast.period.end,
        group_by=forecast.group_by,
        pipeline=forecast.pipeline_id,
        taken_by=viewer.name,
        audience=viewer.audience,
        figures=json.dumps(figures, separators=(",", ":")),
    )
    rows = await ForecastSnapshot.insert(snapshot).returning(ForecastSnapshot.id)
    return SnapshotInfo(int(rows[0]["id"]), now, viewer.name)


async def latest(
    viewer: Viewer, period: Period, group_by: str, pipeline_id: int | None
) -> tuple[SnapshotInfo, list[Row]] | None:
    """The most recent snapshot of this period, grouping and pipeline for the viewer's
    audience, with its rows (None if there is none)."""
    snap = ForecastSnapshot
    pipeline = snap.pipeline.is_null() if pipeline_id is None else snap.pipeline == pipeline_id
    record = (
        await snap.select(snap.id, snap.taken_at, snap.taken_by, snap.figures)
        .where(
            (snap.period_start == period.start)
            & (snap.period_end == period.end)
            & (snap.group_by == group_by)
            & (snap.audience == viewer.audience)
            & pipeline
            & snap.taken_at.is_not_null()
        )
        .order_by(snap.taken_at, snap.id, ascending=False)
        .first()
    )
    if record is None:
        return None
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


async def with_comparison(viewer: Viewer, forecast: Forecast) -> Forecast:
    """``forecast`` compared with its latest snapshot, if there is one."""
    found = await latest(viewer, forecast.period, forecast.group_by, forecast.pipeline_id)
    return forecast if found is None else compare(forecast, *found)
