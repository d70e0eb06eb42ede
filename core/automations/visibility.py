"""What automations show and send on someone's behalf: one masking for every payload.

A webhook subscription made ``--as`` a user and a rule with ``run_as`` speak for that
user, so what leaves through them — a delivery's record, ``changed`` names and
``changes`` (old and new values), custom fields and a domain event's ``data``; the
record, ``event.changes`` and ``event.data`` a template renders; a dry run's records —
carries only what the user may read, and an event about a record outside their scope
is not delivered at all.

Every one of those paths calls ``mask`` (fields) and ``visible_event`` (scope, then
``mask``); none decides on its own which fields are hidden.  That decision is the one
visibility model's (``Permissions.strip`` and ``is_hidden``, which every GraphQL read
uses), so whatever spelling a role or a payload uses for a field (``phones``,
``customFields.leadSource``, ``customFields.lead_source``, ``lead_source``) is resolved
in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kith.core.entities import Entity
from kith.core.errors import ValidationFailed

if TYPE_CHECKING:
    from kith.core.automations.rules import Rule
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions


@dataclass(frozen=True)
class FieldMask:
    """The fields of one entity hidden from one reader, under any name they go by
    (``Permissions.is_hidden`` resolves every spelling to one field)."""

    permissions: Permissions
    entity: Entity

    @classmethod
    def of(cls, kith: Kith, permissions: Permissions, entity: Entity) -> FieldMask:
        return cls(permissions, entity)

    def hides(self, name: Any) -> bool:
        return isinstance(name, str) and self.permissions.is_hidden(self.entity, name)


def mask(
    kith: Kith,
    permissions: Permissions | None,
    entity: Entity | None,
    view: Mapping[str, Any],
    event: str | None = None,
) -> dict[str, Any]:
    """``view`` as ``permissions`` may see it (None: the system sees everything).

    ``view`` may hold ``record`` (a stored record: hidden fields read as empty),
    ``changed`` (field names), ``changes`` (name -> [old, new]) and ``data`` (a domain
    event's payload: keys that name a hidden field, or that the event declares carry
    one in ``DomainEvent.reveals``, are dropped); other keys pass unchanged.  Scope is
    the caller's business (``visible_event``): this only removes fields.
    """
    out = dict(view)
    if permissions is None or entity is None:
        return out
    fields = FieldMask.of(kith, permissions, entity)
    if isinstance(out.get("record"), dict):
        out["record"] = permissions.strip(entity, out["record"])
    if isinstance(out.get("changed"), list):
        out["changed"] = [name for name in out["changed"] if not fields.hides(name)]
    if isinstance(out.get("changes"), dict):
        out["changes"] = {name: pair for name, pair in out["changes"].items() if not fields.hides(name)}
    if isinstance(out.get("data"), dict):
        reveals = _reveals(kith, event)
        out["data"] = {
            key: value
            for key, value in out["data"].items()
            if not fields.hides(key) and not fields.hides(reveals.get(key))
        }
    return out


def event_view(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An outbox payload as automations read it: the ``record``, ``changed`` names,
    ``changes`` and ``data`` — an inbound webhook's body, or a domain event's payload
    (which is stored as the payload itself)."""
    return {
        "record": payload.get("record"),
        "changed": list(payload.get("changed") or []),
        "changes": dict(payload.get("changes") or {}),
        "data": payload.get("data", None if "record" in payload else dict(payload)),
    }


async def visible_event(
    kith: Kith,
    permissions: Permissions | None,
    entity_name: str | None,
    record_id: Any,
    payload: Mapping[str, Any],
    event: str | None = None,
) -> dict[str, Any] | None:
    """``event_view(payload)`` as ``permissions`` may see it, or None when the reader may
    not see the event's record (or its entity) at all, so nothing is sent."""
    view = event_view(payload)
    if permissions is None or not entity_name:
        return view  # the system, or an event about no record (an inbound webhook)
    entity = kith.entities.get(entity_name)
    if entity is None or not permissions.allows(entity_name, "read"):
        return None  # an entity the reader cannot read (or no longer exists): fail closed
    if record_id is not None and not await permissions.can_see(entity, int(record_id)):
        return None
    return mask(kith, permissions, entity, view, event)


def check_run_as(kith: Kith, permissions: Permissions | None, rule: Rule) -> None:
    """Refuse a rule whose ``run_as`` user could not ask what it asks: read its records,
    or filter on the fields its conditions, its trigger's ``changed`` and its trigger's
    domain-event ``data`` test (a hidden field there would leak through which records
    the rule acts on)."""
    if permissions is None or rule.entity is None:
        return
    entity = rule.entity
    if not permissions.allows(entity.name, "read"):
        raise ValidationFailed.single(
            "run_as", "forbidden", f"{permissions.principal.name} may not read {entity.name} records"
        )
    trigger = rule.definition.trigger
    tested: dict[str, Any] = dict(rule.definition.conditions or {})
    for name in trigger.changed or []:
        tested.setdefault(name, {})
    who = f"{permissions.principal.name} (the rule's run_as user)"
    fields = FieldMask.of(kith, permissions, entity)
    blocked = sorted(name for name in _filter_names(tested) if fields.hides(name))
    reveals = _reveals(kith, trigger.event)
    blocked += sorted(key for key in trigger.data or {} if fields.hides(key) or fields.hides(reveals.get(key)))
    if blocked:
        raise ValidationFailed.single("run_as", "forbidden", f"{who} may not filter on {', '.join(blocked)}")


def _filter_names(value: Any) -> set[str]:
    """Every key in a filter (field names, and the custom field names under ``customFields``)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(str(key))
            out |= _filter_names(item)
    elif isinstance(value, list):
        for item in value:
            out |= _filter_names(item)
    return out


async def permissions_of(kith: Kith, email: str, via: str = "automation") -> Permissions | None:
    """The permissions of user ``email`` (None: an admin, unrestricted); raises
    ``LookupError`` when there is no such user."""
    from kith.core.security.permissions import permissions_for

    user = await kith.auth.user_by_email(email)
    if user is None:
        raise LookupError(email)
    principal = await kith.auth.principal_for_user(int(user["id"]), via)
    return None if principal.is_admin else await permissions_for(kith, principal)


def _reveals(kith: Kith, event: str | None) -> Mapping[str, str]:
    declared = kith.automations.events.get(event or "")
    return declared.reveals if declared is not None else {}
