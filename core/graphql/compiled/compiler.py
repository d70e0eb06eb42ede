"""One GraphQL read, compiled into one SQL statement that builds the answer.

The compiler walks the operation's selection along the generated types and writes,
for every record it selects, a JSON object built in SQL: scalar fields from columns,
custom fields from the ``custom`` column, a forward relation as a correlated subquery,
a reverse list or a timeline as an aggregated subquery, and each root list as a page
of keyset-ordered rows with its ``totalCount`` and ``pageInfo``.

It reuses the read path rather than copying it: the list's ``WHERE`` (scope, filter,
search, cursor) and ``ORDER BY`` come from ``RecordQuery``, the scopes and hidden fields
from the viewer's ``Permissions`` — so the visibility model is inside the statement,
and a filter, order or cursor means exactly what it means on the general path.

Anything it does not cover (a plugin's field, a money value, an aggregate, a
directive, a bad argument) raises ``NotCompilable``: that root field is answered by
the general executor instead, which also reports every error.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    value_from_ast,
)
from piccolo.querystring import QueryString

from kith.core.entities import Entity, FieldKind, FieldSpec
from kith.core.errors import ValidationFailed
from kith.core.graphql.compiled.json_sql import JsonSql, TooWide
from kith.core.graphql.record_id import record_id_problem
from kith.core.records.aggregate import aggregate_query
from kith.core.records.query import ALIAS, CursorCodec, SortKey
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.graphql.entity_types import EntityTypes
    from kith.core.runtime import Kith

#: custom field types whose stored JSON is what their GraphQL type serializes to
STORED_AS_SERIALIZED = frozenset(
    {"text", "long_text", "integer", "decimal", "boolean", "date", "single_select", "multi_select",
     "email", "phone", "url"}
)  # fmt: skip


class NotCompilable(Exception):
    """The general executor answers this field (the reason is for logs and tests)."""


@dataclass
class CursorFix:
    """Where a root list's cursors sit in the answer: the database writes each one as
    the row's sort-key values, Python signs them."""

    root: str
    codec: CursorCodec
    edges: list[tuple[str, str]] = field(default_factory=list)  # (edges alias, cursor alias)
    page_info: list[tuple[str, list[str]]] = field(default_factory=list)  # (pageInfo alias, cursor aliases)


@dataclass(frozen=True)
class Slot:
    """A statement parameter filled from a variable on each request (a point read's
    ``$id``), so one compiled statement serves every value of it."""

    variable: str


@dataclass
class CompiledRead:
    """The statement answering some root fields, and how to finish its answer."""

    statement: QueryString
    roots: list[str]  # response names, in order
    cursors: list[CursorFix]
    sql: str = ""  # the statement compiled for the engine, with its parameters
    args: list[Any] = field(default_factory=list)
    slots: frozenset[str] = frozenset()  # variables read into ``Slot`` parameters
    rest: str | None = None  # the document without the compiled root fields, for the general executor


class Compiler:
    """Compiles the root fields of one operation for one viewer and one set of variables."""

    def __init__(
        self,
        kith: Kith,
        schema: GraphQLSchema,
        types: dict[str, EntityTypes],
        viewer: Any,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.kith = kith
        self.schema = schema
        self.types = types
        self.viewer = viewer
        self.fragments = fragments
        self.variables = variables
        self.json = JsonSql(kith.db.dialect.is_postgres)
        self.query = kith.query
        self._aliases = itertools.count()
        self._ctes: list[tuple[str, QueryString]] = []
        #: variables the statement reads on each request (``Slot``)
        self.slots: set[str] = set()
        self.lists = {t.entity.plural_field: t for t in types.values()}
        self.points = {_camel(t.entity.name): t for t in types.values()}
        self.aggregates = {t.entity.plural_field + "Aggregate": t for t in types.values()}

    # -- entry points ------------------------------------------------------------------

    def mark(self) -> tuple[int, set[str]]:
        """Where the statement stands, to forget a root field that did not compile."""
        return len(self._ctes), set(self.slots)

    def reset(self, mark: tuple[int, set[str]]) -> None:
        del self._ctes[mark[0] :]
        self.slots = set(mark[1])

    def root_field(self, name: str, node: FieldNode, fixes: list[CursorFix]) -> QueryString:
        """The JSON of one root field, or ``NotCompilable``."""
        query_type = self.schema.query_type
        assert query_type is not None
        field_name = node.name.value
        if field_name == "__typename":
            return self.json.string(query_type.name)
        definition = query_type.fields.get(field_name)
        if definition is None:
            raise NotCompilable(field_name)
        args = self._arguments(definition, node)
        if field_name in self.lists:
            return self._connection(name, self.lists[field_name], node, args, fixes)
        if field_name in self.points:
            return self._point(self.points[field_name], node, args)
        if field_name in self.aggregates:
            return self._aggregate(self.aggregates[field_name], node, args)
        raise NotCompilable(field_name)

    def statement(self, roots: list[tuple[str, QueryString]]) -> QueryString:
        body = self.json.object(roots)
        if not self._ctes:
            return QueryString("SELECT {} AS answer", body)
        ctes = ", ".join(f"{name} AS ({{}})" for name, _ in self._ctes)
        return QueryString(f"WITH {ctes} SELECT {{}} AS answer", *(sql for _, sql in self._ctes), body)

    # -- selections and arguments ------------------------------------------------------------

    def fields(self, selection_set: SelectionSetNode | None, type_name: str) -> list[tuple[str, FieldNode]]:
        """The fields selected, by response name, with fragments spread; a field asked for
        twice under one name must be the same field with the same arguments (validation
        guarantees it) and its selections merge."""
        merged: dict[str, list[FieldNode]] = {}
        self._collect(selection_set, type_name, merged)
        out = []
        for name, nodes in merged.items():
            first = nodes[0]
            if len(nodes) > 1:
                selections = [s for n in nodes if n.selection_set for s in n.selection_set.selections]
                first = FieldNode(
                    alias=first.alias,
                    name=first.name,
                    arguments=first.arguments,
                    directives=first.directives,
                    selection_set=SelectionSetNode(selections=tuple(selections)) if selections else None,
                )
            out.append((name, first))
        return out

    def _collect(
        self, selection_set: SelectionSetNode | None, type_name: str, into: dict[str, list[FieldNode]]
    ) -> None:
        for selection in selection_set.selections if selection_set else ():
            if selection.directives:
                raise NotCompilable("directives")  # @skip/@include: the general executor decides
            if isinstance(selection, FieldNode):
                name = selection.alias.value if selection.alias else selection.name.value
                into.setdefault(name, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != type_name:
                    raise NotCompilable("fragment on another type")
                self._collect(selection.selection_set, type_name, into)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None or fragment.type_condition.name.value != type_name:
                    raise NotCompilable("fragment on another type")
                self._collect(fragment.selection_set, type_name, into)

    def _arguments(self, definition: GraphQLField, node: FieldNode) -> dict[str, Any]:
        """Argument values as the general executor would coerce them."""
        given = {a.name.value: a.value for a in node.arguments or ()}
        values: dict[str, Any] = {}
        for name, argument in definition.args.items():
            if name in given:
                value = value_from_ast(given[name], argument.type, self.variables)
                if value is Undefined:
                    raise NotCompilable(f"argument {name}")
                values[name] = _given(value)
            elif argument.default_value is not Undefined:
                values[name] = argument.default_value
        if set(given) - set(definition.args):
            raise NotCompilable("unknown argument")
        return values

    def _alias(self) -> str:
        return f"l{next(self._aliases)}"

    def _page_size(self, args: Mapping[str, Any]) -> int:
        first = args.get("first", 20)
        if not isinstance(first, int):
            raise NotCompilable("first")
        return first

    def _read_allowed(self, entity: Entity) -> bool:
        return self.viewer is None or self.viewer.allows(entity.name, "read")

    # -- root fields -------------------------------------------------------------------

    def _point(self, t: EntityTypes, node: FieldNode, args: Mapping[str, Any]) -> QueryString:
        entity = t.entity
        raw = args.get("id")
        if raw is None or record_id_problem(raw) is not None:
            raise NotCompilable("id")
        if not self._read_allowed(entity):
            return self.json.null()
        given = next((a.value for a in node.arguments or () if a.name.value == "id"), None)
        value: Any = int(raw)
        if isinstance(given, VariableNode):
            value = Slot(given.name.value)
            self.slots.add(value.variable)
        alias = self._alias()
        where = self._scoped(entity, alias, QueryString(f"{alias}.id = {{}}", value))
        record = self._record(t, alias, node.selection_set)
        return self.json.subquery(
            QueryString(f'(SELECT {{}} FROM "{entity.tablename}" {alias} WHERE {{}})', record, where)
        )

    def _connection(
        self, root: str, t: EntityTypes, node: FieldNode, args: Mapping[str, Any], fixes: list[CursorFix]
    ) -> QueryString:
        entity = t.entity
        first = self._page_size(args)
        if not 0 <= first <= self.kith.settings.max_page_size or not self._read_allowed(entity):
            raise NotCompilable("refused")  # the general executor says why
        filter_, order_by = args.get("filter"), list(args.get("orderBy") or ())
        search, after = args.get("search"), args.get("after")
        try:
            keys = self.query.sort_keys(entity, order_by, self.viewer)
            codec = self.query.cursor_codec(entity, keys, self.viewer)
            extra = [self.query.after_condition(keys, after, codec)] if after else []
            where = self.query.where(entity, filter_, search, extra, viewer=self.viewer)
            count_where = self.query.where(entity, filter_, search, viewer=self.viewer) if after else where
        except ValidationFailed as exc:
            raise NotCompilable("bad input") from exc
        page, ranked = f"p{len(self._ctes)}", f"q{len(self._ctes)}"
        key_columns = ", ".join(f"{{}} AS _k{i}" for i in range(len(keys)))
        self._ctes.append(
            (
                page,
                QueryString(
                    f'SELECT {ALIAS}.*, {key_columns} FROM "{entity.tablename}" {ALIAS} WHERE {{}} '
                    f"ORDER BY {{}} LIMIT {first + 1}",
                    *(key.expr() for key in keys),
                    where,
                    self.query.order_clause(keys),
                ),
            )
        )
        order = self._key_order(keys, page)
        self._ctes.append(
            (ranked, QueryString(f"SELECT {page}.*, ROW_NUMBER() OVER (ORDER BY {order}) AS _rn FROM {page}"))
        )
        fix = CursorFix(root, codec)
        pairs: list[tuple[str, QueryString]] = []
        for name, sub in self.fields(node.selection_set, t.connection.__strawberry_definition__.name):
            field_name = sub.name.value
            if field_name == "__typename":
                pairs.append((name, self.json.string(t.connection.__strawberry_definition__.name)))
            elif field_name in ("edges", "nodes"):
                alias = self._alias()
                if field_name == "nodes":
                    item = self._record(t, alias, sub.selection_set)
                else:
                    item = self._edge(t, alias, sub, keys, fix, name)
                source = QueryString(f"{ranked} {alias} WHERE {alias}._rn <= {first}")
                pairs.append((name, self.json.aggregate(item, source, f"{alias}._rn")))
            elif field_name == "pageInfo":
                pairs.append((name, self._page_info(sub, keys, page, ranked, first, after is not None, fix, name)))
            elif field_name == "totalCount":
                pairs.append(
                    (name, QueryString(f'(SELECT COUNT(*) FROM "{entity.tablename}" {ALIAS} WHERE {{}})', count_where))
                )
            else:
                raise NotCompilable(field_name)
        if fix.edges or fix.page_info:
            fixes.append(fix)
        return self._object(pairs)

    def _aggregate(self, t: EntityTypes, node: FieldNode, args: Mapping[str, Any]) -> QueryString:
        """``<plural>Aggregate``: the groups ``aggregate_query`` makes, as ``AggregateGroup``
        objects (money sums are formatted per currency by the general path)."""
        entity = t.entity
        if not self._read_allowed(entity):
            raise NotCompilable("refused")
        bucket = args.get("bucket")
        try:
            plan = aggregate_query(
                self.query,
                entity,
                filter_=args.get("filter"),
                group_by=args.get("groupBy") or [],
                bucket=(bucket["field"], getattr(bucket["unit"], "value", bucket["unit"])) if bucket else None,
                sums=args.get("sum") or [],
                averages=args.get("avg") or [],
                viewer=self.viewer,
            )
        except ValidationFailed as exc:
            raise NotCompilable("bad input") from exc
        if plan.money_currency:
            raise NotCompilable("money")
        alias = self._alias()
        pairs: list[tuple[str, QueryString]] = []
        for name, sub in self.fields(node.selection_set, "AggregateGroup"):
            field_name = sub.name.value
            if field_name == "__typename":
                pairs.append((name, self.json.string("AggregateGroup")))
            elif field_name == "key":
                values = [
                    (label, self._driver_value(kind, custom, f"{alias}.g{i}"))
                    for i, (label, kind, custom) in enumerate(plan.keys)
                ]
                pairs.append((name, self._object(values)))
            elif field_name == "count":
                pairs.append((name, self.json.plain(f"{alias}.n")))
            elif field_name in ("sums", "averages"):
                function = "SUM" if field_name == "sums" else "AVG"
                values = [
                    (label, self.json.number(f"{alias}.m{i}"))
                    for i, (label, measure) in enumerate(plan.measures)
                    if measure == function
                ]
                pairs.append((name, self._object(values)))
            else:
                raise NotCompilable(field_name)
        order = ", ".join(f"{alias}.g{i}" for i in range(len(plan.keys))) or f"{alias}.n"
        source = QueryString(f"({{}}) {alias}", plan.statement)
        return self.json.aggregate(self._object(pairs), source, order, source_ordered=True)

    def _edge(
        self, t: EntityTypes, alias: str, node: FieldNode, keys: list[SortKey], fix: CursorFix, edges_name: str
    ) -> QueryString:
        pairs: list[tuple[str, QueryString]] = []
        for name, sub in self.fields(node.selection_set, t.edge.__strawberry_definition__.name):
            field_name = sub.name.value
            if field_name == "__typename":
                pairs.append((name, self.json.string(t.edge.__strawberry_definition__.name)))
            elif field_name == "node":
                pairs.append((name, self._record(t, alias, sub.selection_set)))
            elif field_name == "cursor":
                pairs.append((name, self._key_values(keys, alias)))
                fix.edges.append((edges_name, name))
            else:
                raise NotCompilable(field_name)
        return self._object(pairs)

    def _page_info(
        self,
        node: FieldNode,
        keys: list[SortKey],
        page: str,
        ranked: str,
        first: int,
        has_previous: bool,
        fix: CursorFix,
        info_name: str,
    ) -> QueryString:
        pairs: list[tuple[str, QueryString]] = []
        cursors: list[str] = []
        last = f"(SELECT CASE WHEN COUNT(*) > {first} THEN {first} ELSE COUNT(*) END FROM {page})"
        for name, sub in self.fields(node.selection_set, "PageInfo"):
            field_name = sub.name.value
            if field_name == "__typename":
                pairs.append((name, self.json.string("PageInfo")))
            elif field_name == "hasNextPage":
                pairs.append((name, self.json.boolean(QueryString(f"(SELECT COUNT(*) FROM {page}) > {first}"))))
            elif field_name == "hasPreviousPage":
                pairs.append((name, self.json.boolean(QueryString("1 = 1" if has_previous else "1 = 0"))))
            elif field_name in ("startCursor", "endCursor"):
                position = f"1 AND {first} > 0" if field_name == "startCursor" else last
                alias = self._alias()
                values = self._key_values(keys, alias)
                row = QueryString(f"(SELECT {{}} FROM {ranked} {alias} WHERE {alias}._rn = {position})", values)
                pairs.append((name, self.json.subquery(row)))
                cursors.append(name)
            else:
                raise NotCompilable(field_name)
        if cursors:
            fix.page_info.append((info_name, cursors))
        return self._object(pairs)

    def _key_values(self, keys: list[SortKey], alias: str) -> QueryString:
        """A row's sort-key values as the JSON array its cursor signs."""
        return self.json.array([self._driver_value(k.kind, k.custom, f"{alias}._k{i}") for i, k in enumerate(keys)])

    def _driver_value(self, kind: str, custom: bool, column: str) -> QueryString:
        """A computed value (a sort key, a group key) written as ``jsonable`` writes what
        the driver returns for it: custom fields' values come out of JSON as stored."""
        if kind == "datetime" and not custom:
            return self.json.datetime(column)
        if kind == "date" and not custom:
            return self.json.date(column)
        if kind == "decimal" and (self.json.postgres or not custom):
            return self.json.decimal(column)
        if kind == "bool" and not (custom and not self.json.postgres):
            return self.json.bool(column)
        return self.json.plain(column)

    def _key_order(self, keys: list[SortKey], alias: str) -> str:
        """The list's order over its page's key columns (``_k0``, ``_k1``…)."""
        parts = []
        for i, key in enumerate(keys):
            column = f"{alias}._k{i}"
            if key.text:
                column = self.kith.db.dialect.order_text(column)
            direction = "DESC" if key.descending else "ASC"
            parts.append(f"{column} {direction}" + (" NULLS LAST" if key.nullable else ""))
        return ", ".join(parts)

    # -- records -------------------------------------------------------------------------

    def _scoped(self, entity: Entity, alias: str, condition: QueryString, by_key: bool = True) -> QueryString:
        """``condition`` on live rows the viewer may read.  ``by_key``: the condition finds
        the row by its primary key, which no planner passes over, so the live-row test
        stays bare (SQLite's parser allows only so much nesting); else ``Dialect.live``
        keeps SQLite from preferring the ``deleted_at`` index."""
        live = f"{alias}.deleted_at IS NULL" if by_key else self.kith.db.dialect.live(alias)
        parts = [condition, QueryString(live)]
        scope = self.viewer.predicate(entity, "read", alias) if self.viewer is not None else None
        if scope is not None:
            parts.append(scope)
        return QueryString(" AND ".join("{}" for _ in parts), *parts)

    def _hidden(self, entity: Entity, key: str) -> bool:
        return self.viewer is not None and key in self.viewer.hidden_keys(entity)

    def _object(self, pairs: list[tuple[str, QueryString]]) -> QueryString:
        try:
            return self.json.object(pairs)
        except TooWide as exc:
            raise NotCompilable("too many fields") from exc

    def _record(self, t: EntityTypes, alias: str, selection_set: SelectionSetNode | None) -> QueryString:
        """The JSON object of one record of ``t`` whose row is ``alias``, as the viewer may see it."""
        entity = t.entity
        type_name = t.node.__strawberry_definition__.name
        gql_type = self.schema.type_map[type_name]
        assert isinstance(gql_type, GraphQLObjectType)
        scalars, relations = _fields_by_name(entity)
        pairs: list[tuple[str, QueryString]] = []
        for name, node in self.fields(selection_set, type_name):
            field_name = node.name.value
            if field_name == "__typename":
                pairs.append((name, self.json.string(type_name)))
                continue
            definition = gql_type.fields.get(field_name)
            if definition is None:
                raise NotCompilable(field_name)
            if field_name == "id":
                pairs.append((name, self.json.text(f"{alias}.id")))
            elif field_name == "version":
                pairs.append((name, self.json.plain(f"{alias}.version")))
            elif field_name in ("createdAt", "updatedAt", "deletedAt"):
                column = {"createdAt": "created_at", "updatedAt": "updated_at", "deletedAt": "deleted_at"}[field_name]
                hidden = column != "deleted_at" and self._hidden(entity, column)
                pairs.append((name, self.json.null() if hidden else self.json.datetime(f'{alias}."{column}"')))
            elif field_name in scalars and scalars[field_name].kind is FieldKind.MONEY:
                pairs.append((name, self._money(entity, scalars[field_name], alias, node)))
            elif field_name in scalars:
                pairs.append((name, self._scalar(entity, scalars[field_name], alias)))
            elif field_name in relations:
                pairs.append((name, self._forward(entity, relations[field_name], alias, node)))
            elif field_name == "customFields" and t.custom is not None:
                pairs.append((name, self._custom(t, alias, node)))
            elif field_name == "timeline" and entity.timeline:
                pairs.append((name, self._timeline(entity, alias, definition, node)))
            elif (reverse := self.kith.entities.reverse_list(entity.name, field_name)) is not None:
                pairs.append((name, self._children(reverse.child, reverse.column, alias, definition, node)))
            else:
                raise NotCompilable(field_name)
        return self._object(pairs)

    def _scalar(self, entity: Entity, spec: FieldSpec, alias: str) -> QueryString:
        column = f'{alias}."{spec.name}"'
        kind = spec.kind
        if self._hidden(entity, spec.name):
            return self.json.empty_list() if kind is FieldKind.STRING_LIST else self.json.null()
        if kind in (FieldKind.ID, FieldKind.RELATION) or (entity.attachment and spec.name == entity.attachment[1]):
            return self.json.text(column)
        if kind in (FieldKind.STRING, FieldKind.TEXT, FieldKind.INT):
            return self.json.plain(column)
        if kind is FieldKind.BOOL:
            return self.json.bool(column)
        if kind is FieldKind.DATETIME:
            return self.json.datetime(column)
        if kind is FieldKind.DATE:
            return self.json.date(column)
        if kind is FieldKind.DECIMAL:
            return self.json.decimal(column)
        if kind is FieldKind.STRING_LIST:
            return self.json.json_list(column)
        raise NotCompilable(f"{spec.name}: {kind.value}")  # money: amounts are formatted per currency

    def _money(self, entity: Entity, spec: FieldSpec, alias: str, node: FieldNode) -> QueryString:
        """``{amount, currency}`` from the minor units and the currency column (null when
        either is empty or the field is hidden)."""
        minor, currency = f'{alias}."{spec.name}"', f'{alias}."{spec.currency_column}"'
        if self._hidden(entity, spec.name):
            return self.json.null()
        pairs: list[tuple[str, QueryString]] = []
        for name, sub in self.fields(node.selection_set, "Money"):
            field_name = sub.name.value
            if field_name == "__typename":
                pairs.append((name, self.json.string("Money")))
            elif field_name == "amount":
                pairs.append((name, self.json.money_amount(minor, currency)))
            elif field_name == "currency":
                pairs.append((name, self.json.plain(currency)))
            else:
                raise NotCompilable(field_name)
        value = self._object(pairs)
        return QueryString(f"CASE WHEN {minor} IS NULL OR {currency} IS NULL THEN NULL ELSE {{}} END", value)

    def _forward(self, entity: Entity, spec: FieldSpec, alias: str, node: FieldNode) -> QueryString:
        target_types = self.types.get(spec.target or "")
        if target_types is None:
            raise NotCompilable(spec.name)
        target = target_types.entity
        if self._hidden(entity, spec.name) or not self._read_allowed(target):
            return self.json.null()
        inner = self._alias()
        where = self._scoped(target, inner, QueryString(f'{inner}.id = {alias}."{spec.name}"'))
        record = self._record(target_types, inner, node.selection_set)
        return self.json.subquery(
            QueryString(f'(SELECT {{}} FROM "{target.tablename}" {inner} WHERE {{}})', record, where)
        )

    def _custom(self, t: EntityTypes, alias: str, node: FieldNode) -> QueryString:
        type_name = t.custom.__strawberry_definition__.name
        by_name = {f.path.removeprefix("customFields."): f for f in t.custom_fields}
        pairs: list[tuple[str, QueryString]] = []
        for name, sub in self.fields(node.selection_set, type_name):
            field_name = sub.name.value
            if field_name == "__typename":
                pairs.append((name, self.json.string(type_name)))
                continue
            definition = by_name.get(field_name)
            if definition is None:
                raise NotCompilable(field_name)
            if self._hidden(t.entity, "custom." + definition.name):
                pairs.append((name, self.json.null()))
            elif definition.type == "datetime":
                pairs.append((name, self.json.custom_datetime(f"{alias}.custom", definition.name)))
            elif definition.type in STORED_AS_SERIALIZED:
                pairs.append((name, self.json.custom(f"{alias}.custom", definition.name)))
            elif definition.type == "relation":
                pairs.append((name, self.json.custom_text(f"{alias}.custom", definition.name)))
            else:
                raise NotCompilable(f"custom {definition.type}")
        return self._object(pairs)

    def _children(
        self, child: Entity, column: str, alias: str, definition: GraphQLField, node: FieldNode
    ) -> QueryString:
        """A reverse list: the first ``first`` children in ``orderBy`` order (else by
        position, then oldest first), as ``RecordQuery.children`` reads them."""
        args = self._arguments(definition, node)
        limit = max(0, min(self._page_size(args), self.kith.settings.max_page_size))
        if not self._read_allowed(child) or self._hidden(child, column) or limit == 0:
            return self.json.empty_list()
        order_by = list(args.get("orderBy") or ())
        if not order_by and "position" in child.fields:
            order_by = [{"position": "ASC"}]
        try:
            keys = self.query.sort_keys(child, order_by, self.viewer)
            link = QueryString(f'{ALIAS}."{column}" = {alias}.id')
            where = self.query.where(child, args.get("filter"), extra=[link], viewer=self.viewer)
        except ValidationFailed as exc:
            raise NotCompilable("bad input") from exc
        return self._list(self.types[child.name], keys, where, limit, node)

    def _timeline(self, entity: Entity, alias: str, definition: GraphQLField, node: FieldNode) -> QueryString:
        """The newest activities on the record, as ``load_timelines`` reads them."""
        args = self._arguments(definition, node)
        limit = max(0, min(self._page_size(args), self.kith.settings.max_page_size))
        activity = self.kith.entities.get("activity")
        if not self._read_allowed(activity) or limit == 0:
            return self.json.empty_list()
        keys = [
            SortKey(f"{ALIAS}.occurred_at", True, "datetime"),
            SortKey(f"{ALIAS}.id", True, "int", nullable=False),
        ]
        where = self._scoped(
            activity,
            ALIAS,
            QueryString(f"{ALIAS}.subject_type = {{}} AND {ALIAS}.subject_id = {alias}.id", entity.name),
            by_key=False,
        )
        return self._list(self.types["activity"], keys, where, limit, node)

    def _list(
        self, t: EntityTypes, keys: list[SortKey], where: QueryString, limit: int, node: FieldNode
    ) -> QueryString:
        inner = self._alias()
        key_columns = ", ".join(f"{{}} AS _k{i}" for i in range(len(keys)))
        source = QueryString(
            f'(SELECT {ALIAS}.*, {key_columns} FROM "{t.entity.tablename}" {ALIAS} WHERE {{}} '
            f"ORDER BY {{}} LIMIT {limit}) {inner}",
            *(key.expr() for key in keys),
            where,
            self.query.order_clause(keys),
        )
        item = self._record(t, inner, node.selection_set)
        return self.json.aggregate(item, source, self._key_order(keys, inner), source_ordered=True)


def _given(value: Any) -> Any:
    """An input as the resolvers receive it (``kith.core.graphql.convert.plain``): input
    fields left out or given as null are dropped, enums are their values."""
    if isinstance(value, dict):
        return {k: _given(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_given(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _fields_by_name(entity: Entity) -> tuple[dict[str, FieldSpec], dict[str, FieldSpec]]:
    """The entity's scalar fields and forward relations, by GraphQL name."""
    scalars: dict[str, FieldSpec] = {}
    relations: dict[str, FieldSpec] = {}
    for spec in entity.fields.values():
        name = graphql_name(spec)
        scalars[name] = spec
        if spec.kind is FieldKind.RELATION and spec.target:
            relations[name.removesuffix("Id")] = spec
    return scalars, relations


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
