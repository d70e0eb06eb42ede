"""Which column of a file goes to which field: suggested from the headers, given or
saved by a person, and checked before a row is read.

A mapping is ``{header: target}``; a target is a field as clients name it
(``firstName``, ``customFields.tier``), a relation with the field its cell names
(``organization.domain``, ``owner.email``; plain ``organization`` tries the id, then
the target's natural keys), a money field's currency (``budget.currency``), or ``""``
to leave the column out.  Every problem names its header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kith.core.entities.declaration import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.imports.csv_file import column_name
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.runtime import Kith

#: headers people write for a field under another name
ALIASES = {
    "company": "organization",
    "company_name": "organization.name",
    "company_domain": "organization.domain",
    "website": "domain",
    "email_address": "emails",
    "e_mail": "emails",
    "mobile": "phones",
    "telephone": "phones",
    "owner_email": "owner.email",
    "zip": "postal_code",
    "zip_code": "postal_code",
    "postcode": "postal_code",
    "state": "region",
}


@dataclass(frozen=True)
class Target:
    """Where one column's cells go."""

    header: str
    field: str  # the built-in field's column, or the custom field's name
    kind: str  # a FieldKind value
    custom: bool = False
    #: for a relation: the entity it points at, and the field of it the cell names
    #: (None: an id when the cell is a number, else the entity's natural keys)
    relation: str | None = None
    key: str | None = None
    #: this column is the currency of the money field ``field``
    currency: bool = False

    @property
    def path(self) -> str:
        """The target as a mapping names it."""
        if self.custom:
            return f"customFields.{self.field}"
        if self.currency:
            return f"{_client(self.field)}.currency"
        if self.relation is not None:
            return f"{_client(self.field)}.{self.key}" if self.key else _client(self.field)
        return _client(self.field)


def _client(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest)


def suggest(kith: Kith, entity: Entity, headers: list[str], saved: Mapping[str, str] | None = None) -> dict[str, str]:
    """A target for every header that names one (saved choices first), ``""`` for the rest."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        if saved and header in saved:
            out[header] = saved[header]
            continue
        guess = _guess(kith, entity, header)
        if guess and guess not in taken:
            out[header] = guess
            taken.add(guess)
        else:
            out[header] = ""
    return out


def _guess(kith: Kith, entity: Entity, header: str) -> str:
    """The header's own name first (a lead has a ``company`` field), then what people
    mean by it elsewhere (a contact's ``company`` is its organization)."""
    own = column_name(header)
    for name in dict.fromkeys((own, ALIASES.get(own, own))):
        guess = _guess_name(kith, entity, name)
        if guess:
            return guess
    return ""


def _guess_name(kith: Kith, entity: Entity, name: str) -> str:
    head, _, key = name.partition(".")
    if not key and head.endswith("_currency"):
        money = entity.fields.get(head.removesuffix("_currency"))
        if money is not None and money.kind is FieldKind.MONEY:
            return f"{_client(money.name)}.currency"
    for candidate in (head, f"{head}s", head.removesuffix("_id")):
        spec = entity.fields.get(candidate)
        if spec is None:
            continue
        if spec.kind is FieldKind.RELATION:
            if key:
                return f"{_client(spec.name)}.{key}"
            return graphql_name(spec) if head.endswith("_id") else _client(spec.name)
        if spec.writable and not key:
            return graphql_name(spec)
    for field in kith.custom_fields.for_entity(entity.name):
        if name in (field.name, column_name(field.label)):
            return f"customFields.{field.name}"
    return ""


def parse(kith: Kith, entity: Entity, mapping: Mapping[str, str], headers: list[str]) -> list[Target]:
    """The targets of ``mapping``, checked: every header exists, every target is a
    field the import may set, no field is set twice."""
    errors: list[FieldError] = []
    targets: list[Target] = []
    seen: dict[str, str] = {}
    for header, wanted in mapping.items():
        if header not in headers:
            errors.append(FieldError(header, "unknown", f"the file has no column {header!r}"))
            continue
        text = (wanted or "").strip()
        if not text or text == "-":
            continue
        try:
            target = _target(kith, entity, header, text)
        except ValueError as exc:
            errors.append(FieldError(header, "invalid", str(exc)))
            continue
        if target.path in seen:
            errors.append(FieldError(header, "duplicate", f"{target.path} is already set from {seen[target.path]!r}"))
            continue
        seen[target.path] = header
        targets.append(target)
    if errors:
        raise ValidationFailed(errors)
    if not targets:
        raise ValidationFailed.single("mapping", "required", "no column of the file is mapped to a field")
    return targets


def _target(kith: Kith, entity: Entity, header: str, text: str) -> Target:
    if text.startswith("customFields."):
        name = text.removeprefix("customFields.")
        for field in kith.custom_fields.for_entity(entity.name):
            if field.name == name:
                from kith.core.customfields.types import FIELD_TYPES

                kind = FIELD_TYPES[field.type].filter_kind
                return Target(header, field.name, kind, custom=True, relation=field.target)
        raise ValueError(f"{entity.name} has no custom field {name!r}")
    if text == "id":
        return Target(header, "id", "int")  # matches rows to records (--key id); never written
    head, _, key = text.partition(".")
    column = column_name(head)
    spec = entity.fields.get(column) or entity.fields.get(column.removesuffix("_id"))
    if spec is None:
        raise ValueError(f"{entity.name} has no field {head!r}")
    if spec.kind is FieldKind.RELATION:
        assert spec.target is not None
        target_entity = kith.entities.get(spec.target)
        if key and key != "id" and column_name(key) not in target_entity.fields:
            raise ValueError(f"{spec.target} has no field {key!r} to find it by")
        found_by = "id" if key == "id" or (not key and column.endswith("_id")) else (column_name(key) or None)
        return Target(header, spec.name, spec.kind.value, relation=target_entity.name, key=found_by)
    if key == "currency" and spec.kind is FieldKind.MONEY:
        return Target(header, spec.name, "string", currency=True)
    if key:
        raise ValueError(f"{head} is not a relation: {text!r} names nothing")
    if not spec.writable:
        raise ValueError(f"{graphql_name(spec)} is set by Kith, not by an import")
    return Target(header, spec.name, spec.kind.value)
