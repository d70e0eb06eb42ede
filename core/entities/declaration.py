"""``Entity``: the single definition from which GraphQL types, filters, validation,
audit and export are derived.

Fields come from the Piccolo columns; the declaration adds only what a column cannot
say: labels, which fields are searchable or personal, list-valued JSON columns,
allowed choices and value normalisers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from piccolo.columns import (
    JSON,
    JSONB,
    BigInt,
    Boolean,
    Date,
    Decimal,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import Column
from piccolo.table import Table

#: a reverse list's name: a camelCase GraphQL field name
_LIST_NAME = re.compile(r"[a-z][A-Za-z0-9]*")

#: Columns every entity table has and the record service manages itself.
SYSTEM_COLUMNS = frozenset({"id", "created_at", "updated_at", "version", "deleted_at", "custom"})


class FieldKind(str, Enum):
    """The value kinds the filter compiler, validators and GraphQL builder understand."""

    STRING = "string"
    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    STRING_LIST = "string_list"
    RELATION = "relation"
    ID = "id"
    MONEY = "money"  # integer minor units in this column, the currency in another


Normaliser = Callable[[Any, Any], Any]
"""``(value, context) -> value``; raises ``ValueError`` with a user-facing message."""


@dataclass(frozen=True)
class FieldSpec:
    """One built-in field of an entity, as every layer sees it."""

    name: str
    kind: FieldKind
    required: bool = False
    nullable: bool = True
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    target: str | None = None  # entity name, for relations
    normaliser: Normaliser | None = None
    searchable: bool = False
    personal: bool = False
    writable: bool = True
    currency_column: str | None = None  # for MONEY fields
    unique: bool = False  # the column is UNIQUE (deleted records included)

    @property
    def column(self) -> str:
        return self.name


def _kind_of(column: Column) -> FieldKind:
    if isinstance(column, ForeignKey):
        return FieldKind.RELATION
    if isinstance(column, Serial):
        return FieldKind.ID
    if isinstance(column, (Integer, BigInt, SmallInt)):
        return FieldKind.INT
    if isinstance(column, (Numeric, Decimal, Float)):
        return FieldKind.DECIMAL
    if isinstance(column, Boolean):
        return FieldKind.BOOL
    if isinstance(column, Timestamptz):
        return FieldKind.DATETIME
    if isinstance(column, Date):
        return FieldKind.DATE
    if isinstance(column, (JSON, JSONB)):
        return FieldKind.STRING_LIST
    if isinstance(column, Text):
        return FieldKind.TEXT
    if isinstance(column, Varchar):
        return FieldKind.STRING
    raise TypeError(f"column type {type(column).__name__} has no Kith field kind")


@dataclass
class Entity:
    """A record type.  Declared once (usually by ``kith_entities``); everything derives from it.

    ``name`` is the snake_case singular used in SQL-facing places and events
    (``contact``); GraphQL names are derived (``Contact``, ``contacts``).
    """

    name: str
    table: type[Table]
    label: str | None = None
    plural: str | None = None
    searchable: tuple[str, ...] = ()
    personal: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    #: fields of which a record needs at least one (a contact: a name, an email or a
    #: phone), on create and on every update that changes one of them
    needs_one_of: tuple[str, ...] = ()
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    normalisers: Mapping[str, Normaliser] = field(default_factory=dict)
    read_only: tuple[str, ...] = ()
    #: money fields: the column of integer minor units -> the column of its currency
    money: Mapping[str, str] = field(default_factory=dict)
    customizable: bool = True
    timeline: bool = True
    #: the fields that name a record in a file, tried in order (a lead: its ``email``):
    #: what an import matches rows and relations by.  Empty: Kith's guess (unique
    #: fields, else a name-like field; see ``kith.core.imports.keys``)
    natural_keys: tuple[str, ...] = ()
    #: whether clients get create/update/delete/restore mutations (False: records are
    #: written by the plugin's own code, e.g. a history it keeps in its hooks)
    mutations: bool = True
    #: (type field, id field) of a reference to a record of any timeline entity
    attachment: tuple[str, str] | None = None
    #: every relation column gives the record it points at a list of these records
    #: (``quote.deal`` gives ``Deal.quotes``, see ``kith.core.entities.reverse``); this
    #: renames some (``{"deal": "offers"}`` gives ``Deal.offers``), None: no list
    reverse: Mapping[str, str | None] = field(default_factory=dict)
    #: the relation columns to users that make a record someone's own, for roles'
    #: "own"/"team" scopes (``("therapist",)``); the first is filled with the creating
    #: user when left empty.  None (the default): ``owner`` and ``assignee``, those of
    #: them the table has, and only ``owner`` is filled on create
    owners: tuple[str, ...] | None = None
    #: a relation column whose record owns this one, for entities without an owner of
    #: their own: "own"/"team" grants then follow the parent's owner (a quote's deal)
    owner_via: str | None = None
    plugin: str | None = None
    fields: dict[str, FieldSpec] = field(init=False)
    #: ``owners`` resolved: the user relations "own"/"team" scopes compare with the user
    owner_fields: tuple[str, ...] = field(init=False)
    #: the field a record created by a user gets that user in, when left empty
    default_owner: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.label = self.label or self.name.replace("_", " ").title()
        self.plural = self.plural or self.name + "s"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.plural):
            raise ValueError(
                f"entity {self.name}: plural={self.plural!r} names its GraphQL list, so it is written like a "
                "name: lower-case letters, digits and '_' ('social_identities'); the label is for people"
            )
        self.fields = {}
        currency_columns = set(self.money.values())
        for column in self.table._meta.columns:
            name = column._meta.name
            if name in SYSTEM_COLUMNS or name in currency_columns:
                continue
            kind = FieldKind.MONEY if name in self.money else _kind_of(column)
            target = None
            if isinstance(column, ForeignKey):
                referenced = column._foreign_key_meta.resolved_references
                # a relation to the entity's own table (a ticket merged into another) is
                # named before the table learns its entity's name, at the end of this method
                target = self.name if referenced is self.table else getattr(referenced, "_kith_entity", None)
                target = target or referenced._meta.tablename
            max_length = getattr(column, "length", None) if isinstance(column, Varchar) else None
            self.fields[name] = FieldSpec(
                name=name,
                kind=kind,
                required=name in self.required,
                nullable=column._meta.null,
                max_length=max_length,
                choices=tuple(self.choices.get(name, ())),
                target=target,
                normaliser=self.normalisers.get(name),
                searchable=name in self.searchable,
                personal=name in self.personal,
                writable=name not in self.read_only,
                currency_column=self.money.get(name),
                unique=bool(column._meta.unique),
            )
        #: columns stored as JSON text, parsed when a row is read
        lists = [name for name, spec in self.fields.items() if spec.kind is FieldKind.STRING_LIST]
        self.json_columns: tuple[str, ...] = ("custom", *lists)
        columns = {c._meta.name for c in self.table._meta.columns}
        missing = [c for pair in self.money.items() for c in pair if c not in columns]
        if missing:
            raise ValueError(f"entity {self.name}: money columns {missing} are not columns of its table")
        relations = {name for name, spec in self.fields.items() if spec.kind is FieldKind.RELATION}
        not_relations = [column for column in self.reverse if column not in relations]
        if not_relations:
            raise ValueError(f"entity {self.name}: reverse lists need relation columns, not {not_relations}")
        for relation, list_name in self.reverse.items():
            if list_name is not None and not (isinstance(list_name, str) and _LIST_NAME.fullmatch(list_name)):
                raise ValueError(
                    f"entity {self.name}: reverse={{{relation!r}: {list_name!r}}} must name a camelCase "
                    "GraphQL field (like 'lineItems'), or be None for no list"
                )
        if self.owner_via is not None and self.owner_via not in relations:
            raise ValueError(f"entity {self.name}: owner_via must be a relation column, not {self.owner_via!r}")
        self.owner_fields, self.default_owner = self._resolve_owners()
        unknown = (set(self.searchable) | set(self.personal) | set(self.required) | set(self.needs_one_of)) - set(
            self.fields
        )
        if unknown:
            raise ValueError(f"entity {self.name}: unknown fields {sorted(unknown)}")
        self.table._kith_entity = self.name  # type: ignore[attr-defined]

    def _resolve_owners(self) -> tuple[tuple[str, ...], str | None]:
        """(the fields that make a record someone's own, the one a creator is put in).

        Checked here, at declaration, because a misspelt or wrong column would otherwise
        make an "own" scope silently match nothing (or the wrong people)."""
        users = tuple(s.name for s in self.relation_fields() if s.target == "user")
        if self.owners is None:  # the convention: owner / assignee, if the table has them
            found = tuple(name for name in ("owner", "assignee") if name in users)
            return found, "owner" if "owner" in found else None
        if isinstance(self.owners, str):
            raise ValueError(f"entity {self.name}: owners must be a tuple of column names, e.g. ({self.owners!r},)")
        for name in self.owners:
            spec = self.fields.get(name)
            if spec is None:
                reason = "it is not a column of its table"
            elif spec.kind is not FieldKind.RELATION:
                reason = "it is not a relation (a ForeignKey to User)"
            elif spec.target != "user":
                reason = f"it points at {spec.target}, not at user (a ForeignKey to User)"
            else:
                continue
            raise ValueError(f"entity {self.name}: owners names {name!r}, but {reason}")
        if self.owners and self.owner_via is not None:
            raise ValueError(
                f"entity {self.name}: declare owners or owner_via, not both "
                "(owner_via is for records that have no owner of their own)"
            )
        owners = tuple(dict.fromkeys(self.owners))
        return owners, owners[0] if owners else None

    @property
    def tablename(self) -> str:
        return str(self.table._meta.tablename)

    @property
    def type_name(self) -> str:
        """The GraphQL type name (``contact`` -> ``Contact``, ``deal_stage`` -> ``DealStage``)."""
        return "".join(part.title() for part in self.name.split("_"))

    @property
    def plural_field(self) -> str:
        """The GraphQL list field (``contacts``)."""
        head, *rest = str(self.plural).split("_")
        return head + "".join(part.title() for part in rest)

    def relation_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields.values() if f.kind is FieldKind.RELATION]
