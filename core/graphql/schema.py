"""Assembles the one GraphQL schema: generated entity fields, custom field management,
the customer view and plugin contributions, with limits on by default."""

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import Info

from kith.core.customfields import FIELD_TYPES
from kith.core.dashboards.graphql import DashboardMutations, DashboardQueries
from kith.core.duplicates.graphql import DuplicateMutations, DuplicateQueries
from kith.core.entities import Entity
from kith.core.errors import ValidationFailed
from kith.core.graphql.automations import AutomationMutations, AutomationQueries
from kith.core.graphql.common import (
    AddCustomFieldInput,
    AggregateGroup,
    CustomerViewSection,
    CustomFieldDefinition,
    CustomFieldPayload,
    DateBucketInput,
    PageInfo,
    UserError,
)
from kith.core.graphql.compiled.runner import CompiledReads
from kith.core.graphql.compiled.writes import CompiledWrites, input_shapes
from kith.core.graphql.convert import plain, record_id, record_values, set_fields
from kith.core.graphql.cost import cost_rule
from kith.core.graphql.entity_types import EntityTypes, build_entity_types
from kith.core.graphql.errors import KithStrawberrySchema, is_client_error, mask
from kith.core.graphql.fast_execution import Plan, execution_context_for, plain_field_plan
from kith.core.graphql.generated import GraphQLTypes
from kith.core.graphql.loaders import load_columns
from kith.core.graphql.request_checks import NoNulInStrings, RecordIdsOnly, RequestChecks
from kith.core.graphql.security import PrivacyMutations, PrivacyQueries, SecurityMutations, SecurityQueries
from kith.core.graphql.selection import edge_cursor_selected, node_columns, node_fields, selected_under
from kith.core.merge.graphql import MergeMutations, MergeQueries
from kith.core.plugins.context import PluginContext
from kith.core.records.query import ListRequest
from kith.core.reports.graphql import ReportMutations, ReportQueries
from kith.core.security.permissions import Forbidden

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger("kith.graphql")


def _get(obj: Any, name: str) -> Any:
    """Records travel through GraphQL as dicts; plugin types may be objects."""
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def user_input_error(exc: ValidationFailed) -> GraphQLError:
    """A bad argument on a read, as a GraphQL error that names the field."""
    return GraphQLError(
        str(exc),
        extensions={
            "code": "BAD_USER_INPUT",
            "errors": [{"field": e.field, "code": e.code, "message": e.message} for e in exc.errors],
        },
    )


class ValidationErrorsNameTheField(SchemaExtension):
    """A ``ValidationFailed`` raised by any resolver — a plugin's included — reaches the
    client as a ``BAD_USER_INPUT`` error listing each field, code and message, the same
    shape as the generated fields' errors; plugin resolvers just raise it."""

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in (result.errors or []) if result is not None else []:
            original = error.original_error
            if isinstance(original, ValidationFailed) and not (error.extensions or {}).get("errors"):
                error.extensions = {
                    **(error.extensions or {}),
                    **user_input_error(original).extensions,  # type: ignore[dict-item]
                }


# -- generated root fields ---------------------------------------------------------------


def _list_field(t: EntityTypes, types: dict[str, EntityTypes]) -> Any:
    entity = t.entity

    async def resolve(
        info: Info,
        first: int = 20,
        after: Optional[str] = None,
        filter: Optional[t.filter] = None,  # type: ignore[valid-type, name-defined]
        order_by: Optional[list[t.order]] = None,  # type: ignore[valid-type, name-defined]
        search: Optional[str] = None,
    ) -> t.connection:  # type: ignore[valid-type, name-defined]
        kith = info.context.kith
        cap = kith.settings.max_page_size
        if not 0 <= first <= cap:
            raise user_input_error(ValidationFailed.single("first", "out_of_range", f"must be between 0 and {cap}"))
        selected = node_fields(info)
        perms = info.context.permissions
        if perms is not None and not perms.allows(entity.name, "read"):
            raise user_input_error(Forbidden(entity.name, "read"))
        request = ListRequest(
            entity=entity,
            filter=plain(filter) if filter else None,
            order_by=plain(order_by) if order_by else [],
            first=first,
            after=after,
            search=search,
            columns=node_columns(selected, t.columns),
            viewer=perms,
        )
        try:
            page = await kith.query.list(kith.db, request)
        except ValidationFailed as exc:
            raise user_input_error(exc) from None
        if perms is not None:
            page.rows = [perms.strip(entity, row) for row in page.rows]
        await _prefetch_relations(info, types, entity, page.rows, selected)

        async def count() -> int:
            return await kith.query.count(kith.db, entity, request.filter, request.search, viewer=perms)

        if edge_cursor_selected(info):
            edges = [{"cursor": c, "node": r} for c, r in zip(page.cursors, page.rows, strict=True)]
        else:  # cursors are made only when asked for: encoding one per row is not free
            edges = [{"node": r} for r in page.rows]
        return {
            "edges": edges,
            "nodes": page.rows,
            "page_info": PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.start_cursor,
                end_cursor=page.end_cursor,
            ),
            "count": count,
        }

    resolve.__doc__ = f"{entity.label} records, {kith_page_doc}"
    return strawberry.field(resolver=resolve, description=resolve.__doc__)


kith_page_doc = "filtered, sorted and paginated with cursors (`first` is capped)."

PREFETCHED = "__rel_"


async def _prefetch_relations(
    info: Info, types: dict[str, EntityTypes], entity: Entity, rows: list[dict[str, Any]], selected: set[str]
) -> None:
    """Load the related records a page asks for now — one query per relation, only the
    columns the query selects on them — and keep them on the rows, so each row's
    relation completes without a per-row await."""
    kith = info.context.kith
    for spec in entity.relation_fields():
        if spec.name not in selected or not spec.target or spec.target not in types:
            continue
        ids = list({row[spec.name] for row in rows if row.get(spec.name) is not None})
        target = types[spec.target]
        columns = node_columns(selected_under(info, spec.name), target.columns)
        ctx = info.context
        if ctx.permissions is not None and not ctx.permissions.allows(target.entity.name, "read"):
            ids = []
        loaded = await load_columns(kith, target.entity, ids, columns, ctx.scope(target.entity))
        by_id = {record["id"]: ctx.visible(target.entity, record) for record in loaded}
        key = PREFETCHED + spec.name
        for row in rows:
            row[key] = by_id.get(row.get(spec.name))


def _aggregate_field(t: EntityTypes) -> Any:
    entity = t.entity

    async def resolve(
        info: Info,
        filter: Optional[t.filter] = None,  # type: ignore[valid-type, name-defined]
        group_by: Optional[list[str]] = None,
        bucket: Optional[DateBucketInput] = None,
        sum: Optional[list[str]] = None,
        avg: Optional[list[str]] = None,
    ) -> list[AggregateGroup]:
        from kith.core.records.aggregate import aggregate

        ctx = info.context
        kith = ctx.kith
        conditions = plain(filter) if filter else None
        try:
            if ctx.permissions is not None:
                ctx.permissions.require(entity.name, "read")
            groups = await aggregate(
                kith.query,
                kith.db,
                entity,
                filter_=conditions,
                group_by=group_by or [],
                bucket=(bucket.field, bucket.unit.value) if bucket else None,
                sums=sum or [],
                averages=avg or [],
                viewer=ctx.permissions,
            )
        except ValidationFailed as exc:
            raise user_input_error(exc) from None
        return [
            AggregateGroup(key=JSON(g.key), count=g.count, sums=JSON(g.sums), averages=JSON(g.averages)) for g in groups
        ]

    return strawberry.field(
        resolver=resolve,
        description=f"Counts, sums and averages of {entity.plural}, grouped by fields or a date bucket.",
    )


def _get_field(t: EntityTypes) -> Any:
    name = t.entity.name

    async def resolve(info: Info, id: strawberry.ID) -> Optional[t.node]:  # type: ignore[valid-type, name-defined]
        try:
            record_id = int(id)
        except ValueError:
            return None
        return await info.context.loader(name).load(record_id)

    return strawberry.field(resolver=resolve, description=f"One {t.entity.label} by id (null if missing or deleted).")


def _payload(t: EntityTypes, record: Any = None, errors: list[UserError] | None = None) -> Any:
    return t.payload(record=record, errors=errors or [])


async def _write(t: EntityTypes, action: Any, ctx: Any) -> Any:
    try:
        record = await action()
    except ValidationFailed as exc:
        return _payload(t, errors=[UserError.from_error(e) for e in exc.errors])
    return _payload(t, await _readable(t.entity, record, ctx))


async def _readable(entity: Entity, record: Any, ctx: Any) -> Any:
    """A mutation's payload is a read: the record as the caller may see it, or null when
    they may not read it (a role that may create but not read, or a record the write
    moved out of their scope)."""
    permissions = ctx.permissions
    if permissions is None or record is None:
        return record
    if not await permissions.can_see(entity, int(record["id"])):
        return None
    return ctx.visible(entity, record)


def _create_field(t: EntityTypes) -> Any:
    entity = t.entity

    async def resolve(info: Info, input: t.create_input) -> t.payload:  # type: ignore[valid-type, name-defined]
        ctx = info.context
        values = record_values(entity, set_fields(input))
        return await _write(t, lambda: ctx.kith.records.create(entity.name, values, ctx.actor), ctx)

    return strawberry.mutation(resolver=resolve, description=f"Create a {entity.label}.")


def _update_field(t: EntityTypes) -> Any:
    entity = t.entity

    async def resolve(
        info: Info,
        id: strawberry.ID,
        input: t.update_input,  # type: ignore[valid-type, name-defined]
        expected_version: Optional[int] = None,
    ) -> t.payload:  # type: ignore[valid-type, name-defined]
        ctx = info.context
        values = record_values(entity, set_fields(input))
        return await _write(
            t, lambda: ctx.kith.records.update(entity.name, record_id(id), values, ctx.actor, expected_version), ctx
        )

    return strawberry.mutation(
        resolver=resolve,
        description=f"Change a {entity.label}. With `expectedVersion`, a record changed since is refused.",
    )


def _delete_field(t: EntityTypes) -> Any:
    entity = t.entity

    async def resolve(info: Info, id: strawberry.ID, expected_version: Optional[int] = None) -> t.payload:  # type: ignore[valid-type, name-defined]
        ctx = info.context
        delete = ctx.kith.records.delete
        return await _write(t, lambda: delete(entity.name, record_id(id), ctx.actor, expected_version), ctx)

    return strawberry.mutation(resolver=resolve, description=f"Delete a {entity.label} (it can be restored).")


def _restore_field(t: EntityTypes) -> Any:
    entity = t.entity

    async def resolve(info: Info, id: strawberry.ID) -> t.payload:  # type: ignore[valid-type, name-defined]
        ctx = info.context
        return await _write(t, lambda: ctx.kith.records.restore(entity.name, record_id(id), ctx.actor), ctx)

    return strawberry.mutation(resolver=resolve, description=f"Bring back a deleted {entity.label}.")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


# -- custom fields and the customer view ----------------------------------------------


def _definition(field: Any) -> CustomFieldDefinition:
    return CustomFieldDefinition(
        entity=field.entity,
        name=field.name,
        type=field.type,
        label=field.label,
        required=field.required,
        choices=list(field.choices),
        indexed=field.indexed,
        personal=field.personal,
        target=field.target,
        plugin=field.plugin,
    )


@strawberry.type
class CustomFieldQueries:
    @strawberry.field(description="Custom field definitions, of one entity or of all.")
    def custom_field_definitions(self, info: Info, entity: Optional[str] = None) -> list[CustomFieldDefinition]:
        fields = info.context.kith.custom_fields.all()
        return [_definition(f) for f in fields if entity is None or f.entity == entity]


async def _field_change(info: Info, action: Any) -> CustomFieldPayload:
    kith = info.context.kith
    try:
        info.context.require_admin()
        field = await action(kith.custom_fields)
    except ValidationFailed as exc:
        return CustomFieldPayload(field=None, errors=[UserError.from_error(e) for e in exc.errors])
    await kith.refresh_if_changed(force=True)
    return CustomFieldPayload(field=_definition(field) if field else None, errors=[])


@strawberry.type
class CustomFieldMutations:
    @strawberry.mutation(description="Define a custom field; the schema serves it at once, without a restart.")
    async def add_custom_field(self, info: Info, input: AddCustomFieldInput) -> CustomFieldPayload:
        return await _field_change(
            info,
            lambda store: store.add(
                input.entity,
                input.name,
                input.type,
                label=input.label,
                required=input.required,
                choices=input.choices or (),
                indexed=input.indexed,
                personal=input.personal,
                target=input.target,
                default=input.default,
            ),
        )

    @strawberry.mutation(description="Rename a custom field, keeping every stored value.")
    async def rename_custom_field(self, info: Info, entity: str, name: str, new_name: str) -> CustomFieldPayload:
        return await _field_change(info, lambda store: store.rename(entity, name, new_name))

    @strawberry.mutation(description="Remove a custom field and its stored values.")
    async def remove_custom_field(self, info: Info, entity: str, name: str) -> CustomFieldPayload:
        async def remove(store: Any) -> None:
            await store.remove(entity, name)

        return await _field_change(info, remove)


def _customer_view_type(types: dict[str, EntityTypes]) -> Any:
    contact_node, organization_node, activity_node = (types[n].node for n in ("contact", "organization", "activity"))

    @strawberry.type(description="Everything about one contact, from the core and every enabled plugin.")
    class CustomerView:
        contact: contact_node  # type: ignore[valid-type, name-defined]
        organization: Optional[organization_node]  # type: ignore[valid-type, name-defined]
        timeline: list[activity_node]  # type: ignore[valid-type, name-defined]
        sections: list[CustomerViewSection]

    async def resolve(info: Info, contact_id: strawberry.ID, timeline_size: int = 50) -> Optional[CustomerView]:
        ctx = info.context
        record = await ctx.loader("contact").load(record_id(contact_id))
        if record is None:
            return None
        org = await ctx.loader("organization").load(record["organization"]) if record["organization"] else None
        limit = max(0, min(timeline_size, ctx.kith.settings.max_page_size))
        timeline = await ctx.timeline_loader("contact", limit).load(record["id"])
        sections = []
        viewer = ctx.permissions
        for plugin, section in await ctx.kith.plugins.call_async(
            "kith_customer_view", refuse=False, context=PluginContext(ctx.kith, ctx.actor), contact=record
        ):
            entity = getattr(section, "entity", None)
            if viewer is not None and entity is not None and not viewer.allows(entity, "read"):
                continue  # nothing about an entity the viewer may not read
            sections.append(CustomerViewSection(plugin=plugin, title=section.title, items=section.items))
        return CustomerView(contact=record, organization=org, timeline=timeline, sections=sections)

    return strawberry.field(resolver=resolve, description="The single customer view of one contact.")


# -- the schema ---------------------------------------------------------------------------


class CorrelatedMaskErrors(MaskErrors):
    """Internal errors reach clients as 'Unexpected error (ref …)'; the log has the same
    reference with the real error and its traceback, so support can find it.  (Most are
    masked earlier, in ``KithStrawberrySchema.process_errors``; this catches the rest.)"""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return mask(error)


def _should_mask(error: GraphQLError) -> bool:
    return not is_client_error(error)


@dataclass
class KithSchema:
    strawberry: strawberry.Schema
    types: dict[str, EntityTypes]
    #: reads of generated fields answered by one SQL statement (``kith.core.graphql.compiled``)
    compiled: CompiledReads
    #: generated creates and updates answered without the general executor (``compiled.writes``)
    writes: CompiledWrites

    def sdl(self) -> str:
        return self.strawberry.as_str() + "\n"


def build_schema(kith: "Kith") -> KithSchema:
    types = build_entity_types(kith)
    query_ns: dict[str, Any] = {}
    mutation_ns: dict[str, Any] = {}
    for t in types.values():
        entity = t.entity
        query_ns[entity.plural_field] = _list_field(t, types)
        query_ns[entity.plural_field + "Aggregate"] = _aggregate_field(t)
        query_ns[_camel(entity.name)] = _get_field(t)
        n = entity.type_name
        if entity.mutations:
            mutation_ns[f"create{n}"] = _create_field(t)
            mutation_ns[f"update{n}"] = _update_field(t)
            mutation_ns[f"delete{n}"] = _delete_field(t)
            mutation_ns[f"restore{n}"] = _restore_field(t)
    if {"contact", "organization", "activity"} <= set(types):
        query_ns["customerView"] = _customer_view_type(types)
    CoreQuery = strawberry.type(type("CoreQuery", (), query_ns))
    CoreMutation = strawberry.type(type("CoreMutation", (), mutation_ns))

    query_types: list[type] = [
        CoreQuery,
        CustomFieldQueries,
        AutomationQueries,
        SecurityQueries,
        PrivacyQueries,
        DuplicateQueries,
        ReportQueries,
        MergeQueries,
        DashboardQueries,
    ]
    mutation_types: list[type] = [
        CoreMutation,
        CustomFieldMutations,
        AutomationMutations,
        SecurityMutations,
        PrivacyMutations,
        DuplicateMutations,
        ReportMutations,
        MergeMutations,
        DashboardMutations,
    ]
    generated = GraphQLTypes(types)  # plugins build their fields on this schema's entity types
    for _plugin, contributed in kith.plugins.call("kith_graphql_queries", types=generated):
        query_types.extend(contributed)
    for _plugin, contributed in kith.plugins.call("kith_graphql_mutations", types=generated):
        mutation_types.extend(contributed)

    settings = kith.settings
    # The limiters' validation rules are built once per schema and shared by every
    # request (they are stateless classes): a new rule class per request would make
    # every validation-cache lookup miss.  Extensions themselves are still created per
    # request from these factories, never shared.
    limit_rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
        NoNulInStrings,
        RecordIdsOnly,
        cost_rule(
            settings.max_query_cost,
            settings.max_page_size,
            # lists that return a page by default: the timeline and every reverse list
            paged_by_default={"timeline", *(item.name for item in kith.entities.reverse_lists())},
        ),
    ]
    extensions: list[Any] = [
        RequestChecks,
        ValidationErrorsNameTheField,
        functools.partial(MaxTokensLimiter, max_token_count=settings.max_query_tokens),
        functools.partial(ParserCache, maxsize=256),
        functools.partial(AddValidationRules, limit_rules),
        functools.partial(ValidationCache, maxsize=256),
    ]
    if settings.is_production:
        extensions.append(functools.partial(CorrelatedMaskErrors, should_mask_error=_should_mask))
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)

    plans: dict[str, dict[str, Plan]] = {}
    schema = KithStrawberrySchema(
        production=settings.is_production,
        query=merge_types("Query", tuple(query_types)),
        mutation=merge_types("Mutation", tuple(mutation_types)),
        config=StrawberryConfig(default_resolver=_get),
        extensions=extensions,
        execution_context_class=execution_context_for(plans),
    )
    plans.update(_plain_field_plans(schema, types))
    reads = CompiledReads(kith, schema._schema, types, limit_rules)
    return KithSchema(schema, types, reads, CompiledWrites(reads, plans, input_shapes(schema, types)))


def _plain_field_plans(schema: strawberry.Schema, types: dict[str, EntityTypes]) -> dict[str, dict[str, Plan]]:
    """For each generated record type, the fields read straight from the row dict."""
    plans: dict[str, dict[str, Plan]] = {}
    converter = schema.config.name_converter
    for t in types.values():
        for cls in (t.node, t.custom, t.edge, t.connection):
            if cls is None:
                continue
            definition = cls.__strawberry_definition__
            gql_type = schema._schema.type_map[definition.name]
            plan: dict[str, Plan] = {}
            custom = {f.name: f for f in t.custom_fields}
            for field in definition.fields:
                decode = None
                if cls is t.node:
                    key = t.row_keys.get(field.python_name)
                    if field.python_name == "custom_fields":
                        key = "custom"
                    elif field.python_name in t.entity.fields and key is None:
                        key = PREFETCHED + field.python_name  # a relation the list prefetched
                elif cls is t.custom:
                    key = field.python_name
                    decode = FIELD_TYPES[custom[key].type].decode
                    if custom[key].type == "decimal":
                        # stored as str(Decimal(...)), which is exactly what the Decimal
                        # scalar serializes to: no decoding needed on the way out
                        decode = None
                else:
                    key = field.python_name if field.base_resolver is None else None
                if key is None:
                    continue
                name = converter.get_graphql_name(field)
                field_plan = plain_field_plan(
                    gql_type.fields[name],  # type: ignore[attr-defined]
                    key,
                    decode,
                    missing_is_null=cls is t.custom,
                )
                if field_plan is not None:
                    plan[name] = field_plan
            plans[definition.name] = plan
    return plans
