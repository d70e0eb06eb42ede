"""Generated ``create<Entity>`` and ``update<Entity>`` mutations answered without the
general executor.

Through strawberry, a small create costs about as much again as the write itself: each
extension's hooks, the arguments converted into input objects, every payload field
completed.  For the generated create and update of an entity, asked by an unrestricted
caller (an admin or the system: no scope to check, no field to hide in the payload),
with a payload of plain fields of the record and ``errors``, this module does what the
resolver does — the same ``record_values`` into the same ``RecordService`` call — and
writes the payload itself, each value through the scalar's own ``serialize`` as the
executor's plain-field plans do (``fast_execution``).

Everything is decided before the write: a document it does not wholly cover (another
root field, a fragment, a directive, a relation or custom field in the payload),
variables the executor would refuse, or a caller with limited permissions go to the
general executor untouched.  Once the write is tried, a ``ValidationFailed`` becomes the
payload's ``errors``, as in the resolver.  Any other exception means the record service
rolled the write back (hooks after the commit never raise: ``refuse=False``), so the
general executor runs the mutation again and reports it in its usual shape.  That is
why a mutation run inside a caller's transaction (in-process) is left to the executor:
there a failed write is undone only with the caller's whole transaction.
``tests/test_compiled_writes.py`` compares both paths' answers and what they stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    Undefined,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from kith.core.errors import FieldError, ValidationFailed
from kith.core.graphql.compiled.runner import LRU, CompiledReads, response_bytes
from kith.core.graphql.convert import record_id, record_values
from kith.core.graphql.fast_execution import Plan

if TYPE_CHECKING:
    from kith.core.graphql.context import RequestContext
    from kith.core.graphql.entity_types import EntityTypes

log = logging.getLogger("kith.graphql")

TYPENAME = "__typename"
#: the ``UserError`` fields a payload's ``errors`` may select, and how each is read
ERROR_FIELDS = {"field": lambda e: e.field, "code": lambda e: e.code, "message": lambda e: e.message}


@dataclass(frozen=True)
class InputShape:
    """An input object's fields: GraphQL name -> (Python name, the nested shape or None)."""

    fields: dict[str, tuple[str, InputShape | None]]

    def python(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """The coerced input as ``set_fields`` gives it: Python names, given fields only."""
        out: dict[str, Any] = {}
        for name, item in value.items():
            python_name, nested = self.fields[name]
            out[python_name] = nested.python(item) if nested is not None and item is not None else item
        return out


@dataclass(frozen=True)
class Part:
    """One field of the payload: its response key, and what it holds."""

    key: str
    kind: str  # "typename", "record" or "errors"
    #: the selected sub-fields: (response key, plan) for a record, (response key, UserError
    #: field) for errors; a plan or field of None is ``__typename``
    fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class WritePlan:
    """A mutation document this module answers."""

    types: EntityTypes
    creating: bool
    field: GraphQLField
    node: FieldNode
    key: str
    shape: InputShape
    payload: tuple[Part, ...]
    payload_type: str
    record_type: str


class CompiledWrites:
    """The write path of one schema, beside its compiled reads (whose parsed documents
    and variable checks it shares)."""

    def __init__(self, reads: CompiledReads, plans: dict[str, dict[str, Plan]], shapes: dict[str, InputShape]) -> None:
        self.reads = reads
        self.plans = plans
        self.shapes = shapes  # by GraphQL input type name
        self.roots: dict[str, tuple[EntityTypes, bool]] = {}
        for t in reads.types.values():
            if t.entity.mutations and t.create_input is not None:
                self.roots[f"create{t.entity.type_name}"] = (t, True)
                self.roots[f"update{t.entity.type_name}"] = (t, False)
        self.documents = LRU(512)
        #: mutations answered here since the schema was built (tests and metrics read it)
        self.served = 0

    async def answer(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, context: RequestContext
    ) -> bytes | None:
        """The response body, or None when the general executor must answer it."""
        permissions = context.permissions
        if permissions is not None and not permissions.unrestricted:
            return None
        if context.kith.db.in_transaction():
            return None  # a failed write could not be undone alone, so it could not be tried again
        document = self.reads.document(query)
        if document is None:
            return None
        operation = document.operations.get(operation_name)
        if operation is None or operation.operation is not OperationType.MUTATION:
            return None
        plan = self.documents.get_recent((query, operation_name))
        if plan is Undefined:
            plan = self._plan(operation, bool(document.fragments))
            self.documents.put((query, operation_name), plan)
        if plan is None:
            return None
        given = variables or {}
        if self.reads.variables(operation, given) is None:  # a NUL, an ID that is no record id, a wrong type
            return None
        coerced = get_variable_values(self.reads.schema, operation.variable_definitions or (), given)
        if not isinstance(coerced, VariableValues):
            return None
        try:
            args = get_argument_values(plan.field, plan.node, coerced)
        except GraphQLError:
            return None
        try:
            record, errors = await self._write(plan, args, context), []
        except ValidationFailed as exc:
            record, errors = None, exc.errors
        except Exception:  # rolled back: the general executor runs it again and reports it
            log.debug("a compiled write failed; the general executor answers it", exc_info=True)
            return None
        self.served += 1
        return response_bytes({"data": {plan.key: self._payload(plan, record, errors)}})

    async def _write(self, plan: WritePlan, args: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        """What the generated resolver does (``schema._create_field``/``_update_field``)."""
        entity = plan.types.entity
        values = record_values(entity, plan.shape.python(args["input"]))
        records = context.kith.records
        if plan.creating:
            return await records.create(entity.name, values, context.actor)
        expected = args.get("expectedVersion")
        return await records.update(entity.name, record_id(args["id"]), values, context.actor, expected)

    # -- which documents ---------------------------------------------------------------------

    def _plan(self, operation: OperationDefinitionNode, has_fragments: bool) -> WritePlan | None:
        if has_fragments or operation.directives:
            return None
        selections = operation.selection_set.selections
        if len(selections) != 1 or not isinstance(selections[0], FieldNode):
            return None
        node = selections[0]
        root = self.roots.get(node.name.value)
        mutation = self.reads.schema.mutation_type
        if root is None or node.directives or mutation is None or node.selection_set is None:
            return None
        types, creating = root
        field = mutation.fields[node.name.value]
        input_type = _named(field.args["input"].type)
        payload_type = _named(field.type)
        if not isinstance(input_type, GraphQLInputObjectType) or not isinstance(payload_type, GraphQLObjectType):
            return None
        shape = self.shapes.get(input_type.name)
        if shape is None:
            return None
        # the payload's record field (``contact``), beside ``errors``
        objects = [n for n, f in payload_type.fields.items() if isinstance(_named(f.type), GraphQLObjectType)]
        record_field = next((n for n in objects if n != "errors"), None)
        parts: list[Part] = []
        for selection in node.selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
                return None
            key = selection.alias.value if selection.alias else selection.name.value
            name = selection.name.value
            if name == TYPENAME:
                parts.append(Part(key, "typename"))
            elif name == "errors" and selection.selection_set is not None:
                error_fields = self._sub_fields(selection, lambda n: ERROR_FIELDS.get(n))
                if error_fields is None:
                    return None
                parts.append(Part(key, "errors", error_fields))
            elif name == record_field and selection.selection_set is not None:
                record_type = _named(payload_type.fields[name].type)
                record_fields = self._sub_fields(selection, self._scalar_plans(record_type.name))
                if record_fields is None:
                    return None
                parts.append(Part(key, "record", record_fields))
            else:
                return None
        record_type_name = _named(payload_type.fields[record_field].type).name if record_field else ""
        return WritePlan(
            types, creating, field, node, node.alias.value if node.alias else node.name.value, shape,
            tuple(parts), payload_type.name, record_type_name,
        )  # fmt: skip

    def _scalar_plans(self, type_name: str) -> Any:
        plans = self.plans.get(type_name, {})
        return lambda name: _scalar(plans.get(name))

    @staticmethod
    def _sub_fields(selection: FieldNode, lookup: Any) -> tuple[tuple[str, Any], ...] | None:
        """(response key, what ``lookup`` gives) per sub-field, or None if one is not covered."""
        assert selection.selection_set is not None
        fields: list[tuple[str, Any]] = []
        for sub in selection.selection_set.selections:
            if not isinstance(sub, FieldNode) or sub.directives or sub.arguments or sub.selection_set:
                return None
            key = sub.alias.value if sub.alias else sub.name.value
            if sub.name.value == TYPENAME:
                fields.append((key, None))
                continue
            found = lookup(sub.name.value)
            if found is None:
                return None
            fields.append((key, found))
        return tuple(fields)

    # -- the payload -----------------------------------------------------------------------

    def _payload(self, plan: WritePlan, record: dict[str, Any] | None, errors: list[FieldError]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for part in plan.payload:
            if part.kind == "typename":
                out[part.key] = plan.payload_type
            elif part.kind == "errors":
                out[part.key] = [
                    {key: "UserError" if read is None else read(error) for key, read in part.fields} for error in errors
                ]
            else:
                out[part.key] = None if record is None else _record(plan.record_type, part.fields, record)
        return out


def _record(type_name: str, fields: tuple[tuple[str, Any], ...], record: dict[str, Any]) -> dict[str, Any]:
    """The record's selected plain fields, completed as ``KithExecutionContext`` does."""
    out: dict[str, Any] = {}
    for key, plan in fields:
        if plan is None:
            out[key] = type_name
            continue
        value = record.get(plan.key)
        if value is None:
            if not plan.nullable:  # the record service never returns such a record
                raise RuntimeError(f"{type_name}.{key}: a written record has no value for a non-null field")
            out[key] = None
        elif type(value) is plan.same:
            out[key] = value
        elif plan.is_list:
            out[key] = [plan.serialize(item) for item in value]
        else:
            out[key] = plan.serialize(value)
    return out


def _scalar(plan: Plan | None) -> Plan | None:
    """A plan of a plain scalar (or list of scalars) read from the row, else None."""
    if plan is None or plan.serialize is None or plan.object_type is not None or plan.missing_is_null:
        return None
    return plan


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def input_shapes(schema: Any, types: dict[str, EntityTypes]) -> dict[str, InputShape]:
    """The generated create and update inputs this module can read, by GraphQL name: every
    field a scalar, a list of scalars, or the entity's custom-field input (itself of
    scalars).  An input holding anything else (an enum, another input object) is left
    out, and its mutations go to the general executor."""
    converter = schema.config.name_converter
    graphql_types = schema._schema.type_map

    def shape_of(cls: Any, nested: dict[str, InputShape]) -> InputShape | None:
        definition = cls.__strawberry_definition__
        graphql_type = graphql_types.get(definition.name)
        if not isinstance(graphql_type, GraphQLInputObjectType):
            return None  # not in the schema: the entity has no mutations
        fields: dict[str, tuple[str, InputShape | None]] = {}
        for field in definition.fields:
            name = converter.get_graphql_name(field)
            inner = _named(graphql_type.fields[name].type)
            if isinstance(inner, GraphQLEnumType):
                return None
            if isinstance(inner, GraphQLInputObjectType):
                if inner.name not in nested:
                    return None
                fields[name] = (field.python_name, nested[inner.name])
            else:
                fields[name] = (field.python_name, None)
        return InputShape(fields)

    shapes: dict[str, InputShape] = {}
    for t in types.values():
        if not t.entity.mutations:
            continue
        nested: dict[str, InputShape] = {}
        if t.custom_input is not None:
            custom = shape_of(t.custom_input, {})
            if custom is not None:
                nested[t.custom_input.__strawberry_definition__.name] = custom
        for cls in (t.create_input, t.update_input):
            if cls is not None:
                shape = shape_of(cls, nested)
                if shape is not None:
                    shapes[cls.__strawberry_definition__.name] = shape
    return shapes
