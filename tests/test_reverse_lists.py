"""Reverse lists: every many-to-one relation gives its target a list going back
(``Organization.deals``, ``Contact.deals``, ``User.activitiesAsOwner``), filterable the
other way with ``some``/``none``, read as the caller at every hop, and loaded in one
query per request whatever the number of records."""

from __future__ import annotations

import pytest
from piccolo.columns import ForeignKey, Varchar
from piccolo.table import Table

from kith.core.security.roles import save_role
from kith.core.storage.database import count_statements
from kith.sdk import Contact, Entity, Grant, PluginError, RecordColumns, RoleDefinition, initial_migration
from kith.sdk.testing import GraphQLClient, make_activity, make_contact, make_organization, make_user, throwaway_plugin

DEAL = """mutation($input: DealCreateInput!) { createDeal(input: $input) { deal { id } errors { field message } } }"""


@pytest.fixture
async def sales(make_kith):
    return await make_kith(enable=["sales"])


async def fields_of(gql: GraphQLClient, type_name: str) -> set[str]:
    data = await gql.query("query($t: String!) { __type(name: $t) { fields { name } } }", t=type_name)
    return {f["name"] for f in data["__type"]["fields"]}


async def stage(kith, name: str) -> str:
    rows = await kith.db.execute("SELECT id FROM sales_stage WHERE name = {}", name)
    return str(rows[0]["id"])


async def deal(gql: GraphQLClient, name: str, amount: int, **links: object) -> str:
    given = {"name": name, "amount": {"amount": str(amount), "currency": "EUR"}}
    given.update({key: str(value) for key, value in links.items()})
    created = await gql.query(DEAL, input=given)
    assert created["createDeal"]["errors"] == []
    return str(created["createDeal"]["deal"]["id"])


async def test_every_relation_has_its_list_named_by_the_rule(sales):
    gql = GraphQLClient(sales)
    organization = await fields_of(gql, "Organization")
    # the child's plural; the core's contacts and timeline, the sales plugin's deals and leads
    assert {"contacts", "deals", "leads", "timeline"} <= organization
    assert {"deals", "leads", "dealRoles"} <= await fields_of(gql, "Contact")
    # several relations to one target: <plural>As<Column>
    user = await fields_of(gql, "User")
    assert {"organizations", "contacts", "deals", "leads", "activitiesAsOwner", "activitiesAsAssignee"} <= user
    assert "activities" not in user
    stage_fields = await fields_of(gql, "Stage")
    assert {"deals", "stageChangesAsFromStage", "stageChangesAsToStage"} <= stage_fields
    # a declared name replaces the automatic one (quote_line.quote -> Quote.lines)
    quote = await fields_of(gql, "Quote")
    assert "lines" in quote and "quoteLines" not in quote
    assert "users" in await fields_of(gql, "Team")


async def test_organization_and_contact_deals_list_filter_and_sort(sales):
    gql = GraphQLClient(sales)
    acme, globex = await make_organization(sales, name="Acme"), await make_organization(sales, name="Globex")
    ann = await make_contact(sales, first_name="Ann", organization=acme["id"])
    await deal(gql, "Small", 500, organizationId=acme["id"], contactId=ann["id"])
    await deal(gql, "Big", 25000, organizationId=acme["id"], contactId=ann["id"])
    await deal(gql, "Won big", 40000, organizationId=acme["id"], stageId=await stage(sales, "Won"))
    await deal(gql, "Globex's", 9000, organizationId=globex["id"])
    data = await gql.query(
        """query($a: ID!, $c: ID!) {
          organization(id: $a) {
            deals { name }
            biggestOpen: deals(first: 1, orderBy: [{amount: DESC}], filter: {stage: {kind: {eq: "open"}}}) { name }
            contacts { firstName deals(orderBy: [{name: DESC}]) { name organization { name } } }
          }
          contact(id: $c) { deals { name } }
        }""",
        a=str(acme["id"]),
        c=str(ann["id"]),
    )
    org = data["organization"]
    assert [d["name"] for d in org["deals"]] == ["Small", "Big", "Won big"]  # oldest first
    assert org["biggestOpen"] == [{"name": "Big"}]
    assert org["contacts"] == [
        {
            "firstName": "Ann",
            "deals": [
                {"name": "Small", "organization": {"name": "Acme"}},
                {"name": "Big", "organization": {"name": "Acme"}},
            ],
        }
    ]
    assert data["contact"]["deals"] == [{"name": "Small"}, {"name": "Big"}]


async def test_organizations_with_an_open_deal_over_10k_and_without_deals(sales):
    gql = GraphQLClient(sales)
    acme, globex, initech, _hooli = [
        await make_organization(sales, name=name) for name in ("Acme", "Globex", "Initech", "Hooli")
    ]
    await deal(gql, "Big open", 25000, organizationId=acme["id"])
    await deal(gql, "Small open", 5000, organizationId=globex["id"])
    await deal(gql, "Big won", 50000, organizationId=globex["id"], stageId=await stage(sales, "Won"))
    await deal(
        gql, "Big lost", 90000, organizationId=initech["id"], stageId=await stage(sales, "Lost"), lostReason="Price"
    )
    data = await gql.query(
        """{
          bigOpen: organizations(filter: {deals: {some: {amount: {amount: {gt: 10000}}, stage: {kind: {eq: "open"}}}}})
            { nodes { name } }
          noDeals: organizations(filter: {deals: {none: {}}}) { nodes { name } }
          noOpen: organizations(filter: {deals: {none: {stage: {kind: {eq: "open"}}}}}, orderBy: [{name: ASC}])
            { nodes { name } }
        }"""
    )
    assert data["bigOpen"]["nodes"] == [{"name": "Acme"}]
    assert data["noDeals"]["nodes"] == [{"name": "Hooli"}]
    assert data["noOpen"]["nodes"] == [{"name": "Hooli"}, {"name": "Initech"}]


async def test_the_list_and_its_filter_read_as_the_caller(sales):
    gql = GraphQLClient(sales)
    await save_role(
        sales,
        RoleDefinition(
            name="deal_watcher",
            grants={
                "organization": Grant(actions=["read"]),
                "contact": Grant(actions=["read"]),
                "deal": Grant(actions=["read"], scope="own"),
                "user": Grant(actions=["read"], scope="own"),
            },
        ),
    )
    await save_role(
        sales,
        RoleDefinition(
            name="amount_blind",
            grants={"organization": Grant(actions=["read"]), "deal": Grant(actions=["read"], hidden=["amount"])},
        ),
    )
    await save_role(
        sales,
        RoleDefinition(
            name="link_blind",
            grants={"organization": Grant(actions=["read"]), "deal": Grant(actions=["read"], hidden=["organization"])},
        ),
    )
    rita = await make_user(sales, email="rita@example.com", roles=["deal_watcher"])
    acme, globex = await make_organization(sales, name="Acme"), await make_organization(sales, name="Globex")
    await deal(gql, "Rita's", 2000, organizationId=acme["id"], ownerId=rita["id"])
    await deal(gql, "Someone else's", 30000, organizationId=acme["id"])
    await deal(gql, "Globex's big one", 30000, organizationId=globex["id"])
    query = """{ organizations(orderBy: [{name: ASC}]) { nodes { name deals { name } } }
                 big: organizations(filter: {deals: {some: {amount: {amount: {gt: 10000}}}}}) { nodes { name } }
                 dealless: organizations(filter: {deals: {none: {}}}, orderBy: [{name: ASC}]) { nodes { name } } }"""

    as_rita = await GraphQLClient.as_user(sales, rita["id"])
    seen = await as_rita.query(query)
    assert seen["organizations"]["nodes"] == [
        {"name": "Acme", "deals": [{"name": "Rita's"}]},
        {"name": "Globex", "deals": []},
    ]
    assert seen["big"]["nodes"] == []  # the big deals are not hers: they are no deals at all to her
    assert seen["dealless"]["nodes"] == [{"name": "Globex"}]
    user = await as_rita.query("query($id: ID!) { user(id: $id) { deals { name } } }", id=str(rita["id"]))
    assert user["user"]["deals"] == [{"name": "Rita's"}]

    blind = await GraphQLClient.as_user(sales, (await make_user(sales, roles=["amount_blind"]))["id"])
    seen = await blind.query(query)
    assert [len(o["deals"]) for o in seen["organizations"]["nodes"]] == [2, 1]  # listed, amounts hidden
    assert seen["big"]["nodes"] == []  # a hidden amount is empty in a filter too

    unlinked = await GraphQLClient.as_user(sales, (await make_user(sales, roles=["link_blind"]))["id"])
    seen = await unlinked.query(query)
    # whose deal it is is hidden from them: no organization shows a deal
    assert [o["deals"] for o in seen["organizations"]["nodes"]] == [[], []]
    assert seen["big"]["nodes"] == []
    assert seen["dealless"]["nodes"] == [{"name": "Acme"}, {"name": "Globex"}]


class Referral(RecordColumns, Table, tablename="reverse_referral"):
    note = Varchar(length=100)
    referrer = ForeignKey(references=Contact, null=True, default=None)
    referred = ForeignKey(references=Contact, null=True, default=None)


def referrals(**declaration):
    def kith_entities():
        return [Entity("referral", Referral, **declaration)]

    return throwaway_plugin("referrals", kith_entities, tables=[Referral], migrations=[initial_migration(Referral)])


async def test_a_plugin_entity_with_two_relations_to_one_target_gets_both_lists(make_kith):
    kith = await make_kith(plugins=[referrals()], enable=["referrals"])
    gql = GraphQLClient(kith)
    assert {"referralsAsReferrer", "referralsAsReferred"} <= await fields_of(gql, "Contact")
    ann, bob, cy = [await make_contact(kith, first_name=name) for name in ("Ann", "Bob", "Cy")]
    await kith.records.create("referral", {"note": "Ann sent Bob", "referrer": ann["id"], "referred": bob["id"]})
    await kith.records.create("referral", {"note": "Ann sent Cy", "referrer": ann["id"], "referred": cy["id"]})
    data = await gql.query(
        """{ contacts(orderBy: [{firstName: ASC}]) { nodes { firstName
               referralsAsReferrer { note } referralsAsReferred { referrer { firstName } } } }
             referred: contacts(filter: {referralsAsReferred: {some: {}}}, orderBy: [{firstName: ASC}])
               { nodes { firstName } } }"""
    )
    assert data["contacts"]["nodes"] == [
        {
            "firstName": "Ann",
            "referralsAsReferrer": [{"note": "Ann sent Bob"}, {"note": "Ann sent Cy"}],
            "referralsAsReferred": [],
        },
        {"firstName": "Bob", "referralsAsReferrer": [], "referralsAsReferred": [{"referrer": {"firstName": "Ann"}}]},
        {"firstName": "Cy", "referralsAsReferrer": [], "referralsAsReferred": [{"referrer": {"firstName": "Ann"}}]},
    ]
    assert data["referred"]["nodes"] == [{"firstName": "Bob"}, {"firstName": "Cy"}]


async def test_reverse_renames_or_opts_out(make_kith):
    kith = await make_kith(
        plugins=[referrals(reverse={"referrer": "referralsMade", "referred": None})], enable=["referrals"]
    )
    contact = await fields_of(GraphQLClient(kith), "Contact")
    assert "referralsMade" in contact
    assert not {"referralsAsReferrer", "referralsAsReferred", "referrals"} & contact


async def test_a_declared_name_that_is_taken_is_refused_naming_both(make_kith):
    plugin = referrals(reverse={"referrer": "emails"})
    with pytest.raises(
        PluginError,
        match=r"reverse=\{'referrer': 'emails'\} names Contact\.emails, which is "
        r"already a field of Contact",
    ):
        await make_kith(plugins=[plugin], enable=["referrals"])


def test_a_declared_name_must_be_a_graphql_field_name():
    with pytest.raises(ValueError, match="must name a camelCase GraphQL field"):
        Entity("referral", Referral, reverse={"referrer": "made_referrals"})


async def test_organization_timeline(kith, gql):
    acme = await make_organization(kith, name="Acme")
    await make_activity(kith, acme, entity="organization", subject="Kick-off")
    data = await gql.query("query($id: ID!) { organization(id: $id) { timeline { subject } } }", id=str(acme["id"]))
    assert data["organization"]["timeline"] == [{"subject": "Kick-off"}]


async def test_reverse_lists_load_in_a_constant_number_of_statements(make_kith):
    kith = await make_kith(enable=["sales"], schema_check_interval=3600)
    gql = GraphQLClient(kith)
    query = """{ organizations(first: 100) { nodes { name
                   deals(first: 5) { name stage { name } } contacts(first: 5) { firstName deals(first: 5) { name } } } } }"""

    async def add_organizations(n: int) -> None:
        for i in range(n):
            org = await make_organization(kith, name=f"Org {i}")
            contact = await make_contact(kith, organization=org["id"])
            for j in range(3):
                await deal(gql, f"Deal {i}.{j}", 1000 * j, organizationId=org["id"], contactId=contact["id"])

    async def statements() -> int:
        async with count_statements() as counter:
            data = await gql.query(query)
        assert all(len(o["deals"]) == 3 and len(o["contacts"][0]["deals"]) == 3 for o in data["organizations"]["nodes"])
        return counter.count

    await add_organizations(3)
    few = await statements()
    await add_organizations(27)
    many = await statements()
    # organizations, their deals, the deals' stages, their contacts, the contacts' deals
    assert few == many == 1  # compiled: one statement answers it all (kith.core.graphql.compiled)


async def test_reverse_lists_count_as_pages_in_the_query_cost(sales):
    gql = GraphQLClient(sales)
    # automatic lists (User.deals, Deal.leads, User.contacts, Contact.leads) each count as
    # 20 items without ``first``: 100 users x (20 x 20 + 20 x 20) is over the limit of 50,000
    body = await gql.execute("{ users(first: 100) { nodes { deals { leads { id } } contacts { leads { id } } } } }")
    assert (
        body["errors"][0]["message"]
        == "query cost 84301 exceeds the limit of 50000; ask for fewer items or fewer nested lists"
    )
    fine = await gql.execute(
        "{ users(first: 100) { nodes { deals(first: 5) { leads { id } } contacts { leads(first: 5) { id } } } } }"
    )
    assert "errors" not in fine


async def test_every_relation_column_has_an_index(sales):
    """A reverse list (and its ``some``/``none`` filter), a relation filter and an owner
    scope all look records up by the relation column: each has an index that starts
    with it, the core's and the sales plugin's (tests/test_filter_indexes.py shows the
    plans using them)."""
    if sales.db.dialect.is_postgres:
        rows = await sales.db.execute(
            "SELECT t.relname AS tbl, a.attname AS col FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] "
            "WHERE n.nspname = current_schema()"
        )
    else:
        rows = await sales.db.execute(
            "SELECT m.name AS tbl, ii.name AS col FROM sqlite_master m, pragma_index_list(m.name) il, "
            "pragma_index_info(il.name) ii WHERE m.type = 'table' AND ii.seqno = 0"
        )
    leading = {(row["tbl"], row["col"]) for row in rows}
    relations = [(entity, spec.name) for entity in sales.entities for spec in entity.relation_fields()]
    assert len(relations) > 20
    assert [f"{e.name}.{column}" for e, column in relations if (e.tablename, column) not in leading] == []
