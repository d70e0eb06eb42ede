"""The forecast of a period: per group (owner, team or pipeline) and currency, what is
open, weighted, committed, best case, and what actually closed.

One SQL statement computes every figure: a common table expression classifies each
deal the viewer may read (open and due in the period, won or lost in the period), and
two aggregates over it — by group and currency, and by currency alone for the totals —
sum integer minor units.  Money is never added across currencies.  Python only places
the decimal point (``money.major``).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any, Literal

from piccolo.querystring import QueryString

from kith.plugins.sales.forecast import money
from kith.plugins.sales.forecast.sql import Period, conjunction, equals, within
from kith.plugins.sales.forecast.viewer import Viewer
from kith.sdk import FieldError, Kith, ValidationFailed

GroupBy = Literal["owner", "team", "pipeline"]
GROUPINGS: tuple[GroupBy, ...] = ("owner", "team", "pipeline")
UNASSIGNED = "Unassigned"
TOTAL = "Total"

#: (group key, label, joins) per grouping; a NULL key is the "Unassigned" group
_GROUPS: dict[str, tuple[str, str, str]] = {
    "owner": ("d.owner", "COALESCE(NULLIF(u.name, ''), u.email)", "LEFT JOIN kith_user u ON u.id = d.owner"),
    "team": (
        "u.team",
        "tm.name",
        "LEFT JOIN kith_user u ON u.id = d.owner LEFT JOIN team tm ON tm.id = u.team",
    ),
    "pipeline": ("d.pipeline", "p.name", "LEFT JOIN sales_pipeline p ON p.id = d.pipeline"),
}

#: the figures, as SQL over the classified deals ``d`` (kind: open/won/lost; every open
#: deal here is due in the period and not omitted, every closed one closed in it)
_MEASURES = {
    "open_count": "SUM(CASE WHEN d.kind = 'open' THEN 1 ELSE 0 END)",
    "pipeline": "SUM(CASE WHEN d.kind = 'open' THEN d.amount ELSE 0 END)",
    # amount x percent: exact integer hundredths of a minor unit
    "weighted_x100": "SUM(CASE WHEN d.kind = 'open' THEN d.amount * d.probability ELSE 0 END)",
    "commit_total": (
        "SUM(CASE WHEN d.kind = 'won' OR (d.kind = 'open' AND d.category = 'commit') THEN d.amount ELSE 0 END)"
    ),
    "best_case": (
        "SUM(CASE WHEN d.kind = 'won' OR (d.kind = 'open' AND d.category IN ('commit', 'best_case')) "
        "THEN d.amount ELSE 0 END)"
    ),
    "won": "SUM(CASE WHEN d.kind = 'won' THEN d.amount ELSE 0 END)",
    "won_count": "SUM(CASE WHEN d.kind = 'won' THEN 1 ELSE 0 END)",
    "lost": "SUM(CASE WHEN d.kind = 'lost' THEN d.amount ELSE 0 END)",
    "lost_count": "SUM(CASE WHEN d.kind = 'lost' THEN 1 ELSE 0 END)",
}


@dataclass(frozen=True)
class Comparison:
    """What a snapshot said for the same group and currency, and how what closed since
    differs from it (closed won minus the snapshot's figure: above zero, more closed)."""

    weighted: decimal.Decimal
    commit: decimal.Decimal
    best_case: decimal.Decimal
    closed_minus_weighted: decimal.Decimal
    closed_minus_commit: decimal.Decimal
    closed_minus_best_case: decimal.Decimal


@dataclass(frozen=True)
class Row:
    """One group's figures in one currency (``group_id`` None: unassigned, or a total)."""

    group_id: int | None
    label: str
    currency: str
    open_count: int
    pipeline: decimal.Decimal
    weighted: decimal.Decimal
    commit: decimal.Decimal
    best_case: decimal.Decimal
    closed_won: decimal.Decimal
    closed_won_count: int
    closed_lost: decimal.Decimal
    closed_lost_count: int
    total: bool = False
    compared: Comparison | None = None

    @property
    def key(self) -> tuple[bool, int | None, str]:
        return (self.total, self.group_id, self.currency)


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    taken_at: dt.datetime
    taken_by: str | None


@dataclass(frozen=True)
class Forecast:
    period: Period
    group_by: GroupBy
    pipeline_id: int | None
    rows: list[Row]
    totals: list[Row]
    #: the snapshot the rows are compared with (None: there is none for this forecast)
    snapshot: SnapshotInfo | None = field(default=None)


def check(period: Period, group_by: str | None = None) -> None:
    """Refuse a period that ends before it starts, or an unknown grouping, naming the argument."""
    errors = []
    if period.end < period.start:
        errors.append(FieldError("end", "invalid", "the period ends before it starts"))
    if group_by is not None and group_by not in GROUPINGS:
        errors.append(FieldError("groupBy", "invalid", f"group by one of: {', '.join(GROUPINGS)}"))
    if errors:
        raise ValidationFailed(errors)


def classified_deals(
    kith: Kith,
    viewer: Viewer,
    *,
    pipeline_id: int | None = None,
    owner_id: int | None = None,
    with_amount: bool = True,
) -> QueryString:
    """The viewer's deals (only those with an amount, unless ``with_amount`` is false),
    each with its kind (``open``, ``won``, ``lost``), win probability, forecast category
    and the UTC day it closed: the columns ``id``, ``owner``, ``pipeline``, ``currency``,
    ``amount``, ``kind``, ``probability``, ``category``, ``expected_close``,
    ``closed_on``, ``created_at``, ``closed_at``."""
    where = [QueryString("t.deleted_at IS NULL")]
    if with_amount:
        where.append(QueryString("t.amount IS NOT NULL AND t.currency IS NOT NULL"))
    if viewer.deals is not None:
        where.append(viewer.deals)
    if pipeline_id is not None:
        where.append(equals("t.pipeline", pipeline_id))
    if owner_id is not None:
        where.append(equals("t.owner", owner_id))
    return QueryString(
        "SELECT t.id, t.owner, t.pipeline, t.currency, t.amount, t.expected_close, t.created_at, t.closed_at, "
        # a deal without a stage (its stage was removed) counts as open, at 0%
        "CASE WHEN s.kind IN ('won', 'lost') THEN s.kind ELSE 'open' END AS kind, "
        "COALESCE(s.probability, 0) AS probability, "
        "COALESCE(t.forecast_category, s.forecast_category, 'pipeline') AS category, "
        f"{kith.db.dialect.utc_date('t.closed_at')} AS closed_on "
        "FROM sales_deal t LEFT JOIN sales_stage s ON s.id = t.stage WHERE {}",
        conjunction(where),
    )


async def compute(kith: Kith, viewer: Viewer, period: Period, group_by: GroupBy, pipeline_id: int | None) -> Forecast:
    """The forecast of ``period`` for ``viewer``, by ``group_by`` and currency, with
    per-currency totals (no snapshot comparison: see ``snapshots.compare``)."""
    check(period, group_by)
    key, label, joins = _GROUPS[group_by]
    measures = ", ".join(f"{sql} AS {name}" for name, sql in _MEASURES.items())
    # in the forecast: open deals due in the period (not omitted), deals closed in it
    relevant = QueryString(
        "(d.kind = 'open' AND d.category <> 'omitted' AND {}) OR (d.kind IN ('won', 'lost') AND {})",
        within("d.expected_close", period),
        within("d.closed_on", period),
    )
    query = QueryString(
        "WITH d AS ({}) "
        f"SELECT 0 AS is_total, {key} AS grp, {label} AS label, d.currency AS currency, {measures} "
        f"FROM d {joins} WHERE {{}} GROUP BY {key}, {label}, d.currency "
        "UNION ALL "
        f"SELECT 1 AS is_total, NULL AS grp, NULL AS label, d.currency AS currency, {measures} "
        "FROM d WHERE {} GROUP BY d.currency",
        classified_deals(kith, viewer, pipeline_id=pipeline_id),
        relevant,
        relevant,
    )
    rows = [_row(record) for record in await kith.db.fetch(query)]
    groups = sorted((r for r in rows if not r.total), key=sort_key)
    totals = sorted((r for r in rows if r.total), key=lambda r: r.currency)
    return Forecast(period, group_by, pipeline_id, groups, totals)


def sort_key(row: Row) -> tuple[bool, str, int, str]:
    """Groups by label (code-point order, the same on both engines), Unassigned last."""
    return (row.group_id is None, row.label, row.group_id or 0, row.currency)


def _row(record: Any) -> Row:
    currency = record["currency"]
    total = bool(record["is_total"])
    group = None if record["grp"] is None else int(record["grp"])
    if total:
        label = TOTAL
    elif group is None:
        label = UNASSIGNED
    else:
        label = record["label"] or f"#{group}"

    def amount(name: str) -> decimal.Decimal:
        return money.major(money.as_int(record[name]), currency)

    return Row(
        group_id=group,
        label=label,
        currency=currency,
        open_count=money.as_int(record["open_count"]),
        pipeline=amount("pipeline"),
        weighted=money.major(decimal.Decimal(money.as_int(record["weighted_x100"])).scaleb(-2), currency),
        commit=amount("commit_total"),
        best_case=amount("best_case"),
        closed_won=amount("won"),
        closed_won_count=money.as_int(record["won_count"]),
        closed_lost=amount("lost"),
        closed_lost_count=money.as_int(record["lost_count"]),
        total=total,
    )
