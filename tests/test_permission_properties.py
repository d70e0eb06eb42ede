"""Permissions through GraphQL against a plain-Python model of roles, scopes and rules.

Hypothesis draws a small world — users in two teams (or none), roles of grants on
``contact``, ``organization`` and ``*``, role assignments, organizations and contacts
with random owners — and checks, for every user, that what GraphQL returns is exactly
what the model allows:

* ``contacts`` / ``organizations``: the ids of the nodes and ``totalCount``;
* ``contact(id:)`` / ``organization(id:)`` for a drawn sample of ids, live or deleted
  (and one that does not exist);
* ``contacts { nodes { organization { ... } } }``: the organization only when the user
  may read it (null otherwise);
* hidden fields come back empty (null, or ``[]`` for lists), visible ones as stored;
* a user with no read grant on an entity gets a ``forbidden`` error for its list;
* filters and sorts through ``organization``: each hop reads only what the user may read
  (a related organization they may not read is no organization at all), and a hidden field
  at any hop reads as empty, so the answer is the same as if it had no value;
* cursors: following ``endCursor`` page by page gives the same order as one page; a cursor
  edited by hand, or one given to another user, is a ``BAD_USER_INPUT`` error;
* ``search`` matches only fields the user may read;
* aggregates: grouping by a field under any spelling (``lifecycleStage``,
  ``lifecycle_stage``, ``organization``, ``organizationId``) counts what the user may read,
  a hidden field (under every spelling) as empty;
* audit history: a record's entries show only the fields the user may read;
* activities: visible only with their own grant *and* the record they are about;
* payloads: each contact's ``contact.created`` event, as a webhook subscription or rule
  running as the user would carry it, is withheld when the contact is outside their
  scope and otherwise shows their hidden fields empty and leaves them out of ``changes``;
* dry runs: a rule that runs as the user dry-runs over exactly the contacts they may read,
  and its templates render hidden fields as empty (a user who may not read contacts
  cannot be a rule's ``run_as``);
* links are reads: linking a new contact to an organization the user may not read gets
  exactly the errors that linking one that does not exist gets.

The model is the specification, written without SQL:

* a role's grant for an entity is its own grant for that entity, else its ``*`` grant;
* a record is visible iff it is not deleted and some role of the user has a grant that
  includes ``read``, whose scope holds (``own``: the user owns it; ``team``: its owner is
  in the user's team — and for a user without a team, the user owns it, as
  ``Permissions._scope`` falls back to) and whose rule filter matches (``eq`` / ``in``
  never match an empty value, ``ne`` does; ``isNull`` on a list means "no elements";
  ``organization: {...}`` holds when the contact has a live organization matching it);
* a field is hidden iff every role of the user that reads the entity hides it.

The test is synchronous and drives one event loop of its own, like
``test_filter_properties.py``: one Kith is opened per engine, and each example wipes the
rows it wrote before writing its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tampering import tampered

from kith.core.automations.service import dry_run
from kith.core.automations.visibility import visible_event
from kith.core.errors import ValidationFailed
from kith.core.records.encoding import dumps
from kith.core.runtime import Kith
from kith.core.security.permissions import permissions_for
from kith.core.settings import load_settings
from kith.core.web.app import execute

# -- what can be drawn ---------------------------------------------------------------------

TEAMS = ("Red", "Blue")
ROLE_SOURCE = "property-test"  # kith_role.source of the roles drawn here (wiped per example)

TITLES = [None, "CEO", "CTO", "Buyer"]
CITIES = [None, "Oslo", "Paris"]
STAGES = ["lead", "opportunity", "customer"]
PHONES = [[], ["+14155552671"]]
TAGS = [[], ["vip"], ["vip", "beta"]]
ORG_NAMES = ["Acme", "Globex", "Initech"]
DOMAINS = [None, "acme.example", "globex.example"]
SIZES = [None, 5, 50, 500]

# Rule filters a grant may carry, per entity; ``*`` grants apply to contacts and
# organizations alike, so their filters use fields both have.
FILTERS: dict[str, list[dict[str, Any]]] = {
    "contact": [
        {"lifecycleStage": {"eq": "customer"}},
        {"title": {"ne": "CEO"}},
        {"title": {"eq": "CEO"}},
        {"city": {"isNull": False}},
        {"tags": {"isNull": True}},
        {"or": [{"city": {"eq": "Oslo"}}, {"lifecycleStage": {"in": ["lead", "opportunity"]}}]},
        {"not": {"title": {"in": ["CTO", "Buyer"]}}},
        {"organization": {"city": {"eq": "Oslo"}}},
    ],
    "organization": [
        {"city": {"isNull": False}},
        {"city": {"ne": "Oslo"}},
        {"name": {"in": ["Acme", "Globex"]}},
        {"size": {"gte": 50}},
    ],
    "*": [
        {"city": {"isNull": False}},
        {"city": {"ne": "Oslo"}},
        {"city": {"eq": "Paris"}},
        {"tags": {"isNull": False}},
    ],
}
HIDDEN: dict[str, list[str]] = {
    "contact": ["phones", "title", "city", "tags", "organizationId"],
    "organization": ["domain", "city", "tags"],
    "*": ["city", "tags"],
}
# The fields each entity's queries ask for, besides ``id``.
CONTACT_FIELDS = ("title", "city", "phones", "tags", "organizationId")
ORG_FIELDS = ("name", "city", "domain", "tags", "size")
# The entities a role names.  Hypothesis favours small draws (few keys, no roles), which
# would leave most users with nothing to read: shapes, read and role counts are weighted.
ROLE_SHAPES = [
    ("contact", "organization"),
    ("contact",),
    ("organization",),
    ("*",),
    ("contact", "*"),
    ("organization", "*"),
    ("contact", "organization", "*"),
]


@st.composite
def grants(draw: st.DrawFn, entity: str) -> dict[str, Any]:
    actions = ["read"] if draw(st.sampled_from([True, True, True, True, False])) else []
    actions += draw(st.lists(st.sampled_from(["create", "update", "delete"]), unique=True, max_size=2))
    grant: dict[str, Any] = {
        "actions": actions,
        "scope": draw(st.sampled_from(["own", "team", "all"])),
        "hidden": draw(st.lists(st.sampled_from(HIDDEN[entity]), unique=True, max_size=2)),
    }
    if draw(st.booleans()):
        grant["filter"] = draw(st.sampled_from(FILTERS[entity]))
    return grant


@st.composite
def roles(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """One role: a grant for one, two or all of contact, organization and ``*``, and one
    for activities (``*`` filters name fields activities do not have)."""
    names = draw(st.sampled_from(ROLE_SHAPES))
    role = {name: draw(grants(name)) for name in names}
    role["activity"] = {
        "actions": draw(st.sampled_from([["read"], ["read"], []])),
        "scope": draw(st.sampled_from(["own", "team", "all"])),
    }
    return role


# Filters a user may send through the contact's organization, and the sorts and groupings.
RELATION_FILTERS: list[dict[str, Any]] = [
    {"organization": {"city": {"eq": "Oslo"}}},
    {"organization": {"domain": {"isNull": False}}},
    {"not": {"organization": {"tags": {"isNull": True}}}},
    {"organization": {"size": {"gte": 50}}},
    {"or": [{"organization": {"name": {"in": ["Acme"]}}}, {"city": {"eq": "Paris"}}]},
]
RELATION_SORTS = ["city", "domain", "name", "size"]
GROUPINGS = ["city", "lifecycleStage", "lifecycle_stage", "title", "organizationId", "organization", "organization_id"]
SEARCHES = ["ce", "CT", "uy", "per"]


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    teams = draw(st.lists(st.sampled_from([0, 1, None]), min_size=3, max_size=6))  # one per user
    drawn_roles = draw(st.lists(roles(), min_size=2, max_size=4))
    assigned = [  # each user's roles, by position: none, one or two
        draw(st.lists(st.integers(0, len(drawn_roles) - 1), unique=True, min_size=n, max_size=n))
        for n in draw(st.lists(st.sampled_from([1, 2, 1, 2, 0]), min_size=len(teams), max_size=len(teams)))
    ]
    owner = st.one_of(st.none(), st.integers(0, len(teams) - 1))
    deleted = st.sampled_from([False] * 7 + [True])
    orgs = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(ORG_NAMES),
                    "city": st.sampled_from(CITIES),
                    "domain": st.sampled_from(DOMAINS),
                    "tags": st.sampled_from(TAGS),
                    "size": st.sampled_from(SIZES),
                    "owner": owner,
                    "deleted": deleted,
                }
            ),
            min_size=2,
            max_size=6,
        )
    )
    contacts = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "title": st.sampled_from(TITLES),
                    "city": st.sampled_from(CITIES),
                    "lifecycleStage": st.sampled_from(STAGES),
                    "phones": st.sampled_from(PHONES),
                    "tags": st.sampled_from(TAGS),
                    "owner": owner,
                    "org": st.one_of(st.none(), st.integers(0, len(orgs) - 1)),
                    "deleted": deleted,
                }
            ),
            min_size=15,
            max_size=40,
        )
    )
    activities = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "on": st.sampled_from(["contact", "contact", "organization"]),
                    "index": st.integers(0, 1000),
                    "owner": owner,
                }
            ),
            max_size=8,
        )
    )
    # Which records to look up by id (GraphQL allows 30 aliases in one query).
    looked_up = {
        "contact": draw(st.lists(st.integers(0, len(contacts) - 1), unique=True, min_size=5, max_size=15)),
        "organization": draw(st.lists(st.integers(0, len(orgs) - 1), unique=True, min_size=1, max_size=6)),
    }
    return {
        "teams": teams,
        "roles": drawn_roles,
        "assigned": assigned,
        "orgs": orgs,
        "contacts": contacts,
        "looked_up": looked_up,
        "activities": activities,
        "relation_filter": draw(st.sampled_from(RELATION_FILTERS)),
        "relation_sort": draw(st.sampled_from(RELATION_SORTS)),
        "grouping": draw(st.sampled_from(GROUPINGS)),
        "search": draw(st.sampled_from(SEARCHES)),
    }


# -- the model -------------------------------------------------------------------------------


def _leaf(stored: Any, op: str, raw: Any) -> bool:
    empty = stored is None or stored == []
    if op == "isNull":
        return empty == raw
    if op == "ne":
        return empty or stored != raw
    if empty:
        return False
    if op == "eq":
        return stored == raw
    if op == "in":
        return stored in raw
    if op == "gte":
        return stored >= raw
    raise AssertionError(f"the model has no operator {op!r}")


@dataclass
class User:
    id: int
    team: int | None  # team id
    roles: list[dict[str, dict[str, Any]]]  # the grants of each role


class Model:
    def __init__(self, users: dict[int, User], orgs: dict[int, dict[str, Any]], contacts: dict[int, dict[str, Any]]):
        self.users = users
        self.records = {"organization": orgs, "contact": contacts}
        self.looked_up: dict[str, list[int]] = {}  # ids to look up one by one
        self.activities: dict[int, dict[str, Any]] = {}
        self.checks: dict[str, Any] = {}  # the drawn filter, sort, grouping and search

    def matches(self, node: dict[str, Any], record: dict[str, Any]) -> bool:
        for key, value in node.items():
            if key == "and":
                ok = all(self.matches(sub, record) for sub in value)
            elif key == "or":
                ok = any(self.matches(sub, record) for sub in value)
            elif key == "not":
                ok = not self.matches(value, record)
            elif key == "organization":
                org = self.records["organization"].get(record["organizationId"])  # type: ignore[arg-type]
                ok = org is not None and not org["deleted"] and self.matches(value, org)
            else:
                ok = all(_leaf(record[key], op, raw) for op, raw in value.items())
            if not ok:
                return False
        return True

    def readers(self, user: User, entity: str) -> list[dict[str, Any]]:
        """The grant of each of the user's roles for ``entity`` that includes read."""
        out = []
        for role in user.roles:
            grant = role[entity] if entity in role else role.get("*")
            if grant is not None and "read" in grant["actions"]:
                out.append(grant)
        return out

    def may_read(self, user: User, entity: str) -> bool:
        return bool(self.readers(user, entity))

    def in_scope(self, user: User, scope: str, record: dict[str, Any]) -> bool:
        owner = record["ownerId"]
        if scope == "all":
            return True
        if scope == "own" or user.team is None:  # a user without a team: team scope is own
            return owner == user.id
        return owner is not None and self.users[owner].team == user.team

    def visible(self, user: User, entity: str, include_deleted: bool = False) -> set[int]:
        """Records the user may read (``include_deleted``: their scope, deleted or not, as
        for a record's history and the activities about it)."""
        return {
            rid
            for rid, record in self.records[entity].items()
            if (include_deleted or not record["deleted"])
            and any(
                self.in_scope(user, grant["scope"], record)
                and (not grant.get("filter") or self.matches(grant["filter"], record))
                for grant in self.readers(user, entity)
            )
        }

    def hidden(self, user: User, entity: str) -> set[str]:
        readers = self.readers(user, entity)
        if not readers:
            return set()
        return set.intersection(*(set(g["hidden"]) for g in readers))

    def seen(self, user: User, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` as ``user`` sees it: hidden fields empty."""
        hidden = self.hidden(user, entity)
        return {k: ([] if isinstance(v, list) else None) if k in hidden else v for k, v in record.items()}

    def org_as_seen(self, user: User, contact: dict[str, Any]) -> dict[str, Any] | None:
        """The contact's organization as ``user`` sees it (None: none they may read)."""
        org_id = self.seen(user, "contact", contact)["organizationId"]
        if org_id not in self.visible(user, "organization"):
            return None
        return self.seen(user, "organization", self.records["organization"][org_id])

    def matches_as(self, user: User, node: dict[str, Any], record: dict[str, Any]) -> bool:
        """A client's filter, read as ``user``: the organization hop sees only their records."""
        for key, value in node.items():
            if key == "and":
                ok = all(self.matches_as(user, sub, record) for sub in value)
            elif key == "or":
                ok = any(self.matches_as(user, sub, record) for sub in value)
            elif key == "not":
                ok = not self.matches_as(user, value, record)
            elif key == "organization":
                org = self.org_as_seen(user, record)
                ok = org is not None and self.matches(value, org)
            else:
                seen = self.seen(user, "contact", record)
                ok = all(_leaf(seen[key], op, raw) for op, raw in value.items())
            if not ok:
                return False
        return True

    def visible_activities(self, user: User) -> set[int]:
        """Activities the user's activity grant covers, about a record they may read."""
        seen = {entity: self.visible(user, entity, include_deleted=True) for entity in ("contact", "organization")}
        out = set()
        for aid, activity in self.activities.items():
            grants = [role["activity"] for role in user.roles if "read" in role["activity"]["actions"]]
            if (
                any(self.in_scope(user, g["scope"], activity) for g in grants)
                and activity["subject"] in seen[activity["on"]]
            ):
                out.add(aid)
        return out


# -- writing a world -------------------------------------------------------------------------


async def wipe(kith: Kith) -> None:
    for sql in (
        "DELETE FROM kith_outbox",
        "DELETE FROM kith_audit",
        "DELETE FROM activity",
        "DELETE FROM contact",
        "DELETE FROM organization",
        "DELETE FROM kith_user_role",
        "DELETE FROM kith_user",
        f"DELETE FROM kith_role WHERE source = '{ROLE_SOURCE}'",
    ):
        await kith.db.execute(sql)


async def write(kith: Kith, world: dict[str, Any], team_ids: list[int]) -> Model:
    async with kith.db.write_transaction():  # one commit per example: three times faster
        return await _write(kith, world, team_ids)


async def _write(kith: Kith, world: dict[str, Any], team_ids: list[int]) -> Model:
    await wipe(kith)
    role_names = []
    for n, grants_ in enumerate(world["roles"]):
        role_names.append(f"prop{n}")
        await kith.db.execute(
            "INSERT INTO kith_role (name, description, grants, source) VALUES ({}, '', {}, {})",
            f"prop{n}",
            dumps(grants_),
            ROLE_SOURCE,
        )
    users: dict[int, User] = {}
    user_ids: list[int] = []
    for n, (team, assigned) in enumerate(zip(world["teams"], world["assigned"], strict=True)):
        team_id = None if team is None else team_ids[team]
        created = await kith.records.create("user", {"name": f"U{n}", "email": f"u{n}@example.com", "team": team_id})
        user_ids.append(created["id"])
        users[created["id"]] = User(created["id"], team_id, [world["roles"][r] for r in assigned])
        for r in assigned:
            await kith.db.execute(
                "INSERT INTO kith_user_role (user_id, role) VALUES ({}, {})", created["id"], role_names[r]
            )

    def owner_id(position: int | None) -> int | None:
        return None if position is None else user_ids[position]

    orgs: dict[int, dict[str, Any]] = {}
    org_ids: list[int] = []
    for org in world["orgs"]:
        values = {k: org[k] for k in ("name", "city", "domain", "tags", "size")}
        created = await kith.records.create("organization", {**values, "owner": owner_id(org["owner"])})
        org_ids.append(created["id"])
        orgs[created["id"]] = {
            **values,
            "id": created["id"],
            "ownerId": owner_id(org["owner"]),
            "deleted": org["deleted"],
        }
    contacts: dict[int, dict[str, Any]] = {}
    for n, contact in enumerate(world["contacts"]):
        org_id = None if contact["org"] is None else org_ids[contact["org"]]
        created = await kith.records.create(
            "contact",
            {
                "first_name": f"Person {n}",
                "title": contact["title"],
                "city": contact["city"],
                "lifecycle_stage": contact["lifecycleStage"],
                "phones": contact["phones"],
                "tags": contact["tags"],
                "owner": owner_id(contact["owner"]),
                "organization": org_id,
            },
        )
        contacts[created["id"]] = {
            **{k: contact[k] for k in ("title", "city", "lifecycleStage", "phones", "tags", "deleted")},
            "firstName": f"Person {n}",
            "id": created["id"],
            "ownerId": owner_id(contact["owner"]),
            "organizationId": org_id,
        }
    model = Model(users, orgs, contacts)
    ids = {"contact": list(contacts), "organization": org_ids}
    model.looked_up = {entity: [ids[entity][n] for n in world["looked_up"][entity]] for entity in ids}
    for activity in world["activities"]:
        subject = ids[activity["on"]][activity["index"] % len(ids[activity["on"]])]
        created = await kith.records.create(
            "activity",
            {
                "kind": "note",
                "subject": "Met",
                "subject_type": activity["on"],
                "subject_id": subject,
                "owner": owner_id(activity["owner"]),
            },
        )
        model.activities[created["id"]] = {
            "on": activity["on"],
            "subject": subject,
            "ownerId": owner_id(activity["owner"]),
        }
    model.checks = {key: world[key] for key in ("relation_filter", "relation_sort", "grouping", "search")}
    # Deleted last: nothing can be linked to a record already deleted.
    for entity in ("contact", "organization"):
        for record_id, record in model.records[entity].items():
            if record["deleted"]:
                await kith.records.delete(entity, record_id)
    return model


# -- what GraphQL should return ------------------------------------------------------------


def _shown(field: str, value: Any) -> Any:
    """A value as GraphQL shows it (ids as strings)."""
    return str(value) if field.endswith("Id") and value is not None else value


def expected_org(model: Model, user: User, org_id: int) -> dict[str, Any]:
    org = model.records["organization"][org_id]
    hidden = model.hidden(user, "organization")
    return {"id": str(org_id), **{f: "<hidden>" if f in hidden else _shown(f, org[f]) for f in ORG_FIELDS}}


def expected_contact(model: Model, user: User, contact_id: int, with_org: bool) -> dict[str, Any]:
    contact = model.records["contact"][contact_id]
    hidden = model.hidden(user, "contact")
    node = {"id": str(contact_id), **{f: "<hidden>" if f in hidden else _shown(f, contact[f]) for f in CONTACT_FIELDS}}
    if with_org:
        org_id = contact["organizationId"]
        readable = org_id in model.visible(user, "organization") and "organizationId" not in hidden
        node["organization"] = expected_org(model, user, org_id) if readable else None
    return node


def received(node: dict[str, Any] | None, hidden: set[str]) -> dict[str, Any] | None:
    """``node`` with hidden fields replaced by a marker, after checking they are empty."""
    if node is None:
        return None
    out = dict(node)
    for name in hidden:
        assert node[name] in (None, []), f"hidden field {name} shows {node[name]!r}"
        out[name] = "<hidden>"
    return out


ORG_SELECTION = "id " + " ".join(ORG_FIELDS)
CONTACTS_QUERY = (
    "{ contacts(first: 100) { totalCount nodes { id "
    + " ".join(CONTACT_FIELDS)
    + f" organization {{ {ORG_SELECTION} }} }} }} }}"
)
ORGS_QUERY = f"{{ organizations(first: 100) {{ totalCount nodes {{ {ORG_SELECTION} }} }} }}"


def forbidden(body: dict[str, Any]) -> bool:
    return body["data"] is None and body["errors"][0]["extensions"]["errors"][0]["code"] == "forbidden"


async def check_user(kith: Kith, model: Model, user: User, foreign_cursor: str | None = None) -> str | None:
    principal = await kith.auth.principal_for_user(user.id, "token")
    contacts = model.records["contact"]
    orgs = model.records["organization"]
    hidden_c, hidden_o = model.hidden(user, "contact"), model.hidden(user, "organization")

    # Lists and counts.
    body = await execute(kith, CONTACTS_QUERY, principal=principal)
    if not model.may_read(user, "contact"):
        assert forbidden(body), body
    else:
        assert "errors" not in body, body["errors"]
        page = body["data"]["contacts"]
        expected = {str(cid): expected_contact(model, user, cid, True) for cid in model.visible(user, "contact")}
        got = {}
        for node in page["nodes"]:
            got[node["id"]] = received(node, hidden_c)
            if node["organization"] is not None:
                got[node["id"]]["organization"] = received(node["organization"], hidden_o)
        assert sorted(got, key=int) == sorted(expected, key=int), "contacts listed"
        assert got == expected
        assert page["totalCount"] == len(expected)

    body = await execute(kith, ORGS_QUERY, principal=principal)
    if not model.may_read(user, "organization"):
        assert forbidden(body), body
    else:
        assert "errors" not in body, body["errors"]
        page = body["data"]["organizations"]
        expected = {str(oid): expected_org(model, user, oid) for oid in model.visible(user, "organization")}
        got = {node["id"]: received(node, hidden_o) for node in page["nodes"]}
        assert sorted(got, key=int) == sorted(expected, key=int), "organizations listed"
        assert got == expected
        assert page["totalCount"] == len(expected)

    # Look-ups by id: a sample of the records, live or deleted, and one that never existed.
    missing = max([*contacts, *orgs]) + 1
    wanted_c, wanted_o = [*model.looked_up["contact"], missing], [*model.looked_up["organization"], missing]
    lookups = [f'c{cid}: contact(id: "{cid}") {{ id {" ".join(CONTACT_FIELDS)} }}' for cid in wanted_c]
    lookups += [f'o{oid}: organization(id: "{oid}") {{ {ORG_SELECTION} }}' for oid in wanted_o]
    body = await execute(kith, "{ " + " ".join(lookups) + " }", principal=principal)
    assert "errors" not in body, body["errors"]
    got = {
        key: received(value, hidden_c if key[0] == "c" else hidden_o)
        for key, value in body["data"].items()
        if value is not None
    }
    expected = {f"c{cid}": expected_contact(model, user, cid, False) for cid in model.visible(user, "contact")}
    expected |= {f"o{oid}": expected_org(model, user, oid) for oid in model.visible(user, "organization")}
    wanted = {f"c{cid}" for cid in wanted_c} | {f"o{oid}" for oid in wanted_o}
    assert got == {key: value for key, value in expected.items() if key in wanted}
    return await check_side_paths(kith, model, user, principal, foreign_cursor)


def refused(body: dict[str, Any], code: str = "forbidden") -> bool:
    """A BAD_USER_INPUT answer whose first error has ``code``, with no data leaked."""
    if "errors" not in body or body["data"] is not None:
        return False
    return any(e["code"] == code for e in body["errors"][0]["extensions"]["errors"])


async def check_side_paths(kith: Kith, model: Model, user: User, principal: Any, foreign: str | None) -> str | None:
    """Relations in filters and sorts, cursors, search, aggregates, audit and activities;
    returns a cursor of this user's, for the next user to try."""
    hidden_c = model.hidden(user, "contact")
    reads = model.may_read(user, "contact")
    visible = model.visible(user, "contact")
    contacts = model.records["contact"]
    checks = model.checks

    # A filter through the organization.
    flt = checks["relation_filter"]
    body = await execute(
        kith,
        "query($f: ContactFilter) { contacts(first: 100, filter: $f) { totalCount nodes { id } } }",
        {"f": flt},
        principal=principal,
    )
    if not reads:
        assert refused(body), (flt, body)
    else:
        assert "errors" not in body, body["errors"]
        expected = {str(c) for c in visible if model.matches_as(user, flt, contacts[c])}
        assert {n["id"] for n in body["data"]["contacts"]["nodes"]} == expected, flt
        assert body["data"]["contacts"]["totalCount"] == len(expected)

    # A sort through the organization, one page and then page by page with cursors.
    field = checks["relation_sort"]
    order = f"orderBy: [{{organization: {{{field}: ASC}}}}]"
    body = await execute(kith, f"{{ contacts(first: 100, {order}) {{ nodes {{ id }} }} }}", principal=principal)
    cursor = None
    if not reads:
        assert refused(body), (field, body)
    else:
        assert "errors" not in body, body["errors"]

        def key(cid: int) -> tuple[Any, ...]:
            org = model.org_as_seen(user, contacts[cid])
            value = None if org is None else org[field]
            return (value is None, value if value is not None else 0, cid)

        expected_order = [str(c) for c in sorted(visible, key=key)]
        assert [n["id"] for n in body["data"]["contacts"]["nodes"]] == expected_order, field
        paged: list[str] = []
        after = None
        while True:
            page = await execute(
                kith,
                f"query($a: String) {{ contacts(first: 4, after: $a, {order}) "
                "{ nodes { id } pageInfo { hasNextPage endCursor } } }",
                {"a": after},
                principal=principal,
            )
            assert "errors" not in page, page["errors"]
            paged += [n["id"] for n in page["data"]["contacts"]["nodes"]]
            info = page["data"]["contacts"]["pageInfo"]
            if not info["hasNextPage"]:
                break
            after = cursor = info["endCursor"]
        assert paged == expected_order
        if cursor is not None:
            for bad in (tampered(cursor), "x" + cursor, foreign):
                if bad is None:
                    continue
                body = await execute(
                    kith, f'{{ contacts(first: 4, after: "{bad}", {order}) {{ nodes {{ id }} }} }}', principal=principal
                )
                assert refused(body, "invalid"), body

    # Search: only fields the user may read.
    text = checks["search"]
    body = await execute(
        kith, f'{{ contacts(first: 100, search: "{text}") {{ nodes {{ id }} }} }}', principal=principal
    )
    if not reads:
        assert refused(body), body
    else:
        assert "errors" not in body, body["errors"]
        expected = {
            str(c)
            for c in visible
            if any(
                name not in hidden_c and contacts[c][name] and text.lower() in contacts[c][name].lower()
                for name in ("title", "firstName")
            )
        }
        assert {n["id"] for n in body["data"]["contacts"]["nodes"]} == expected, text

    # Aggregates, under every spelling of the field.
    spelling = checks["grouping"]
    canonical = {
        "lifecycle_stage": "lifecycleStage",
        "organization": "organizationId",
        "organization_id": "organizationId",
    }
    name = canonical.get(spelling, spelling)
    body = await execute(kith, f'{{ contactsAggregate(groupBy: ["{spelling}"]) {{ key count }} }}', principal=principal)
    if not reads:
        assert refused(body), (spelling, body)
    else:
        assert "errors" not in body, body["errors"]
        counts: dict[Any, int] = {}
        for c in visible:
            value = model.seen(user, "contact", contacts[c])[name]
            counts[value] = counts.get(value, 0) + 1
        got = {group["key"][spelling]: group["count"] for group in body["data"]["contactsAggregate"]}
        assert got == counts, spelling

    # Audit history of a few records: the fields the user may read, no others.
    for cid in model.looked_up["contact"][:3]:
        body = await execute(
            kith, f'{{ auditEntries(entity: "contact", recordId: "{cid}") {{ action changes }} }}', principal=principal
        )
        if cid not in model.visible(user, "contact", include_deleted=True):
            assert "errors" in body and body["data"] is None, body
            continue
        assert "errors" not in body, body["errors"]
        created = next(e for e in body["data"]["auditEntries"] if e["action"] == "create")
        for entry in body["data"]["auditEntries"]:
            assert not set(entry["changes"]) & hidden_c, entry
        stored = contacts[cid]
        expected_fields = {
            f
            for f in ("firstName", "title", "city", "lifecycleStage", "phones", "tags", "organizationId", "ownerId")
            if stored.get(f) not in (None, [])
        }
        assert set(created["changes"]) == expected_fields - hidden_c, (cid, created["changes"])

    # Activities: their own grant and the record they are about.
    body = await execute(kith, "{ activities(first: 100) { totalCount nodes { id } } }", principal=principal)
    grants = [role["activity"] for role in user.roles if "read" in role["activity"]["actions"]]
    if not grants:
        assert refused(body), body
    else:
        assert "errors" not in body, body["errors"]
        expected = {str(a) for a in model.visible_activities(user)}
        assert {n["id"] for n in body["data"]["activities"]["nodes"]} == expected
        assert body["data"]["activities"]["totalCount"] == len(expected)
    await check_payloads_and_dry_runs(kith, model, user)
    return cursor


async def check_payloads_and_dry_runs(kith: Kith, model: Model, user: User) -> None:
    """What automations send and show on the user's behalf (webhook deliveries and rules
    with ``run_as``) goes through the same model as what GraphQL shows them."""
    principal = await kith.auth.principal_for_user(user.id, "token")
    permissions = await permissions_for(kith, principal)
    hidden_c = model.hidden(user, "contact")
    scoped = model.visible(user, "contact", include_deleted=True)
    rows = await kith.db.execute(
        "SELECT record_id, payload FROM kith_outbox WHERE event = 'contact.created' ORDER BY id"
    )
    for row in rows:
        payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
        view = await visible_event(kith, permissions, "contact", row["record_id"], payload, "contact.created")
        cid = int(row["record_id"])
        if not model.may_read(user, "contact") or cid not in scoped:
            assert view is None, (cid, view)
            continue
        assert view is not None, cid
        stored = model.records["contact"][cid]
        record = view["record"]
        for name, column in (("title", "title"), ("city", "city"), ("phones", "phones"), ("tags", "tags")):
            expected = ([] if isinstance(stored[name], list) else None) if name in hidden_c else stored[name]
            assert record[column] == expected, (cid, name, record[column])
        assert not set(view["changes"]) & hidden_c and not set(view["changed"]) & hidden_c, view

    rule = {
        "name": f"as-u{user.id}",
        "trigger": {"event": "contact.updated"},
        "run_as": f"u{list(model.users).index(user.id)}@example.com",
        "actions": [{"add_tag": {"tag": "{{ record.title }}/{{ record.city }}"}}],
    }
    if not model.may_read(user, "contact"):
        with pytest.raises(ValidationFailed):
            await dry_run(kith, rule, limit=100)
        return
    total, items = await dry_run(kith, rule, limit=100)
    visible = model.visible(user, "contact")
    assert total == len(visible) and {item.record_id for item in items} == visible
    for item in items:
        seen = model.seen(user, "contact", model.records["contact"][item.record_id])
        assert item.actions[0].startswith(f"add tag '{seen['title']}/{seen['city']}'"), (item.actions, seen)


async def check_links(kith: Kith, model: Model, user: User) -> None:
    """Linking a new contact to an organization the user may not read answers exactly as
    linking one that does not exist (run last: successful links add contacts)."""
    principal = await kith.auth.principal_for_user(user.id, "token")
    missing = max(model.records["organization"]) + 1000
    mutation = (
        'mutation($o: ID) { createContact(input: {firstName: "Link", organizationId: $o}) '
        "{ contact { id } errors { field code } } }"
    )

    async def errors(org_id: int) -> Any:
        body = await execute(kith, mutation, {"o": str(org_id)}, principal=principal)
        if "errors" in body:  # refused before the mutation ran (no create grant at all)
            return [e["extensions"]["errors"] for e in body["errors"]]
        return body["data"]["createContact"]["errors"]

    unknown = await errors(missing)
    readable = model.visible(user, "organization")
    for org_id in model.records["organization"]:
        answer = await errors(org_id)
        if org_id in readable:
            assert {"field": "organizationId", "code": "not_found"} not in answer, (org_id, answer)
        else:
            assert answer == unknown, (org_id, answer, unknown)


# -- the property ------------------------------------------------------------------------------


def test_graphql_shows_each_user_exactly_what_the_model_allows(kith_database_url: str) -> None:
    # Each refused list would log a traceback (strawberry logs every GraphQL error); the
    # assertions show the errors themselves.
    strawberry_log = logging.getLogger("strawberry.execution")
    was_disabled, strawberry_log.disabled = strawberry_log.disabled, True
    loop = asyncio.new_event_loop()
    try:
        kith = loop.run_until_complete(Kith.open(load_settings(database_url=kith_database_url)))
        try:
            team_ids = [loop.run_until_complete(kith.records.create("team", {"name": name}))["id"] for name in TEAMS]

            async def run(world: dict[str, Any]) -> None:
                model = await write(kith, world, team_ids)
                cursor = None
                for user in model.users.values():
                    cursor = await check_user(kith, model, user, cursor) or cursor
                for user in model.users.values():
                    await check_links(kith, model, user)

            @settings(
                max_examples=100,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(worlds())
            def check(world: dict[str, Any]) -> None:
                loop.run_until_complete(run(world))

            check()
        finally:
            loop.run_until_complete(kith.close())
    finally:
        loop.close()
        strawberry_log.disabled = was_disabled
