"""Generates, for each entity, its GraphQL object type, connection, filter and order
inputs, create/update inputs and payload — from the entity declaration and its custom
fields.  Nothing here is written per entity by hand.
"""

import datetime
import decimal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UNSET

from kith.core.customfields import FIELD_TYPES, CustomField
from kith.core.entities import Entity, FieldKind, FieldSpec
from kith.core.graphql.common import (
    BooleanFilter,
    DateFilter,
    DateTimeFilter,
    DecimalFilter,
    IDFilter,
    IntFilter,
    ListFilter,
    Money,
    MoneyFilter,
    MoneyInput,
    PageInfo,
    SortDirection,
    StringFilter,
    UserError,
)
from kith.core.graphql.convert import plain
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.runtime import Kith

OUTPUT = {
    FieldKind.STRING: str,
    FieldKind.TEXT: str,
    FieldKind.INT: int,
    FieldKind.DECIMAL: decimal.Decimal,
    FieldKind.BOOL: bool,
    FieldKind.DATE: datetime.date,
    FieldKind.DATETIME: datetime.datetime,
    FieldKind.STRING_LIST: list[str],
    FieldKind.ID: strawberry.ID,
    FieldKind.RELATION: strawberry.ID,
    FieldKind.MONEY: Money,
}
FILTER = {
    FieldKind.STRING: StringFilter,
    FieldKind.TEXT: StringFilter,
    FieldKind.INT: IntFilter,
    FieldKind.DECIMAL: DecimalFilter,
    FieldKind.BOOL: BooleanFilter,
    FieldKind.DATE: DateFilter,
    FieldKind.DATETIME: DateTimeFilter,
    FieldKind.STRING_LIST: ListFilter,
    FieldKind.ID: IDFilter,
    FieldKind.RELATION: IDFilter,
    FieldKind.MONEY: MoneyFilter,
}
CUSTOM_OUTPUT: dict[str, Any] = {
    "text": str,
    "long_text": str,
    "integer": int,
    "decimal": decimal.Decimal,
    "boolean": bool,
    "date": datetime.date,
    "datetime": datetime.datetime,
    "single_select": str,
    "multi_select": list[str],
    "email": str,
    "phone": str,
    "url": str,
    "money": Money,
    "relation": strawberry.ID,
}
CUSTOM_INPUT: dict[str, Any] = {**CUSTOM_OUTPUT, "money": MoneyInput}
CUSTOM_FILTER: dict[str, Any] = {
    "text": StringFilter,
    "long_text": StringFilter,
    "integer": IntFilter,
    "decimal": DecimalFilter,
    "boolean": BooleanFilter,
    "date": DateFilter,
    "datetime": DateTimeFilter,
    "single_select": StringFilter,
    "multi_select": ListFilter,
    "email": StringFilter,
    "phone": StringFilter,
    "url": StringFilter,
    "money": MoneyFilter,
    "relation": IDFilter,
}


def _py_name(spec: FieldSpec) -> str:
    """Python attribute name for a field; strawberry camel-cases it for clients."""
    return spec.name + "_id" if spec.kind is FieldKind.RELATION else spec.name


def _output_type(entity: Entity, spec: FieldSpec) -> Any:
    if entity.attachment and spec.name == entity.attachment[1]:
        base: Any = strawberry.ID
    else:
        base = OUTPUT[spec.kind]
    if spec.kind is FieldKind.STRING_LIST:
        return base  # a hidden list reads as []
    # Non-null only when every record must have it (required): any other field may be
    # hidden from a role, and a hidden value reads as null rather than failing the record.
    return base if (spec.required and not spec.nullable and spec.kind is not FieldKind.RELATION) else Optional[base]


@dataclass
class EntityTypes:
    """The generated GraphQL types of one entity."""

    entity: Entity
    node: Any = None
    custom: Any = None
    connection: Any = None
    edge: Any = None
    filter: Any = None
    order: Any = None
    related_order: Any = None
    custom_filter: Any = None
    custom_order: Any = None
    list_filter: Any = None  # <Entity>ListFilter, where a reverse list makes one
    create_input: Any = None
    update_input: Any = None
    custom_input: Any = None
    payload: Any = None
    #: GraphQL field name -> the columns it needs (for selecting only requested columns)
    columns: dict[str, set[str]] = field(default_factory=dict)
    #: Python field name -> row key, for fields read straight from the row
    row_keys: dict[str, str] = field(default_factory=dict)
    custom_fields: list[CustomField] = field(default_factory=list)


def _new_class(name: str, description: str | None = None) -> Any:
    cls = type(name, (), {"__annotations__": {}, "__doc__": description})
    return cls


def _column_resolver(column: str, annotation: Any) -> Any:
    """A field whose Python name differs from its column (``organization_id``)."""

    def resolve(root: Any) -> annotation:  # type: ignore[valid-type]
        return root.get(column)

    return resolve


def _relation_resolver(spec: FieldSpec, target_types: EntityTypes) -> Any:
    column = spec.name
    target = spec.target
    target_node = target_types.node

    async def resolve(root: Any, info: Info) -> Optional[target_node]:  # type: ignore[valid-type]
        value = root.get(column)
        if value is None:
            return None
        return await info.context.loader(target).load(value)

    return resolve


def _timeline_resolver(entity: Entity, activity_node: Any) -> Any:
    name = entity.name

    async def resolve(root: Any, info: Info, first: int = 20) -> list[activity_node]:  # type: ignore[valid-type]
        limit = max(0, min(first, info.context.kith.settings.max_page_size))
        return await info.context.timeline_loader(name, limit).load(root["id"])

    resolve.__doc__ = "The newest activities attached to this record, newest first."
    return resolve


def _children_resolver(child: "EntityTypes", column: str) -> Any:
    entity, node, filter_type, order_type = child.entity, child.node, child.filter, child.order

    async def resolve(
        root: Any,
        info: Info,
        first: int = 20,
        filter: Optional[filter_type] = None,  # type: ignore[valid-type]
        order_by: Optional[list[order_type]] = None,  # type: ignore[valid-type]
    ) -> list[node]:  # type: ignore[valid-type]
        limit = max(0, min(first, info.context.kith.settings.max_page_size))
        loader = info.context.children_loader(
            entity.name, column, limit, plain(filter) if filter else None, plain(order_by) if order_by else None
        )
        return await loader.load(root["id"])

    resolve.__doc__ = (
        f"The {entity.plural} whose {column} is this record (the first ``first``, in ``orderBy`` "
        "order, else oldest first), among those matching ``filter``."
    )
    return resolve


def _custom_resolver(fields: list[CustomField], custom_type: Any) -> Any:
    decoders = {f.name: FIELD_TYPES[f.type].decode or (lambda value: value) for f in fields}

    def resolve(root: Any) -> custom_type:  # type: ignore[valid-type]
        stored = root.get("custom") or {}
        return {
            name: (decode(stored[name]) if stored.get(name) is not None else None) for name, decode in decoders.items()
        }

    return resolve


def build_entity_types(kith: "Kith") -> dict[str, EntityTypes]:
    """Create every entity's types; classes are created first so they can refer to each other."""
    all_types: dict[str, EntityTypes] = {}
    for entity in kith.entities:
        t = EntityTypes(entity)
        n = entity.type_name
        t.node = _new_class(n, f"{entity.label} record.")
        t.edge = _new_class(f"{n}Edge")
        t.connection = _new_class(f"{n}Connection", f"A page of {entity.plural}.")
        t.filter = _new_class(f"{n}Filter", f"Conditions on {entity.plural}; fields combine with AND.")
        t.order = _new_class(f"{n}OrderBy", "Sort by exactly one field per item.")
        t.related_order = _new_class(f"{n}RelatedOrderBy", f"Sort by one field of the related {entity.label}.")
        t.create_input = _new_class(f"{n}CreateInput")
        t.update_input = _new_class(f"{n}UpdateInput", "Only the fields given are changed; null clears a field.")
        t.payload = _new_class(f"{n}Payload")
        fields = kith.custom_fields.for_entity(entity.name) if entity.customizable else []
        if fields:
            t.custom = _new_class(f"{n}CustomFields")
            t.custom_filter = _new_class(f"{n}CustomFieldsFilter")
            t.custom_order = _new_class(f"{n}CustomFieldsOrderBy")
            t.custom_input = _new_class(f"{n}CustomFieldsInput")
        all_types[entity.name] = t

    activity_types = all_types.get("activity")
    for t in all_types.values():
        _fill(kith, t, all_types, activity_types)
    _add_reverse_lists(kith, all_types)
    for t in all_types.values():
        _decorate(t)
    return all_types


def _add_reverse_lists(kith: "Kith", all_types: dict[str, EntityTypes]) -> None:
    """A list field on the record each relation points at (``Organization.deals``), named
    by ``kith.core.entities.reverse``, and the filter the other way (organizations with
    some, or no, matching deals)."""
    for item in kith.entities.reverse_lists():
        target, child = all_types.get(item.target), all_types.get(item.child.name)
        if target is None or child is None:
            continue
        py = "reverse_" + item.name  # its own Python name; clients see ``item.name``
        target.node.__annotations__[py] = list[child.node]  # type: ignore[name-defined]
        resolver = _children_resolver(child, item.column)
        setattr(target.node, py, strawberry.field(resolver=resolver, name=item.name, description=resolver.__doc__))
        target.columns[item.name] = {"id"}
        target.filter.__annotations__[py] = Optional[_list_filter(child)]
        setattr(target.filter, py, strawberry.field(name=item.name, default=None))
    activity = all_types.get("activity")
    if activity is None:
        return
    for t in all_types.values():
        # ``timeline: {some: {...}}``: records by what happened on their timeline
        if t.entity.timeline and "timeline" not in t.entity.fields and t.entity.name != "activity":
            t.filter.__annotations__["timeline_filter"] = Optional[_list_filter(activity)]
            t.filter.timeline_filter = strawberry.field(name="timeline", default=None)


def _list_filter(child: EntityTypes) -> Any:
    """``<Child>ListFilter { some, none }``: a filter on the records pointing here."""
    if child.list_filter is None:
        plural = child.entity.plural
        cls = type(
            f"{child.entity.type_name}ListFilter",
            (),
            {
                "__annotations__": {"some": Optional[child.filter], "none": Optional[child.filter]},
                "some": strawberry.field(default=None, description=f"At least one of the {plural} matches."),
                "none": strawberry.field(default=None, description=f"None of the {plural} matches."),
            },
        )
        child.list_filter = strawberry.input(cls, description=f"A filter on a list of {plural}.")
    return child.list_filter


def _fill(kith: "Kith", t: EntityTypes, all_types: dict[str, EntityTypes], activity: EntityTypes | None) -> None:
    entity = t.entity
    node_ns: dict[str, Any] = {}
    node_ann: dict[str, Any] = {
        "id": strawberry.ID,
        "version": int,
        "created_at": Optional[datetime.datetime],
        "updated_at": Optional[datetime.datetime],
        "deleted_at": Optional[datetime.datetime],
    }
    t.row_keys = {name: name for name in ("id", "version", "created_at", "updated_at", "deleted_at")}
    t.columns = {
        "id": {"id"},
        "version": {"version"},
        "createdAt": {"created_at"},
        "updatedAt": {"updated_at"},
        "deletedAt": {"deleted_at"},
    }
    filter_ann: dict[str, Any] = {
        "id": Optional[IDFilter],
        "created_at": Optional[DateTimeFilter],
        "updated_at": Optional[DateTimeFilter],
    }
    order_ann: dict[str, Any] = {
        "id": Optional[SortDirection],
        "created_at": Optional[SortDirection],
        "updated_at": Optional[SortDirection],
    }
    create_ann: dict[str, Any] = {}
    update_ann: dict[str, Any] = {}
    for spec in entity.fields.values():
        py = _py_name(spec)
        gql = graphql_name(spec)
        node_ann[py] = _output_type(entity, spec)
        t.columns[gql] = {spec.name, spec.currency_column} if spec.currency_column else {spec.name}
        t.row_keys[py] = spec.name
        if py != spec.name:
            node_ns[py] = strawberry.field(resolver=_column_resolver(spec.name, node_ann[py]))
        if spec.kind is FieldKind.RELATION and spec.target in all_types:
            target = all_types[spec.target]
            node_ns[spec.name] = strawberry.field(resolver=_relation_resolver(spec, target))
            t.columns[gql.removesuffix("Id")] = {spec.name}
            filter_ann[spec.name] = Optional[target.filter]
            order_ann[spec.name] = Optional[target.related_order]
        elif spec.kind is not FieldKind.STRING_LIST:
            order_ann[py] = Optional[SortDirection]
        is_attachment_id = entity.attachment is not None and spec.name == entity.attachment[1]
        filter_ann[py] = Optional[IDFilter if is_attachment_id else FILTER[spec.kind]]
        if spec.writable:
            out = _output_type(entity, spec)
            base = out.__args__[0] if _is_optional(out) else out
            if spec.kind is FieldKind.MONEY:
                base = MoneyInput
            create_ann[py] = base if spec.required else Optional[base]
            update_ann[py] = Optional[base]

    fields = kith.custom_fields.for_entity(entity.name) if t.custom is not None else []
    t.custom_fields = fields
    if fields:
        t.custom.__annotations__ = {f.name: Optional[CUSTOM_OUTPUT[f.type]] for f in fields}
        for f in fields:
            setattr(t.custom, f.name, strawberry.field(default=None, description=f.label))
        t.custom_filter.__annotations__ = {f.name: Optional[CUSTOM_FILTER[f.type]] for f in fields}
        t.custom_order.__annotations__ = {
            f.name: Optional[SortDirection] for f in fields if f.type != "multi_select"
        } or {fields[0].name: Optional[SortDirection]}
        t.custom_input.__annotations__ = {f.name: Optional[CUSTOM_INPUT[f.type]] for f in fields}
        for cls in (t.custom_filter, t.custom_order, t.custom_input):
            for name in cls.__annotations__:
                setattr(cls, name, UNSET if cls is t.custom_input else None)
        node_ns["custom_fields"] = strawberry.field(resolver=_custom_resolver(fields, t.custom))
        t.columns["customFields"] = {"custom"}
        filter_ann["custom_fields"] = Optional[t.custom_filter]
        order_ann["custom_fields"] = Optional[t.custom_order]
        create_ann["custom_fields"] = Optional[t.custom_input]
        update_ann["custom_fields"] = Optional[t.custom_input]

    if entity.timeline and activity is not None:
        node_ns["timeline"] = strawberry.field(resolver=_timeline_resolver(entity, activity.node))
        t.columns["timeline"] = {"id"}

    t.node.__annotations__ = node_ann
    for name, value in node_ns.items():
        setattr(t.node, name, value)

    filter_ann["and_"] = Optional[list[t.filter]]  # type: ignore[name-defined]
    filter_ann["or_"] = Optional[list[t.filter]]  # type: ignore[name-defined]
    filter_ann["not_"] = Optional[t.filter]  # type: ignore[name-defined]
    t.filter.__annotations__ = filter_ann
    for name in filter_ann:
        setattr(t.filter, name, None)
    for name in ("and_", "or_", "not_"):
        setattr(t.filter, name, strawberry.field(name=name.rstrip("_"), default=None))
    t.order.__annotations__ = order_ann
    for name in order_ann:
        setattr(t.order, name, None)
    # sorting by a related record goes one level deep, on its own plain fields
    related = {k: v for k, v in order_ann.items() if v == Optional[SortDirection] and k != "id"}
    t.related_order.__annotations__ = related
    for name in related:
        setattr(t.related_order, name, None)

    t.create_input.__annotations__ = create_ann
    for name, ann in create_ann.items():
        if _is_optional(ann):
            setattr(t.create_input, name, UNSET)
    t.update_input.__annotations__ = update_ann
    for name in update_ann:
        setattr(t.update_input, name, UNSET)

    t.edge.__annotations__ = {"cursor": str, "node": t.node}
    t.connection.__annotations__ = {"edges": list[t.edge], "nodes": list[t.node], "page_info": PageInfo}  # type: ignore[name-defined]

    async def total_count(root: Any) -> int:
        return int(await root["count"]())

    t.connection.total_count = strawberry.field(
        resolver=total_count, description="How many records match the filter, on every page."
    )
    t.payload.__annotations__ = {"record": Optional[t.node], "errors": list[UserError]}
    t.payload.record = strawberry.field(name=_lower_first(t.entity.type_name), default=None)


def _is_optional(annotation: Any) -> bool:
    return type(None) in getattr(annotation, "__args__", ())


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _decorate(t: EntityTypes) -> None:
    strawberry.type(t.node, name=t.entity.type_name)
    strawberry.type(t.edge)
    strawberry.type(t.connection)
    strawberry.input(t.filter)
    strawberry.input(t.order, one_of=False)
    strawberry.input(t.related_order)
    strawberry.input(t.create_input)
    strawberry.input(t.update_input)
    strawberry.type(t.payload)
    if t.custom is not None:
        strawberry.type(t.custom)
        strawberry.input(t.custom_filter)
        strawberry.input(t.custom_order)
        strawberry.input(t.custom_input)
