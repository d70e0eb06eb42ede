"""Aggregates for reporting: counts, sums, averages and distinct counts, grouped by fields
or by a date bucket (in a chosen time zone), computed in SQL under the same filter and the
same permission scope as lists.  A measure may carry a filter of its own ("the won ones"):
it then covers only the group's rows that match, read as the same viewer."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from piccolo.querystring import QueryString

from kith.core.entities import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.money import exponent, from_minor
from kith.core.records.field_names import CUSTOM, field_key
from kith.core.records.filters import TIMESTAMPS, FilterCompiler, Viewer, builtin_operand, custom_operand, masked
from kith.core.records.local_time import check_time_zone, is_utc, local_timestamp
from kith.core.records.query import ALIAS, RecordQuery

Bucket = Literal["day", "week", "month", "quarter", "year"]
Function = Literal["COUNT", "SUM", "AVG", "DISTINCT"]
NUMERIC = ("int", "decimal")


@dataclass(frozen=True)
class Group:
    key: dict[str, Any]
    count: int
    sums: dict[str, Any]
    averages: dict[str, Any]
    #: every measure by its label (``Measure.label``), distinct counts and filtered ones included
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Measure:
    """One figure per group: ``COUNT`` (rows), ``SUM`` / ``AVG`` of a number field,
    ``DISTINCT`` (how many different values of ``field``), over the group's rows that
    match ``filter`` when one is given.  ``label`` keys it in ``Group.values``; errors
    about its field point at ``field_path`` (``measures[0].field``), about its filter at
    ``filter_path`` (``measures[0].filter``)."""

    label: str
    function: Function
    field: str | None = None
    filter: Mapping[str, Any] | None = None
    field_path: str = "field"
    filter_path: str = "filter"


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


def operand(query: RecordQuery, entity: Entity, name: str, path: str, viewer: Viewer | None) -> tuple[str, str]:
    """(SQL expression, kind) of the field ``name`` as ``viewer`` reads it (a hidden
    field reads as empty), for other reports built on aggregates (cohorts)."""
    return _operand(query, entity, name, path, viewer)


def bucket_sql(postgres: bool, expr: str, unit: Bucket, time_zone: str = "UTC", kind: str = "datetime") -> str:
    """The first day of ``unit`` holding ``expr`` as ``YYYY-MM-DD`` text, in ``time_zone``."""
    check_time_zone(time_zone)
    return _bucket_sql(postgres, expr, unit, time_zone, kind)


def field_kind(query: RecordQuery, entity: Entity, name: str, path: str) -> str:
    """The kind of the field ``name`` as aggregates read it (``datetime``, ``date``,
    ``int``, ``string``…; ``money:…`` for money), or ``ValidationFailed`` naming ``path``."""
    return _unmasked_operand(query, entity, name, path)[1]


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


def _bucket_sql(dialect_is_pg: bool, expr: str, unit: Bucket, time_zone: str = "UTC", kind: str = "datetime") -> str:
    """The first day of ``unit`` holding ``expr``, as ``YYYY-MM-DD`` text; a timestamp is
    first read as the wall-clock time of ``time_zone`` (a date is a date anywhere)."""
    if dialect_is_pg:
        local = (
            f"({expr})::timestamptz AT TIME ZONE 'UTC'"
            if kind != "datetime" or is_utc(time_zone)
            else local_timestamp(expr, time_zone, postgres=True)
        )
        return f"to_char(date_trunc('{unit}', {local}), 'YYYY-MM-DD')"
    if kind == "datetime" and not is_utc(time_zone):
        expr = local_timestamp(expr, time_zone, postgres=False)
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
    measures: list[tuple[str, str]]  # (label, SUM, AVG, COUNT or DISTINCT)
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
    distinct: Sequence[str] = (),
    measures: Sequence[Measure] = (),
    time_zone: str = "UTC",
    extra_where: Sequence[QueryString] = (),
    limit: int = 1000,
    viewer: Viewer | None = None,
    paths: Mapping[str, str] | None = None,
) -> AggregateQuery:
    """The statement grouping ``entity``'s rows (by ``group_by`` fields and an optional
    date ``bucket``, read in ``time_zone``) with their measures: ``sums``, ``averages``
    and ``distinct`` counts of fields (labelled by the field), then ``measures``; with a
    ``viewer``, over the rows they may read, fields hidden from them read as empty.
    Refuses unknown fields and non-numbers, each error naming where it was given
    (``paths`` renames the defaults: ``{"groupBy": "groupBy", "bucket": "bucket",
    "timeZone": "timeZone"}``)."""
    where_is = {"groupBy": "groupBy", "bucket": "bucket", "timeZone": "timeZone", **(paths or {})}
    errors: list[FieldError] = []
    try:
        check_time_zone(time_zone, where_is["timeZone"])
    except ValidationFailed as exc:
        errors += exc.errors
        time_zone = "UTC"
    keys: list[tuple[str, str, str]] = []  # (label, sql, kind)
    for index, name in enumerate(group_by):
        try:
            sql, kind = _operand(query, entity, name, f"{where_is['groupBy']}[{index}]", viewer)
            keys.append((name, sql, kind))
        except ValidationFailed as exc:
            errors += exc.errors
    if bucket is not None:
        name, unit = bucket
        path = f"{where_is['bucket']}.field"
        try:
            sql, kind = _operand(query, entity, name, path, viewer)
            if kind not in ("date", "datetime"):
                errors.append(FieldError(path, "invalid", f"{name} is not a date"))
            else:
                bucket_sql = _bucket_sql(query.ctx.dialect.is_postgres, sql, unit, time_zone, kind)
                keys.append((f"{name}:{unit}", bucket_sql, "bucket"))
        except ValidationFailed as exc:
            errors += exc.errors
    wanted = [
        *(Measure(name, "SUM", name, field_path=f"sum[{i}]") for i, name in enumerate(sums)),
        *(Measure(name, "AVG", name, field_path=f"avg[{i}]") for i, name in enumerate(averages)),
        *(Measure(name, "DISTINCT", name, field_path=f"distinct[{i}]") for i, name in enumerate(distinct)),
        *measures,
    ]
    selected: list[tuple[str, str, QueryString]] = []  # (label, function, SQL of the measure)
    money_currency: dict[str, str] = {}  # money measure -> its currency key
    for measure in wanted:
        try:
            found = _measure(query, entity, measure, viewer, keys, money_currency)
        except ValidationFailed as exc:
            errors += exc.errors
            continue
        selected.append((measure.label, measure.function, found))
    if errors:
        raise ValidationFailed(errors)
    where = query.where(entity, filter_, extra=extra_where, viewer=viewer)
    select = [QueryString(f"{sql} AS g{i}") for i, (_label, sql, _kind) in enumerate(keys)]
    select.append(QueryString("COUNT(*) AS n"))
    select += [QueryString(f"{{}} AS m{i}", sql) for i, (_label, _function, sql) in enumerate(selected)]
    names = ", ".join(f"g{i}" for i in range(len(keys)))
    group = f" GROUP BY {names} ORDER BY {names}" if keys else ""
    statement = QueryString(
        f'SELECT {", ".join("{}" for _ in select)} FROM "{entity.tablename}" {ALIAS} WHERE {{}}{group} '
        f"LIMIT {int(limit)}",
        *select,
        where,
    )
    return AggregateQuery(
        statement,
        [(label, kind, kind != "bucket" and _is_custom(query, entity, label)) for label, _sql, kind in keys],
        [(label, function) for label, function, _sql in selected],
        money_currency,
    )


def _measure(
    query: RecordQuery,
    entity: Entity,
    measure: Measure,
    viewer: Viewer | None,
    keys: list[tuple[str, str, str]],
    money_currency: dict[str, str],
) -> QueryString:
    """The SQL of one measure; a money sum or average puts its currency into the group key."""
    errors: list[FieldError] = []
    condition: QueryString | None = None
    if measure.filter:
        try:
            condition = FilterCompiler(query.ctx, viewer).compile(entity, measure.filter, ALIAS)
        except ValidationFailed as exc:
            errors += [
                FieldError(measure.filter_path + (e.field or "").removeprefix("filter"), e.code, e.message)
                for e in exc.errors
            ]
    if measure.function == "COUNT":
        if errors:
            raise ValidationFailed(errors)
        if condition is None:
            return QueryString("COUNT(*)")
        return QueryString("COUNT(CASE WHEN {} THEN 1 END)", condition)
    path = measure.field_path
    if not measure.field:
        errors.append(FieldError(path, "required", f"{measure.function.lower()} needs a field"))
        raise ValidationFailed(errors)
    try:
        sql, kind = _operand(query, entity, measure.field, path, viewer)
    except ValidationFailed as exc:
        raise ValidationFailed(errors + exc.errors) from None
    if measure.function != "DISTINCT":
        if kind.startswith("money:"):
            # money adds up per currency: the currency becomes part of the group key
            currency_key = f"{measure.field}.currency"
            if currency_key not in [k for k, _, _ in keys]:
                keys.append((currency_key, kind.removeprefix("money:"), "string"))
            money_currency[measure.label] = currency_key
        elif kind not in NUMERIC:
            errors.append(FieldError(path, "invalid", f"{measure.field} is not a number"))
    if errors:
        raise ValidationFailed(errors)
    value = QueryString(sql) if condition is None else QueryString(f"CASE WHEN {{}} THEN {sql} END", condition)
    if measure.function == "DISTINCT":
        return QueryString("COUNT(DISTINCT {})", value)
    return QueryString(f"{measure.function}({{}})", value)


async def aggregate(query: RecordQuery, db: Any, entity: Entity, **request: Any) -> list[Group]:
    """Groups with their measures, as ``aggregate_query`` (same keywords) asks for them."""
    plan = aggregate_query(query, entity, **request)
    rows = await db.fetch(plan.statement)
    out = []
    for row in rows:
        key = {label: _plain(row[f"g{i}"]) for i, (label, _kind, _custom) in enumerate(plan.keys)}
        sums_out: dict[str, Any] = {}
        avgs_out: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for i, (label, function) in enumerate(plan.measures):
            value = row[f"m{i}"]
            if label in plan.money_currency and value is not None:
                value = money_value(value, key[plan.money_currency[label]])
            else:
                value = _number(value)
            values[label] = value
            if function == "SUM":
                sums_out.setdefault(label, value)
            elif function == "AVG":
                avgs_out.setdefault(label, value)
        out.append(Group(key, int(row["n"]), sums_out, avgs_out, values))
    return out


def money_value(value: Any, currency: str) -> str:
    """A money sum or average (minor units) as a decimal string in major units."""
    minor = decimal.Decimal(str(value))
    if minor == minor.to_integral_value():
        return str(from_minor(int(minor), currency))
    return str(minor.scaleb(-exponent(currency)).quantize(decimal.Decimal(1).scaleb(-exponent(currency) - 2)))


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
