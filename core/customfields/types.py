"""The custom field types: how each one is validated, stored as JSON, read back and
compared in SQL.  Adding a type means adding one ``FieldType`` here."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kith.core.validation.contact_data import normalise_email, normalise_phone, normalise_url

if TYPE_CHECKING:
    from kith.core.customfields.definition import CustomField

#: How the filter compiler treats a type's stored JSON value.
FilterKind = Literal["string", "int", "decimal", "bool", "date", "datetime", "string_list", "money", "relation"]

#: GraphQL's Int is 32-bit: a larger whole number could be stored but not read back
INT32 = 2**31


@dataclass(frozen=True)
class Money:
    """An exact amount in one currency (stored as ``{"amount": "12.50", "currency": "EUR"}``)."""

    amount: decimal.Decimal
    currency: str


@dataclass(frozen=True)
class FieldType:
    name: str
    label: str
    filter_kind: FilterKind
    #: value from any surface -> JSON-storable value; raises ValueError(message)
    coerce: Callable[[Any, CustomField, str], Any]
    #: stored JSON value -> Python value given to GraphQL (None: stored as given)
    decode: Callable[[Any], Any] | None = None


def _text(limit: int) -> Callable[[Any, CustomField, str], Any]:
    def coerce(value: Any, field: CustomField, region: str) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return coerce


def _integer(value: Any, field: CustomField, region: str) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("must be a whole number")
    if not -INT32 <= value < INT32:
        raise ValueError(f"must be between {-INT32} and {INT32 - 1} (use a decimal field for larger numbers)")
    return value


def _to_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = decimal.Decimal(str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


def _decimal(value: Any, field: CustomField, region: str) -> str:
    return str(_to_decimal(value))


def _boolean(value: Any, field: CustomField, region: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ValueError("must be true or false")


def _date(value: Any, field: CustomField, region: str) -> str:
    if isinstance(value, dt.datetime):
        raise ValueError("must be a date without a time")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError("must be a date like 2026-01-31")


def canonical_datetime(value: dt.datetime) -> str:
    """UTC, fixed width: stored datetimes compare correctly as text on both engines."""
    if value.tzinfo is None:
        raise ValueError("must include a time zone, like 2026-01-31T09:00:00Z")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _datetime(value: Any, field: CustomField, region: str) -> str:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be a date and time like 2026-01-31T09:00:00Z") from None
    if not isinstance(value, dt.datetime):
        raise ValueError("must be a date and time like 2026-01-31T09:00:00Z")
    return canonical_datetime(value)


def _single_select(value: Any, field: CustomField, region: str) -> str:
    if not isinstance(value, str) or value not in field.choices:
        raise ValueError(f"must be one of: {', '.join(field.choices)}")
    return value


def _multi_select(value: Any, field: CustomField, region: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of choices")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in field.choices:
            raise ValueError(f"{item!r} is not one of: {', '.join(field.choices)}")
        if item not in out:
            out.append(item)
    return out


def _money(value: Any, field: CustomField, region: str) -> dict[str, str]:
    amount: Any
    currency: Any
    if isinstance(value, Money):
        amount, currency = value.amount, value.currency
    elif isinstance(value, dict):
        amount, currency = value.get("amount"), value.get("currency")
    elif hasattr(value, "amount") and hasattr(value, "currency"):
        amount, currency = value.amount, value.currency
    else:
        raise ValueError("must have an amount and a currency")
    if amount is None:
        raise ValueError("amount is missing")
    number = _to_decimal(amount)
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise ValueError("currency must be a three-letter ISO 4217 code")
    return {"amount": str(number), "currency": currency.upper()}


def _relation(value: Any, field: CustomField, region: str) -> int:
    try:
        record_id = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be the id of a {field.target}") from None
    if record_id <= 0:
        raise ValueError(f"must be the id of a {field.target}")
    return record_id


def _email(value: Any, field: CustomField, region: str) -> str:
    return normalise_email(value, region)


def _phone(value: Any, field: CustomField, region: str) -> str:
    return normalise_phone(value, region)


def _url(value: Any, field: CustomField, region: str) -> str:
    return normalise_url(value, region)


def _decode_money(value: Any) -> Money | None:
    if not isinstance(value, dict):
        return None
    return Money(decimal.Decimal(value["amount"]), value["currency"])


def _decode_relation(value: Any) -> str | None:
    return None if value is None else str(value)


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        FieldType("text", "Text (one line)", "string", _text(255)),
        FieldType("long_text", "Long text", "string", _text(100_000)),
        FieldType("integer", "Whole number", "int", _integer),
        FieldType("decimal", "Decimal number", "decimal", _decimal, decimal.Decimal),
        FieldType("boolean", "Yes / no", "bool", _boolean),
        FieldType("date", "Date", "date", _date, dt.date.fromisoformat),
        FieldType("datetime", "Date and time", "datetime", _datetime, dt.datetime.fromisoformat),
        FieldType("single_select", "Single select", "string", _single_select),
        FieldType("multi_select", "Multi select", "string_list", _multi_select),
        FieldType("email", "Email address", "string", _email),
        FieldType("phone", "Phone number", "string", _phone),
        FieldType("url", "Web address", "string", _url),
        FieldType("money", "Money", "money", _money, _decode_money),
        FieldType("relation", "Relation to another record", "relation", _relation, _decode_relation),
    )
}
