"""The GraphQL API as a client sees it: typed custom fields, connections, filters,
sorting, mutations with field-named errors, and batched relation loading."""

from __future__ import annotations

import pytest

from kith.core.storage.database import count_statements
from kith.sdk.testing import GraphQLClient, GraphQLErrors, make_activity, make_contact, make_organization

CREATE = """
mutation($input: ContactCreateInput!) {
  createContact(input: $input) {
    contact { id version firstName emails customFields { tier } }
    errors { field code message }
  }
}
"""


async def test_custom_field_is_typed_and_served_without_restart(kith, gql):
    schema_before = kith.schema.sdl()
    assert "ContactCustomFields" not in schema_before
    data = await gql.query(
        'mutation { addCustomField(input: {entity: "contact", name: "tier", type: "integer"}) '
        "{ field { name type } errors { message } } }"
    )
    assert data["addCustomField"] == {"field": {"name": "tier", "type": "integer"}, "errors": []}
    assert "tier: Int" in kith.schema.sdl()
    data = await gql.query(CREATE, input={"firstName": "Ann", "customFields": {"tier": 2}})
    assert data["createContact"]["contact"]["customFields"] == {"tier": 2}
    # a wrong type is refused by the schema itself, naming the field
    with pytest.raises(GraphQLErrors) as caught:
        await gql.query(CREATE, input={"firstName": "Bob", "customFields": {"tier": "gold"}})
    assert "tier" in str(caught.value)
    assert await kith.count("contact") == 1


async def test_invalid_email_comes_back_as_a_user_error(kith, gql):
    data = await gql.query(CREATE.replace(" customFields { tier }", ""), input={"firstName": "Ann", "emails": ["ann@"]})
    payload = data["createContact"]
    assert payload["contact"] is None
    assert payload["errors"][0]["field"] == "emails"
    assert payload["errors"][0]["code"] == "invalid"
    assert await kith.count("contact") == 0


async def test_update_with_stale_version_is_a_conflict(kith, gql):
    contact = await make_contact(kith)
    update = """
    mutation($id: ID!, $v: Int) {
      updateContact(id: $id, input: {title: "CEO"}, expectedVersion: $v) {
        contact { title version } errors { field code }
      }
    }"""
    first = await gql.query(update, id=str(contact["id"]), v=1)
    assert first["updateContact"] == {"contact": {"title": "CEO", "version": 2}, "errors": []}
    stale = await gql.query(update, id=str(contact["id"]), v=1)
    assert stale["updateContact"] == {
        "contact": None,
        "errors": [{"field": "expectedVersion", "code": "conflict"}],
    }


async def test_delete_and_restore(kith, gql):
    contact = await make_contact(kith)
    cid = str(contact["id"])
    data = await gql.query(
        "mutation($id: ID!) { deleteContact(id: $id) { contact { id deletedAt } errors { code } } }", id=cid
    )
    assert data["deleteContact"]["contact"]["deletedAt"] is not None
    assert (await gql.query("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0
    assert (await gql.query("query($id: ID!) { contact(id: $id) { id } }", id=cid))["contact"] is None
    data = await gql.query(
        "mutation($id: ID!) { restoreContact(id: $id) { contact { id deletedAt } errors { code } } }", id=cid
    )
    assert data["restoreContact"]["contact"] == {"id": cid, "deletedAt": None}
    again = await gql.query(
        "mutation($id: ID!) { restoreContact(id: $id) { contact { id } errors { field code } } }", id=cid
    )
    assert again["restoreContact"]["errors"] == [{"field": "id", "code": "not_deleted"}]


async def bulk_contacts(kith, n: int) -> None:
    orgs = [await make_organization(kith, name=name) for name in ("Acme", "Globex", "Initech")]
    async with kith.db.write_transaction():
        for i in range(n):
            await kith.records.create(
                "contact",
                {
                    "first_name": f"F{i % 7}",
                    "last_name": f"L{i:04d}",
                    "organization": orgs[i % 3]["id"],
                    "custom": {"tier": i % 5},
                },
            )


async def test_page_through_a_thousand_contacts_with_cursors(kith, gql):
    await kith.custom_fields.add("contact", "tier", "integer")
    await bulk_contacts(kith, 1000)
    query = """
    query($after: String) {
      contacts(first: 100, after: $after, orderBy: [{firstName: DESC}, {customFields: {tier: ASC}}]) {
        totalCount
        edges { cursor node { id firstName customFields { tier } } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    seen: list[tuple[str, int, int]] = []
    after = None
    pages = 0
    while True:
        data = (await gql.query(query, after=after))["contacts"]
        assert data["totalCount"] == 1000
        seen += [
            (e["node"]["firstName"], e["node"]["customFields"]["tier"], int(e["node"]["id"])) for e in data["edges"]
        ]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert pages == 10
    assert len({s[2] for s in seen}) == 1000
    expected = sorted(seen, key=lambda s: (-ord(s[0][1]), s[1], s[2]))
    assert seen == expected


async def test_filter_by_custom_field_and_organization_name(kith, gql):
    await kith.custom_fields.add("contact", "tier", "integer", indexed=True)
    await bulk_contacts(kith, 60)
    data = await gql.query("""{
      contacts(first: 100, filter: {customFields: {tier: {gte: 3}}, organization: {name: {startsWith: "glo"}}},
               orderBy: [{lastName: ASC}]) {
        totalCount nodes { lastName customFields { tier } organization { name } }
      }
    }""")
    nodes = data["contacts"]["nodes"]
    expected = [i for i in range(60) if i % 5 >= 3 and i % 3 == 1]
    assert data["contacts"]["totalCount"] == len(expected)
    assert [n["lastName"] for n in nodes] == [f"L{i:04d}" for i in expected]
    assert {n["organization"]["name"] for n in nodes} == {"Globex"}


async def test_and_or_not_combine(kith, gql):
    await kith.custom_fields.add("contact", "tier", "integer")
    await bulk_contacts(kith, 30)
    data = await gql.query("""{
      contacts(first: 100, filter: {or: [{customFields: {tier: {eq: 0}}}, {lastName: {in: ["L0001", "L0002"]}}],
                                    not: {firstName: {eq: "F0"}}}) { nodes { lastName } }
    }""")
    names = sorted(n["lastName"] for n in data["contacts"]["nodes"])
    expected = sorted(f"L{i:04d}" for i in range(30) if (i % 5 == 0 or i in (1, 2)) and i % 7 != 0)
    assert names == expected


async def test_bad_filter_value_names_the_field(kith, gql):
    with pytest.raises(GraphQLErrors) as caught:
        await gql.query("{ contacts(filter: {emails: {contains: 3}}) { totalCount } }")
    assert "emails" in str(caught.value) or "String" in str(caught.value)
    body = await gql.execute("{ contacts(first: 5000) { totalCount } }")
    assert body["errors"][0]["extensions"]["errors"][0]["field"] == "first"
    body = await gql.execute('{ contacts(after: "garbage") { totalCount } }')
    assert body["errors"][0]["extensions"]["errors"][0]["field"] == "after"


async def test_relations_and_timelines_load_in_a_constant_number_of_statements(make_kith):
    # no periodic schema-version check inside the measured requests
    kith = await make_kith(schema_check_interval=3600)
    gql = GraphQLClient(kith)
    query = """{
      contacts(first: 100) {
        edges { node { id firstName organization { name owner { name } } timeline(first: 3) { subject kind } } }
      }
    }"""

    async def statements_for(n: int) -> int:
        async with count_statements() as counter:
            data = await gql.query(query)
        assert len(data["contacts"]["edges"]) == n
        return counter.count

    owner = await kith.records.create("user", {"name": "Olive Owner", "email": "olive@example.com"})
    org = await make_organization(kith, owner=owner["id"])
    for _ in range(5):
        contact = await make_contact(kith, organization=org["id"])
        for i in range(4):
            await make_activity(kith, contact, subject=f"n{i}")
    few = await statements_for(5)
    for _ in range(45):
        contact = await make_contact(kith, organization=(await make_organization(kith, owner=owner["id"]))["id"])
        await make_activity(kith, contact)
    many = await statements_for(50)
    # contacts, organizations, their owners, timelines (+ count not asked): 4 statements
    assert few == many == 1  # compiled: one statement answers it all (kith.core.graphql.compiled)


async def test_timeline_is_newest_first(kith, gql):
    import datetime as dt

    contact = await make_contact(kith)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for days, subject in ((1, "old"), (30, "newest"), (10, "middle")):
        await make_activity(kith, contact, subject=subject, occurred_at=base + dt.timedelta(days=days))
    data = await gql.query("query($id: ID!) { contact(id: $id) { timeline { subject } } }", id=str(contact["id"]))
    assert [a["subject"] for a in data["contact"]["timeline"]] == ["newest", "middle", "old"]


async def test_customer_view_gathers_contact_organization_timeline(kith, gql):
    org = await make_organization(kith, name="Acme")
    contact = await make_contact(kith, organization=org["id"], first_name="Ann")
    await make_activity(kith, contact, subject="Called Ann", kind="call")
    data = await gql.query(
        """query($id: ID!) { customerView(contactId: $id) {
        contact { firstName } organization { name } timeline { subject kind } sections { plugin title }
    } }""",
        id=str(contact["id"]),
    )
    assert data["customerView"] == {
        "contact": {"firstName": "Ann"},
        "organization": {"name": "Acme"},
        "timeline": [{"subject": "Called Ann", "kind": "call"}],
        "sections": [],
    }


async def test_alias_and_token_limits_are_on_by_default(kith, gql):
    aliases = "{ " + " ".join(f"a{i}: contacts {{ totalCount }}" for i in range(40)) + " }"
    body = await gql.execute(aliases)
    assert "aliases" in body["errors"][0]["message"].lower()
    assert body["data"] is None
    huge = "{ contacts { edges { node { " + " ".join(["id"] * 3000) + " } } } }"
    body = await gql.execute(huge)
    assert "token" in body["errors"][0]["message"].lower()


async def test_query_depth_limit(make_kith):
    from kith.sdk.testing import GraphQLClient

    kith = await make_kith(max_query_depth=4)
    body = await GraphQLClient(kith).execute("{ contacts { edges { node { organization { owner { name } } } } } }")
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_an_activity_without_a_time_happened_now(kith, gql):
    contact = await make_contact(kith)
    await make_activity(kith, contact, subject="first")
    await make_activity(kith, contact, subject="second")
    data = await gql.query(
        "query($id: ID!) { contact(id: $id) { timeline { subject occurredAt } } }", id=str(contact["id"])
    )
    timeline = data["contact"]["timeline"]
    assert [a["subject"] for a in timeline] == ["second", "first"]
    assert all(a["occurredAt"] for a in timeline)


async def test_filter_and_sort_on_created_and_updated_times(kith, gql):
    first = await make_contact(kith, first_name="First")
    await make_contact(kith, first_name="Second")
    await kith.records.update("contact", first["id"], {"title": "touched"})
    latest = await gql.query("{ contacts(orderBy: [{updatedAt: DESC}], first: 1) { nodes { firstName } } }")
    assert latest["contacts"]["nodes"] == [{"firstName": "First"}]
    since = first["created_at"].isoformat()
    data = await gql.query(
        "query($t: DateTime!) { contacts(filter: {createdAt: {gt: $t}}) { nodes { firstName } } }", t=since
    )
    assert data["contacts"]["nodes"] == [{"firstName": "Second"}]
    activity = await make_activity(kith, first)
    on_first = await gql.query(
        "query($id: ID!) { activities(filter: {subjectId: {eq: $id}}) { totalCount } }", id=str(first["id"])
    )
    assert on_first["activities"]["totalCount"] == 1 and activity["subject_id"] == first["id"]


async def test_sort_by_a_field_of_the_related_record(kith, gql):
    zeta, alpha = await make_organization(kith, name="Zeta"), await make_organization(kith, name="Alpha")
    await make_contact(kith, first_name="In zeta", organization=zeta["id"])
    await make_contact(kith, first_name="In alpha", organization=alpha["id"])
    await make_contact(kith, first_name="Nowhere")
    by_name = await gql.query("{ contacts(orderBy: [{organization: {name: ASC}}]) { nodes { firstName } } }")
    assert [n["firstName"] for n in by_name["contacts"]["nodes"]] == ["In alpha", "In zeta", "Nowhere"]
    by_age = await gql.query("{ contacts(orderBy: [{organization: {createdAt: DESC}}]) { nodes { firstName } } }")
    assert [n["firstName"] for n in by_age["contacts"]["nodes"]] == ["In alpha", "In zeta", "Nowhere"]
