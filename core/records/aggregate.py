"""Aggregates for reporting: counts, sums and averages, grouped by fields or by a date
bucket, computed in SQL under the same filter and the same permission scope as lists."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from piccolo.querystring import QueryString

from kith.core.entities import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.money import exponent, from_minor
from kith.core.records.field_names import CUSTOM, field_key
from kith.core.records.filters import TIMESTAMPS, Viewer, builtin_operand, custom_operand, masked
from kith.core.records.query import ALIAS, RecordQuery

Bucket = Literal["day", "week", "month", "quarter", "year"]
NUMERIC = ("int", "decimal")


@dataclass(frozen=True)
class Group:
    key: dict[str, Any]
    count: int
    sums: dict[str, Any]
    averages: dict[str, Any]


def _is_custom(query: RecordQuery, entity: Entity, name: str) -> bool:
    key = field_key(entity, name, list(query.ctx.custom_fields(entity.name)))
    return key is not None and key.startswith(CUSTOM)


def _operand(query: RecordQuery, entity: Entity, name: str, path: str, viewer: Viewer | None) -> tuple[str, str]:
    """(SQL expression, kind) of a field, whichever way it is spelt (``firstName``,
    ``first_name``, ``customFields.leadSource``, ``customFields.lead_source``): the name
    resolves to one field first, so one visibility check covers every spelling."""
    sql, kind = _unmasked_operand(query, entity, name, path)
    if viewer is not None and viewer.is_hidden(entity, name):
        return masked(sql), kind  # counted as empty, like any field the viewer cannot see
    return sql, kind


def _unmasked_operand(query: RecordQuery, entity: Entity, name: str, path: str) -> tuple[str, str]:
    custom = list(query.ctx.custom_fields(entity.name))
    key = field_key(entity, name, custom)
    if key in TIMESTAMPS.values():
        return f'{ALIAS}."{key}"', "datetime"
    if key is not None and key.startswith(CUSTOM):
        for definition in custom:
            if CUSTOM + definition.name == key:
                sub = "amount" if definition.type == "money" else None
                operand = custom_operand(definition, ALIAS, query.ctx.dialect, query.ctx.region, sub)
                return operand.sql, operand.kind
        raise ValidationFailed.single(path, "unknown", f"{entity.name} has no custom field {name!r}")
    spec = entity.fields.get(key or "")
    if spec is not None and spec.kind is FieldKind.MONEY:
        return f'{ALIAS}."{spec.name}"', f'money:{ALIAS}."{spec.currency_column}"'
    if spec is not None and spec.kind is not FieldKind.STRING_LIST:
        operand = builtin_operand(entity, spec, ALIAS)
        return operand.sql, operand.kind
    raise ValidationFailed.single(path, "unknown", f"{entity.name} has no field {name!r} to group or measure")


def _bucket_sql(dialect_is_pg: bool, expr: str, unit: Bucket) -> str:
    if dialect_is_pg:
        return f"to_char(date_trunc('{unit}', ({expr})::timestamptz AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
    formats = {
        "day": f"strftime('%Y-%m-%d', {expr})",
        "week": f"date({expr}, 'weekday 0', '-6 days')",
        "month": f"strftime('%Y-%m-01', {expr})",
        "quarter": (
            f"printf('%s-%02d-01', strftime('%Y', {expr}), ((CAST(strftime('%m', {expr}) AS INTEGER) - 1) / 3) * 3 + 1)"
        ),
        "year": f"strftime('%Y-01-01', {expr})",
    }
    return formats[unit]


@dataclass(frozen=True)
class AggregateQuery:
    """The statement of an aggregate (one row per group: ``g0``… keys, ``n`` the count,
    ``m0``… measures) and what its columns are."""

    statement: QueryString
    keys: list[tuple[str, str, bool]]  # (label, kind: a filter kind or "bucket", from a custom field)
    measures: list[tuple[str, str]]  # (label, SUM or AVG)
    money_currency: dict[str, str]  # money measure -> the key holding its currency


def aggregate_query(
    query: RecordQuery,
    entity: Entity,
    *,
    filter_: Mapping[str, Any] | None = None,
    group_by: Sequence[str] = (),
    bucket: tuple[str, Bucket] | None = None,
    sums: Sequence[str] = (),
    averages: Sequence[str] = (),
    extra_where: Sequence[QueryString] = (),
    limit: int = 1000,
    viewer: Viewer | None = None,
) -> AggregateQuery:
    """The statement grouping ``entity``'s rows (by ``group_by`` fields and an optional
    date ``bucket``) with their measures; with a ``viewer``, over the rows they may read,
    fields hidden from them read as empty.  Refuses unknown fields and non-numbers."""
    errors: list[FieldError] = []
    keys: list[tuple[str, str, str]] = []  # (label, sql, kind)
    for index, name in enumerate(group_by):
        try:
            sql, kind = _operand(query, entity, name, f"groupBy[{index}]", viewer)
            keys.append((name, sql, kind))
        except ValidationFailed as exc:
            errors += exc.errors
    if bucket is not None:
        name, unit = bucket
        try:
            sql, kind = _operand(query, entity, name, "bucket.field", viewer)
            if kind not in ("date", "datetime"):
                errors.append(FieldError("bucket.field", "invalid", f"{name} is not a date"))
            else:
                keys.append((f"{name}:{unit}", _bucket_sql(query.ctx.dialect.is_postgres, sql, unit), "bucket"))
        except ValidationFailed as exc:
            errors += exc.errors
    measures: list[tuple[str, str, str]] = []  # (label, function, sql)
    money_currency: dict[str, str] = {}  # money measure -> its currency key
    for label, names in (("sum", sums), ("avg", averages)):
        for index, name in enumerate(names):
            try:
                sql, kind = _operand(query, entity, name, f"{label}[{index}]", viewer)
            except ValidationFailed as exc:
                errors += exc.errors
                continue
            if kind.startswith("money:"):
                # money adds up per currency: the currency becomes part of the group key
                currency_sql = kind.removeprefix("money:")
                if f"{name}.currency" not in [k for k, _, _ in keys]:
                    keys.append((f"{name}.currency", currency_sql, "string"))
                measures.append((name, label.upper(), sql))
                money_currency[name] = f"{name}.currency"
                continue
            if kind not in NUMERIC:
                errors.append(FieldError(f"{label}[{index}]", "invalid", f"{name} is not a number"))
                continue
            measures.append((name, label.upper(), sql))
    if errors:
        raise ValidationFailed(errors)
    where = query.where(entity, filter_, extra=extra_where, viewer=viewer)
    select = [f"{sql} AS g{i}" for i, (_label, sql, _kind) in enumerate(keys)]
    select.append("COUNT(*) AS n")
    select += [f"{function}({sql}) AS m{i}" for i, (_label, function, sql) in enumerate(measures)]
    names = ", ".join(f"g{i}" for i in range(len(keys)))
    group = f" GROUP BY {names} ORDER BY {names}" if keys else ""
    statement = QueryString(
        f'SELECT {", ".join(select)} FROM "{entity.tablename}" {ALIAS} WHERE {{}}{group} LIMIT {int(limit)}',
        where,
    )
    return AggregateQuery(
        statement,
        [(label, kind, kind != "bucket" and _is_custom(query, entity, label)) for label, _sql, kind in keys],
        [(label, function) for label, function, _sql in measures],
        money_currency,
    )


async def aggregate(query: RecordQuery, db: Any, entity: Entity, **request: Any) -> list[Group]:
    """Groups with their measures, as ``aggregate_query`` (same keywords) asks for them."""
    plan = aggregate_query(query, entity, **request)
    rows = await db.fetch(plan.statement)
    out = []
    for row in rows:
        key = {label: _plain(row[f"g{i}"]) for i, (label, _kind, _custom) in enumerate(plan.keys)}
        sums_out: dict[str, Any] = {}
        avgs_out: dict[str, Any] = {}
        for i, (label, function) in enumerate(plan.measures):
            value = row[f"m{i}"]
            if label in plan.money_currency and value is not None:
                currency = key[plan.money_currency[label]]
                minor = decimal.Decimal(str(value))
                value = str(
                    from_minor(int(minor), currency)
                    if minor == minor.to_integral_value()
                    else minor.scaleb(-exponent(currency)).quantize(decimal.Decimal(1).scaleb(-exponent(currency) - 2))
                )
            else:
                value = _number(value)
            (sums_out if function == "SUM" else avgs_out)[label] = value
        out.append(Group(key, int(row["n"]), sums_out, avgs_out))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _number(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
