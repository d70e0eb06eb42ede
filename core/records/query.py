"""The one read path: filtered, ordered, keyset-paginated lists and counts in SQL.

Lists use keyset pagination: the cursor holds the sort values of the last row, so
page 500 costs what page 1 costs.  Every sort key sorts empty values last, in both
directions and on both engines, and ``id`` is always the final tie-breaker, so the
order is total and cursors are stable.
"""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import decimal
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from piccolo.querystring import QueryString

from kith.core.entities import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.records.encoding import decode_row, jsonable
from kith.core.records.filters import (
    TIMESTAMPS,
    FilterCompiler,
    FilterContext,
    Viewer,
    builtin_operand,
    custom_operand,
    masked,
)
from kith.core.records.validation import graphql_name
from kith.core.validation.text import NUL_MESSAGE, nul_path

ALIAS = "t"


@dataclass(frozen=True)
class SortKey:
    sql: str  # may hold ``{}`` placeholders for ``args`` (a related record's scope)
    descending: bool
    kind: str
    text: bool = False
    custom: bool = False  # custom dates are stored and compared as canonical text
    nullable: bool = True  # a key that cannot be empty sorts and seeks on its index
    args: tuple[Any, ...] = ()

    def expr(self, ordered: bool = False, dialect: Any = None) -> QueryString:
        """The key as SQL; ``ordered``: as it sorts (text by code point)."""
        sql = dialect.order_text(self.sql) if ordered and self.text else self.sql
        return QueryString(sql, *self.args)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    keys: list[list[Any]]  # each row's sort-key values, from which its cursor is made
    has_next_page: bool
    has_previous_page: bool
    codec: CursorCodec | None = None

    def cursor(self, index: int) -> str:
        assert self.codec is not None, "a page made by RecordQuery.list carries its cursor codec"
        return self.codec.encode(self.keys[index])

    @property
    def cursors(self) -> list[str]:
        return [self.cursor(i) for i in range(len(self.keys))]

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
    ``filter`` and ``order_by`` use the GraphQL languages (client-facing names).

    With a ``viewer`` (a caller's ``Permissions``) the whole request is read as them:
    only rows they may read, at every hop of a relation in the filter or the order;
    hidden fields refused in the filter and the order and left out of the search."""

    entity: Entity
    filter: Mapping[str, Any] | None = None
    order_by: Sequence[Mapping[str, Any]] = ()
    first: int = 20
    after: str | None = None
    search: str | None = None
    columns: set[str] | None = None  # None: every column
    extra_where: list[QueryString] = field(default_factory=list)
    viewer: Viewer | None = None
    include_deleted: bool = False  # soft-deleted records too (personal data, purges)


class CursorCodec:
    """Cursors a client can hand back but neither read nor forge.

    A cursor holds the sort values of a row; it is signed (HMAC-SHA256 with the
    installation's secret) over those values, the entity, the order and who asked, so
    a cursor edited by hand, made for another list or order, or taken from another user
    is refused as a bad input instead of reaching the database.
    """

    def __init__(self, secret: Callable[[], str], binding: str) -> None:
        self._secret = secret
        self._binding = binding.encode()

    def _signature(self, payload: bytes) -> bytes:
        mac = hmac.new(self._secret().encode(), self._binding + b"\x00" + payload, hashlib.sha256)
        return mac.digest()[:16]

    def encode(self, values: list[Any]) -> str:
        payload = json.dumps(jsonable(values), separators=(",", ":")).encode()
        return _b64(payload) + "." + _b64(self._signature(payload))

    def decode(self, cursor: Any) -> list[Any]:
        invalid = ValidationFailed.single("after", "invalid", "is not a cursor returned by this list")
        if not isinstance(cursor, str) or cursor.count(".") != 1:
            raise invalid
        body, _, signature = cursor.partition(".")
        try:
            payload, given = _unb64(body), _unb64(signature)
        except ValueError:
            raise invalid from None
        if not hmac.compare_digest(given, self._signature(payload)):
            raise invalid
        values = json.loads(payload)
        if not isinstance(values, list):
            raise invalid
        return values


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValueError("not base64") from None


class RecordQuery:
    """Builds and runs list and count queries for one running Kith."""

    def __init__(self, ctx: FilterContext, secret: Callable[[], str]) -> None:
        self.ctx = ctx
        self.secret = secret

    # -- building blocks -----------------------------------------------------------

    def where(
        self,
        entity: Entity,
        filter_: Mapping[str, Any] | None,
        search: str | None = None,
        extra: Sequence[QueryString] = (),
        include_deleted: bool = False,
        viewer: Viewer | None = None,
    ) -> QueryString:
        """The WHERE clause of a list, count or aggregate; with a ``viewer``, only the rows
        they may read, and a filter and search read as them."""
        for value, path in ((filter_, "filter"), (search, "search")):
            where = nul_path(value, path)
            if where is not None:  # PostgreSQL would fail on it, SQLite would not: refuse on both
                raise ValidationFailed.single(where, "invalid", NUL_MESSAGE)
        parts = [QueryString("1 = 1" if include_deleted else self.ctx.dialect.live(ALIAS))]
        if viewer is not None:
            scope = viewer.predicate(entity, "read", ALIAS)
            if scope is not None:
                parts.append(scope)
        if filter_:
            parts.append(FilterCompiler(self.ctx, viewer).compile(entity, filter_, ALIAS))
        if search and search.strip():
            parts.append(self._search(entity, search.strip(), viewer))
        parts.extend(extra)
        return QueryString(" AND ".join("{}" for _ in parts), *parts)

    def _search(self, entity: Entity, text: str, viewer: Viewer | None = None) -> QueryString:
        """Any searchable field the viewer may read contains ``text``: a hidden field is
        not searched at all, so the result is what it would be without that field."""
        from kith.core.storage.dialect import escape_like

        pattern = "%" + escape_like(text) + "%"
        dialect = self.ctx.dialect
        hidden = viewer.hidden_keys(entity) if viewer is not None else frozenset()
        ors: list[QueryString] = []
        for spec in entity.fields.values():
            if not spec.searchable or spec.name in hidden:
                continue
            column = f'{ALIAS}."{spec.name}"'
            if spec.kind is FieldKind.STRING_LIST:
                column = f"CAST({column} AS TEXT)"
            ors.append(QueryString(f"({column} IS NOT NULL AND {dialect.ilike(column)})", pattern))
        if not ors:
            raise ValidationFailed.single("search", "unsupported", f"{entity.name} has no searchable fields")
        return QueryString("(" + " OR ".join("{}" for _ in ors) + ")", *ors)

    def sort_keys(
        self, entity: Entity, order_by: Sequence[Mapping[str, Any]], viewer: Viewer | None = None
    ) -> list[SortKey]:
        """The order as SQL keys; with a ``viewer``, a field hidden from them sorts as empty
        at every hop (so neither the order nor the cursors reveal it) and a related record
        they may not read sorts as if the relation were empty."""
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
                keys.append(self._sort_key(entity, builtin, name, direction, viewer))
            except ValueError as exc:
                errors.append(FieldError(f"{path}.{name}", "invalid", str(exc)))
        if errors:
            raise ValidationFailed(errors)
        keys.append(SortKey(f"{ALIAS}.id", False, "int", nullable=False))
        return keys

    def _sort_key(
        self, entity: Entity, builtin: dict[str, Any], name: str, direction: Any, viewer: Viewer | None
    ) -> SortKey:
        key = self._unmasked_sort_key(entity, builtin, name, direction, viewer)
        hidden = name != "customFields" and viewer is not None and viewer.is_hidden(entity, name)
        return replace(key, sql=masked(key.sql)) if hidden else key

    def _unmasked_sort_key(
        self, entity: Entity, builtin: dict[str, Any], name: str, direction: Any, viewer: Viewer | None
    ) -> SortKey:
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
            hidden = viewer is not None and viewer.is_hidden(entity, field_def.path)
            sql = masked(operand.sql) if hidden else operand.sql
            # text sorts as the field's index is built: in code-point order
            return SortKey(sql, _descending(fdir), operand.kind, operand.code_point, True)
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
            if viewer is not None and viewer.is_hidden(target, sub_name):
                column = masked(column)
            scope = viewer.predicate(target, "read", "rs") if viewer is not None else None
            sql = (
                f'(SELECT {column} FROM "{target.tablename}" rs WHERE rs.id = {ALIAS}."{spec.name}" '
                f"AND rs.deleted_at IS NULL{' AND {}' if scope is not None else ''})"
            )
            args = (scope,) if scope is not None else ()
            return SortKey(sql, _descending(sub_dir), kind, kind == "string", args=args)
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

    def order_clause(self, keys: list[SortKey]) -> QueryString:
        """ORDER BY with empty values last in both directions (``NULLS LAST`` on both
        engines); keys that cannot be empty are left bare so an index can serve them."""
        parts = []
        for key in keys:
            direction = "DESC" if key.descending else "ASC"
            parts.append(QueryString("{} " + direction + (" NULLS LAST" if key.nullable else ""), self._ordered(key)))
        return QueryString(", ".join("{}" for _ in parts), *parts)

    def _ordered(self, key: SortKey) -> QueryString:
        return key.expr(ordered=True, dialect=self.ctx.dialect)

    def after_condition(self, keys: list[SortKey], cursor: str, codec: CursorCodec) -> QueryString:
        values = codec.decode(cursor)
        if len(values) != len(keys):
            raise ValidationFailed.single("after", "invalid", "belongs to a list with a different order")
        ors: list[QueryString] = []
        equal: list[QueryString] = []
        for key, raw in zip(keys, values, strict=True):
            try:
                value = (
                    raw
                    if key.custom and key.kind != "decimal"
                    else _cursor_value(key.kind, raw, self.ctx.dialect.is_postgres)
                )
            except (ValueError, TypeError, decimal.InvalidOperation):
                raise ValidationFailed.single("after", "invalid", "is not a cursor returned by this list") from None
            expr, ordered = key.expr(), self._ordered(key)
            op = "<" if key.descending else ">"
            if not key.nullable:
                greater = QueryString(f"{{}} {op} {{}}", ordered, value)
                same = QueryString("{} = {}", expr, value)
            elif value is None:
                greater = QueryString("1 = 0")
                same = QueryString("{} IS NULL", expr)
            else:
                greater = QueryString(f"({{}} IS NULL OR {{}} {op} {{}})", expr, ordered, value)
                same = QueryString("({} IS NOT NULL AND {} = {})", expr, expr, value)
            ors.append(QueryString(" AND ".join("{}" for _ in [*equal, greater]), *equal, greater))
            equal.append(same)
        return QueryString("(" + " OR ".join("({})" for _ in ors) + ")", *ors)

    def cursor_codec(self, entity: Entity, keys: list[SortKey], viewer: Viewer | None) -> CursorCodec:
        """The codec for cursors of this list: bound to the entity, the order and the viewer."""
        order = ";".join(f"{k.sql}:{int(k.descending)}" for k in keys)
        who = viewer.cursor_identity if viewer is not None else "*"
        return CursorCodec(self.secret, f"{entity.name}|{order}|{who}")

    # -- running -------------------------------------------------------------------

    async def list(self, db: Any, request: ListRequest) -> Page:
        entity = request.entity
        viewer = request.viewer
        keys = self.sort_keys(entity, request.order_by, viewer)
        codec = self.cursor_codec(entity, keys, viewer)
        extra = list(request.extra_where)
        if request.after:
            extra.append(self.after_condition(keys, request.after, codec))
        where = self.where(entity, request.filter, request.search, extra, request.include_deleted, viewer)
        if request.columns is None:
            select = f"{ALIAS}.*"
        else:
            cols = {"id", *request.columns}
            select = ", ".join(f'{ALIAS}."{c}"' for c in sorted(cols))
        key_cols = ", ".join(f"{{}} AS _k{i}" for i in range(len(keys)))
        query = QueryString(
            f'SELECT {select}, {key_cols} FROM "{entity.tablename}" {ALIAS} WHERE {{}} '
            f"ORDER BY {{}} LIMIT {int(request.first) + 1}",
            *(key.expr() for key in keys),
            where,
            self.order_clause(keys),
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
        return Page(records, key_values, has_next, request.after is not None, codec)

    async def count(
        self,
        db: Any,
        entity: Entity,
        filter_: Mapping[str, Any] | None,
        search: str | None = None,
        extra: Sequence[QueryString] = (),
        viewer: Viewer | None = None,
        include_deleted: bool = False,
    ) -> int:
        where = self.where(entity, filter_, search, extra, include_deleted, viewer)
        value = await db.fetch_value(
            QueryString(f'SELECT COUNT(*) AS n FROM "{entity.tablename}" {ALIAS} WHERE {{}}', where)
        )
        return int(value or 0)

    async def children(
        self,
        db: Any,
        entity: Entity,
        column: str,
        ids: Sequence[int],
        limit: int,
        filter_: Mapping[str, Any] | None = None,
        order_by: Sequence[Mapping[str, Any]] = (),
        viewer: Viewer | None = None,
    ) -> builtins.list[builtins.list[dict[str, Any]]]:
        """For each of ``ids``, the first ``limit`` records of ``entity`` whose relation
        ``column`` points at it, matching ``filter_`` and in ``order_by`` order (else by
        ``position`` where the entity has one, then oldest first): a reverse list such as
        ``Organization.deals`` for many organizations, in one window-function query.
        With a ``viewer``, only the records they may read, filtered and sorted as them."""
        wanted = [int(i) for i in ids]
        if not wanted or limit <= 0:
            return [[] for _ in wanted]
        if not order_by and "position" in entity.fields:
            order_by = [{"position": "ASC"}]
        keys = self.sort_keys(entity, order_by, viewer)
        placeholders = ", ".join("{}" for _ in wanted)
        link = QueryString(f'{ALIAS}."{column}" IN ({placeholders})', *wanted)
        where = self.where(entity, filter_, extra=[link], viewer=viewer)
        rows = await db.fetch(
            QueryString(
                f'SELECT * FROM (SELECT {ALIAS}.*, ROW_NUMBER() OVER (PARTITION BY {ALIAS}."{column}" '
                f'ORDER BY {{}}) AS _rn FROM "{entity.tablename}" {ALIAS} WHERE {{}}) ranked '
                f'WHERE _rn <= {int(limit)} ORDER BY "{column}", _rn',
                self.order_clause(keys),
                where,
            )
        )
        grouped: dict[int, builtins.list[dict[str, Any]]] = {i: [] for i in wanted}
        for row in rows:
            record = decode_row(entity, {k: v for k, v in dict(row).items() if k != "_rn"})
            grouped.setdefault(record[column], []).append(record)
        return [grouped[i] for i in wanted]


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
