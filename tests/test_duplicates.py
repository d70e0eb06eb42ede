"""Duplicate detection: rules find what a person would call the same record and nothing
else, scans compare inside blocks only, the review queue keeps decisions across scans,
and every reader sees only the pairs of records they may read (CLI, GraphQL, Python)."""

from __future__ import annotations

import asyncio

import pytest

from kith.core.duplicates import (
    DuplicateRule,
    Matcher,
    find_duplicates_of,
    list_candidates,
    rules_for,
    scan,
)
from kith.core.duplicates.normalise import block_keys, person_parts, soundex
from kith.core.errors import ValidationFailed
from kith.core.security.permissions import permissions_for
from kith.sdk import Grant, RoleDefinition
from kith.sdk.testing import GraphQLClient, make_contact, make_user, throwaway_plugin

QUEUE = """query ($entity: String!, $status: DuplicateStatus, $first: Int, $after: String) {
  duplicateCandidates(entity: $entity, status: $status, first: $first, after: $after) {
    nodes { id recordIds score rules status decidedBy }
    pageInfo { hasNextPage endCursor }
  }
}"""
DISMISS = """mutation ($id: ID!) {
  dismissDuplicate(id: $id) { candidate { id status decidedBy } errors { field code message } }
}"""


async def _pairs(kith, entity: str = "contact", **options) -> dict[tuple[int, int], tuple[str, ...]]:
    page = await list_candidates(kith, entity, **options)
    return {c.record_ids: c.rules for c in page.candidates}


async def test_exact_and_fuzzy_rules_find_duplicates_and_leave_strangers_alone(make_kith):
    kith = await make_kith()
    robert = await make_contact(kith, first_name="Robert", last_name="Smith", emails=["robert@acme.example"])
    bob = await make_contact(kith, first_name="Bob", last_name="SMITH", emails=["bob@home.example"])
    typo = await make_contact(kith, first_name="Jonathan", last_name="Whitaker", emails=[])
    fixed = await make_contact(kith, first_name="Jonathon", last_name="Whittaker", emails=[])
    same_mail = await make_contact(kith, first_name="R.", last_name="S.", emails=["ROBERT@acme.example"])
    office = await make_contact(kith, first_name="Ann", last_name="Lee", phones=["+1 415 555 2671"], emails=[])
    annie = await make_contact(kith, first_name="Zoe", last_name="Kim", phones=["(415) 555-2671"], emails=[])
    for first, last in (("Maria", "Garcia"), ("Mario", "Gomez"), ("Ada", "Lovelace"), ("Alan", "Turing")):
        await make_contact(kith, first_name=first, last_name=last, emails=[])

    report = await scan(kith, "contact")

    pairs = await _pairs(kith)
    assert pairs == {
        (robert["id"], bob["id"]): ("contact.name",),  # Bob is Robert; case does not matter
        (typo["id"], fixed["id"]): ("contact.name",),  # two typos, one person
        (robert["id"], same_mail["id"]): ("contact.email",),  # the same address, differently cased
        (office["id"], annie["id"]): ("contact.phone",),  # the same number, written two ways
    }
    assert report.candidates == 4 and report.new == 4 and report.records == 11
    scores = {c.record_ids: c.score for c in (await list_candidates(kith, "contact")).candidates}
    assert scores[(robert["id"], same_mail["id"])] == 100  # an exact email of weight 1 is certain
    assert scores[(office["id"], annie["id"])] == 90  # a phone can be shared: its weight is 0.9
    assert 70 <= scores[(robert["id"], bob["id"])] < 90  # a name alone is a lead, not proof


async def test_rules_add_up_and_the_same_organization_strengthens_a_name(make_kith):
    kith = await make_kith()
    acme = await kith.records.create("organization", {"name": "Acme Inc.", "domain": "acme.example"})
    first = await make_contact(kith, first_name="Katherine", last_name="Jones", organization=acme["id"], emails=[])
    second = await make_contact(kith, first_name="Katharine", last_name="Jonas", organization=acme["id"], emails=[])
    elsewhere = await make_contact(kith, first_name="Kathy", last_name="Jonas", emails=[], phones=["+14155550100"])
    twin = await make_contact(kith, first_name="Katherine", last_name="Jones", emails=[], phones=["+14155550100"])
    await scan(kith, "contact")

    page = await list_candidates(kith, "contact")
    found = {c.record_ids: (c.score, c.rules) for c in page.candidates}
    # "katharine jonas" ~ "katherine jones" (87) is below the name rule's 90, above 85 with the same organization
    assert found[(first["id"], second["id"])][1] == ("contact.name_and_organization",)
    # a name and a phone: two pieces of evidence score higher than either
    score, rules = found[(elsewhere["id"], twin["id"])]
    assert rules == ("contact.name", "contact.phone") and score > 90
    assert [c.score for c in page.candidates] == sorted((c.score for c in page.candidates), reverse=True)


async def test_common_names_need_more_than_the_name(make_kith):
    """Four Michael Smiths are most likely four people: their name alone queues nothing,
    while two of them sharing a phone are a pair; and Mary is not Mark, however alike
    'mary jones' and 'mark jones' look as wholes."""
    kith = await make_kith()
    smiths = [
        await make_contact(kith, first_name="Michael", last_name="Smith", emails=[], phones=phones)
        for phones in (["+14155550101"], ["+14155550101"], [], [])
    ]
    await make_contact(kith, first_name="Mary", last_name="Jones", emails=[])
    await make_contact(kith, first_name="Mark", last_name="Jones", emails=[])
    await scan(kith, "contact")
    assert await _pairs(kith) == {(smiths[0]["id"], smiths[1]["id"]): ("contact.name", "contact.phone")}


async def test_organizations_match_on_domain_and_name(make_kith):
    kith = await make_kith()
    acme = await kith.records.create("organization", {"name": "Acme Inc.", "domain": "acme.example"})
    site = await kith.records.create("organization", {"name": "ACME", "website": "https://www.Acme.example/about"})
    labs = await kith.records.create("organization", {"name": "Globex Corporation"})
    globex = await kith.records.create("organization", {"name": "Globex Ltd"})
    await kith.records.create("organization", {"name": "Initech", "domain": "initech.example"})
    await scan(kith, "organization")
    assert await _pairs(kith, "organization") == {
        (acme["id"], site["id"]): ("organization.domain", "organization.name"),
        (labs["id"], globex["id"]): ("organization.name",),
    }


def test_blocking_compares_within_blocks_only_and_caps_big_blocks():
    """Two thousand people with realistic names and one typo'd double: the pair is found
    with a small fraction of the two million comparisons all pairs would take."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(7)
    people = [(fake.first_name(), fake.last_name()) for _ in range(2000)]
    people[0] = ("Emma", "Basuon")
    people.append(("Emma", "Bauson"))  # one transposition away
    rules = [DuplicateRule("n", "contact", "fuzzy", ("first_name", "last_name"), 90, 1.0, "person_name")]
    matcher = Matcher(rules)
    items = [matcher.read({"id": i + 1, "first_name": f, "last_name": la}) for i, (f, la) in enumerate(people)]

    pairs, stats = matcher.pairs(items)

    everything = len(items) * (len(items) - 1) // 2
    assert stats.comparisons < everything / 100
    assert (1, len(items)) in pairs
    # a cap on block size keeps a huge block linear, not quadratic
    capped = Matcher(rules, max_block=10)
    same_block = [capped.read({"id": i + 1, "first_name": "Ada", "last_name": f"Smith{i}"}) for i in range(400)]
    _pairs_found, capped_stats = capped.pairs(same_block)
    assert capped_stats.capped_blocks >= 1 and capped_stats.largest_block == 400
    assert capped_stats.comparisons < 400 * 10 * 2 * 2  # windows of 10, stepping 5, per block key


def test_blocking_keys_survive_one_typo_anywhere():
    john = block_keys(person_parts(["John", "Smith"]))
    for first, last in (("Jhon", "Smith"), ("John", "Smiht"), ("Lohn", "Smith"), ("John", "Xmith"), ("JOHN", "smith")):
        assert john & block_keys(person_parts([first, last])), (first, last)
    assert soundex("smith") == soundex("smyth") == "s530"
    assert not john & block_keys(person_parts(["Mary", "Jones"]))


async def test_rescans_keep_one_row_per_pair_and_decisions_stick(make_kith):
    kith = await make_kith()
    a = await make_contact(kith, first_name="Ann", last_name="Lee", emails=["ann@lee.example"])
    b = await make_contact(kith, first_name="Anne", last_name="Lee", emails=["ANN@lee.example"])
    c = await make_contact(kith, first_name="Other", last_name="Person", emails=["ann@lee.example"])
    first = await scan(kith, "contact")
    again = await scan(kith, "contact")
    assert (first.candidates, first.new) == (3, 3)
    assert (again.candidates, again.new) == (3, 0)
    assert await kith.db.fetch_value(_count()) == 3

    candidate = next(
        x for x in (await list_candidates(kith, "contact")).candidates if x.record_ids == (a["id"], c["id"])
    )
    gql = GraphQLClient(kith)
    dismissed = await gql.query(DISMISS, id=str(candidate.id))
    assert dismissed["dismissDuplicate"]["candidate"]["status"] == "DISMISSED"
    await scan(kith, "contact")
    assert set(await _pairs(kith)) == {(a["id"], b["id"]), (b["id"], c["id"])}
    assert set(await _pairs(kith, status="dismissed")) == {(a["id"], c["id"])}

    # a full scan drops the open pairs whose records no longer match; decisions stay
    await kith.records.update("contact", b["id"], {"first_name": "Zed", "last_name": "Quux", "emails": []})
    report = await scan(kith, "contact")
    assert report.removed == 2
    assert await _pairs(kith) == {}
    assert set(await _pairs(kith, status="dismissed")) == {(a["id"], c["id"])}


def _count():
    from piccolo.querystring import QueryString

    return QueryString("SELECT COUNT(*) AS n FROM kith_duplicate_candidate")


async def test_a_reader_sees_only_pairs_of_records_they_can_read(make_kith):
    kith = await make_kith()
    rep = await make_user(kith, email="rep@example.com", roles=["sales_rep"])
    other = await make_user(kith, email="other@example.com", roles=["sales_rep"])
    mine = await make_contact(kith, first_name="Ann", last_name="Lee", emails=["ann@lee.example"], owner=rep["id"])
    also_mine = await make_contact(kith, first_name="Anne", last_name="Lee", emails=[], owner=rep["id"])
    theirs = await make_contact(kith, first_name="A.", last_name="L.", emails=["ann@lee.example"], owner=other["id"])
    deleted = await make_contact(kith, first_name="Ann", last_name="Lee", emails=[], owner=rep["id"])
    await scan(kith, "contact")
    await kith.records.delete("contact", deleted["id"])
    as_rep = await GraphQLClient.as_user(kith, rep["id"])

    data = await as_rep.query(QUEUE, entity="contact")
    assert [n["recordIds"] for n in data["duplicateCandidates"]["nodes"]] == [[str(mine["id"]), str(also_mine["id"])]]
    admin = await GraphQLClient(kith).query(QUEUE, entity="contact")
    assert {tuple(n["recordIds"]) for n in admin["duplicateCandidates"]["nodes"]} == {
        (str(mine["id"]), str(also_mine["id"])),
        (str(mine["id"]), str(theirs["id"])),
    }  # the deleted record's pairs are nobody's business any more

    hidden = next(n for n in admin["duplicateCandidates"]["nodes"] if str(theirs["id"]) in n["recordIds"])
    refused = await as_rep.query(DISMISS, id=hidden["id"])
    assert refused["dismissDuplicate"] == {
        "candidate": None,
        "errors": [
            {"field": "id", "code": "not_found", "message": f"duplicate candidate {hidden['id']} does not exist"}
        ],
    }

    # the check of an incoming record answers within the reader's scope too
    permissions = await permissions_for(kith, as_rep.principal)
    values = {"first_name": "Ann", "last_name": "Lee", "emails": ["ann@lee.example"]}
    seen = await find_duplicates_of(kith, "contact", values, viewer=permissions)
    assert {m.record_id for m in seen} == {mine["id"], also_mine["id"]}
    everyone = await find_duplicates_of(kith, "contact", values)
    assert {m.record_id for m in everyone} == {mine["id"], also_mine["id"], theirs["id"]}


async def test_a_hidden_field_is_not_given_away_by_the_queue(make_kith):
    """A role that hides phones sees no pair found by phones alone, and no phone rule in
    a pair's rules or score: the queue would otherwise say two records share a phone."""

    def kith_roles():
        grant = Grant(actions=["read", "update"], scope="all", hidden=["phones"])
        return [RoleDefinition(name="no_phones", grants={"contact": grant})]

    kith = await make_kith(plugins=[throwaway_plugin("phoneless", kith_roles)], enable=["phoneless"])
    await make_user(kith, email="temp@example.com", roles=["no_phones"])
    phone = ["+14155550123"]
    a = await make_contact(kith, first_name="Ann", last_name="Lee", phones=phone, emails=[])
    b = await make_contact(kith, first_name="Anne", last_name="Lee", phones=phone, emails=[])
    await make_contact(kith, first_name="Zed", last_name="Quux", phones=phone, emails=[])
    await scan(kith, "contact")
    assert len(await _pairs(kith)) == 3

    temp = await GraphQLClient.as_user(kith, "temp@example.com")
    nodes = (await temp.query(QUEUE, entity="contact"))["duplicateCandidates"]["nodes"]
    assert [(n["recordIds"], n["rules"], n["score"]) for n in nodes] == [
        ([str(a["id"]), str(b["id"])], ["contact.name"], 75)  # the name alone: 93 x 0.8
    ]
    values = {"first_name": "Zed", "last_name": "Kim", "phones": phone}
    viewer = await permissions_for(kith, temp.principal)
    assert await find_duplicates_of(kith, "contact", values, viewer=viewer) == []
    assert len(await find_duplicates_of(kith, "contact", values)) == 3


async def test_graphql_pages_through_the_queue(make_kith):
    kith = await make_kith()
    for first, last in (("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")):
        await make_contact(kith, first_name=first, last_name=last, emails=[f"{first}@example.com"])
        await make_contact(kith, first_name=first, last_name=last, emails=[f"{first.upper()}@example.com"])
    await scan(kith, "contact")
    gql = GraphQLClient(kith)
    first = (await gql.query(QUEUE, entity="contact", first=2))["duplicateCandidates"]
    assert len(first["nodes"]) == 2 and first["pageInfo"]["hasNextPage"]
    rest = await gql.query(QUEUE, entity="contact", first=2, after=first["pageInfo"]["endCursor"])
    nodes = first["nodes"] + rest["duplicateCandidates"]["nodes"]
    assert not rest["duplicateCandidates"]["pageInfo"]["hasNextPage"]
    assert len({n["id"] for n in nodes}) == 3
    assert all(n["score"] == 100 and n["status"] == "OPEN" and n["rules"] for n in nodes)

    unknown = await gql.execute(QUEUE, {"entity": "spaceship"})
    assert unknown["errors"][0]["message"] == "entity: no entity named 'spaceship'"
    forged = await gql.execute(QUEUE, {"entity": "contact", "after": "abc.def"})
    assert "is not a cursor returned by this list" in forged["errors"][0]["message"]


async def test_find_duplicates_of_one_incoming_record(make_kith):
    kith = await make_kith()
    robert = await make_contact(kith, first_name="Robert", last_name="Smith", emails=["rs@acme.example"])
    await make_contact(kith, first_name="Roberta", last_name="Flack", emails=[])
    phone = await make_contact(kith, first_name="Zoe", last_name="Kim", phones=["+14155552671"], emails=[])

    by_name = await find_duplicates_of(kith, "contact", {"first_name": "Bob", "last_name": "Smyth"})
    assert [(m.record_id, m.rules) for m in by_name] == [(robert["id"], ("contact.name",))]
    by_mail = await find_duplicates_of(kith, "contact", {"emails": [" RS@Acme.example "]})
    assert [(m.record_id, m.score) for m in by_mail] == [(robert["id"], 100)]
    by_phone = await find_duplicates_of(kith, "contact", {"phones": ["415-555-2671"]})
    assert [m.record_id for m in by_phone] == [phone["id"]]
    assert await find_duplicates_of(kith, "contact", {"first_name": "Nobody", "last_name": "Here"}) == []
    # a stored record checked against the others is not its own duplicate
    assert await find_duplicates_of(kith, "contact", robert) == []


async def test_plugins_add_and_replace_rules(make_kith):
    def kith_duplicate_rules():
        return [
            DuplicateRule("contact.name", "contact", "fuzzy", ("first_name", "last_name"), 99, 0.5, "person_name"),
            DuplicateRule("contact.title", "contact", "exact", ("title",)),
        ]

    kith = await make_kith(plugins=[throwaway_plugin("strict", kith_duplicate_rules)], enable=["strict"])
    rules = {rule.name: rule for rule in rules_for(kith, "contact")}
    assert rules["contact.name"].threshold == 99 and "contact.title" in rules
    a = await make_contact(kith, first_name="Jonathan", last_name="Whitaker", title="CFO of Initech", emails=[])
    b = await make_contact(kith, first_name="Jonathon", last_name="Whittaker", title="cfo of initech", emails=[])
    await scan(kith, "contact")
    assert await _pairs(kith) == {(a["id"], b["id"]): ("contact.title",)}  # 99 is too strict for the typos

    with pytest.raises(ValidationFailed, match="rule: no duplicate rule only_one for contact"):
        rules_for(kith, "contact", ("only_one",))
    with pytest.raises(ValidationFailed, match="weight must be above 0 and at most 1"):
        DuplicateRule("x", "contact", "exact", ("emails",), weight=2)
    bad = DuplicateRule("contact.shoe", "contact", "exact", ("shoe_size",))
    with pytest.raises(ValidationFailed, match="contact has no field shoe_size"):
        bad.check(kith)


async def _seed(url: str) -> None:
    from kith.core.runtime import Kith
    from kith.core.settings import load_settings

    kith = await Kith.open(load_settings(database_url=url))
    try:
        for first, last, email in (
            ("Robert", "Smith", "robert@acme.example"),
            ("Bob", "Smith", "bob@home.example"),
            ("Ada", "Lovelace", "ada@example.com"),
            ("Alan", "Turing", "ADA@example.com"),
        ):
            await kith.records.create("contact", {"first_name": first, "last_name": last, "emails": [email]})
    finally:
        await kith.close()


def test_cli_scans_lists_and_dismisses(kith_cli, kith_database_url):
    asyncio.run(_seed(kith_database_url))
    scanned = kith_cli("duplicates", "scan", "contact")
    assert scanned.exit_code == 0, scanned.output
    assert "Scanned 4 contact records with contact.email, contact.phone, contact.name" in scanned.output
    assert "Found 2 candidate pairs (2 new)" in scanned.output

    listed = kith_cli("duplicates", "list", "contact")
    lines = [line for line in listed.output.splitlines() if "contact." in line]
    assert "Ada Lovelace" in lines[0] and "Alan Turing" in lines[0] and "contact.email" in lines[0]
    assert "Robert Smith" in lines[1] and "Bob Smith" in lines[1] and "contact.name" in lines[1]
    assert "2 open pairs" in listed.output

    pair = lines[0].split()[1]
    dismissed = kith_cli("duplicates", "dismiss", pair)
    assert dismissed.output.strip() == f"Dismissed pair {pair}: contact 3 and 4 are not duplicates"
    again = kith_cli("duplicates", "scan", "contact", "--rule", "contact.email")
    assert "Scanned 4 contact records with contact.email in" in again.output
    assert "Found 1 candidate pairs (0 new)" in again.output
    assert "1 open pairs" in kith_cli("duplicates", "list", "contact").output
    assert "Ada Lovelace" in kith_cli("duplicates", "list", "contact", "--status", "dismissed").output

    rules = kith_cli("duplicates", "rules", "organization").output
    assert "organization.domain" in rules and "contact.email" not in rules
    unknown = kith_cli("duplicates", "scan", "activity")
    assert unknown.exit_code == 1
    assert "Error: entity: activity has no duplicate rules (rules exist for contact, organization)" in unknown.output
    missing = kith_cli("duplicates", "dismiss", "999")
    assert missing.exit_code == 1 and "duplicate candidate 999 does not exist" in missing.output


async def test_the_sales_plugin_adds_a_lead_rule(make_kith):
    kith = await make_kith(enable=["sales"])
    lead = {"last_name": "Jones", "domain": "acme.example"}
    first = await kith.records.create("lead", {**lead, "first_name": "Katherine", "email": "kj@acme.example"})
    again = await kith.records.create("lead", {**lead, "first_name": "Kathy", "email": "kathy@home.example"})
    await kith.records.create("lead", {**lead, "first_name": "Kathy", "domain": "globex.example"})
    report = await scan(kith, "lead")
    assert report.rules == ("lead.name_and_domain",)
    assert await _pairs(kith, "lead") == {(first["id"], again["id"]): ("lead.name_and_domain",)}
