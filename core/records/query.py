"""The one read path: filtered, ordered, keyset-paginated lists and counts in SQL.

Lists use keyset pagination: the cursor holds the sort values of the last row, so
page 500 costs what page 1 costs.  Every sort key sorts empty values last, in both
directions and on both engines, and ``id`` is always the final tie-breaker, so the
order is total and cursors are stable.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from piccolo.querystring import QueryString

from kith.core.entities import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.records.encoding import decode_row, jsonable
from kith.core.records.filters import TIMESTAMPS, FilterCompiler, FilterContext, builtin_operand, custom_operand
from kith.core.records.validation import graphql_name

ALIAS = "t"


@dataclass(frozen=True)
class SortKey:
    sql: str
    descending: bool
    kind: str
    text: bool = False
    custom: bool = False  # custom dates are stored and compared as canonical text
    nullable: bool = True  # a key that cannot be empty sorts and seeks on its index


@dataclass
class Page:
    rows: list[dict[str, Any]]
    keys: list[list[Any]]  # each row's sort-key values, from which its cursor is made
    has_next_page: bool
    has_previous_page: bool

    def cursor(self, index: int) -> str:
        return encode_cursor(self.keys[index])

    @property
    def cursors(self) -> list[str]:
        return [encode_cursor(k) for k in self.keys]

    @property
    def start_cursor(self) -> str | None:
        return self.cursor(0) if self.keys else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(-1) if self.keys else None


@dataclass
class ListRequest:
    """One page of an entity's records, as the generated GraphQL lists ask for it:
    ``await kith.query.list(kith.db, ListRequest(kith.entity("contact"), {"lastName":
    {"eq": "Lee"}}, first=10))`` returns a page whose ``rows`` are record dicts.
    ``filter`` and ``order_by`` use the GraphQL languages (client-facing names)."""

    entity: Entity
    filter: Mapping[str, Any] | None = None
    order_by: Sequence[Mapping[str, Any]] = ()
    first: int = 20
    after: str | None = None
    search: str | None = None
    columns: set[str] | None = None  # None: every column
    extra_where: list[QueryString] = field(default_factory=list)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(jsonable(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed.single("after", "invalid", "is not a cursor returned by this list") from None
    if not isinstance(values, list):
        raise ValidationFailed.single("after", "invalid", "is not a cursor returned by this list")
    return values


class RecordQuery:
    """Builds and runs list and count queries for one running Kith."""

    def __init__(self, ctx: FilterContext) -> None:
        self.ctx = ctx

    # -- building blocks -----------------------------------------------------------

    def where(
        self,
        entity: Entity,
        filter_: Mapping[str, Any] | None,
        search: str | None = None,
        extra: Sequence[QueryString] = (),
        include_deleted: bool = False,
    ) -> QueryString:
        parts = [QueryString("1 = 1" if include_deleted else f"{ALIAS}.deleted_at IS NULL")]
        if filter_:
            parts.append(FilterCompiler(self.ctx).compile(entity, filter_, ALIAS))
        if search and search.strip():
            parts.append(self._search(entity, search.strip()))
        parts.extend(extra)
        return QueryString(" AND ".join("{}" for _ in parts), *parts)

    def _search(self, entity: Entity, text: str) -> QueryString:
        from kith.core.storage.dialect import escape_like

        pattern = "%" + escape_like(text) + "%"
        dialect = self.ctx.dialect
        ors: list[QueryString] = []
        for spec in entity.fields.values():
            if not spec.searchable:
                continue
            column = f'{ALIAS}."{spec.name}"'
            if spec.kind is FieldKind.STRING_LIST:
                column = f"CAST({column} AS TEXT)"
            ors.append(QueryString(f"({column} IS NOT NULL AND {dialect.ilike(column)})", pattern))
        if not ors:
            raise ValidationFailed.single("search", "unsupported", f"{entity.name} has no searchable fields")
        return QueryString("(" + " OR ".join("{}" for _ in ors) + ")", *ors)

    def sort_keys(self, entity: Entity, order_by: Sequence[Mapping[str, Any]]) -> list[SortKey]:
        keys: list[SortKey] = []
        errors: list[FieldError] = []
        builtin = {
            graphql_name(s).removesuffix("Id") if s.kind is FieldKind.RELATION else graphql_name(s): s
            for s in entity.fields.values()
        }
        for index, item in enumerate(order_by):
            path = f"orderBy[{index}]"
            if not isinstance(item, Mapping) or len([v for v in item.values() if v is not None]) != 1:
                errors.append(FieldError(path, "invalid", "give exactly one field per orderBy item"))
                continue
            name, direction = next((k, v) for k, v in item.items() if v is not None)
            try:
                keys.append(self._sort_key(entity, builtin, name, direction, f"{path}.{name}"))
            except ValueError as exc:
                errors.append(FieldError(f"{path}.{name}", "invalid", str(exc)))
        if errors:
            raise ValidationFailed(errors)
        keys.append(SortKey(f"{ALIAS}.id", False, "int", nullable=False))
        return keys

    def _sort_key(self, entity: Entity, builtin: dict[str, Any], name: str, direction: Any, path: str) -> SortKey:
        if name == "id":
            return SortKey(f"{ALIAS}.id", _descending(direction), "int", nullable=False)
        if name in TIMESTAMPS:
            return SortKey(f'{ALIAS}."{TIMESTAMPS[name]}"', _descending(direction), "datetime")
        if name == "customFields":
            if not isinstance(direction, Mapping) or len(direction) != 1:
                raise ValueError("give exactly one custom field")
            ((fname, fdir),) = direction.items()
            fields = {f.path.removeprefix("customFields."): f for f in self.ctx.custom_fields(entity.name)}
            fields.update({f.name: f for f in self.ctx.custom_fields(entity.name)})
            field_def = fields.get(fname)
            if field_def is None:
                raise ValueError(f"{entity.name} has no custom field {fname!r}")
            operand = custom_operand(field_def, ALIAS, self.ctx.dialect, self.ctx.region)
            if operand.kind == "string_list":
                raise ValueError("a multi-select field cannot be sorted on")
            return SortKey(operand.sql, _descending(fdir), operand.kind, operand.kind == "string", True)
        spec = builtin.get(name)
        if spec is None:
            raise ValueError(f"{entity.name} has no field {name!r} to sort on")
        if spec.kind is FieldKind.RELATION:
            if not isinstance(direction, Mapping) or len(direction) != 1:
                raise ValueError("give exactly one field of the related record")
            target = self.ctx.entities.get(spec.target or "")
            ((sub_name, sub_dir),) = direction.items()
            if sub_name in TIMESTAMPS:
                column, kind = f'rs."{TIMESTAMPS[sub_name]}"', "datetime"
            else:
                plain = {graphql_name(s): s for s in target.fields.values() if s.kind is not FieldKind.RELATION}
                sub = plain.get(sub_name)
                if sub is None or sub.kind is FieldKind.STRING_LIST:
                    raise ValueError(f"{target.name} has no field {sub_name!r} to sort on")
                operand = builtin_operand(target, sub, "rs")
                column, kind = operand.sql, operand.kind
            sql = f'(SELECT {column} FROM "{target.tablename}" rs WHERE rs.id = {ALIAS}."{spec.name}")'
            return SortKey(sql, _descending(sub_dir), kind, kind == "string")
        if spec.kind is FieldKind.STRING_LIST:
            raise ValueError(f"{name} is a list and cannot be sorted on")
        if spec.kind is FieldKind.MONEY:
            from kith.core.money import normalised_sql

            amount = normalised_sql(f'{ALIAS}."{spec.name}"', f'{ALIAS}."{spec.currency_column}"')
            return SortKey(amount, _descending(direction), "int")
        operand = builtin_operand(entity, spec, ALIAS)
        return SortKey(
            operand.sql, _descending(direction), operand.kind, operand.kind == "string", nullable=spec.nullable
        )

    def _order_sql(self, keys: list[SortKey]) -> str:
        """ORDER BY with empty values last in both directions (``NULLS LAST`` on both
        engines); keys that cannot be empty are left bare so an index can serve them."""
        parts = []
        for key in keys:
            expr = self.ctx.dialect.order_text(key.sql) if key.text else key.sql
            direction = "DESC" if key.descending else "ASC"
            parts.append(f"{expr} {direction}" + (" NULLS LAST" if key.nullable else ""))
        return ", ".join(parts)

    def _after(self, keys: list[SortKey], cursor: str) -> QueryString:
        values = decode_cursor(cursor)
        if len(values) != len(keys):
            raise ValidationFailed.single("after", "invalid", "belongs to a list with a different order")
        ors: list[QueryString] = []
        equal: list[QueryString] = []
        for key, raw in zip(keys, values, strict=True):
            value = (
                raw
                if key.custom and key.kind != "decimal"
                else _cursor_value(key.kind, raw, self.ctx.dialect.is_postgres)
            )
            expr = self.ctx.dialect.order_text(key.sql) if key.text else key.sql
            op = "<" if key.descending else ">"
            if not key.nullable:
                greater = QueryString(f"{expr} {op} {{}}", value)
                same = QueryString(f"{key.sql} = {{}}", value)
            elif value is None:
                greater = QueryString("1 = 0")
                same = QueryString(f"{key.sql} IS NULL")
            else:
                greater = QueryString(f"({key.sql} IS NULL OR {expr} {op} {{}})", value)
                same = QueryString(f"({key.sql} IS NOT NULL AND {key.sql} = {{}})", value)
            ors.append(QueryString(" AND ".join("{}" for _ in [*equal, greater]), *equal, greater))
            equal.append(same)
        return QueryString("(" + " OR ".join("({})" for _ in ors) + ")", *ors)

    # -- running -------------------------------------------------------------------

    async def list(self, db: Any, request: ListRequest) -> Page:
        entity = request.entity
        keys = self.sort_keys(entity, request.order_by)
        extra = list(request.extra_where)
        if request.after:
            extra.append(self._after(keys, request.after))
        where = self.where(entity, request.filter, request.search, extra)
        if request.columns is None:
            select = f"{ALIAS}.*"
        else:
            cols = {"id", *request.columns}
            select = ", ".join(f'{ALIAS}."{c}"' for c in sorted(cols))
        key_cols = ", ".join(f"{key.sql} AS _k{i}" for i, key in enumerate(keys))
        query = QueryString(
            f'SELECT {select}, {key_cols} FROM "{entity.tablename}" {ALIAS} WHERE {{}} '
            f"ORDER BY {self._order_sql(keys)} LIMIT {int(request.first) + 1}",
            where,
        )
        rows = await db.fetch(query)
        has_next = len(rows) > request.first
        rows = rows[: request.first]
        records = []
        key_values = []
        key_names = [f"_k{i}" for i in range(len(keys))]
        for row in rows:
            data = dict(row)
            key_values.append([data.pop(name) for name in key_names])
            records.append(decode_row(entity, data))
        return Page(records, key_values, has_next, request.after is not None)

    async def count(
        self,
        db: Any,
        entity: Entity,
        filter_: Mapping[str, Any] | None,
        search: str | None = None,
        extra: Sequence[QueryString] = (),
    ) -> int:
        where = self.where(entity, filter_, search, extra)
        value = await db.fetch_value(
            QueryString(f'SELECT COUNT(*) AS n FROM "{entity.tablename}" {ALIAS} WHERE {{}}', where)
        )
        return int(value or 0)


def _descending(direction: Any) -> bool:
    text = str(getattr(direction, "value", direction)).upper()
    if text not in ("ASC", "DESC"):
        raise ValueError("direction must be ASC or DESC")
    return text == "DESC"


def _cursor_value(kind: str, raw: Any, postgres: bool) -> Any:
    if raw is None:
        return None
    if kind == "datetime" and isinstance(raw, str):
        return dt.datetime.fromisoformat(raw)
    if kind == "date" and isinstance(raw, str):
        return dt.date.fromisoformat(raw)
    if kind == "decimal":
        return decimal.Decimal(str(raw)) if postgres else float(raw)
    return raw
