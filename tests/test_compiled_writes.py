"""Generated creates and updates answered without the general executor
(``kith.core.graphql.compiled.writes``) answer and store exactly what the executor does.

Each random mutation — a selection of the payload's plain fields, ``__typename`` and
aliases, ``errors`` with some of its fields, inputs valid and not (bad e-mails, unknown
organizations, custom-field values of the wrong type, stale versions, ids that are no
record's) — runs twice: through the compiled path and through the general executor,
each on its own twin record.  The two answers must be the same bytes once the twins'
own ids and times are set aside, and so must the records and audit rows they leave.
"""

from __future__ import annotations

import random
import re
from typing import Any

import orjson
import pytest

from kith.core.security.auth import SYSTEM
from kith.core.web.app import answer
from kith.sdk.testing import make_organization, make_user

FIELDS = ["id", "firstName", "lastName", "emails", "phones", "title", "city", "country", "lifecycleStage",
          "tags", "version", "createdAt", "updatedAt", "__typename"]  # fmt: skip
ERROR_FIELDS = ["field", "code", "message", "__typename"]
#: values that differ between twins by construction
TWIN_KEYS = re.compile(rb'"((?:id|createdAt|updatedAt)(?:Alias)?)":("[^"]*"|null)')


def selection(rng: random.Random) -> str:
    record = " ".join(_aliased(rng, f) for f in rng.sample(FIELDS, rng.randint(1, len(FIELDS))))
    errors = " ".join(_aliased(rng, f) for f in rng.sample(ERROR_FIELDS, rng.randint(1, len(ERROR_FIELDS))))
    parts = [f"contact {{ {record} }}", f"errors {{ {errors} }}"]
    if rng.random() < 0.3:
        parts.append("__typename")
    rng.shuffle(parts)
    return " ".join(parts[: rng.randint(1, len(parts))])


def _aliased(rng: random.Random, name: str) -> str:
    return f"{name}Alias: {name}" if rng.random() < 0.15 else name


def contact_input(rng: random.Random, organizations: list[int], creating: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if creating or rng.random() < 0.5:
        values["lastName"] = rng.choice(["Okafor", "Lindqvist", "  Tan  ", "Müller"])
    if rng.random() < 0.6:
        values["firstName"] = rng.choice(["Ada", "Zoë", None])
    if rng.random() < 0.5:
        values["emails"] = rng.choice([["ada@example.com"], ["ADA@Example.com", "b@example.org"], ["not-an-email"], []])
    if rng.random() < 0.3:
        values["phones"] = rng.choice([["+44 20 7946 0000"], ["12"], []])
    if rng.random() < 0.5:
        values["title"] = rng.choice(["Buyer", "", None, "x" * 300])
    if rng.random() < 0.3:
        values["lifecycleStage"] = rng.choice(["lead", "customer", "astronaut"])
    if rng.random() < 0.3:
        values["organizationId"] = rng.choice([*map(str, organizations), "999999"])
    if rng.random() < 0.3:
        values["tags"] = rng.choice([["vip"], ["vip", "vip"], []])
    if rng.random() < 0.4:
        values["customFields"] = rng.choice([{"tier": 3}, {"tier": "three"}, {"code": "A-1"}, {"tier": None}])
    return values


def twin_free(body: bytes, record_id: int | None) -> bytes:
    """The answer without what differs between twins: ids and times, and the record's id
    where a message names it (``contact 15 is at version 2``)."""
    body = TWIN_KEYS.sub(rb'"\1":"~"', body)
    return body if record_id is None else re.sub(rb"contact %d\b" % record_id, b"contact ~", body)


async def stored(kith: Any, contact_id: int | None) -> Any:
    if contact_id is None:
        return None
    row = await kith.records.get("contact", contact_id)
    audit = await kith.db.execute(
        "SELECT action, actor, source, changes FROM kith_audit WHERE entity = 'contact' AND record_id = {} ORDER BY id",
        contact_id,
    )
    kept = {k: v for k, v in (row or {}).items() if k not in ("id", "created_at", "updated_at")}
    return kept, [{**dict(a), "changes": orjson.loads(a["changes"]) if isinstance(a["changes"], str) else a["changes"]}
                  for a in audit]  # fmt: skip


async def newest(kith: Any) -> int | None:
    rows = await kith.db.execute("SELECT MAX(id) AS id FROM contact")
    return None if rows[0]["id"] is None else int(rows[0]["id"])


def created_id(body: bytes) -> int | None:
    found = re.search(rb'"createContact":\{[^{]*?"contact":\{[^}]*?"id":"(\d+)"', body)
    return int(found.group(1)) if found else None


@pytest.fixture
async def crm(kith: Any) -> Any:
    await kith.custom_fields.add("contact", "tier", "integer")
    await kith.custom_fields.add("contact", "code", "text")
    return kith


async def test_compiled_and_general_writes_answer_and_store_the_same(crm: Any) -> None:
    kith = crm
    rng = random.Random(20261203)
    organizations = [int((await make_organization(kith, name=f"Org {i}"))["id"]) for i in range(3)]
    await kith.refresh_if_changed(force=True)  # the schema with the custom fields, built now, not mid-test
    writes = kith.schema.writes
    served_before = writes.served
    covered = 0
    for case in range(60):
        creating = case % 2 == 0
        shape = selection(rng)
        given = contact_input(rng, organizations, creating)
        if creating:
            query = f"mutation M($input: ContactCreateInput!) {{ createContact(input: $input) {{ {shape} }} }}"
            bodies, ids = [], []
            for compiled in (True, False):
                before = await newest(kith)
                bodies.append(await answer(kith, query, {"input": given}, None, None, SYSTEM, compiled=compiled))
                after = await newest(kith)
                ids.append(after if after != before else None)
        else:
            # twins: the same contact twice, then the same update of each
            start = {"lastName": "Twin", "emails": ["twin@example.com"], "customFields": {"tier": 1}}
            twins = []
            for _ in range(2):
                made = await answer(kith, "mutation($i: ContactCreateInput!) { createContact(input: $i) { contact { id } } }",
                                    {"i": start}, None, None, SYSTEM, compiled=False)  # fmt: skip
                twins.append(created_id(made))
            version = rng.choice([None, 1, 7])
            bad_id = rng.random() < 0.1
            query = (
                "mutation M($id: ID!, $input: ContactUpdateInput!, $v: Int) "
                f"{{ updateContact(id: $id, input: $input, expectedVersion: $v) {{ {shape} }} }}"
            )
            bodies = []
            for compiled, twin in zip((True, False), twins, strict=True):
                variables = {"id": "999999" if bad_id else str(twin), "input": given, "v": version}
                bodies.append(await answer(kith, query, variables, None, None, SYSTEM, compiled=compiled))
            ids = twins
        assert twin_free(bodies[0], ids[0]) == twin_free(bodies[1], ids[1]), (query, given, bodies)
        assert await stored(kith, ids[0]) == await stored(kith, ids[1]), (query, given)
        # the compiled path answered every mutation but those the executor refuses as a
        # request (a value of the wrong type): those it left to the executor to report
        refused = "errors" in orjson.loads(bodies[1])
        assert kith.schema.writes is writes
        served, served_before = writes.served - served_before, writes.served
        assert served == (0 if refused else 1), (query, given, bodies[1])
        covered += not refused
    assert covered >= 40  # most of the random mutations were compared on the compiled path


async def test_a_caller_with_limited_permissions_goes_through_the_general_executor(crm: Any) -> None:
    kith = crm
    rep = await make_user(kith, roles=["sales_rep"])
    principal = await kith.auth.principal_for_user(rep["id"], "token")
    query = 'mutation { createContact(input: {lastName: "Scoped"}) { contact { id lastName } errors { field } } }'
    before = kith.schema.writes.served
    body = orjson.loads(await answer(kith, query, None, None, None, principal))
    assert body["data"]["createContact"]["contact"]["lastName"] == "Scoped"
    assert kith.schema.writes.served == before


@pytest.mark.parametrize(
    "query",
    [
        # a relation in the payload, a custom field, a fragment, a directive, two root fields
        'mutation { createContact(input: {lastName: "R"}) { contact { id organization { name } } } }',
        'mutation { createContact(input: {lastName: "R"}) { contact { id customFields { tier } } } }',
        'mutation { createContact(input: {lastName: "R"}) { ...P } } fragment P on ContactPayload { errors { field } }',
        'mutation { createContact(input: {lastName: "R"}) { contact { id @skip(if: false) } } }',
        'mutation { a: createContact(input: {lastName: "R"}) { errors { field } } '
        'b: createContact(input: {lastName: "S"}) { errors { field } } }',
    ],
)
async def test_mutations_it_does_not_cover_are_answered_by_the_general_executor(crm: Any, query: str) -> None:
    kith = crm
    before = kith.schema.writes.served
    body = orjson.loads(await answer(kith, query, None, None, None, SYSTEM))
    assert "errors" not in body, body
    assert kith.schema.writes.served == before
    assert await kith.count("contact") == query.count("createContact")


async def test_a_failure_other_than_bad_input_is_reported_as_the_executor_reports_it(crm: Any) -> None:
    """A write the database refuses mid-way was rolled back; the executor runs it again
    and answers with its own error, and nothing was stored twice."""
    kith = crm
    query = "mutation($i: ContactCreateInput!) { createContact(input: $i) { contact { id } errors { field } } }"
    variables = {"i": {"lastName": "Nul\u0000"}}  # refused by the request checks, before any write
    compiled = orjson.loads(await answer(kith, query, variables, None, None, SYSTEM))
    general = orjson.loads(await answer(kith, query, variables, None, None, SYSTEM, compiled=False))
    assert compiled == general and "errors" in compiled
    assert await kith.count("contact") == 0
