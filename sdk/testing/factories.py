"""Factories for core records with sensible defaults; pass fields to override."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from kith.core.records.change import Actor
from kith.core.runtime import Kith

TEST = Actor(name="test", source="system")
_counter = itertools.count(1)


async def make_user(
    kith: Kith, *, roles: Sequence[str] = (), password: str | None = None, **values: Any
) -> dict[str, Any]:
    """A user (``name="User N"``, ``email="userN@example.com"``), written through
    ``kith.records``; ``values`` (column names) override the defaults.  ``roles`` are
    granted (``kith users grant``) and ``password`` set, so a test can act as them with
    ``GraphQLClient.as_user`` or sign in with ``login``."""
    n = next(_counter)
    user = await kith.records.create("user", {"name": f"User {n}", "email": f"user{n}@example.com", **values}, TEST)
    for role in roles:
        await kith.auth.grant_role(user["id"], role)
    if password is not None:
        await kith.auth.set_password(user["id"], password)
    return user


async def make_organization(kith: Kith, **values: Any) -> dict[str, Any]:
    """An organization (``name="Org N"``), written through ``kith.records``; ``values``
    (column names, custom fields under ``custom``) override the defaults."""
    n = next(_counter)
    return await kith.records.create("organization", {"name": f"Org {n}", **values}, TEST)


async def make_contact(kith: Kith, **values: Any) -> dict[str, Any]:
    """A contact (``first_name="Test"``, ``last_name="Person N"``, one unique email),
    written through ``kith.records``; ``values`` (column names, custom fields under
    ``custom``) override the defaults."""
    n = next(_counter)
    defaults = {"first_name": "Test", "last_name": f"Person {n}", "emails": [f"person{n}@example.com"]}
    return await kith.records.create("contact", {**defaults, **values}, TEST)


async def make_activity(kith: Kith, on: dict[str, Any], entity: str = "contact", **values: Any) -> dict[str, Any]:
    """An activity on the timeline of record ``on`` (of ``entity``)."""
    defaults = {"kind": "note", "subject": "A note", "subject_type": entity, "subject_id": on["id"]}
    return await kith.records.create("activity", {**defaults, **values}, TEST)
