"""Filters and sorts use their indexes, on both engines, custom fields included.

Each test takes the SQL a list really sends — ``RecordQuery.list``, the function the
generated GraphQL lists call, given a stand-in database that records the statement — and
asks the engine how it would run it (``EXPLAIN``), so a change in the filter compiler
that stops an index from matching fails here.

The table holds a few thousand contacts, written once per engine for the whole module
with multi-row ``INSERT``s (the values stored as the record service stores them) and
chosen so that the values the tests look for are rare, as in the queries an index is
for.  What is asserted is that the index is *usable*:

- PostgreSQL: after ``ANALYZE``, with ``SET LOCAL enable_seqscan = off`` (on a table this
  small a sequential scan is often cheapest, which says nothing about the index), the
  ``EXPLAIN (FORMAT JSON)`` plan has an Index Scan, Index Only Scan or Bitmap Index Scan on
  the index named;
- SQLite: without ``ANALYZE`` (most SQLite files never have statistics),
  ``EXPLAIN QUERY PLAN`` says ``USING INDEX <name>``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from piccolo.querystring import QueryString

from kith.core.automations.worker import Worker
from kith.core.records.query import ListRequest
from kith.core.runtime import Kith
from kith.core.security.permissions import permissions_for
from kith.core.settings import load_settings
from kith.sdk.testing import make_user
from kith.sdk.testing.engines import engines, fresh_database_url

# one database per engine for the module, so its tests share the module's event loop
pytestmark = pytest.mark.asyncio(loop_scope="module")

ROWS = 3000
ORGANIZATIONS = 300
BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

#: name -> (type, definition options, stored value of row i or None)
FIELDS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "code": ("text", {}, lambda i: f"c{i % 200}"),
    "tier": ("integer", {}, lambda i: i % 300 if i % 10 else None),  # some contacts have none
    "score": ("decimal", {}, lambda i: str((i % 250) / 4)),
    "vip": ("boolean", {}, lambda i: i % 100 == 0),
    "renewal": ("date", {}, lambda i: (BASE.date() + dt.timedelta(days=i % 365)).isoformat()),
    "seen": ("datetime", {}, lambda i: (BASE + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")),
    "segment": ("single_select", {"choices": ["common", "rare"]}, lambda i: "rare" if i % 100 == 0 else "common"),
    "work_email": ("email", {}, lambda i: f"w{i}@acme.example"),
    "mobile": ("phone", {}, lambda i: f"+44207946{i % 1000:04d}"),
    "site": ("url", {}, lambda i: f"https://acme.example/{i}"),
    "budget": ("money", {}, lambda i: {"amount": str(i % 500), "currency": "EUR"}),
    "referrer": ("relation", {"target": "organization"}, lambda i: i % ORGANIZATIONS + 1),
    "interests": ("multi_select", {"choices": ["golf", "wine"]}, lambda i: ["golf"] if i % 100 == 0 else ["wine"]),
}

#: one equality filter per indexable type, each matching a handful of the contacts
EQUALITIES = {
    "text": {"code": {"eq": "c7"}},
    "integer": {"tier": {"eq": 7}},
    "decimal": {"score": {"eq": "1.75"}},
    "boolean": {"vip": {"eq": True}},
    "date": {"renewal": {"eq": "2026-01-08"}},
    "datetime": {"seen": {"eq": "2026-01-02T03:00:00Z"}},
    "single_select": {"segment": {"eq": "rare"}},
    "email": {"workEmail": {"eq": "W7@Acme.example"}},
    "phone": {"mobile": {"eq": "+44 20 7946 0007"}},
    "url": {"site": {"eq": "https://acme.example/7"}},
    "money": {"budget": {"amount": {"eq": "7"}}},
    "relation": {"referrer": {"eq": "7"}},
}
FIELD_OF_TYPE = {type_: name for name, (type_, _options, _value) in FIELDS.items()}


class Recorder:
    """A stand-in for the database that keeps the statements instead of running them."""

    def __init__(self) -> None:
        self.statements: list[QueryString] = []

    async def fetch(self, query: QueryString) -> list[Any]:
        self.statements.append(query)
        return []


async def list_sql(kith: Any, request: ListRequest) -> QueryString:
    """The statement ``RecordQuery.list`` sends for ``request`` (what a GraphQL list runs)."""
    recorder = Recorder()
    await kith.query.list(recorder, request)
    (statement,) = recorder.statements
    return statement


class Plan:
    def __init__(self, indexes: set[str], sorts: bool, text: str) -> None:
        self.indexes = indexes  # the indexes the plan reads
        self.sorts = sorts  # whether it sorts rows itself (rather than reading them in order)
        self.text = text


async def explain(kith: Any, query: QueryString) -> Plan:
    db = kith.db
    if db.dialect.is_postgres:
        async with db.transaction():
            await db.execute("SET LOCAL enable_seqscan = off")
            rows = await db.fetch(QueryString("EXPLAIN (FORMAT JSON) {}", query))
        raw = rows[0]["QUERY PLAN"]
        tree = json.loads(raw) if isinstance(raw, str) else raw
        indexes: set[str] = set()
        sorts = False
        stack = [tree[0]["Plan"]]
        while stack:
            node = stack.pop()
            if node["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
                indexes.add(node["Index Name"])
            sorts = sorts or node["Node Type"] in ("Sort", "Incremental Sort")
            stack.extend(node.get("Plans", []))
        return Plan(indexes, sorts, json.dumps(tree, indent=1))
    rows = await db.fetch(QueryString("EXPLAIN QUERY PLAN {}", query))
    text = "\n".join(row["detail"] for row in rows)
    used = set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", text))
    return Plan(used, "TEMP B-TREE FOR ORDER BY" in text or "RIGHT PART OF ORDER BY" in text, text)


async def insert(kith: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs, within both engines' limits on bound parameters."""
    per_statement = 30_000 // len(columns)
    row = "(" + ", ".join("{}" for _ in columns) + ")"
    names = ", ".join(f'"{c}"' for c in columns)
    for start in range(0, len(rows), per_statement):
        batch = rows[start : start + per_statement]
        sql = f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join(row for _ in batch)
        await kith.db.fetch(QueryString(sql, *(value for r in batch for value in r)))


@pytest.fixture(scope="module", params=engines())
def crm_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with fresh_database_url(request.param, tmp_path_factory.mktemp("indexes")) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def crm(crm_url: str) -> Any:
    """Indexed custom fields of every type on contacts, and thousands of contacts."""
    kith = await Kith.open(load_settings(database_url=crm_url))
    for name, (type_, options, _value) in FIELDS.items():
        await kith.custom_fields.add("contact", name, type_, indexed=True, **options)
    rep = await make_user(kith, roles=["sales_rep"])  # owns half the contacts
    other = await make_user(kith)  # owns a few
    org_rows = [(f"Org {n}", "[]", "{}", BASE, 1) for n in range(1, ORGANIZATIONS + 1)]
    contacts = []
    for i in range(ROWS):
        custom = {name: value(i) for name, (_t, _o, value) in FIELDS.items() if value(i) is not None}
        contacts.append(
            (
                f"First{i}",
                f"Last{i}",
                json.dumps([f"p{i}@example.com"]),
                "[]",
                "[]",
                i % ORGANIZATIONS + 1,
                rep["id"] if i % 2 else other["id"] if i % 100 == 0 else None,
                "evangelist" if i % 100 == 0 else "lead",
                BASE + dt.timedelta(minutes=i),
                BASE,
                1,
                json.dumps(custom),
            )
        )
    async with kith.db.write_transaction():
        await insert(kith, "organization", ("name", "tags", "custom", "created_at", "version"), org_rows)
        await insert(
            kith,
            "contact",
            ("first_name", "last_name", "emails", "phones", "tags", "organization", "owner", "lifecycle_stage",
             "created_at", "updated_at", "version", "custom"),
            contacts,
        )  # fmt: skip
    if kith.db.dialect.is_postgres:
        await kith.db.run_ddl("ANALYZE")
    yield kith
    await kith.close()


def contacts(kith: Any, filter_: dict[str, Any] | None = None, **options: Any) -> ListRequest:
    return ListRequest(kith.entity("contact"), filter_, first=50, **options)


@pytest.mark.parametrize("type_", list(EQUALITIES))
async def test_equality_on_an_indexed_custom_field_uses_its_index(crm, type_):
    query = await list_sql(crm, contacts(crm, {"customFields": EQUALITIES[type_]}))
    plan = await explain(crm, query)
    assert f"kith_cf_contact_{FIELD_OF_TYPE[type_]}" in plan.indexes, plan.text
    page = await crm.query.list(crm.db, contacts(crm, {"customFields": EQUALITIES[type_]}))
    assert page.rows, "the filter matches some contacts"


@pytest.mark.parametrize(
    ("name", "ops"),
    [
        ("tier", {"gte": 10, "lt": 13}),
        ("score", {"gt": "2", "lte": "2.5"}),
        ("code", {"gt": "c1", "lt": "c100"}),  # text compares by code point: c10 only
        ("renewal", {"gte": "2026-02-01", "lt": "2026-02-03"}),
        ("seen", {"gt": "2026-01-03T00:00:00Z", "lte": "2026-01-03T05:00:00+00:00"}),
        ("budget", {"amount": {"gte": 498, "lt": 500}}),
    ],
)
async def test_a_range_uses_the_index(crm, name, ops):
    query = await list_sql(crm, contacts(crm, {"customFields": {name: ops}}))
    plan = await explain(crm, query)
    assert f"kith_cf_contact_{name}" in plan.indexes, plan.text


@pytest.mark.parametrize(
    ("name", "ops"),
    [("tier", {"in": [7, 8, 9]}), ("segment", {"in": ["rare"]}), ("code", {"in": ["c7", "c8"]})],
)
async def test_in_uses_the_index(crm, name, ops):
    plan = await explain(crm, await list_sql(crm, contacts(crm, {"customFields": {name: ops}})))
    assert f"kith_cf_contact_{name}" in plan.indexes, plan.text


async def test_equality_reads_the_rows_in_list_order_from_the_index(crm):
    """The index holds (value, id): the rows of one value come out in ``id`` order, the
    default order of a list, so the page needs no sort."""
    plan = await explain(crm, await list_sql(crm, contacts(crm, {"customFields": {"segment": {"eq": "rare"}}})))
    assert "kith_cf_contact_segment" in plan.indexes and not plan.sorts, plan.text


@pytest.mark.parametrize("name", ["tier", "code", "renewal"])
async def test_sorting_on_an_indexed_field_pages_through_the_index(crm, name):
    """``orderBy`` an indexed custom field (ascending, empty values last, then ``id``): the
    first page and the next one, from its cursor, read the index in order and sort
    nothing."""
    order = [{"customFields": {name: "ASC"}}]
    first = await crm.query.list(crm.db, contacts(crm, order_by=order))
    assert first.has_next_page
    for request in (contacts(crm, order_by=order), contacts(crm, order_by=order, after=first.end_cursor)):
        plan = await explain(crm, await list_sql(crm, request))
        assert f"kith_cf_contact_{name}" in plan.indexes and not plan.sorts, plan.text
    second = await crm.query.list(crm.db, contacts(crm, order_by=order, after=first.end_cursor))
    values = [row["custom"].get(name) for row in first.rows + second.rows]
    assert values == sorted(values) and len(set(r["id"] for r in first.rows + second.rows)) == 100


async def test_multi_select_contains_uses_its_gin_index_on_postgres(crm):
    """On PostgreSQL through the field's GIN index.  SQLite cannot index the elements of
    a JSON array (the documented difference): there the filter reads the rows, and finds
    exactly the same contacts."""
    request = contacts(crm, {"customFields": {"interests": {"contains": "golf"}}})
    plan = await explain(crm, await list_sql(crm, request))
    if crm.db.dialect.is_postgres:
        assert "kith_cf_contact_interests" in plan.indexes, plan.text
    else:
        assert not any(name.startswith("kith_cf_contact_interests") for name in plan.indexes), plan.text
    page = await crm.query.list(crm.db, request)
    assert [int(row["id"]) for row in page.rows] == [i + 1 for i in range(0, ROWS, 100)][:50]


async def test_a_filter_through_a_forward_relation_uses_both_indexes(crm):
    """``organization: {name: {eq}}``: the organization by its name index, its contacts by
    the foreign key's index."""
    plan = await explain(crm, await list_sql(crm, contacts(crm, {"organization": {"name": {"eq": "Org 7"}}})))
    assert {"organization_name", "contact_organization"} <= plan.indexes, plan.text


async def test_some_on_a_reverse_list_finds_the_children_by_the_foreign_key(crm):
    """``contacts: {some: {...}}`` on organizations is an EXISTS over contacts, found by the
    foreign key's index (a handful per organization).  PostgreSQL may instead join once
    from the condition's own index (a hash semi-join over the tier-7 contacts), from its
    statistics; SQLite only checks the condition on each organization's contacts, so it
    never reads all the tier-7 contacts again for every organization."""
    organizations = crm.entity("organization")
    selective = {"contacts": {"some": {"customFields": {"tier": {"eq": 7}}}}}
    plan = await explain(crm, await list_sql(crm, ListRequest(organizations, selective, first=50)))
    way_in = "kith_cf_contact_tier" if crm.db.dialect.is_postgres else "contact_organization"
    assert way_in in plan.indexes, plan.text
    by_link = {"contacts": {"some": {"firstName": {"eq": "First7"}}}, "name": {"eq": "Org 8"}}
    plan = await explain(crm, await list_sql(crm, ListRequest(organizations, by_link, first=50)))
    assert "contact_organization" in plan.indexes, plan.text
    page = await crm.query.list(crm.db, ListRequest(organizations, selective))
    assert [row["name"] for row in page.rows] == ["Org 8"]  # tier 7: rows 7, 307, 607 …, all of Org 8
    none = await crm.query.list(
        crm.db, ListRequest(organizations, {"contacts": {"none": {"firstName": {"eq": "First7"}}}})
    )
    assert "Org 8" not in [row["name"] for row in none.rows] and len(none.rows) == 20


async def test_a_scoped_viewer_keeps_the_custom_field_index(crm):
    """A sales rep sees only contacts they own: the scope (``owner = ?``, on its own index)
    is ANDed in, and the custom-field index still serves the filter."""
    rep = (await crm.db.execute("SELECT id FROM kith_user ORDER BY id"))[0]["id"]
    viewer = await permissions_for(crm, await crm.auth.principal_for_user(rep, "token"))
    assert viewer.predicate(crm.entity("contact"), "read") is not None
    request = contacts(crm, {"customFields": {"tier": {"eq": 7}}}, viewer=viewer)
    plan = await explain(crm, await list_sql(crm, request))
    assert "kith_cf_contact_tier" in plan.indexes, plan.text
    page = await crm.query.list(crm.db, request)
    assert page.rows and all(row["owner"] == rep for row in page.rows)


@pytest.mark.parametrize(
    ("filter_", "order", "index"),
    [
        ({"ownerId": {"eq": 2}}, [], "contact_owner"),
        ({"lifecycleStage": {"eq": "evangelist"}}, [], "contact_stage_id"),
        (None, [{"createdAt": "DESC"}], "contact_newest"),
        ({"createdAt": {"gte": "2026-01-02T00:00:00Z", "lt": "2026-01-02T01:00:00Z"}}, [], "contact_newest"),
    ],
    ids=["owner", "lifecycle stage", "newest first", "created range"],
)
async def test_built_in_columns_use_their_indexes(crm, filter_, order, index):
    plan = await explain(crm, await list_sql(crm, contacts(crm, filter_, order_by=order)))
    assert index in plan.indexes, plan.text


async def test_an_email_lookup_uses_a_gin_index_on_postgres(crm):
    """As for multi-select fields: the GIN index on PostgreSQL; on SQLite (no index on the
    elements of a JSON array) a read of the rows that finds the same one contact."""
    request = contacts(crm, {"emails": {"contains": "p7@example.com"}})
    plan = await explain(crm, await list_sql(crm, request))
    if crm.db.dialect.is_postgres:
        assert "contact_emails_gin" in plan.indexes, plan.text
    else:
        assert "contact_emails_gin" not in plan.indexes, plan.text
    page = await crm.query.list(crm.db, request)
    assert [row["emails"] for row in page.rows] == [["p7@example.com"]]


async def test_a_worker_claims_from_the_index_of_pending_rows_however_long_the_history(crm):
    """The queue keeps every event it handled; a claim must read the pending ones from
    their partial index, not step past the done ones in id order (which grew with the
    history and made each claim slower than the last)."""
    columns = ("event", "entity", "record_id", "payload", "idempotency_key", "created_at", "available_at", "status")
    rows = [
        ("contact.updated", "contact", 1, "{}", f"claim-plan-{i}", BASE, BASE, "done" if i < 5000 else "pending")
        for i in range(5050)
    ]
    async with crm.db.write_transaction():
        await insert(crm, "kith_outbox", columns, rows)
    try:
        if crm.db.dialect.is_postgres:
            await crm.db.run_ddl("ANALYZE kith_outbox")
        recorder = Recorder()
        worker = Worker(crm, name="planner")
        stand_in: Any = SimpleNamespace(db=SimpleNamespace(fetch=recorder.fetch, dialect=crm.db.dialect))
        worker.kith = stand_in  # the claim statement is recorded, not run
        await worker.claim()
        (claim,) = recorder.statements
        plan = await explain(crm, claim)
        assert "kith_outbox_pending" in plan.indexes, plan.text
    finally:
        await crm.db.execute("DELETE FROM kith_outbox WHERE idempotency_key LIKE {}", "claim-plan-%")
