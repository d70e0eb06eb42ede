"""The forecast of a period: per group (owner, team or pipeline) and currency, what is
open, weighted, committed, best case, and what actually closed.

Two aggregates through ``context.records`` (so only the deals the viewer may read
count) give every figure: the open deals due in the period, and the deals closed in it,
each summed per group, stage, forecast category and currency.  Each stage's kind and
win probability then classify the sums here, in integer minor units.  Money is never
added across currencies; only ``money.major`` places the decimal point.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any, Literal

from kith.plugins.sales.forecast import money
from kith.plugins.sales.forecast.sql import Period, every
from kith.plugins.sales.forecast.viewer import Viewer
from kith.plugins.sales.models import Pipeline, Stage
from kith.sdk import FieldError, ValidationFailed, to_minor_units

#: one group of ``context.records.aggregate`` (key, count, sums, averages)
Group = Any

GroupBy = Literal["owner", "team", "pipeline"]
GROUPINGS: tuple[GroupBy, ...] = ("owner", "team", "pipeline")
UNASSIGNED = "Unassigned"
TOTAL = "Total"

#: the deal field each grouping sums by (the team is the owner's)
_GROUP_FIELD: dict[str, str] = {"owner": "ownerId", "team": "ownerId", "pipeline": "pipelineId"}
#: the figures, summed in integers (minor units; the weighted one in hundredths of them)
_MEASURES = (
    "open_count",
    "pipeline",
    "weighted_x100",
    "commit_total",
    "best_case",
    "won",
    "won_count",
    "lost",
    "lost_count",
)
#: (kind, probability, forecast category) of a deal without a stage: open, at 0%
_NO_STAGE = ("open", 0, None)


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


async def stages() -> dict[int, tuple[str, int, str | None]]:
    """Every stage's (kind, win probability, forecast category), deleted ones included
    (their deals still count)."""
    rows = await Stage.select(Stage.id, Stage.kind, Stage.probability, Stage.forecast_category)
    return {
        int(r["id"]): (
            r["kind"] if r["kind"] in ("won", "lost") else "open",
            int(r["probability"] or 0),
            r["forecast_category"],
        )
        for r in rows
    }


def deal_filter(pipeline_id: int | None = None, owner_id: int | None = None) -> dict[str, Any] | None:
    """The deals of one pipeline and one owner (None: any)."""
    parts: dict[str, Any] = {}
    if pipeline_id is not None:
        parts["pipelineId"] = {"eq": pipeline_id}
    if owner_id is not None:
        parts["ownerId"] = {"eq": owner_id}
    return parts or None


def minor(group: Group) -> int:
    """A group's sum of deal amounts, in minor units of its currency."""
    amount = group.sums.get("amount")
    return 0 if amount is None else to_minor_units(amount, group.key["amount.currency"])


class _Figures:
    """Running integer sums of one group and currency."""

    def __init__(self) -> None:
        self.values = dict.fromkeys(_MEASURES, 0)

    def add_open(self, count: int, amount: int, probability: int, category: str) -> None:
        v = self.values
        v["open_count"] += count
        v["pipeline"] += amount
        v["weighted_x100"] += amount * probability
        if category == "commit":
            v["commit_total"] += amount
        if category in ("commit", "best_case"):
            v["best_case"] += amount

    def add_closed(self, kind: str, count: int, amount: int) -> None:
        v = self.values
        v[f"{kind}_count"] += count
        v[kind] += amount
        if kind == "won":
            v["commit_total"] += amount
            v["best_case"] += amount


async def compute(
    viewer: Viewer, period: Period, group_by: GroupBy, pipeline_id: int | None, *, deals: dict[str, Any] | None = None
) -> Forecast:
    """The forecast of ``period`` for ``viewer``, by ``group_by`` and currency, with
    per-currency totals (no snapshot comparison: see ``snapshots.compare``); ``deals``
    narrows the deals counted further (a dashboard's filter)."""
    check(period, group_by)
    records = viewer.context.records
    field = _GROUP_FIELD[group_by]
    scope = every(deal_filter(pipeline_id), {"amount": {"isNull": False}}, deals)
    by = [field, "stageId", "forecastCategory"]
    due = await records.aggregate(
        "deal", every(scope, period.days("expectedClose")), group_by=by, sums=["amount"], limit=_LIMIT
    )
    closed = await records.aggregate(
        "deal", every(scope, period.moments("closedAt")), group_by=by, sums=["amount"], limit=_LIMIT
    )
    kinds = await stages()
    figures: dict[tuple[int | None, str], _Figures] = {}

    def sums(group: Group) -> _Figures:
        key = (group.key[field], group.key["amount.currency"])
        return figures.setdefault(key, _Figures())

    for group in due:
        kind, probability, stage_category = kinds.get(group.key["stageId"] or 0, _NO_STAGE)
        category = group.key["forecastCategory"] or stage_category or "pipeline"
        if kind == "open" and category != "omitted" and group.key["amount.currency"] is not None:
            sums(group).add_open(group.count, minor(group), probability, category)
    for group in closed:
        kind = kinds.get(group.key["stageId"] or 0, _NO_STAGE)[0]
        if kind != "open" and group.key["amount.currency"] is not None:
            sums(group).add_closed(kind, group.count, minor(group))
    if group_by == "team":
        teams = await _teams_of(viewer, [owner for owner, _ in figures if owner is not None])
        by_team: dict[tuple[int | None, str], _Figures] = {}
        for (owner, currency), values in figures.items():
            merged = by_team.setdefault((teams.get(owner or 0), currency), _Figures())
            for name, value in values.values.items():
                merged.values[name] += value
        figures = by_team
    labels = await _labels(viewer, group_by, [group for group, _ in figures if group is not None])
    totals: dict[str, _Figures] = {}
    for (_group, currency), values in figures.items():
        total = totals.setdefault(currency, _Figures())
        for name, value in values.values.items():
            total.values[name] += value
    rows = [_row(group, labels.get(group or 0), currency, f.values) for (group, currency), f in figures.items()]
    summed = [_row(None, None, currency, f.values, total=True) for currency, f in totals.items()]
    return Forecast(period, group_by, pipeline_id, sorted(rows, key=sort_key), sorted(summed, key=lambda r: r.currency))


#: the most groups one aggregate returns (owners x stages x categories x currencies)
_LIMIT = 100_000


async def _teams_of(viewer: Viewer, owners: list[int]) -> dict[int, int | None]:
    """Each owner's team (labels of groups are names, read as the system)."""
    if not owners:
        return {}
    users = await viewer.context.system.list("user", {"id": {"in": sorted(set(owners))}}, first=1000)
    return {int(u["id"]): u.get("team") for u in users}


async def _labels(viewer: Viewer, group_by: GroupBy, ids: list[int]) -> dict[int, str]:
    """The name of each group: a user's name (or email), a team's or a pipeline's name."""
    if not ids:
        return {}
    wanted = {"id": {"in": sorted(set(ids))}}
    system = viewer.context.system
    if group_by == "owner":
        users = await system.list("user", wanted, first=1000)
        return {int(u["id"]): u.get("name") or u.get("email") or "" for u in users}
    if group_by == "team":
        return {int(t["id"]): t["name"] for t in await system.list("team", wanted, first=1000)}
    rows = await Pipeline.select(Pipeline.id, Pipeline.name).where(Pipeline.id.is_in(sorted(set(ids))))
    return {int(p["id"]): p["name"] for p in rows}


def sort_key(row: Row) -> tuple[bool, str, int, str]:
    """Groups by label (code-point order, the same on both engines), Unassigned last."""
    return (row.group_id is None, row.label, row.group_id or 0, row.currency)


def _row(group: int | None, name: str | None, currency: str, v: dict[str, int], *, total: bool = False) -> Row:
    if total:
        label = TOTAL
    elif group is None:
        label = UNASSIGNED
    else:
        label = name or f"#{group}"

    def amount(key: str) -> decimal.Decimal:
        return money.major(v[key], currency)

    return Row(
        group_id=group,
        label=label,
        currency=currency,
        open_count=v["open_count"],
        pipeline=amount("pipeline"),
        weighted=money.major(decimal.Decimal(v["weighted_x100"]).scaleb(-2), currency),
        commit=amount("commit_total"),
        best_case=amount("best_case"),
        closed_won=amount("won"),
        closed_won_count=v["won_count"],
        closed_lost=amount("lost"),
        closed_lost_count=v["lost_count"],
        total=total,
    )
