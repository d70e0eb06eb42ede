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
* a user with no read grant on an entity gets a ``forbidden`` error for its list.

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
import logging
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith.core.records.encoding import dumps
from kith.core.runtime import Kith
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
    """One role: a grant for one, two or all of contact, organization and ``*``."""
    names = draw(st.sampled_from(ROLE_SHAPES))
    return {name: draw(grants(name)) for name in names}


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

    def visible(self, user: User, entity: str) -> set[int]:
        return {
            rid
            for rid, record in self.records[entity].items()
            if not record["deleted"]
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


# -- writing a world -------------------------------------------------------------------------


async def wipe(kith: Kith) -> None:
    for sql in (
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
    for contact in world["contacts"]:
        org_id = None if contact["org"] is None else org_ids[contact["org"]]
        created = await kith.records.create(
            "contact",
            {
                "last_name": "Doe",  # a contact needs a name, an email or a phone; not part of the model
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
            "id": created["id"],
            "ownerId": owner_id(contact["owner"]),
            "organizationId": org_id,
        }
        if contact["deleted"]:
            await kith.records.delete("contact", created["id"])
    # Deleted last: a contact cannot be linked to an organization already deleted.
    for org_id, org in orgs.items():
        if org["deleted"]:
            await kith.records.delete("organization", org_id)
    model = Model(users, orgs, contacts)
    ids = {"contact": list(contacts), "organization": org_ids}
    model.looked_up = {entity: [ids[entity][n] for n in world["looked_up"][entity]] for entity in ids}
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


async def check_user(kith: Kith, model: Model, user: User) -> None:
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
                for user in model.users.values():
                    await check_user(kith, model, user)

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
