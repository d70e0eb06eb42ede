"""Validation of record input, derived from the entity declaration and custom fields.

Every surface (GraphQL, CLI, import, automations) hands the record service the same
plain dict, so every surface gets the same messages, each naming the field.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
from collections.abc import Collection, Mapping
from typing import Any

from kith.core.customfields import FIELD_TYPES, CustomField
from kith.core.entities import Entity, FieldKind, FieldSpec
from kith.core.errors import FieldError, ValidationFailed
from kith.core.storage import json_text
from kith.core.validation.text import NUL_MESSAGE, nul_path


def graphql_name(spec: FieldSpec) -> str:
    """The name a client uses for a built-in field (``organization`` -> ``organizationId``)."""
    return _client_name(spec.name, spec.kind is FieldKind.RELATION)


@functools.lru_cache(maxsize=4096)
def _client_name(column: str, relation: bool) -> str:
    """Cached: every write names each changed field for its audit row and event."""
    head, *rest = column.split("_")
    name = head + "".join(part.title() for part in rest)
    return name + "Id" if relation else name


def _coerce_builtin(spec: FieldSpec, value: Any, region: str) -> Any:
    kind = spec.kind
    if kind in (FieldKind.STRING, FieldKind.TEXT):
        if (
            spec.normaliser is not None
            and isinstance(value, int | float | decimal.Decimal)
            and not isinstance(value, bool)
        ):
            value = str(value)  # a number for a text field its normaliser reads (a percent: 19)
        elif spec.normaliser is not None and isinstance(value, Mapping | list):
            value = json_text.dumps(value)  # a structure for a JSON text field its normaliser checks
        if not isinstance(value, str):
            raise ValueError("must be text")
        value = value.strip()
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValueError(f"must be at most {spec.max_length} characters")
        if spec.choices and value not in spec.choices:
            raise ValueError(f"must be one of: {', '.join(spec.choices)}")
    elif kind is FieldKind.INT:
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if not -(2**63) <= value < 2**63:
            raise ValueError("is out of range")
    elif kind is FieldKind.DECIMAL:
        try:
            value = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise ValueError("must be a number") from None
    elif kind is FieldKind.BOOL:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
    elif kind is FieldKind.DATE:
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError("must be a date like 2026-01-31") from None
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise ValueError("must be a date like 2026-01-31")
    elif kind is FieldKind.DATETIME:
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be a date and time like 2026-01-31T09:00:00Z") from None
        if not isinstance(value, dt.datetime):
            raise ValueError("must be a date and time like 2026-01-31T09:00:00Z")
        if value.tzinfo is None:
            raise ValueError("must include a time zone")
        value = value.astimezone(dt.UTC)
    elif kind is FieldKind.STRING_LIST:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of text")
    elif kind is FieldKind.MONEY:
        from kith.core import money

        if isinstance(value, Mapping):
            amount, currency = value.get("amount"), value.get("currency")
        else:
            amount, currency = getattr(value, "amount", None), getattr(value, "currency", None)
        if amount is None:
            raise ValueError("needs an amount and a currency")
        currency = money.check_currency(currency)
        money.to_minor(amount, currency)  # refuses too many decimals
        value = {"amount": decimal.Decimal(str(amount)), "currency": currency}
    elif kind is FieldKind.RELATION:
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be the id of a {spec.target}") from None
        if value <= 0:
            raise ValueError(f"must be the id of a {spec.target}")
    if spec.normaliser is not None:
        value = spec.normaliser(value, region)
    return value


def normalise_value(spec: FieldSpec, value: Any, region: str) -> Any:
    """``value`` as the field stores it (checked and normalised: ``Ann@Example.com`` is
    ``ann@example.com``); raises ``ValueError``.  For comparing a value from outside
    (an import's natural key) with stored ones."""
    return _coerce_builtin(spec, value, region)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def validate_input(
    entity: Entity,
    custom_fields: list[CustomField],
    data: Mapping[str, Any],
    *,
    creating: bool,
    region: str = "US",
    trusted: bool = False,
) -> dict[str, Any]:
    """Check and normalise ``data``; returns the values to store or raises ``ValidationFailed``.

    ``trusted`` writers (the system, plugin code) may set read-only fields; clients may not.

    Built-in fields are keyed by column name; custom fields come as a dict under
    ``"custom"``.  All problems are reported at once, not just the first.
    """
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "custom":
            continue
        spec = entity.fields.get(key)
        if spec is None or (not spec.writable and not trusted):
            label = str(key).replace("\x00", "\\u0000")
            errors.append(FieldError(label, "unknown", f"{entity.name} has no writable field '{label}'"))
            continue
        path = graphql_name(spec)
        if nul_path(value, path) is not None:
            errors.append(FieldError(path, "invalid", NUL_MESSAGE))
            continue
        if _blank(value):
            if spec.required:
                errors.append(FieldError(path, "required", "is required"))
            elif spec.kind is FieldKind.STRING_LIST:
                values[key] = []
            elif not spec.nullable:  # the column holds no NULL: a value or nothing at all
                errors.append(FieldError(path, "required", "must not be empty (leave it out for the default)"))
            else:
                values[key] = None
            continue
        try:
            values[key] = _coerce_builtin(spec, value, region)
        except ValueError as exc:
            errors.append(FieldError(path, "invalid", str(exc)))

    if creating:
        for spec in entity.fields.values():
            if spec.required and spec.name not in data:
                errors.append(FieldError(graphql_name(spec), "required", "is required"))

    custom_input = data.get("custom") or {}
    if not isinstance(custom_input, Mapping):
        errors.append(FieldError("customFields", "invalid", "must be an object"))
        custom_input = {}
    definitions = {f.name: f for f in custom_fields}
    custom: dict[str, Any] = {}
    for name, value in custom_input.items():
        field = definitions.get(name)
        if field is None:
            label = str(name).replace("\x00", "\\u0000")
            message = f"{entity.name} has no custom field '{label}'"
            errors.append(FieldError(f"customFields.{label}", "unknown", message))
            continue
        if nul_path(value, field.path) is not None:
            errors.append(FieldError(field.path, "invalid", NUL_MESSAGE))
            continue
        if _blank(value):
            if field.required:
                errors.append(FieldError(field.path, "required", "is required"))
            elif not creating:
                custom[name] = None  # an update clears the stored value
            continue
        try:
            custom[name] = FIELD_TYPES[field.type].coerce(value, field, region)
        except ValueError as exc:
            errors.append(FieldError(field.path, "invalid", str(exc)))
    if creating:
        for field in custom_fields:
            if field.name in custom_input:
                continue
            if field.default is not None:
                custom[field.name] = field.default
            elif field.required:
                errors.append(FieldError(field.path, "required", "is required"))
    if errors:
        raise ValidationFailed(errors)
    if custom or creating:
        values["custom"] = custom
    return values


def check_needs_one_of(entity: Entity, record: Mapping[str, Any], changed: Collection[str] | None = None) -> None:
    """Refuse a record that would hold none of ``entity.needs_one_of`` (a contact with no
    name, email or phone cannot be told apart from any other, nor reached).

    ``record`` is what would be stored (the new values over the stored record on an
    update); ``changed`` the fields the write sets, so that an update touching none of
    them is never refused for a record stored before the rule existed.
    """
    group = entity.needs_one_of
    if not group or (changed is not None and not any(name in changed for name in group)):
        return
    if any(not _blank(record.get(name)) for name in group):
        return
    names = ", ".join(graphql_name(entity.fields[name]) for name in group)
    raise ValidationFailed.single(None, "required", f"each {entity.name} needs at least one of: {names}")
