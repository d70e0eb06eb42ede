"""Answering a read with its compiled statement, and knowing when not to.

Per schema, a document is parsed and validated once (the same rules and limits as the
general executor); per viewer and variables, its statement is compiled once.  A request
then costs a dictionary look-up, one statement, and the signing of its cursors.  The
general executor answers whatever is not a valid read of generated fields: every error
is reported there, in its usual shape.

Compiled statements are cached where their validity ends: for unrestricted callers on
the schema (rebuilt when custom fields or plugins change), for everyone else on their
``Permissions`` (rebuilt when their roles or grants change).
"""

from __future__ import annotations

import decimal
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    ValidationRule,
    coerce_input_value,
    is_input_type,
    parse,
    specified_rules,
    type_from_ast,
    validate,
    value_from_ast,
)

from kith.core.graphql.compiled.compiler import CompiledRead, Compiler, CursorFix, NotCompilable, Slot
from kith.core.graphql.compiled.split import remaining_document
from kith.core.graphql.record_id import id_problems, record_id_problem
from kith.core.records.filters import RELATIVE, uses_relative_time
from kith.core.validation.text import nul_path

if TYPE_CHECKING:
    from kith.core.graphql.entity_types import EntityTypes
    from kith.core.runtime import Kith

log = logging.getLogger("kith.graphql")

#: a document or statement the general executor answers
GENERAL = None


class LRU(OrderedDict[Any, Any]):
    """A bounded cache: the least recently used entry goes first."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_recent(self, key: Any) -> Any:
        value = self.get(key, Undefined)
        if value is not Undefined:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


@dataclass(frozen=True)
class Document:
    """A parsed, valid document: its operations by name and its fragments."""

    operations: dict[str | None, OperationDefinitionNode]
    fragments: dict[str, FragmentDefinitionNode]
    ast: DocumentNode


class CompiledReads:
    """The compiled path of one schema."""

    def __init__(
        self, kith: Kith, schema: GraphQLSchema, types: dict[str, EntityTypes], rules: Sequence[type[ValidationRule]]
    ) -> None:
        self.kith = kith
        self.schema = schema
        self.types = types
        self.rules = [*specified_rules, *rules]
        self.documents = LRU(512)
        self.unrestricted = LRU(2048)
        #: reads answered here since the schema was built (tests and metrics read it)
        self.served = 0
        self.compilations = 0

    async def answer(
        self,
        query: str,
        variables: dict[str, Any],
        operation_name: str | None,
        viewer: Any,
        general: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]],
    ) -> bytes | None:
        """The response body, or None when the general executor must answer it all;
        ``general`` answers the root fields the compiler leaves (a document text and
        its variables, run as this request)."""
        document = self._document(query)
        if document is GENERAL:
            return None
        operation = document.operations.get(operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None
        shapes = self._cache_of(viewer)
        shape = shapes.get_recent((query, operation_name))
        if shape is Undefined:
            shape = Shape()
            shapes.put((query, operation_name), shape)
        # a filter relative to now (``withinLast`` …) binds the time it was compiled at
        moving = any(op in query for op in RELATIVE) or uses_relative_time(variables)
        cached = Undefined if moving else shape.reads.get_recent(shape.key(variables))
        read: Any
        if cached is Undefined:
            read = self._compile(query, document, operation, variables, viewer)
            if not moving:
                if read is not GENERAL:
                    shape.slots = read.slots
                shape.reads.put(shape.key(variables), read)
        else:
            read = cached
        if read is GENERAL:
            return None
        args = read.args
        if read.slots:
            args = _filled(args, variables)
            if args is None:
                return None
        try:
            answer = await self.kith.db.fetch_prepared_value(read.sql, args, read.statement)
        except Exception as exc:
            shape.reads.put(shape.key(variables), GENERAL)  # refused once: not tried again
            if "parser stack overflow" not in str(exc):
                raise
            # SQLite's parser allows about 100 nested levels; a deep enough read is the executor's
            log.info("a read nests too deep for SQLite's parser; the general executor answers it")
            return None
        data = orjson.loads(answer)
        for fix in read.cursors:
            _sign(data, fix)
        self.served += 1
        if read.rest is None:
            return orjson.dumps({"data": data})
        response = await general(read.rest, variables)
        return response_bytes(_merged(read.roots, data, response))

    def _cache_of(self, viewer: Any) -> LRU:
        if viewer is None:
            return self.unrestricted
        cache: tuple[CompiledReads, LRU] | None = getattr(viewer, "compiled_reads", None)
        if cache is None or cache[0] is not self:
            cache = (self, LRU(256))
            viewer.compiled_reads = cache
        return cache[1]

    def document(self, query: str) -> Document | None:
        """``query`` parsed and validated as the executor would (cached), or None when the
        executor must answer it (it does not parse, or breaks a rule)."""
        return self._document(query)

    def variables(self, operation: OperationDefinitionNode, given: dict[str, Any]) -> dict[str, Any] | None:
        """``given`` coerced to the operation's declared types, or None when the executor
        would refuse one of them (and must be the one to say so)."""
        return self._variables(operation, given)

    def _document(self, query: str) -> Document | None:
        cached = self.documents.get_recent(query)
        if cached is not Undefined:
            known: Document | None = cached
            return known
        document = self._parse(query)
        self.documents.put(query, document)
        return document

    def _parse(self, query: str) -> Document | None:
        try:
            ast: DocumentNode = parse(query, max_tokens=self.kith.settings.max_query_tokens)
        except GraphQLError:
            return GENERAL
        if validate(self.schema, ast, self.rules):
            return GENERAL
        operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
        by_name: dict[str | None, OperationDefinitionNode] = {d.name.value: d for d in operations if d.name}
        if len(operations) == 1:
            by_name[None] = operations[0]  # the only operation needs no name
        fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
        return Document(by_name, fragments, ast)

    def _compile(
        self, query: str, document: Document, operation: OperationDefinitionNode, variables: dict[str, Any], viewer: Any
    ) -> CompiledRead | None:
        """The statement for the root fields the compiler covers, and the rest of the
        document for the general executor; None when the executor answers it all."""
        self.compilations += 1
        coerced = self._variables(operation, variables)
        if coerced is None:
            return GENERAL
        compiler = Compiler(self.kith, self.schema, self.types, viewer, document.fragments, coerced)
        query_type = self.schema.query_type
        assert query_type is not None
        compiled: list[tuple[str, Any]] = []
        taken: list[FieldNode] = []
        order: list[str] = []
        fixes: list[CursorFix] = []
        try:
            roots = compiler.fields(operation.selection_set, query_type.name)
        except NotCompilable:
            return GENERAL
        for name, node in roots:
            order.append(name)
            mark = compiler.mark()
            try:
                compiled.append((name, compiler.root_field(name, node, fixes)))
                taken.append(node)
            except NotCompilable:
                compiler.reset(mark)
        if not compiled:
            return GENERAL
        rest = None
        if len(compiled) < len(order):
            rest = remaining_document(query, document.ast, operation, taken)
            if rest is None:
                return GENERAL
        statement = compiler.statement(compiled)
        sql, args = statement.compile_string(engine_type="postgres" if self.kith.db.dialect.is_postgres else "sqlite")
        return CompiledRead(statement, order, fixes, sql, args, frozenset(compiler.slots), rest)

    def _variables(self, operation: OperationDefinitionNode, given: dict[str, Any]) -> dict[str, Any] | None:
        """The variables coerced to their declared types, or None when any is refused
        (a NUL in text, an ID that is no record id, a wrong type: the general executor
        reports it)."""
        values: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            declared = type_from_ast(self.schema, definition.type)
            if declared is None or not is_input_type(declared):
                return None
            if name in given:
                raw = given[name]
                if nul_path(raw, "$" + name) is not None or next(id_problems(raw, declared, "$" + name), None):
                    return None
                try:
                    values[name] = coerce_input_value(raw, declared)
                except GraphQLError:
                    return None
            elif definition.default_value is not None:
                value = value_from_ast(definition.default_value, declared)
                if value is Undefined:
                    return None
                values[name] = value
        return values


def _merged(order: list[str], compiled: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The compiled root fields and the general executor's, in the document's order (its
    errors after them; a null ``data`` from it — a non-null root field failed — stays null)."""
    rest = response.get("data")
    data = None if rest is None else {name: compiled[name] if name in compiled else rest.get(name) for name in order}
    merged: dict[str, Any] = {"data": data}
    if response.get("errors"):
        merged["errors"] = response["errors"]
    return merged


def response_bytes(response: dict[str, Any]) -> bytes:
    """A GraphQL response as compact JSON: what both paths write."""
    return orjson.dumps(response, default=_json_default)


def _json_default(value: Any) -> Any:
    """Values a ``JSON`` scalar may carry that JSON has no type for."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class Shape:
    """The compiled statements of one document for one viewer, by the values of the
    variables they bake in (``slots`` are read on each request instead)."""

    def __init__(self) -> None:
        self.slots: frozenset[str] = frozenset()
        self.reads = LRU(64)

    def key(self, variables: dict[str, Any]) -> bytes:
        baked = {k: v for k, v in variables.items() if k not in self.slots} if self.slots else variables
        return orjson.dumps(baked, option=orjson.OPT_SORT_KEYS)


def _filled(args: list[Any], variables: dict[str, Any]) -> list[Any] | None:
    """The parameters with each ``Slot`` read from its variable (None when one holds no
    record id: the general executor reports it)."""
    out = []
    for arg in args:
        if type(arg) is Slot:
            value = variables.get(arg.variable)
            if record_id_problem(value) is not None:
                return None
            arg = int(str(value))
        out.append(arg)
    return out


def _sign(data: dict[str, Any], fix: CursorFix) -> None:
    """Replace the sort-key values the database wrote for each cursor by the signed cursor."""
    connection = data.get(fix.root)
    if not isinstance(connection, dict):
        return
    encode = fix.codec.encode
    for edges_name, cursor_name in fix.edges:
        for edge in connection.get(edges_name) or ():
            edge[cursor_name] = encode(edge[cursor_name])
    for info_name, names in fix.page_info:
        info = connection.get(info_name)
        for name in names:
            if info is not None and info.get(name) is not None:
                info[name] = encode(info[name])
