"""Turning stored rows into Python records and records into JSON, identically on both engines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kith.core.entities import Entity
from kith.core.money import from_minor
from kith.core.storage.json_text import dumps, jsonable, loads

__all__ = ["decode_row", "dumps", "jsonable", "loads"]


def decode_row(entity: Entity, row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as a record: JSON columns parsed, everything else as the driver gave it.

    A plain dict is decoded in place (callers pass fresh copies); driver rows are copied.
    """
    record = row if type(row) is dict else dict(row)
    for column in entity.json_columns:
        value = record.get(column)
        if type(value) is str:
            record[column] = loads(value)
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
