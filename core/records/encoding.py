"""Turning stored rows into Python records and records into JSON, identically on both engines."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Mapping
from typing import Any

from kith.core.entities import Entity
from kith.core.money import from_minor


def decode_row(entity: Entity, row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as a record: JSON columns parsed, everything else as the driver gave it.

    A plain dict is decoded in place (callers pass fresh copies); driver rows are copied.
    """
    record = row if type(row) is dict else dict(row)
    for column in entity.json_columns:
        value = record.get(column)
        if type(value) is str:
            record[column] = json.loads(value)
    if record.get("custom", ...) is None:
        record["custom"] = {}
    for name, currency_column in entity.money.items():
        if name in record:
            minor = record[name]
            currency = record.get(currency_column)
            record[name] = (
                None
                if minor is None or currency is None
                else {"amount": from_minor(minor, currency), "currency": currency}
            )
    return record


def jsonable(value: Any) -> Any:
    """A value as JSON-ready data (audit rows, outbox payloads, exports)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), separators=(",", ":"), sort_keys=True)
