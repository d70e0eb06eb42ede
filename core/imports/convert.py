"""A cell of a file as the value a field takes: the step between a spreadsheet's text
and the record service's own validation.

Only what a file cannot say otherwise is decided here (``yes`` is true, ``a; b`` is a
list, ``12.50 EUR`` is money, a date cell of a workbook is a date); everything else
(lengths, choices, e-mail and phone normalisation, ranges) stays the entity's own rule,
applied by the record service, so a row imported is a row typed in by hand.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Any
from zoneinfo import ZoneInfo

TRUE = frozenset({"1", "true", "yes", "y", "x"})
FALSE = frozenset({"0", "false", "no", "n"})
_LIST_SEPARATORS = re.compile(r"[;\n|]|,(?!\d{3})")
_MONEY = re.compile(r"^\s*(?:([A-Za-z]{3})\s*)?([-+]?[\d.,]+)\s*(?:([A-Za-z]{3}))?\s*$")


def unguarded(text: str) -> str:
    """``text`` without the ``'`` an export put before a value that starts like a
    formula (``kith.core.records.export.guard_formula``)."""
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return text[1:]
    return text


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def convert(kind: str, value: Any, zone: ZoneInfo) -> Any:
    """``value`` (text, or a workbook's number or date) for a field of ``kind`` (a
    ``FieldKind`` value); raises ``ValueError`` with a message for the person fixing the file."""
    if kind in ("string", "text"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a workbook's 4471.0 in a text column was typed as 4471
        return unguarded(value.strip()) if isinstance(value, str) else str(value)
    if kind in ("int", "id", "relation"):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value.strip() if isinstance(value, str) else value
    if kind == "decimal":
        return _decimal(value)
    if kind == "bool":
        return _bool(value)
    if kind == "date":
        return _date(value)
    if kind == "datetime":
        return _datetime(value, zone)
    if kind == "string_list":
        if isinstance(value, str):
            return [part.strip() for part in _LIST_SEPARATORS.split(value) if part.strip()]
        return [str(value)]
    if kind == "money":
        return money(value)
    return value


def _decimal(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return decimal.Decimal(str(value))
    return str(value).strip().replace(" ", "")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(f"{str(value).strip()!r} is not yes or no (yes, no, true, false, 1, 0)")


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise ValueError("must be a date without a time")
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2026-01-31") from None


def _datetime(value: Any, zone: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(0))
    else:
        text = str(value).strip()
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text!r} is not a date and time like 2026-01-31 09:00") from None
    # a time without an offset is read in the import's time zone
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def money(value: Any) -> dict[str, Any]:
    """``12.50 EUR``, ``EUR 12.50`` (or a number, whose currency comes from a
    ``<field>Currency`` column) as ``{"amount", "currency"}``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"amount": decimal.Decimal(str(value)), "currency": None}
    found = _MONEY.match(str(value))
    if found is None or (found[1] and found[3]):
        raise ValueError(f"{str(value).strip()!r} is not an amount like 12.50 EUR")
    return {"amount": found[2].replace(",", ""), "currency": (found[1] or found[3] or "").upper() or None}
