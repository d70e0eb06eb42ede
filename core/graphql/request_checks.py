"""Checks on the request itself, before any resolver runs.

- **Which operation to run.**  Strawberry raises (a 500 over HTTP) for an
  ``operationName`` the document does not hold, and silently runs the first operation
  of a document with several when none is named.  Both are the client's mistake, so
  both are answered as GraphQL errors naming the operations the document has.
- **Every ID is a record id** (``kith.core.graphql.record_id``): a literal is checked
  by a validation rule, a variable by a walk of its value along its declared type.
- **No NUL character in any text.**  PostgreSQL refuses ``\\x00`` in text and JSON
  with a database error where SQLite stores it; here it is refused on both engines, in
  string literals of the document (arguments, input objects, JSON literals, variable
  defaults) by a validation rule, and in the variables by a walk of their values, each
  error naming the argument or variable path.  Record writes from every other surface
  meet the same refusal in ``kith.core.records.validation``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    GraphQLID,
    GraphQLNonNull,
    IntValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    VariableDefinitionNode,
    is_input_type,
    type_from_ast,
)
from strawberry.extensions import SchemaExtension

from kith.core.graphql.record_id import id_problems, record_id_problem
from kith.core.validation.text import NUL, NUL_MESSAGE, nul_path

#: the ``code`` of errors about which operation to run (Apollo's name for it)
OPERATION_CODE = "OPERATION_RESOLUTION_FAILURE"


def bad_input(field: str, message: str, node: Any = None) -> GraphQLError:
    """A ``BAD_USER_INPUT`` error naming ``field``, shaped like the resolvers' ones."""
    return GraphQLError(
        f"{field}: {message}",
        nodes=node,
        extensions={"code": "BAD_USER_INPUT", "errors": [{"field": field, "code": "invalid", "message": message}]},
    )


def _where(key: Any, parent: Any, ancestors: Any) -> str:
    """Where a value sits in the document: ``input.emails[1]``, ``$name`` for a
    variable's default, ``query`` when it is nowhere named."""
    names: list[str] = []
    for ancestor in [*ancestors, parent]:
        if isinstance(ancestor, ArgumentNode | ObjectFieldNode):
            names.append(ancestor.name.value)
        elif isinstance(ancestor, VariableDefinitionNode):
            names.append("$" + ancestor.variable.name.value)
    if isinstance(key, int):  # an item of a list literal
        names[-1:] = [f"{names[-1]}[{key}]" if names else f"[{key}]"]
    return ".".join(names) or "query"


class NoNulInStrings(ValidationRule):
    """Refuses a string literal holding a NUL character, naming where it is."""

    def enter_string_value(self, node: StringValueNode, key: Any, parent: Any, path: Any, ancestors: Any) -> None:
        if NUL in node.value:
            self.report_error(bad_input(_where(key, parent, ancestors), NUL_MESSAGE, node))


class RecordIdsOnly(ValidationRule):
    """Refuses an ``ID`` literal that is not a record id, naming where it is."""

    def enter_string_value(self, node: StringValueNode, key: Any, parent: Any, path: Any, ancestors: Any) -> None:
        self._check(node, node.value, key, parent, ancestors)

    def enter_int_value(self, node: IntValueNode, key: Any, parent: Any, path: Any, ancestors: Any) -> None:
        self._check(node, int(node.value), key, parent, ancestors)

    def _check(self, node: Any, value: str | int, key: Any, parent: Any, ancestors: Any) -> None:
        expected = self.context.get_input_type()
        if isinstance(expected, GraphQLNonNull):
            expected = expected.of_type
        if expected is GraphQLID:
            problem = record_id_problem(value)
            if problem is not None:
                self.report_error(bad_input(_where(key, parent, ancestors), problem, node))


class RequestChecks(SchemaExtension):
    """The operation is chosen without doubt and the variables hold no NUL character;
    otherwise the request is answered with the reason (module docstring)."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            return
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        named = [d.name.value for d in operations if d.name]
        wanted = context._provided_operation_name  # what the client sent, not strawberry's guess
        listed = ", ".join(repr(name) for name in named) or "none with a name"
        if not operations:
            raise _operation_error("the document has no operation (query or mutation) to run")
        if wanted is not None and wanted not in named:
            raise _operation_error(f"operationName: the document has no operation {wanted!r} (it has {listed})")
        if wanted is None and len(operations) > 1:
            raise _operation_error(
                f"operationName: the document has {len(operations)} operations ({listed}); "
                "name the one to run with operationName"
            )
        variables = context.variables or {}
        for name, value in variables.items():
            found = nul_path(value, "$" + str(name).replace(NUL, "\\u0000"))
            if found is not None:
                raise bad_input(found, NUL_MESSAGE)
        schema = context.schema._schema
        operation = next(
            (d for d in operations if wanted is None or (d.name is not None and d.name.value == wanted)), None
        )
        for definition in (operation.variable_definitions or ()) if operation is not None else ():
            name = definition.variable.name.value
            declared = type_from_ast(schema, definition.type)
            if name in variables and is_input_type(declared):
                for where, problem in id_problems(variables[name], declared, "$" + name):
                    raise bad_input(where, problem)


def _operation_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": OPERATION_CODE})
