"""The filter language, compiled to SQL.

One filter language serves GraphQL filter inputs, automation conditions and the CLI:
a dict keyed by client-facing field names, combined with ``and`` / ``or`` / ``not``::

    {"or": [{"lastName": {"startsWith": "Sm"}}, {"customFields": {"tier": {"gte": 2}}}],
     "organization": {"name": {"contains": "acme"}}}

Every leaf compiles to a predicate that is TRUE or FALSE, never NULL, so ``not`` is an
exact complement on both engines.  ``ne`` and ``notIn`` match records where the field is
empty.  Values are validated with the same rules and messages as writes.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from piccolo.querystring import QueryString
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from kith.core.customfields import FIELD_TYPES, CustomField
from kith.core.customfields.sql import TEXT_KINDS, value_kind, value_sql
from kith.core.entities import Entity, EntityRegistry, FieldKind, FieldSpec
from kith.core.errors import FieldError, ValidationFailed
from kith.core.records.validation import graphql_name
from kith.core.storage.dialect import Dialect, escape_like

#: bookkeeping timestamps every record has, by client name
TIMESTAMPS = {"createdAt": "created_at", "updatedAt": "updated_at"}

COMPARISONS = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}

#: Operators on dates and times relative to now, each taking an ISO 8601 duration
#: (``P30D``, ``PT2H``): ``withinLast`` (from that long ago up to now), ``withinNext``
#: (from now up to that far ahead) and ``olderThan`` (before that long ago).  A filter
#: with one means something else tomorrow: ``uses_relative_time`` tells who keeps a
#: result (a segment's members) that it must be checked again as time passes.
RELATIVE = ("withinLast", "withinNext", "olderThan")

_DURATION: TypeAdapter[dt.timedelta] = TypeAdapter(dt.timedelta)


def parse_duration(value: Any) -> dt.timedelta:
    """An ISO 8601 duration (``P30D``, ``P2W``, ``PT90M``), positive."""
    if not isinstance(value, str) or not value.upper().startswith("P"):
        raise ValueError("must be an ISO 8601 duration such as P30D or PT2H")
    try:
        duration = _DURATION.validate_python(value.upper())
    except PydanticValidationError:
        raise ValueError("must be an ISO 8601 duration such as P30D or PT2H") from None
    if duration <= dt.timedelta(0):
        raise ValueError("must be a positive duration")
    return duration


def uses_relative_time(filter_: Any) -> bool:
    """Whether a filter has a ``withinLast`` / ``withinNext`` / ``olderThan`` anywhere."""
    if isinstance(filter_, Mapping):
        return any(key in RELATIVE or uses_relative_time(value) for key, value in filter_.items())
    if isinstance(filter_, list | tuple):
        return any(uses_relative_time(item) for item in filter_)
    return False


#: Which operators each kind of value accepts.
OPERATORS: dict[str, tuple[str, ...]] = {
    "string": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "contains", "startsWith", "isNull"),
    "int": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "isNull"),
    "decimal": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "isNull"),
    "date": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "isNull", *RELATIVE),
    "datetime": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "isNull", *RELATIVE),
    "bool": ("eq", "ne", "isNull"),
    "id": ("eq", "ne", "in", "notIn", "isNull"),
    "string_list": ("contains", "isNull"),
    "money": ("isNull",),
}

_BUILTIN_KIND = {
    FieldKind.STRING: "string",
    FieldKind.TEXT: "string",
    FieldKind.INT: "int",
    FieldKind.DECIMAL: "decimal",
    FieldKind.BOOL: "bool",
    FieldKind.DATE: "date",
    FieldKind.DATETIME: "datetime",
    FieldKind.STRING_LIST: "string_list",
    FieldKind.RELATION: "id",
    FieldKind.ID: "id",
    FieldKind.MONEY: "money",
}


@dataclass(frozen=True)
class Operand:
    """A filterable value: its SQL expression, its kind and how to read a filter value.

    ``code_point``: every comparison (``eq`` and ``in`` too, not only ranges) and every
    sort uses the text in code-point order (``Dialect.order_text``), because that is
    how the value's index is built (custom fields stored as text): the same results,
    and the planner can match the index."""

    path: str
    sql: str
    kind: str
    convert: Callable[[Any], Any]
    code_point: bool = False


class Viewer(Protocol):
    """Who a query reads for (``kith.core.security.permissions.Permissions``): which rows
    of an entity they may see and which fields are hidden from them."""

    def predicate(self, entity: Entity, action: str, alias: str = "t") -> QueryString | None: ...

    def is_hidden(self, entity: Entity, name: str) -> bool: ...

    def hidden_keys(self, entity: Entity) -> frozenset[str]: ...

    @property
    def cursor_identity(self) -> str:
        """Who the viewer is, for binding cursors to them."""
        ...


def masked(sql: str) -> str:
    """How a hidden field reads in SQL: an expression of the field's own type that is
    always NULL.  Filters, sorts and groupings then treat the field exactly as if it had
    no value, so their answers are what they would be without it and reveal nothing."""
    return f"(CASE WHEN 1 = 0 THEN {sql} END)"


@dataclass
class FilterContext:
    entities: EntityRegistry
    custom_fields: Callable[[str], list[CustomField]]
    dialect: Dialect
    region: str = "US"
    #: what "now" is for the relative operators (tests move it to simulate time passing)
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)


def _int64(value: int) -> int:
    """Refuse what no column can hold, as writes do (both drivers raise on it otherwise)."""
    if not -(2**63) <= value < 2**63:
        raise ValueError("is out of range")
    return value


def _builtin_converter(kind: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if kind == "int" and not isinstance(value, bool) and isinstance(value, int | str):
            return _int64(int(value))
        if kind == "id":
            return _int64(int(value))
        if kind == "decimal":
            return decimal.Decimal(str(value))
        if kind == "date" and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if kind == "datetime" and isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind == "datetime" and isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("must include a time zone")
            return value.astimezone(dt.UTC)
        if kind == "bool" and not isinstance(value, bool):
            raise ValueError("must be true or false")
        if kind in ("string",) and not isinstance(value, str):
            raise ValueError("must be text")
        return value

    return convert


def builtin_operand(entity: Entity, spec: FieldSpec, alias: str) -> Operand:
    kind = _BUILTIN_KIND[spec.kind]
    return Operand(graphql_name(spec), f'{alias}."{spec.name}"', kind, _builtin_converter(kind))


def custom_operand(field: CustomField, alias: str, dialect: Dialect, region: str, sub: str | None = None) -> Operand:
    """The operand for a custom field (``sub`` is ``amount`` / ``currency`` for money)."""
    ftype = FIELD_TYPES[field.type]
    # the expression the field's index is built on (kith.core.customfields.sql)
    kind = value_kind(field, sub)
    sql = value_sql(field, f"{alias}.custom", dialect, sub)

    def convert(value: Any) -> Any:
        if kind == "decimal":
            return decimal.Decimal(str(value)) if dialect.is_postgres else float(decimal.Decimal(str(value)))
        if kind == "id":
            return _int64(int(value))
        if kind == "string" and sub == "currency":
            return str(value).upper()
        if kind == "string_list":
            if not isinstance(value, str) or value not in field.choices:
                raise ValueError(f"must be one of: {', '.join(field.choices)}")
            return value
        if kind == "string" and field.type in ("single_select", "text", "long_text"):
            if not isinstance(value, str):
                raise ValueError("must be text")
            return value
        return ftype.coerce(value, field, region)

    path_name = field.path + (f".{sub}" if sub else "")
    return Operand(path_name, sql, kind, convert, code_point=kind in TEXT_KINDS)


def _mask(operand: Operand, hidden: bool) -> Operand:
    return replace(operand, sql=masked(operand.sql)) if hidden else operand


class FilterCompiler:
    """Compiles a filter dict for one entity into a SQL predicate (a ``QueryString``).

    With a ``viewer``, every hop is read as that viewer: a field hidden from them reads as
    empty wherever it appears, and a relation reaches only the related records they may
    read (one they may not is, to the filter, no record at all).  Without one (grant
    rules, automation conditions written by admins) the filter sees everything.
    """

    def __init__(self, ctx: FilterContext, viewer: Viewer | None = None) -> None:
        self.ctx = ctx
        self.viewer = viewer
        self._alias_counter = 0

    def compile(self, entity: Entity, filter_: Mapping[str, Any] | None, alias: str) -> QueryString:
        errors: list[FieldError] = []
        sql = self._node(entity, filter_ or {}, alias, "filter", errors)
        if errors:
            raise ValidationFailed(errors)
        return sql

    def _node(
        self, entity: Entity, node: Mapping[str, Any], alias: str, path: str, errors: list[FieldError]
    ) -> QueryString:
        if not isinstance(node, Mapping):
            errors.append(FieldError(path, "invalid", "must be an object"))
            return QueryString("1 = 1")
        parts: list[QueryString] = []
        builtin = {graphql_name(spec): spec for spec in entity.fields.values()}
        relations = {spec.name: spec for spec in entity.relation_fields()}
        for key, value in node.items():
            if value is None:
                continue
            where = f"{path}.{key}"
            hidden = key not in ("and", "or", "not", "customFields") and self._hidden(entity, key)
            if key in ("and", "or"):
                if not isinstance(value, list):
                    errors.append(FieldError(where, "invalid", "must be a list of filters"))
                    continue
                subs = [self._node(entity, item, alias, f"{where}[{i}]", errors) for i, item in enumerate(value)]
                if subs:
                    joiner = " AND " if key == "and" else " OR "
                    parts.append(QueryString("(" + joiner.join("{}" for _ in subs) + ")", *subs))
                elif key == "or":
                    parts.append(QueryString("1 = 0"))
            elif key == "not":
                parts.append(QueryString("NOT ({})", self._node(entity, value, alias, where, errors)))
            elif key == "id":
                operand = Operand("id", f"{alias}.id", "id", _builtin_converter("id"))
                parts.append(self._leaf(operand, value, where, errors))
            elif key in TIMESTAMPS:
                operand = Operand(key, f'{alias}."{TIMESTAMPS[key]}"', "datetime", _builtin_converter("datetime"))
                parts.append(self._leaf(_mask(operand, hidden), value, where, errors))
            elif key == "customFields":
                parts.extend(self._custom(entity, value, alias, where, errors))
            elif key in builtin and builtin[key].kind is FieldKind.MONEY:
                parts.extend(self._money(builtin[key], value, alias, where, errors, hidden))
            elif key in relations and relations[key].target:
                parts.append(self._relation(relations[key], value, alias, where, errors, hidden))
            elif (reverse := self._reverse_list(entity, key)) is not None:
                parts.append(self._some_or_none(*reverse, value, alias, where, errors))
            elif key == "timeline" and entity.timeline and key not in builtin:
                activity = self.ctx.entities.get("activity")
                parts.append(self._some_or_none(activity, None, value, alias, where, errors, timeline_of=entity))
            elif key in builtin:
                operand = _mask(builtin_operand(entity, builtin[key], alias), hidden)
                parts.append(self._leaf(operand, value, where, errors))
            else:
                errors.append(FieldError(where, "unknown", f"{entity.name} has no field {key!r} to filter on"))
        if not parts:
            return QueryString("1 = 1")
        return QueryString("(" + " AND ".join("{}" for _ in parts) + ")", *parts)

    def _custom(self, entity: Entity, node: Any, alias: str, path: str, errors: list[FieldError]) -> list[QueryString]:
        if not isinstance(node, Mapping):
            errors.append(FieldError(path, "invalid", "must be an object"))
            return []
        fields = {f.name: f for f in self.ctx.custom_fields(entity.name)}
        camel = {f.path.removeprefix("customFields."): f for f in fields.values()}
        parts: list[QueryString] = []
        for key, value in node.items():
            if value is None:
                continue
            field = fields.get(key) or camel.get(key)
            if field is None:
                errors.append(FieldError(f"{path}.{key}", "unknown", f"{entity.name} has no custom field {key!r}"))
                continue
            hidden = self._hidden(entity, field.path)
            if field.type == "money" and isinstance(value, Mapping) and set(value) <= {"amount", "currency", "isNull"}:
                for sub, sub_value in value.items():
                    if sub_value is None:
                        continue
                    if sub == "isNull":  # the money value as a whole
                        whole = self.ctx.dialect.json_value(f"{alias}.custom", (field.name,), "text")
                        operand = _mask(Operand(f"{field.path}", whole, "money", lambda v: v), hidden)
                        parts.append(self._leaf(operand, {"isNull": sub_value}, f"{path}.{key}", errors))
                        continue
                    operand = _mask(custom_operand(field, alias, self.ctx.dialect, self.ctx.region, sub), hidden)
                    parts.append(self._leaf(operand, sub_value, f"{path}.{key}.{sub}", errors))
                continue
            operand = _mask(custom_operand(field, alias, self.ctx.dialect, self.ctx.region), hidden)
            parts.append(self._leaf(operand, value, f"{path}.{key}", errors))
        return parts

    def _money(
        self, spec: FieldSpec, node: Any, alias: str, path: str, errors: list[FieldError], hidden: bool = False
    ) -> list[QueryString]:
        """``{amount: {gte: 100}, currency: {eq: "EUR"}, isNull: false}`` on a money field;
        amounts compare in thousandths, so 100 means 100.00 EUR and 100 JPY alike."""
        from kith.core import money

        if not isinstance(node, Mapping):
            errors.append(FieldError(path, "invalid", "must be an object: {amount: …, currency: …, isNull: …}"))
            return []
        column, currency = f'{alias}."{spec.name}"', f'{alias}."{spec.currency_column}"'
        if hidden:
            column, currency = masked(column), masked(currency)
        parts: list[QueryString] = []
        for sub, value in node.items():
            if value is None:
                continue
            where = f"{path}.{sub}"
            if sub == "isNull":
                parts.append(self._leaf(Operand(path, column, "money", lambda v: v), {"isNull": value}, path, errors))
            elif sub == "currency":
                operand = Operand(where, currency, "string", lambda v: str(v).upper())
                parts.append(self._leaf(operand, value, where, errors))
            elif sub == "amount":
                operand = Operand(
                    where,
                    money.normalised_sql(column, currency),
                    "decimal",
                    lambda v: decimal.Decimal(str(v)).scaleb(3),
                )
                parts.append(self._leaf(operand, value, where, errors))
            else:
                errors.append(FieldError(where, "unknown", "use amount, currency or isNull"))
        return parts

    def _relation(
        self, spec: FieldSpec, node: Any, alias: str, path: str, errors: list[FieldError], hidden: bool = False
    ) -> QueryString:
        assert spec.target is not None
        target = self.ctx.entities.get(spec.target)
        self._alias_counter += 1
        sub_alias = f"r{self._alias_counter}"
        inner = self._node(target, node, sub_alias, path, errors)
        scope = self.viewer.predicate(target, "read", sub_alias) if self.viewer is not None else None
        if scope is not None:
            inner = QueryString("({} AND {})", scope, inner)
        column = masked(f'{alias}."{spec.name}"') if hidden else f'{alias}."{spec.name}"'
        live = self.ctx.dialect.live(sub_alias)
        return QueryString(
            f"({column} IS NOT NULL AND {column} IN (SELECT {sub_alias}.id FROM "
            f'"{target.tablename}" {sub_alias} WHERE {live} AND {{}}))',
            inner,
        )

    def _reverse_list(self, entity: Entity, name: str) -> tuple[Entity, str] | None:
        """The (child entity, relation column) behind the reverse list ``name`` of ``entity``."""
        found = self.ctx.entities.reverse_list(entity.name, name)
        return None if found is None else (found.child, found.column)

    def _some_or_none(
        self,
        child: Entity,
        column: str | None,
        node: Any,
        alias: str,
        path: str,
        errors: list[FieldError],
        timeline_of: Entity | None = None,
    ) -> QueryString:
        """``{some: {...}}`` / ``{none: {...}}`` on the records pointing at this one: an
        ``EXISTS`` over the children the viewer may read, each read as them (a child they
        may not read, or a link hidden from them, is no child at all).  With
        ``timeline_of`` the children are the record's timeline (activities attached by
        ``subject_type`` / ``subject_id``), e.g. "had a call in the last 30 days"."""
        if not isinstance(node, Mapping) or not node or set(node) - {"some", "none"}:
            errors.append(FieldError(path, "invalid", "use {some: {...}} or {none: {...}}"))
            return QueryString("1 = 1")
        parts: list[QueryString] = []
        for quantifier, sub in node.items():
            if sub is None:
                continue
            self._alias_counter += 1
            c = f"c{self._alias_counter}"
            inner = self._node(child, sub, c, f"{path}.{quantifier}", errors)
            scope = self.viewer.predicate(child, "read", c) if self.viewer is not None else None
            if scope is not None:
                inner = QueryString("({} AND {})", scope, inner)
            if timeline_of is not None:
                # the timeline's index is on (subject_type, subject_id)
                kind = timeline_of.name.replace("'", "")
                joined = f"{c}.subject_type = '{kind}' AND {c}.subject_id = {alias}.id"
            else:
                assert column is not None
                link = f'{c}."{column}"'
                if self._hidden(child, column):
                    link = masked(link)
                joined = f"{link} = {alias}.id"
            # the children are found by the foreign key's index; the rest is checked on them
            dialect = self.ctx.dialect
            exists = QueryString(
                f'EXISTS (SELECT 1 FROM "{child.tablename}" {c} WHERE {joined} '
                f"AND {dialect.live(c)} AND {dialect.checked_only('{}')})",
                inner,
            )
            parts.append(exists if quantifier == "some" else QueryString("NOT {}", exists))
        if not parts:
            return QueryString("1 = 1")
        return QueryString("(" + " AND ".join("{}" for _ in parts) + ")", *parts)

    def _hidden(self, entity: Entity, name: str) -> bool:
        return self.viewer is not None and self.viewer.is_hidden(entity, name)

    def _relative(self, operand: Operand, op: str, raw: Any, expr: str, compared: str, param: str) -> QueryString:
        """``withinLast`` / ``withinNext`` / ``olderThan``: a range around now, bound as
        values of the field's own kind (a date field counts whole days)."""
        duration = parse_duration(raw)
        now = self.ctx.clock().astimezone(dt.UTC)
        if operand.kind == "date":
            today = now.date()
            bounds: tuple[Any, ...] = (today, today - dt.timedelta(days=duration.days or 1))
            if op == "withinNext":
                bounds = (today, today + dt.timedelta(days=duration.days or 1))
        else:
            bounds = (now, now - duration) if op != "withinNext" else (now, now + duration)
        here, there = (operand.convert(bound.isoformat()) for bound in bounds)
        if op == "olderThan":
            return QueryString(f"({expr} IS NOT NULL AND {compared} < {param})", there)
        low, high = (there, here) if op == "withinLast" else (here, there)
        return QueryString(f"({expr} IS NOT NULL AND {compared} >= {param} AND {compared} <= {param})", low, high)

    def _leaf(self, operand: Operand, ops: Any, path: str, errors: list[FieldError]) -> QueryString:
        if not isinstance(ops, Mapping):
            errors.append(FieldError(path, "invalid", "must be an object of operators, like {eq: ...}"))
            return QueryString("1 = 1")
        allowed = OPERATORS[operand.kind]
        parts: list[QueryString] = []
        expr = operand.sql
        dialect = self.ctx.dialect
        # what comparisons compare: for a ``code_point`` operand exactly its index's expression
        compared = dialect.order_text(expr) if operand.code_point else expr
        # PostgreSQL types a parameter after the column it meets: against an ``integer``
        # column (ids, foreign keys, ``size``) a value past 2**31 fails in the driver
        # instead of simply not matching.  Binding as BIGINT keeps the index usable.
        param = "{}"
        if dialect.is_postgres and operand.kind in ("int", "id"):
            param = "CAST({} AS BIGINT)"
        elif dialect.is_postgres and operand.kind == "decimal":
            param = "CAST({} AS NUMERIC)"
        for op, raw in ops.items():
            if raw is None:
                continue
            where = f"{path}.{op}"
            if op not in allowed:
                errors.append(
                    FieldError(
                        where,
                        "unsupported",
                        f"{operand.path} does not support {op!r} (use {', '.join(allowed)})",
                    )
                )
                continue
            try:
                if op == "isNull":
                    if not isinstance(raw, bool):
                        raise ValueError("must be true or false")
                    if operand.kind == "string_list":
                        if dialect.is_postgres and "custom" in expr:
                            # A custom list saved as null is the jsonb scalar 'null', not SQL NULL,
                            # and jsonb_array_length() raises on scalars: measure arrays only.
                            array = f"CASE WHEN jsonb_typeof({expr}) = 'array' THEN {expr} END"
                            empty = f"(COALESCE(jsonb_array_length({array}), 0) = 0)"
                        else:
                            empty = f"({expr} IS NULL OR json_array_length({expr}) = 0)"
                        parts.append(QueryString(empty if raw else f"NOT {empty}"))
                    else:
                        parts.append(QueryString(f"{expr} IS NULL" if raw else f"{expr} IS NOT NULL"))
                elif op in ("in", "notIn"):
                    if not isinstance(raw, list | tuple):
                        raise ValueError("must be a list")
                    values = [operand.convert(v) for v in raw]
                    if not values:
                        parts.append(QueryString("1 = 0" if op == "in" else "1 = 1"))
                        continue
                    listing = ", ".join(param for _ in values)
                    inside = QueryString(f"({expr} IS NOT NULL AND {compared} IN ({listing}))", *values)
                    parts.append(inside if op == "in" else QueryString("NOT {}", inside))
                elif op == "ne":
                    value = operand.convert(raw)
                    parts.append(QueryString(f"NOT ({expr} IS NOT NULL AND {compared} = {param})", value))
                elif op == "contains" and operand.kind == "string_list":
                    value = operand.convert(raw) if operand.path.startswith("customFields") else raw
                    if not isinstance(value, str):
                        raise ValueError("must be text")
                    # PostgreSQL's ``NULL @> ...`` is NULL, and ``not`` keeps it NULL: guard, so
                    # a missing list is FALSE here and TRUE under ``not``, as on SQLite.
                    contains = dialect.json_array_contains(expr, value)
                    parts.append(QueryString(f"({expr} IS NOT NULL AND {{}})", contains))
                elif op in RELATIVE:
                    parts.append(self._relative(operand, op, raw, expr, compared, param))
                elif op in ("contains", "startsWith"):
                    if not isinstance(raw, str):
                        raise ValueError("must be text")
                    pattern = ("%" if op == "contains" else "") + escape_like(raw) + "%"
                    parts.append(QueryString(f"({expr} IS NOT NULL AND {dialect.ilike(expr)})", pattern))
                else:
                    value = operand.convert(raw)
                    # text compares by code point on both engines, as sorting does (``eq`` on a
                    # built-in column keeps the column's collation, which its index has)
                    ranged = operand.kind == "string" and op != "eq"
                    left = dialect.order_text(expr) if ranged and not operand.code_point else compared
                    parts.append(QueryString(f"({expr} IS NOT NULL AND {left} {COMPARISONS[op]} {param})", value))
            except (ValueError, TypeError, decimal.InvalidOperation) as exc:
                errors.append(FieldError(where, "invalid", str(exc) or "invalid value"))
        if not parts:
            return QueryString("1 = 1")
        return QueryString("(" + " AND ".join("{}" for _ in parts) + ")", *parts)
