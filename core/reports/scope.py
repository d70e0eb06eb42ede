"""What a dashboard applies to every report on it: a date range and a filter.

The date range applies to each report's date field (``ReportDefinition.range_field``),
``dateFrom`` included and ``dateTo`` excluded; a date field (no time) is compared by
the days the range covers in the report's time zone.

The filter is one GraphQL filter for reports of different entities, so it applies to
each report only where that report's entity has the fields it names: ``{"ownerId":
{"eq": 5}}`` narrows deals and contacts (both have an owner) and leaves a report of
activities as it is.  Field by field: a key the entity has no field for is left out,
a ``customFields`` entry the entity does not define is left out, each item of an
``and`` is narrowed alike, and an ``or`` / ``not`` applies only when the entity has
every field it names (a part of an ``or`` cannot be dropped without changing it).  A
filter the entity does have the field for, but that is wrong (``{"ownerId": {"eq":
"x"}}``), is refused like any bad filter.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kith.core.entities import Entity
from kith.core.errors import FieldError, ValidationFailed
from kith.core.records.aggregate import field_kind
from kith.core.records.field_names import CUSTOM, client_name, field_key
from kith.core.records.filters import FilterCompiler
from kith.core.records.query import ALIAS

if TYPE_CHECKING:
    from kith.core.runtime import Kith


def _unknown_here(kith: Kith, entity: Entity, part: Mapping[str, Any], where: str | None) -> bool:
    """Whether compiling ``part`` fails because ``entity`` has no field it names at
    ``where`` (``filter.ownerId``; None: anywhere in it).  Other errors are raised."""
    try:
        FilterCompiler(kith.query.ctx).compile(entity, part, ALIAS)
    except ValidationFailed as exc:
        if any(e.code == "unknown" and (where is None or e.field == where) for e in exc.errors):
            return True
        raise ValidationFailed(
            [FieldError("filter" + (e.field or "").removeprefix("filter"), e.code, e.message) for e in exc.errors]
        ) from None
    return False


def narrowed(kith: Kith, entity: Entity, filter_: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parts of a dashboard's ``filter_`` that name fields of ``entity`` (None: none)."""
    if not filter_:
        return None
    if not isinstance(filter_, Mapping):
        raise ValidationFailed.single("filter", "invalid", "must be an object")
    out: dict[str, Any] = {}
    for key, value in filter_.items():
        if value is None:
            continue
        if key == "and" and isinstance(value, list):
            items = [item for item in (narrowed(kith, entity, item) for item in value) if item]
            if items:
                out["and"] = items
        elif key == "customFields" and isinstance(value, Mapping):
            kept = {
                name: sub
                for name, sub in value.items()
                if sub is not None
                and not _unknown_here(kith, entity, {"customFields": {name: sub}}, f"filter.customFields.{name}")
            }
            if kept:
                out["customFields"] = kept
        elif not _unknown_here(kith, entity, {key: value}, None if key in ("or", "not") else f"filter.{key}"):
            out[key] = value
    return out or None


def both(*filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """All of the filters given (None: no condition)."""
    given = [dict(f) for f in filters if f]
    if not given:
        return None
    return given[0] if len(given) == 1 else {"and": given}


def date_range(
    kith: Kith,
    entity: Entity,
    name: str,
    date_from: dt.datetime | None,
    date_to: dt.datetime | None,
    time_zone: str,
    path: str = "dateField",
) -> dict[str, Any] | None:
    """A filter: ``entity``'s date field ``name`` is in [``date_from``, ``date_to``)."""
    if date_from is None and date_to is None:
        return None
    for moment, where in ((date_from, "dateFrom"), (date_to, "dateTo")):
        if moment is not None and moment.tzinfo is None:
            raise ValidationFailed.single(where, "invalid", "give a time zone (an ISO time with an offset)")
    kind = field_kind(kith.query, entity, name, path)
    bounds: dict[str, Any] = {}
    if kind == "date":
        zone = zoneinfo.ZoneInfo(time_zone)
        if date_from is not None:
            bounds["gte"] = date_from.astimezone(zone).date().isoformat()
        if date_to is not None:
            bounds["lte"] = (date_to - dt.timedelta(microseconds=1)).astimezone(zone).date().isoformat()
    elif kind == "datetime":
        if date_from is not None:
            bounds["gte"] = date_from.astimezone(dt.UTC).isoformat()
        if date_to is not None:
            bounds["lt"] = date_to.astimezone(dt.UTC).isoformat()
    else:
        raise ValidationFailed.single(path, "invalid", f"{name} is not a date, so a date range cannot apply to it")
    custom = list(kith.query.ctx.custom_fields(entity.name))
    key = field_key(entity, name, custom) or name
    if key.startswith(CUSTOM):
        return {"customFields": {key.removeprefix(CUSTOM): bounds}}
    return {client_name(entity, key, custom): bounds}
