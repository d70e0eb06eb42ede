"""Exporting records: every record of an entity matching a filter, a page at a time,
under the exporter's scope and without the fields hidden from them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from kith.core.records.encoding import jsonable
from kith.core.records.field_names import CUSTOM
from kith.core.records.query import ListRequest
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.runtime import Kith

PAGE = 500


async def records(
    kith: Kith, entity_name: str, filter_: Mapping[str, Any] | None = None, permissions: Any = None
) -> AsyncIterator[dict[str, Any]]:
    """Matching records, keyed by client-facing names, custom fields flattened."""
    entity = kith.entity(entity_name)
    if permissions is not None:
        permissions.require(entity.name, "read")
    hidden = permissions.hidden_keys(entity) if permissions is not None else frozenset()
    custom = kith.custom_fields.for_entity(entity.name)
    after = None
    while True:
        request = ListRequest(entity, filter_, first=PAGE, after=after, viewer=permissions)
        page = await kith.query.list(kith.db, request)
        for record in page.rows:
            row: dict[str, Any] = {"id": record["id"]}
            for spec in entity.fields.values():
                if spec.name not in hidden:
                    row[graphql_name(spec)] = record.get(spec.name)
            for field in custom:
                if CUSTOM + field.name not in hidden:
                    row[field.path] = (record.get("custom") or {}).get(field.name)
            row["createdAt"], row["updatedAt"] = record["created_at"], record["updated_at"]
            yield jsonable(row)
        if not page.has_next_page:
            return
        after = page.end_cursor


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


async def to_csv(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """CSV text, header first (stdlib csv, so quoting is right)."""
    writer = None
    buffer = io.StringIO()
    async for row in rows:
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
