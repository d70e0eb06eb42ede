"""Everything the plugin hands Kith (entities, the ``viewing`` kind, roles, GraphQL, the
matching action and its rules), and the rules it keeps on writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.sdk import ActionType, Change, Entity, FieldError, RoleDefinition, ValidationFailed, hookimpl

from kith_realestate import automations, matching, roles
from kith_realestate.entities import entities, tidy_city
from kith_realestate.graphql import RealEstateMutations
from kith_realestate.viewings import KIND

#: a listing can only end the way its kind ends
FINAL_STATUS = {"sold": "sale", "let": "rent"}


@hookimpl
def kith_entities() -> list[Entity]:
    return entities()


@hookimpl
def kith_activity_kinds() -> list[str]:
    return [KIND]


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return roles.roles()


@hookimpl
def kith_graphql_mutations() -> list[type]:
    return [RealEstateMutations]


@hookimpl
def kith_automation_actions() -> list[ActionType]:
    return [matching.action()]


@hookimpl
def kith_automation_rules() -> list[dict[str, Any]]:
    return automations.rules()


def tidy_cities(value: Any) -> Any:
    """``"amsterdam ,Utrecht,, amsterdam"`` -> ``"amsterdam, Utrecht"``: the one form the
    matching looks cities up in (a ", "-separated list)."""
    if not isinstance(value, str):
        return value
    cities: list[str] = []
    for part in value.split(","):
        city = tidy_city(part, "")
        if city and city.casefold() not in {c.casefold() for c in cities}:
            cities.append(city)
    return ", ".join(cities)


def _listing_rules(change: Change, before: dict[str, Any]) -> None:
    """Sold is for sales and let for rentals; the first time a listing goes active is
    when it was listed (``listed_at``, read-only for clients)."""
    values = change.values
    status = values.get("status", before.get("status"))
    kind = values.get("kind", before.get("kind"))
    wanted = FINAL_STATUS.get(status)
    if wanted is not None and kind != wanted:
        raise ValidationFailed([FieldError("status", "invalid", f"a {kind} listing cannot be {status}")])
    if status == "active" and before.get("listed_at") is None:
        values["listed_at"] = dt.datetime.now(dt.UTC)


def _tidy_buyer_cities(change: Change) -> None:
    custom = change.values.get("custom")
    if custom and custom.get("buyer_cities") is not None:
        custom["buyer_cities"] = tidy_cities(custom["buyer_cities"])


@hookimpl
def kith_before_create(change: Change) -> None:
    if change.entity == "listing":
        _listing_rules(change, {"status": "draft", "kind": "sale"})
    elif change.entity == "contact":
        _tidy_buyer_cities(change)


@hookimpl
def kith_before_update(change: Change) -> None:
    if change.action != "update":
        return
    if change.entity == "listing":
        _listing_rules(change, change.before or {})
    elif change.entity == "contact":
        _tidy_buyer_cities(change)
