"""A faster walk for plain record fields, keeping the typed schema clients see.

Generic GraphQL execution resolves every field of every row through the whole
machinery (resolve info, resolver wrapper, awaitable checks, completion): about 5 µs a
field, which for a page of 100 records of a dozen fields costs more than the SQL.

Most fields of Kith's generated record types are plain: a scalar (or list of scalars)
read straight from the row dict, or an object already in it (the edge's node, a
related record the list resolver prefetched in one query, the custom-field values).
For those, this execution context computes once per schema which response fields are
plain and completes them with a dict lookup and the scalar's own ``serialize`` — the
same values, the same type checks.  Anything unexpected (a null in a non-null field, a
value that does not serialize, a relation that was not prefetched) falls back to the
generic path, which reports or resolves it exactly as before.  Fields with resolvers
(timelines, plugin fields) take the generic path, and so does everything when an
extension with a ``resolve`` hook is installed.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_MISSING = object()


class Plan(NamedTuple):
    """How to complete one field straight from the row dict."""

    key: str
    serialize: Callable[[Any], Any] | None  # None: an object, completed by its own plan
    is_list: bool
    nullable: bool
    object_type: GraphQLObjectType | None = None
    missing_is_null: bool = False  # custom-field values: an absent key means no value


def plain_field_plan(
    field: GraphQLField,
    key: str,
    decode: Callable[[Any], Any] | None = None,
    missing_is_null: bool = False,
) -> Plan | None:
    """The plan for ``field`` read from ``row[key]``, or None if it is not plain."""
    if field.args:
        return None
    field_type: Any = field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    if not nullable:
        field_type = field_type.of_type
    if isinstance(field_type, GraphQLObjectType):
        return Plan(key, None, False, nullable, field_type, missing_is_null)
    is_list = isinstance(field_type, GraphQLList)
    if is_list:
        item = field_type.of_type
        if not isinstance(item, GraphQLNonNull):
            return None
        field_type = item.of_type
    if not isinstance(field_type, GraphQLScalarType):
        return None
    serialize = field_type.serialize
    if decode is not None:
        base = serialize

        def serialize(value: Any) -> Any:
            return base(decode(value))

    return Plan(key, serialize, is_list, nullable, None, missing_is_null)


class KithExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with the plain-field shortcut.

    ``plans`` maps a GraphQL type name to {field name: Plan}; ``execution_context_for``
    makes a subclass holding the plans of one schema.
    """

    plans: dict[str, dict[str, Plan]] = {}

    def execute_fields(  # type: ignore[override]
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        plans = self.plans.get(parent_type.name)
        middleware = self.middleware_manager
        if plans is None or (middleware is not None and middleware.middlewares) or type(source_value) is not dict:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = self.is_awaitable
        get = source_value.get
        for response_name, field_details_list in grouped_field_set.items():
            plan = plans.get(field_details_list[0].node.name.value)
            if plan is not None:
                value = get(plan.key, None if plan.missing_is_null else _MISSING)
                if value is None:
                    if plan.nullable:
                        results[response_name] = None
                        continue
                elif value is not _MISSING:
                    if plan.object_type is not None:
                        if type(value) is dict:
                            sub_fields = self.collect_subfields(plan.object_type, field_details_list)[0]
                            completed = self.execute_fields(
                                plan.object_type,
                                value,
                                Path(path, response_name, parent_type.name),
                                sub_fields,
                                position_context,
                            )
                            results[response_name] = completed
                            if is_awaitable(completed):
                                awaitable_fields.append(response_name)
                            continue
                    else:
                        try:
                            serialize = plan.serialize
                            assert serialize is not None
                            if plan.is_list:
                                results[response_name] = [serialize(item) for item in value]
                            else:
                                results[response_name] = serialize(value)
                            continue
                        except Exception:  # the generic path reports it with its location
                            pass
            result = self.execute_field(
                parent_type,
                source_value,
                field_details_list,
                Path(path, response_name, parent_type.name),
                position_context,
            )
            if result is not Undefined:
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
            results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


def execution_context_for(plans: dict[str, dict[str, Plan]]) -> type[KithExecutionContext]:
    return type("KithSchemaExecutionContext", (KithExecutionContext,), {"plans": plans})
