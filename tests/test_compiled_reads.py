"""Compiled reads answer exactly what the general executor answers.

A seeded generator draws reads of generated fields — lists with filters, sorts, search,
cursors and every connection part; point reads; forward relations, reverse lists and
timelines nested three deep; custom fields of every stored type — and runs each one for
users whose roles scope rows and hide fields, through both paths.  The two response
bodies must be the same bytes.  Most drawn reads must be served by the compiled path
(else this would compare the general executor with itself), and a compiled read must
cost one statement.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import orjson
import pytest

from kith.core.records.encoding import dumps
from kith.core.security.auth import SYSTEM
from kith.core.storage.database import count_statements
from kith.core.web.app import answer
from kith.sdk.testing import make_activity, make_contact, make_organization, make_user

CUSTOM = {
    "tier": ("integer", ()),
    "score": ("decimal", ()),
    "since": ("datetime", ()),
    "born": ("date", ()),
    "vip": ("boolean", ()),
    "segment": ("single_select", ("smb", "mid", "ent")),
    "topics": ("multi_select", ("ai", "crm", "erp")),
    "site": ("url", ()),
}


async def _world(kith: Any, rng: random.Random) -> dict[str, Any]:
    """Organizations, contacts and activities with every kind of value (and gaps), three
    users and the roles that restrict two of them."""
    for name, (kind, choices) in CUSTOM.items():
        await kith.custom_fields.add("contact", name, kind, choices=choices, indexed=name == "tier")
    await kith.custom_fields.add("organization", "rating", "integer")
    await kith.refresh_if_changed(force=True)
    red = await kith.records.create("team", {"name": "Red"})
    rep = await make_user(kith, email="rep@example.com", name="Rep", team=red["id"])
    mate = await make_user(kith, email="mate@example.com", name="Mate", team=red["id"])
    outsider = await make_user(kith, email="out@example.com", name="Out")
    users = [rep, mate, outsider]
    orgs = []
    for i, name in enumerate(["Acme", "Globex", "Initech", "Umbrella", "Ümlaut & Co"]):
        org = await make_organization(
            kith,
            name=name,
            size=rng.choice([None, 5, 50, 500]),
            city=rng.choice([None, "Oslo", "Paris"]),
            owner=rng.choice(users)["id"],
            custom={"rating": i} if i % 2 else {},
        )
        orgs.append(org)
    contacts = []
    for i in range(24):
        custom: dict[str, Any] = {}
        if rng.random() < 0.7:
            custom["tier"] = rng.randint(1, 4)
        if rng.random() < 0.6:
            custom["score"] = rng.choice(["1.50", "20", "0.125", "-3"])
        if rng.random() < 0.5:
            custom["since"] = rng.choice(["2026-01-02T03:04:05Z", "2025-06-01T00:00:00.250000+02:00"])
        if rng.random() < 0.5:
            custom["born"] = rng.choice(["1990-02-03", "2001-12-31"])
        if rng.random() < 0.5:
            custom["vip"] = rng.random() < 0.5
        if rng.random() < 0.6:
            custom["segment"] = rng.choice(["smb", "mid", "ent"])
        if rng.random() < 0.5:
            custom["topics"] = rng.sample(["ai", "crm", "erp"], rng.randint(0, 2))
        if rng.random() < 0.3:
            custom["site"] = "https://example.com/" + str(i)
        contact = await make_contact(
            kith,
            first_name=rng.choice(["Ann", "Bob", "Cy", "Dee", "Éva", None]),
            last_name=rng.choice(["Lee", "Ng", "O'Hara", "Zed"]),
            title=rng.choice([None, "CEO", "CTO", "Buyer"]),
            city=rng.choice([None, "Oslo", "Paris", "Lyon"]),
            lifecycle_stage=rng.choice(["lead", "opportunity", "customer"]),
            emails=rng.choice([[], [f"p{i}@example.com"], [f"a{i}@example.com", f"b{i}@example.org"]]),
            tags=rng.choice([[], ["vip"], ["vip", "beta"]]),
            organization=rng.choice([None, *[o["id"] for o in orgs]]),
            owner=rng.choice([None, *[u["id"] for u in users]]),
            custom=custom,
        )
        contacts.append(contact)
        for n in range(rng.randint(0, 4)):
            seconds = rng.choice([0, 0, 30, 3600])
            micro = rng.choice([0, 250000])
            occurred = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds, microseconds=micro)
            await make_activity(kith, contact, subject=f"note {n}", occurred_at=occurred)
    for contact in rng.sample(contacts, 3):
        await kith.records.delete("contact", contact["id"])
    await kith.records.delete("organization", orgs[3]["id"])
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('rep', '', {}, 'admin')",
        dumps(
            {
                "contact": {"actions": ["read"], "scope": "own", "hidden": ["title", "tags", "customFields.score"]},
                "organization": {"actions": ["read"], "scope": "all", "hidden": ["city"]},
                "activity": {"actions": ["read"], "scope": "all"},
                "user": {"actions": ["read"], "scope": "all"},
            }
        ),
    )
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('team', '', {}, 'admin')",
        dumps(
            {
                "contact": {
                    "actions": ["read"],
                    "scope": "team",
                    "filter": {"lifecycleStage": {"ne": "lead"}},
                    "hidden": ["organizationId", "customFields.topics"],
                },
                "organization": {"actions": ["read"], "scope": "own"},
            }
        ),
    )
    await kith.auth.grant_role(rep["id"], "rep")
    await kith.auth.grant_role(mate["id"], "team")
    return {
        "viewers": [
            SYSTEM,
            await kith.auth.principal_for_user(rep["id"], "token"),
            await kith.auth.principal_for_user(mate["id"], "token"),
        ],
        "contacts": contacts,
        "orgs": orgs,
    }


# -- drawing reads ---------------------------------------------------------------------------

SCALARS = {
    "Contact": ["id", "firstName", "lastName", "emails", "phones", "title", "city", "lifecycleStage", "tags",
                "createdAt", "updatedAt", "deletedAt", "version", "organizationId", "ownerId", "__typename"],
    "Organization": ["id", "name", "domain", "size", "city", "tags", "ownerId", "createdAt", "__typename"],
    "Activity": ["id", "kind", "subject", "body", "subjectType", "subjectId", "occurredAt", "dueAt", "status"],
    "User": ["id", "email", "name", "teamId", "isActive"],
}  # fmt: skip
CUSTOM_SELECTION = {
    "Contact": ["tier", "score", "since", "born", "vip", "segment", "topics", "site", "__typename"],
    "Organization": ["rating"],
}
NESTED = {
    "Contact": [("organization", "Organization", ""), ("owner", "User", ""), ("timeline", "Activity", "list")],
    "Organization": [("contacts", "Contact", "reverse"), ("owner", "User", ""), ("timeline", "Activity", "list")],
    "Activity": [("owner", "User", "")],
    "User": [("contacts", "Contact", "reverse"), ("organizations", "Organization", "reverse")],
}
FILTERS = {
    "Contact": [
        '{lastName: {eq: "Lee"}}',
        '{title: {in: ["CEO", "CTO"]}}',
        "{customFields: {tier: {gte: 2}}}",
        '{customFields: {segment: {ne: "smb"}}}',
        '{or: [{city: {eq: "Oslo"}}, {customFields: {vip: {eq: true}}}]}',
        '{organization: {name: {startsWith: "A"}}}',
        '{not: {lifecycleStage: {eq: "lead"}}}',
        '{tags: {contains: "vip"}}',
        "{customFields: {score: {lt: 10}}}",
        '{customFields: {topics: {contains: "ai"}}}',
    ],
    "Organization": [
        "{size: {gte: 50}}",
        '{contacts: {some: {title: {eq: "CEO"}}}}',
        "{contacts: {none: {}}}",
        "{city: {isNull: false}}",
    ],
}
ORDERS = {
    "Contact": [
        "[{lastName: ASC}]",
        "[{createdAt: DESC}]",
        "[{customFields: {tier: DESC}}]",
        "[{customFields: {score: ASC}}, {firstName: DESC}]",
        "[{organization: {name: ASC}}]",
        "[{title: DESC}]",
        "[{customFields: {since: ASC}}]",
    ],
    "Organization": ["[{name: DESC}]", "[{size: ASC}]"],
}


def _selection(rng: random.Random, type_name: str, depth: int) -> str:
    parts = rng.sample(SCALARS[type_name], rng.randint(1, 5))
    if type_name in CUSTOM_SELECTION and rng.random() < 0.6:
        fields = CUSTOM_SELECTION[type_name]
        parts.append("customFields { " + " ".join(rng.sample(fields, rng.randint(1, min(4, len(fields))))) + " }")
    if depth < 3:
        for name, target, kind in NESTED[type_name]:
            if rng.random() >= 0.35:
                continue
            args = ""
            if kind == "list":
                args = f"(first: {rng.choice([1, 3, 20])})"
            elif kind == "reverse":
                options = [f"first: {rng.choice([0, 2, 5])}"]
                if target in FILTERS and rng.random() < 0.4:
                    options.append("filter: " + rng.choice(FILTERS[target]))
                if target in ORDERS and rng.random() < 0.4:
                    options.append("orderBy: " + rng.choice(ORDERS[target]))
                args = "(" + ", ".join(rng.sample(options, len(options))) + ")"
            alias = rng.choice(["", "", f"{name}Also: "])
            parts.append(f"{alias}{name}{args} {{ {_selection(rng, target, depth + 1)} }}")
    rng.shuffle(parts)
    return " ".join(parts)


def _list_read(rng: random.Random, type_name: str, field: str) -> str:
    args = [f"first: {rng.choice([0, 1, 4, 10, 100])}"]
    if type_name in FILTERS and rng.random() < 0.5:
        args.append("filter: " + rng.choice(FILTERS[type_name]))
    if type_name in ORDERS and rng.random() < 0.5:
        args.append("orderBy: " + rng.choice(ORDERS[type_name]))
    if rng.random() < 0.15:
        args.append('search: "' + rng.choice(["ann", "lee", "acme", "é"]) + '"')
    parts = []
    if rng.random() < 0.7:
        cursor = "cursor " if rng.random() < 0.5 else ""
        parts.append(f"edges {{ {cursor}node {{ {_selection(rng, type_name, 1)} }} }}")
    if rng.random() < 0.4:
        parts.append(f"nodes {{ {_selection(rng, type_name, 1)} }}")
    if rng.random() < 0.5:
        info = rng.sample(["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"], rng.randint(1, 4))
        parts.append("pageInfo { " + " ".join(info) + " }")
    if rng.random() < 0.5 or not parts:
        parts.append("totalCount")
    return f"{field}({', '.join(args)}) {{ {' '.join(parts)} }}"


GROUPS = ["city", "lifecycleStage", "customFields.tier", "customFields.segment", "title", "organization",
          "customFields.vip", "createdAt", "customFields.since", "customFields.born", "customFields.score"]  # fmt: skip
MEASURES = ["customFields.tier", "customFields.score"]


def _aggregate_read(rng: random.Random) -> str:
    args = []
    if rng.random() < 0.8:
        args.append("groupBy: " + orjson.dumps(rng.sample(GROUPS, rng.randint(1, 2))).decode())
    if rng.random() < 0.3:
        args.append(
            f"bucket: {{field: {rng.choice(['createdAt', 'updatedAt'])!r}, unit: {rng.choice(['DAY', 'MONTH', 'YEAR'])}}}".replace(
                "'", '"'
            )
        )
    for measure in ("sum", "avg"):
        if rng.random() < 0.6:
            args.append(f"{measure}: " + orjson.dumps(rng.sample(MEASURES, rng.randint(1, 2))).decode())
    if rng.random() < 0.4:
        args.append("filter: " + rng.choice(FILTERS["Contact"]))
    parts = rng.sample(["key", "count", "sums", "averages", "__typename"], rng.randint(1, 4))
    return f"contactsAggregate{'(' + ', '.join(args) + ')' if args else ''} {{ {' '.join(parts)} }}"


def draw_read(rng: random.Random, ids: dict[str, list[int]]) -> str:
    roots = []
    for index in range(rng.choice([1, 1, 2])):
        alias = f"r{index}: "
        kind = rng.random()
        if kind < 0.1:
            roots.append(alias + _aggregate_read(rng))
        elif kind < 0.45:
            roots.append(alias + _list_read(rng, "Contact", "contacts"))
        elif kind < 0.7:
            roots.append(alias + _list_read(rng, "Organization", "organizations"))
        elif kind < 0.85:
            record = rng.choice(ids["contact"])
            roots.append(f'{alias}contact(id: "{record}") {{ {_selection(rng, "Contact", 1)} }}')
        else:
            record = rng.choice(ids["organization"])
            roots.append(f"{alias}organization(id: {record}) {{ {_selection(rng, 'Organization', 1)} }}")
    return "{ " + " ".join(roots) + " }"


def _difference(query: str, principal: Any, compiled: bytes, general: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(compiled, general, strict=False)) if a != b), 0)
    return f"{query}\nas {principal.name}\ncompiled: …{compiled[at - 80 : at + 80]!r}\ngeneral:  …{general[at - 80 : at + 80]!r}"


async def _both(kith: Any, query: str, variables: dict[str, Any], principal: Any) -> tuple[bytes, bytes, bool]:
    served = kith.schema.compiled.served
    compiled = await answer(kith, query, variables, None, None, principal)
    was_compiled = kith.schema.compiled.served > served
    general = await answer(kith, query, variables, None, None, principal, compiled=False)
    return compiled, general, was_compiled


async def test_compiled_and_general_reads_answer_the_same_bytes(kith: Any) -> None:
    rng = random.Random(20261203)
    world = await _world(kith, rng)
    ids = {
        "contact": [c["id"] for c in world["contacts"]] + [999999],
        "organization": [o["id"] for o in world["orgs"]],
    }
    compiled_count = 0
    total = 0
    for _ in range(160):
        query = draw_read(rng, ids)
        for principal in world["viewers"]:
            compiled, general, was_compiled = await _both(kith, query, {}, principal)
            assert compiled == general, _difference(query, principal, compiled, general)
            body = orjson.loads(general)
            assert "errors" not in body, (query, body["errors"])
            total += 1
            compiled_count += was_compiled
    # every drawn read is one the compiler covers; SQLite's parser refuses the few nested
    # deepest (about 100 grammar levels), which the general executor then answers
    if kith.db.dialect.is_postgres:
        assert compiled_count == total
    else:
        assert compiled_count >= total * 0.98


async def test_cursors_from_either_path_page_through_the_same_list(kith: Any) -> None:
    rng = random.Random(7)
    world = await _world(kith, rng)
    query = """query($after: String, $order: [ContactOrderBy!]) {
      contacts(first: 4, after: $after, orderBy: $order) {
        edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount
      }
    }"""
    for order in ORDER_VARIABLES:
        for principal in world["viewers"]:
            after = None
            seen: list[str] = []
            while True:
                compiled, general, was_compiled = await _both(kith, query, {"after": after, "order": order}, principal)
                assert was_compiled and compiled == general, (order, principal.name)
                page = orjson.loads(compiled)["data"]["contacts"]
                seen += [edge["node"]["id"] for edge in page["edges"]]
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert len(seen) == len(set(seen)) == page["totalCount"]


ORDER_VARIABLES = [
    None,
    [{"createdAt": "DESC"}],
    [{"customFields": {"since": "DESC"}}],
    [{"customFields": {"score": "ASC"}}],
    [{"customFields": {"vip": "DESC"}}],
    [{"title": "ASC"}, {"firstName": "DESC"}],
    [{"organization": {"name": "DESC"}}],
]


async def test_a_compiled_read_is_one_statement_and_variables_reuse_it(make_kith: Any) -> None:
    kith = await make_kith(schema_check_interval=3600)  # no schema-version check inside the counted reads
    world = await _world(kith, random.Random(3))
    query = """query($id: ID!, $f: ContactFilter) {
      contact(id: $id) { id firstName organization { name contacts(first: 3) { id } } timeline { subject } }
      contacts(first: 5, filter: $f) { edges { cursor node { id customFields { tier } } } totalCount }
    }"""
    compiled = kith.schema.compiled
    compilations = compiled.compilations
    for contact in world["contacts"][:5]:
        variables = {"id": str(contact["id"]), "f": {"customFields": {"tier": {"gte": 2}}}}
        async with count_statements() as counter:
            served = compiled.served
            await answer(kith, query, variables, None, None, SYSTEM)
        assert compiled.served == served + 1
        assert counter.count == 1
        body = orjson.loads(await answer(kith, query, variables, None, None, SYSTEM))
        assert body["data"]["contact"]["id"] == str(contact["id"])
    assert compiled.compilations == compilations + 1  # the point read's $id is a parameter, read per request
    bad = orjson.loads(await answer(kith, query, {"id": "x1", "f": None}, None, None, SYSTEM))
    assert bad["errors"][0]["extensions"]["errors"][0]["field"] == "$id"


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",  # introspection
        "{ contacts { nodes { id @include(if: false) firstName } } }",  # a directive
        '{ contactsAggregate(groupBy: ["nope"]) { key count } }',  # an aggregate of a field that is not there
        "{ contacts(first: 1000) { totalCount } }",  # refused: the general executor says why
        '{ contacts(after: "forged") { totalCount } }',
        "{ contacts(filter: {nope: {eq: 1}}) { totalCount } }",
    ],
)
async def test_reads_the_compiler_does_not_cover_are_answered_by_the_general_executor(kith: Any, query: str) -> None:
    served = kith.schema.compiled.served
    compiled = await answer(kith, query, {}, None, None, SYSTEM)
    general = await answer(kith, query, {}, None, None, SYSTEM, compiled=False)
    assert kith.schema.compiled.served == served
    assert compiled == general


MIXED = [
    # a field the compiler does not cover beside generated ones: one response, in order
    "{ me { email via } contacts(first: 3) { totalCount nodes { id } } }",
    # variables and fragments used by one part or the other
    """query Mixed($n: Int!, $who: String) {
      first: contacts(first: $n) { nodes { ...Names } }
      auditEntries(actor: $who, first: 2) { action }
      contact(id: 1) { ...Names }
    }
    fragment Names on Contact { firstName lastName }""",
    # an error in the general part keeps its line and column
    """{
      contacts(first: 2) { totalCount }
      auditEntries(entity: "contact") { action }
    }""",
    # a refused aggregate beside a list
    '{ contacts(first: 2) { nodes { id } } contactsAggregate(groupBy: ["nope"]) { key count } }',
]


@pytest.mark.parametrize("query", MIXED)
async def test_a_read_mixing_covered_and_other_fields_is_answered_in_one_response(kith: Any, query: str) -> None:
    world = await _world(kith, random.Random(5))
    variables = {"n": 2, "who": "nobody"}
    for principal in world["viewers"]:
        served = kith.schema.compiled.served
        compiled = await answer(kith, query, variables, None, None, principal)
        general = await answer(kith, query, variables, None, None, principal, compiled=False)
        assert compiled == general, _difference(query, principal, compiled, general)
        assert kith.schema.compiled.served == served + 1  # the generated part was compiled


async def test_plugin_entities_and_money_answer_the_same_bytes(make_kith: Any) -> None:
    """A plugin's entity (sales deals): money in currencies of 0, 2 and 3 decimals,
    dates, relations to core records and back, compiled as the core's are."""
    kith = await make_kith(enable=["sales"])
    acme = await make_organization(kith, name="Acme")
    amounts = [("10", "USD"), ("0.05", "EUR"), ("1250", "JPY"), ("12.345", "KWD"), ("99999.99", "EUR"), None]
    for index, amount in enumerate(amounts):
        values: dict[str, Any] = {"name": f"Deal {index}", "organization": acme["id"] if index % 2 else None}
        if amount is not None:
            values["amount"] = {"amount": amount[0], "currency": amount[1]}
        if index % 3 == 0:
            values["expected_close"] = "2026-06-30"
        await kith.records.create("deal", values)
    queries = [
        "{ deals(first: 10, orderBy: [{amount: DESC}]) { edges { cursor node { name amount { amount currency } "
        "expectedClose closedAt stage { name } organization { name } } } pageInfo { endCursor } } }",
        "{ organizations { nodes { name deals(first: 5) { name amount { currency amount __typename } } } } }",
        '{ dealsAggregate(groupBy: ["stage"]) { key count } }',
        "{ deals(filter: {amount: {amount: {gte: 10}}}) { totalCount nodes { name } } }",
    ]
    for query in queries:
        served = kith.schema.compiled.served
        compiled = await answer(kith, query, {}, None, None, SYSTEM)
        general = await answer(kith, query, {}, None, None, SYSTEM, compiled=False)
        assert compiled == general, _difference(query, SYSTEM, compiled, general)
        assert kith.schema.compiled.served == served + 1, query
        assert "errors" not in orjson.loads(compiled)
    amounts_seen = orjson.loads(await answer(kith, queries[0], {}, None, None, SYSTEM))["data"]["deals"]["edges"]
    assert [edge["node"]["amount"] for edge in amounts_seen][:3] == [
        {"amount": "99999.99", "currency": "EUR"},
        {"amount": "1250", "currency": "JPY"},  # amounts compare in thousandths, whatever the currency
        {"amount": "12.345", "currency": "KWD"},
    ]
