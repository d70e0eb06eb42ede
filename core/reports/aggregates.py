"""Aggregate reports: one SQL aggregate (``kith.core.records.aggregate``) read as the
reader, then ratios between its measures.

The report's own ``filter`` is the statement's filter, so its errors point where it was
written (``filter.stage``); the dashboard's filter and date range join as conditions of
their own, compiled as the reader like the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.entities import Entity
from kith.core.records.aggregate import AggregateQuery, Function, Measure, aggregate_query, money_value
from kith.core.records.filters import FilterCompiler
from kith.core.records.query import ALIAS
from kith.core.reports.definition import ReportDefinition
from kith.core.reports.result import ReportColumn, ReportResult, humanise, json_value, number, ratio
from kith.core.reports.scope import date_range, narrowed

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

FUNCTIONS: dict[str, Function] = {"count": "COUNT", "sum": "SUM", "avg": "AVG", "distinct": "DISTINCT"}


@dataclass(frozen=True)
class Applied:
    """What a dashboard applies to every report: a date range and a filter."""

    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    filter: Mapping[str, Any] | None = None


def entity_of(kith: Kith, name: str | None, path: str = "entity") -> Entity:
    return kith.entities.named(name, path)


def conditions(
    kith: Kith,
    entity: Entity,
    applied: Applied,
    permissions: Permissions | None,
    *,
    date_field: str,
    time_zone: str,
    date_path: str = "dateField",
) -> list[QueryString]:
    """The dashboard's filter (the parts ``entity`` has fields for) and date range, as
    conditions read as the reader."""
    out: list[QueryString] = []
    compiler = FilterCompiler(kith.query.ctx, permissions)
    extra = narrowed(kith, entity, applied.filter)
    if extra:
        out.append(compiler.compile(entity, extra, ALIAS))
    span = date_range(kith, entity, date_field, applied.date_from, applied.date_to, time_zone, date_path)
    if span:
        out.append(compiler.compile(entity, span, ALIAS))
    return out


def plan(
    kith: Kith, report: ReportDefinition, permissions: Permissions | None, applied: Applied = Applied()
) -> AggregateQuery:
    """The report's statement (refusing unknown fields, non-numbers, a bad time zone)."""
    entity = entity_of(kith, report.entity)
    if permissions is not None:
        permissions.require(entity.name, "read")
    measures = [
        Measure(
            spec.column(),
            FUNCTIONS[spec.op],
            spec.field,
            spec.filter,
            field_path=f"measures[{index}].field",
            filter_path=f"measures[{index}].filter",
        )
        for index, spec in enumerate(report.measure_specs())
    ]
    extra = conditions(kith, entity, applied, permissions, date_field=report.range_field(), time_zone=report.time_zone)
    return aggregate_query(
        kith.query,
        entity,
        filter_=report.filter,
        group_by=report.group_by,
        bucket=(report.bucket.field, report.bucket.unit) if report.bucket else None,
        measures=measures,
        time_zone=report.time_zone,
        extra_where=extra,
        limit=report.limit,
        viewer=permissions,
    )


async def run(kith: Kith, report: ReportDefinition, permissions: Permissions | None, applied: Applied) -> ReportResult:
    query = plan(kith, report, permissions, applied)
    columns = [ReportColumn(label, humanise(label), "dimension") for label, _kind, _custom in query.keys]
    specs = report.measure_specs()
    for spec in specs:
        columns.append(ReportColumn(spec.column(), spec.label or _measure_label(spec), "measure"))
    for item in report.ratios:
        columns.append(ReportColumn(item.name, item.label or humanise(item.name), "measure"))
    rows = []
    for row in await kith.db.fetch(query.statement):
        out: dict[str, Any] = {label: json_value(row[f"g{i}"]) for i, (label, _k, _c) in enumerate(query.keys)}
        for i, (label, _function) in enumerate(query.measures):
            out[label] = _measure_value(row[f"m{i}"], label, query, out)
        for item in report.ratios:
            out[item.name] = ratio(out.get(item.numerator), out.get(item.denominator))
        rows.append(out)
    return ReportResult(columns, rows)


def _measure_value(value: Any, label: str, query: AggregateQuery, key: dict[str, Any]) -> Any:
    """A measure as a number; a money sum (kept in minor units) in its currency's major units."""
    if value is None:
        return None
    currency_key = query.money_currency.get(label)
    if currency_key is not None and key.get(currency_key):
        return number(money_value(value, str(key[currency_key])))
    return number(value)


def _measure_label(spec: Any) -> str:
    if spec.name:
        return humanise(spec.name)
    if spec.op == "count":
        return "Count" if not spec.filter else humanise(spec.column())
    field = humanise(spec.field or "").lower()
    return {"sum": f"Sum of {field}", "avg": f"Average {field}", "distinct": f"Distinct {field}"}[spec.op]
