"""Merging duplicate records and undoing a merge, as a user sees it (Python, GraphQL, CLI),
on both engines.

The judging case: three contacts with deals, tickets, activities and consent merge into
one that keeps everything per the rules, and undo brings back all three, row for row.
Rows written through the record service come back with a higher ``version`` and a new
``updated_at`` (the write path sets both on every write: versions only grow, so a client
holding a pre-merge version cannot overwrite the undone record unknowingly, and
``updated_at`` says the record changed at the undo); every other column is compared.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from piccolo.columns import ForeignKey, Varchar
from piccolo.querystring import QueryString
from piccolo.table import Table

from kith.core.duplicates import list_candidates, scan
from kith.core.errors import ValidationFailed
from kith.core.merge import MergeRules, list_merges, merge_records, undo_merge
from kith.core.privacy.service import consents, record_consent, withdraw_consent
from kith.core.records.change import Actor
from kith.sdk import Contact, Entity, Grant, Plugin, RecordColumns, RoleDefinition, add_index, initial_migration
from kith.sdk.testing import (
    GraphQLClient,
    acting_as,
    make_contact,
    make_organization,
    make_user,
    system_context,
    throwaway_plugin,
)

#: columns the write path sets on every write (see the module docstring)
BOOKKEEPING = {"updated_at", "version"}
ADMIN = Actor(name="ann@example.com", source="graphql")


async def _rows(kith, table: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = await kith.db.fetch(
        QueryString(f'SELECT * FROM "{table}" t WHERE {{}} ORDER BY t.id', kith.db.dialect.in_ids("t.id", ids))
    )
    return {int(row["id"]): dict(row) for row in rows}


async def snapshot(kith, contact_ids: list[int]) -> dict[str, dict[int, dict[str, Any]]]:
    """Every row of every table that references the contacts (found from the entity
    declarations: relation columns, the timeline), their consents, their pairs in the
    duplicate queue, and the contacts."""
    found: dict[str, dict[int, dict[str, Any]]] = {"contact": await _rows(kith, "contact", contact_ids)}
    ids = kith.db.dialect.in_ids
    for entity in kith.entities:
        columns = [spec.name for spec in entity.relation_fields() if spec.target == "contact"]
        tests = [ids(f't."{c}"', contact_ids) for c in columns]
        if entity.attachment:
            kind, subject = entity.attachment
            tests.append(QueryString(f"(t.\"{kind}\" = 'contact' AND {{}})", ids(f't."{subject}"', contact_ids)))
        if not tests:
            continue
        where = QueryString(" OR ".join("{}" for _ in tests), *tests)
        rows = await kith.db.fetch(QueryString(f'SELECT t.id FROM "{entity.tablename}" t WHERE {{}}', where))
        found[entity.tablename] = await _rows(kith, entity.tablename, [int(r["id"]) for r in rows])
    consent_rows = await kith.db.fetch(
        QueryString("SELECT id FROM kith_consent t WHERE {}", ids("t.contact_id", contact_ids))
    )
    found["kith_consent"] = await _rows(kith, "kith_consent", [int(r["id"]) for r in consent_rows])
    pairs = await kith.db.fetch(
        QueryString(
            "SELECT id FROM kith_duplicate_candidate t WHERE t.entity = 'contact' AND ({} OR {})",
            ids("t.record_a", contact_ids),
            ids("t.record_b", contact_ids),
        )
    )
    found["kith_duplicate_candidate"] = await _rows(kith, "kith_duplicate_candidate", [int(r["id"]) for r in pairs])
    return {table: rows for table, rows in found.items() if rows}


async def again(kith, before: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[int, dict[str, Any]]]:
    return {table: await _rows(kith, table, list(rows)) for table, rows in before.items()}


def without_bookkeeping(snap: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[int, dict[str, Any]]]:
    return {
        t: {i: {k: v for k, v in r.items() if k not in BOOKKEEPING} for i, r in rows.items()}
        for t, rows in snap.items()
    }


@pytest.fixture
async def crm(make_kith):
    return await make_kith(enable=["sales", "service"])


async def three_people(kith) -> dict[str, Any]:
    """Ann three times: from a trade fair (import), typed in by hand, and from a web
    form; with deals, tickets and their messages, notes, a deal contact and consents."""
    records = system_context(kith).records
    imported = Actor(name="import", source="import")
    typed = Actor(name="rep@example.com", source="graphql")
    acme = await make_organization(kith, name="Acme")
    await kith.custom_fields.add("contact", "tier", "single_select", choices=["gold", "silver"])
    ann = await kith.records.create(
        "contact",
        {"first_name": "Ann", "last_name": "Lee", "emails": ["ann@acme.example"], "tags": ["fair"],
         "city": "Boston", "custom": {"tier": "silver"}},
        imported,
    )  # fmt: skip
    annie = await kith.records.create(
        "contact",
        {"first_name": "Annie", "last_name": "Lee-Smith", "emails": ["annie@home.example"], "title": "CTO",
         "organization": acme["id"], "tags": ["vip"], "phones": ["+1 415 555 2671"]},
        typed,
    )  # fmt: skip
    a_lee = await kith.records.create(
        "contact",
        {"first_name": "A.", "last_name": "Lee", "emails": ["ANN@acme.example", "a.lee@web.example"],
         "title": "Chief Technology Officer", "tags": ["web", "fair"], "custom": {"tier": "gold"}},
        Actor(name="form", source="api"),
    )  # fmt: skip
    people = [ann, annie, a_lee]
    deals, tickets, notes = [], [], []
    for n, person in enumerate(people):
        deals.append(
            await records.create("deal", {"name": f"Deal {n}", "contact": person["id"], "organization": acme["id"]})
        )
        tickets.append(await records.create("ticket", {"subject": f"Help {n}", "requester": person["id"]}))
        await records.create("ticket_message", {"ticket": tickets[-1]["id"], "body": "hi", "kind": "note",
                                                "author_contact": person["id"]})  # fmt: skip
        notes.append(
            await records.create(
                "activity",
                {"kind": "note", "subject": f"Met {n}", "subject_type": "contact", "subject_id": person["id"]},
            )
        )
    await records.create("deal_contact", {"deal": deals[0]["id"], "contact": annie["id"], "role": "champion"})
    await record_consent(kith, ann["id"], "newsletter", "fair", "v1")
    await record_consent(kith, annie["id"], "newsletter", "signup-form", "v2")
    await withdraw_consent(kith, annie["id"], "newsletter")  # Annie said no, after Ann's yes
    await record_consent(kith, a_lee["id"], "phone-calls", "web", "v1", channel="phone")
    return {"people": people, "deals": deals, "tickets": tickets, "notes": notes, "acme": acme}


async def test_three_contacts_merge_per_the_rules_and_undo_restores_them_row_for_row(crm):
    kith = crm
    found = await three_people(kith)
    ann, annie, a_lee = found["people"]
    ids = [ann["id"], annie["id"], a_lee["id"]]
    await scan(kith, "contact")
    queued = (await list_candidates(kith, "contact")).candidates
    assert queued, "the scan queues Ann's doubles"
    before = await snapshot(kith, ids)

    rules = MergeRules(
        default="only_if_empty",
        fields={"firstName": "most_recent", "title": "most_complete", "customFields.tier": "trusted_source",
                "lastName": "trusted_source", "emails": "union"},
        trusted_sources=("graphql", "import"),
    )  # fmt: skip
    merge = await merge_records(kith, "contact", ann["id"], [annie["id"], a_lee["id"]], rules, ADMIN)

    survivor = await kith.records.get("contact", ann["id"])
    assert survivor["first_name"] == "A."  # most_recent: A. Lee was written last
    assert survivor["title"] == "Chief Technology Officer"  # most_complete: the longest
    assert survivor["last_name"] == "Lee-Smith"  # trusted_source: typed in (graphql) beats import
    assert survivor["custom"]["tier"] == "silver"  # trusted_source: import beats the web form (unlisted)
    assert survivor["emails"] == ["ann@acme.example", "annie@home.example", "a.lee@web.example"]  # union
    assert survivor["tags"] == ["fair", "vip", "web"]  # lists: union by default
    assert survivor["city"] == "Boston" and survivor["organization"] == found["acme"]["id"]  # only_if_empty
    assert survivor["phones"] == ["+14155552671"]
    choices = {c.field: (c.rule, c.from_id) for c in merge.choices}
    assert choices["firstName"] == ("most_recent", a_lee["id"]) and choices["lastName"] == (
        "trusted_source",
        annie["id"],
    )
    assert choices["organizationId"] == ("only_if_empty", annie["id"])
    assert merge.merged_ids == (annie["id"], a_lee["id"]) and merge.survivor_id == ann["id"]

    for name in ("deals", "tickets", "notes"):
        pointer = {"deals": "contact", "tickets": "requester", "notes": "subject_id"}[name]
        entity = {"deals": "deal", "tickets": "ticket", "notes": "activity"}[name]
        for record in found[name]:
            assert (await kith.records.get(entity, record["id"]))[pointer] == ann["id"]
    deal_contacts = await kith.db.execute("SELECT contact FROM sales_deal_contact")
    authors = await kith.db.execute("SELECT author_contact FROM service_ticket_message")
    assert [r["contact"] for r in deal_contacts] == [ann["id"]]
    assert {r["author_contact"] for r in authors} == {ann["id"]}
    held = await consents(kith, ann["id"])
    assert len(held) == 3 and {c["contact_id"] for c in held} == {ann["id"]}
    newsletter = [c for c in held if c["purpose"] == "newsletter"]
    assert all(c["withdrawn_at"] is not None for c in newsletter)  # the latest decision, a withdrawal, wins
    assert next(c for c in held if c["purpose"] == "phone-calls")["withdrawn_at"] is None
    for loser in (annie, a_lee):
        with pytest.raises(ValidationFailed):
            await kith.records.get("contact", loser["id"])
    statuses = await kith.db.execute("SELECT status FROM kith_duplicate_candidate")
    assert {row["status"] for row in statuses} == {"merged"}  # the queue's pairs of Ann are decided
    audit = await kith.db.execute("SELECT action, changes FROM kith_audit WHERE action = 'merge'")
    assert len(audit) == 1 and '"mergedIds"' in str(audit[0]["changes"])

    undone = await undo_merge(kith, merge.id, ADMIN)
    assert undone.conflicts == () and undone.undone_at is not None
    after = await again(kith, before)
    assert without_bookkeeping(after) == without_bookkeeping(before)
    for table, rows in before.items():
        if table not in ("kith_consent", "kith_duplicate_candidate"):  # written directly: exact
            assert all(after[table][i]["version"] >= row["version"] for i, row in rows.items())
    with pytest.raises(ValidationFailed) as twice:
        await undo_merge(kith, merge.id, ADMIN)
    assert twice.value.errors[0].code == "already_undone"
    assert [c.id for c in (await list_candidates(kith, "contact")).candidates] == [c.id for c in queued]


async def test_undo_keeps_what_changed_since_the_merge_and_reports_it(crm):
    kith = crm
    records = system_context(kith).records
    ann = await make_contact(kith, first_name="Ann", title=None, emails=["a@x.example"])
    twin = await make_contact(kith, first_name="Ann", title="CEO", emails=["b@x.example"])
    deal = await records.create("deal", {"name": "Big", "contact": twin["id"]})
    other = await make_contact(kith, first_name="Bo")
    merge = await merge_records(kith, "contact", ann["id"], [twin["id"]])
    assert (await kith.records.get("contact", ann["id"]))["title"] == "CEO"
    await records.update("contact", ann["id"], {"title": "Chair"})
    await records.update("deal", deal["id"], {"contact": other["id"]})

    undone = await undo_merge(kith, merge.id)
    seen = {(c.entity, c.field): (c.value_at_merge, c.current_value) for c in undone.conflicts}
    assert seen == {("contact", "title"): ("CEO", "Chair"), ("deal", "contactId"): (ann["id"], other["id"])}
    assert (await kith.records.get("contact", ann["id"]))["title"] == "Chair"  # kept
    assert (await kith.records.get("deal", deal["id"]))["contact"] == other["id"]  # kept
    assert (await kith.records.get("contact", twin["id"]))["emails"] == ["b@x.example"]  # restored


async def test_merging_needs_update_on_the_survivor_and_delete_on_the_others(make_kith):
    def kith_roles():
        editor = Grant(actions=["read", "update"], hidden=["phones"])
        merger = Grant(actions=["read", "update", "delete", "restore"], hidden=["phones"])
        return [RoleDefinition(name="editor", grants={"contact": editor}),
                RoleDefinition(name="merger", grants={"contact": merger})]  # fmt: skip

    kith = await make_kith(plugins=[throwaway_plugin("merge_roles", kith_roles)], enable=["merge_roles"])
    await make_user(kith, email="ed@example.com", roles=["editor"])
    await make_user(kith, email="mo@example.com", roles=["merger"])
    editor = (await acting_as(kith, "ed@example.com")).actor
    merger = (await acting_as(kith, "mo@example.com")).actor
    ann = await make_contact(kith, first_name="Ann", phones=[])
    twin = await make_contact(kith, first_name="Ann", phones=["+1 415 555 2671"])
    with pytest.raises(ValidationFailed) as refused:
        await merge_records(kith, "contact", ann["id"], [twin["id"], 999999], actor=editor)
    assert [(e.field, e.code, e.message) for e in refused.value.errors] == [
        ("ids", "forbidden", f"you may not delete contact {twin['id']}"),
        ("ids", "not_found", "there is no contact 999999"),
    ]
    with pytest.raises(ValidationFailed) as hidden:
        await merge_records(kith, "contact", ann["id"], [twin["id"]], MergeRules(fields={"phones": "union"}), merger)
    assert [(e.field, e.code) for e in hidden.value.errors] == [("rules.phones", "forbidden")]
    assert (await kith.records.get("contact", twin["id"]))["deleted_at"] is None  # nothing written

    merged = await merge_records(kith, "contact", ann["id"], [twin["id"]], actor=merger)
    assert (await kith.records.get("contact", ann["id"]))["phones"] == []  # a hidden value is not taken
    assert "phones" not in {c.field for c in merged.choices}
    with pytest.raises(ValidationFailed) as undo_refused:
        await undo_merge(kith, merged.id, editor)
    assert [(e.field, e.code) for e in undo_refused.value.errors] == [("ids", "forbidden")]
    assert (await undo_merge(kith, merged.id, merger)).undone_at is not None


async def test_organizations_merge_with_their_contacts_deals_and_tickets(crm):
    kith = crm
    records = system_context(kith).records
    acme = await make_organization(kith, name="Acme", domain="acme.example")
    acme_inc = await make_organization(kith, name="ACME Inc.", industry="Tools", tags=["key"])
    ann = await make_contact(kith, organization=acme_inc["id"])
    deal = await records.create("deal", {"name": "Anvils", "organization": acme_inc["id"]})
    ticket = await records.create("ticket", {"subject": "Broken anvil", "organization": acme_inc["id"]})
    merge = await merge_records(kith, "organization", acme["id"], [acme_inc["id"]])
    survivor = await kith.records.get("organization", acme["id"])
    assert (survivor["name"], survivor["industry"], survivor["tags"]) == ("Acme", "Tools", ["key"])
    assert (await kith.records.get("contact", ann["id"]))["organization"] == acme["id"]
    assert (await kith.records.get("deal", deal["id"]))["organization"] == acme["id"]
    assert (await kith.records.get("ticket", ticket["id"]))["organization"] == acme["id"]
    page = await list_merges(kith, "organization")
    assert [m.id for m in page.merges] == [merge.id]
    await undo_merge(kith, merge.id)
    assert (await kith.records.get("contact", ann["id"]))["organization"] == acme_inc["id"]
    assert (await kith.records.get("organization", acme["id"]))["industry"] is None


async def test_a_plugin_entity_merges_too_sales_leads(crm):
    kith = crm
    records = system_context(kith).records
    old = await records.create("lead", {"first_name": "Ann", "email": "ann@acme.example", "company": "Acme"})
    new = await records.create("lead", {"first_name": "Ann", "last_name": "Lee", "email": "ann@home.example",
                                        "phone": "+1 415 555 2671", "budget": {"amount": "500", "currency": "EUR"}})  # fmt: skip
    note = await records.create(
        "activity", {"kind": "call", "subject": "Called", "subject_type": "lead", "subject_id": new["id"]}
    )
    merge = await merge_records(kith, "lead", old["id"], [new["id"]], MergeRules(default="most_recent"))
    lead = await kith.records.get("lead", old["id"])
    assert (lead["last_name"], lead["company"], lead["phone"]) == ("Lee", "Acme", "+14155552671")
    assert lead["budget"] == {"amount": pytest.approx(500), "currency": "EUR"}
    assert (await kith.records.get("activity", note["id"]))["subject_id"] == old["id"]
    await undo_merge(kith, merge.id)
    assert (await kith.records.get("lead", old["id"]))["budget"] is None
    assert (await kith.records.get("activity", note["id"]))["subject_id"] == new["id"]


class Club(RecordColumns, Table, tablename="merge_club"):
    name = Varchar(length=50)


class Membership(RecordColumns, Table, tablename="merge_membership"):
    club = ForeignKey(references=Club)
    contact = ForeignKey(references=Contact)
    level = Varchar(length=20, null=True, default=None)


def clubs_plugin() -> Plugin:
    def kith_entities():
        return [Entity("club", Club), Entity("membership", Membership)]

    once = add_index("0002_once", Membership, "club", "contact", unique=True)
    migrations = [initial_migration(Club, Membership), once]
    return throwaway_plugin("clubs", kith_entities, tables=[Club, Membership], migrations=migrations)


async def test_a_unique_key_keeps_the_most_recent_row_and_undo_brings_both_back(make_kith):
    kith = await make_kith(plugins=[clubs_plugin()], enable=["clubs"])
    records = system_context(kith).records
    chess = await records.create("club", {"name": "Chess"})
    go = await records.create("club", {"name": "Go"})
    ann, twin = await make_contact(kith), await make_contact(kith)
    mine = await records.create("membership", {"club": chess["id"], "contact": ann["id"], "level": "novice"})
    theirs = await records.create("membership", {"club": chess["id"], "contact": twin["id"], "level": "master"})
    other = await records.create("membership", {"club": go["id"], "contact": twin["id"]})
    before = await snapshot(kith, [ann["id"], twin["id"]])

    merge = await merge_records(kith, "contact", ann["id"], [twin["id"]])
    kept = await kith.records.get("membership", mine["id"])
    assert (kept["contact"], kept["level"]) == (ann["id"], "master")  # the most recent row's values
    assert (await kith.records.get("membership", other["id"]))["contact"] == ann["id"]
    with pytest.raises(ValidationFailed):
        await kith.records.get("membership", theirs["id"])  # deleted where it was

    await undo_merge(kith, merge.id)
    assert without_bookkeeping(await again(kith, before)) == without_bookkeeping(before)


async def test_graphql_merges_lists_and_undoes(crm):
    kith = crm
    gql = GraphQLClient(kith)
    ann = await make_contact(kith, first_name="Ann", title=None)
    twin = await make_contact(kith, first_name="Ann", title="CTO")
    done = await gql.query(
        """mutation ($s: ID!, $ids: [ID!]!) { mergeRecords(entity: "contact", survivorId: $s, ids: $ids,
             rules: {default: MOST_RECENT, fields: [{field: "emails", rule: PRIMARY}]}) {
           merge { id survivorId mergedIds choices { field rule fromId value } } errors { field code message } } }""",
        s=str(ann["id"]),
        ids=[str(twin["id"])],
    )
    merge = done["mergeRecords"]["merge"]
    assert done["mergeRecords"]["errors"] == [] and merge["mergedIds"] == [str(twin["id"])]
    assert {"field": "title", "rule": "MOST_RECENT", "fromId": str(twin["id"]), "value": "CTO"} in merge["choices"]
    listed = await gql.query('{ merges(entity: "contact") { nodes { id survivorId undoneAt } } }')
    assert listed["merges"]["nodes"] == [{"id": merge["id"], "survivorId": str(ann["id"]), "undoneAt": None}]
    undo = """mutation ($id: ID!) { undoMerge(id: $id) { merge { undoneAt } conflicts { field } errors { code } } }"""
    first = await gql.query(undo, id=merge["id"])
    assert first["undoMerge"]["conflicts"] == [] and first["undoMerge"]["merge"]["undoneAt"]
    second = await gql.query(undo, id=merge["id"])
    assert second["undoMerge"]["errors"] == [{"code": "already_undone"}]


async def _two_anns(url: str) -> tuple[int, int]:
    from kith.core.runtime import Kith
    from kith.core.settings import load_settings

    kith = await Kith.open(load_settings(database_url=url))
    try:
        ann = await make_contact(kith, first_name="Ann", city=None)
        twin = await make_contact(kith, first_name="Ann", city="Oslo")
        return ann["id"], twin["id"]
    finally:
        await kith.close()


def test_cli_merges_lists_and_undoes(kith_cli, kith_database_url):
    ann, twin = asyncio.run(_two_anns(kith_database_url))
    out = kith_cli("merge", "contact", str(ann), str(twin), "--rule", "city=most_recent")
    assert out.exit_code == 0, out.output
    assert f"Merged contact {twin} into {ann} (merge 1)" in out.output and "city" in out.output
    listed = kith_cli("merge", "list", "contact", "--record", str(twin))
    assert listed.exit_code == 0 and "1 merges" in listed.output
    undone = kith_cli("merge", "undo", "1")
    assert undone.exit_code == 0, undone.output
    assert f"Undid merge 1: contact {twin} restored, {ann} as it was" in undone.output
    again = kith_cli("merge", "undo", "1")
    assert again.exit_code == 1 and "merge 1 was undone already" in again.output
    bad = kith_cli("merge", "records", "contact", str(ann), str(twin), "--rule", "city=newest")
    assert bad.exit_code == 1 and "rules.city: must be one of" in bad.output


async def test_a_failure_half_way_leaves_nothing_written(make_kith):
    def kith_before_delete(change):
        raise ValidationFailed.single(None, "refused", "not today")  # the merge's last step fails

    kith = await make_kith(plugins=[throwaway_plugin("no_deletes", kith_before_delete)], enable=["no_deletes"])
    ann = await make_contact(kith, first_name="Ann", title=None)
    twin = await make_contact(kith, first_name="Ann", title="CTO")
    note = await kith.records.create(
        "activity", {"kind": "note", "subject": "x", "subject_type": "contact", "subject_id": twin["id"]}
    )
    with pytest.raises(ValidationFailed) as refused:
        await merge_records(kith, "contact", ann["id"], [twin["id"]])
    assert "not today" in str(refused.value)
    assert (await kith.records.get("contact", ann["id"]))["title"] is None
    assert (await kith.records.get("activity", note["id"]))["subject_id"] == twin["id"]
    assert await kith.db.execute("SELECT id FROM kith_merge") == []


async def test_erasing_a_person_erases_the_records_merged_into_them_and_the_journal(make_kith):
    from kith.core.privacy.service import erase_person

    kith = await make_kith()
    ann = await make_contact(kith, first_name="Ann", last_name="Lee", emails=["ann@acme.example"])
    twin = await make_contact(kith, first_name="Annabel", last_name="Lee-Smith", emails=["annabel@home.example"])
    await merge_records(kith, "contact", ann["id"], [twin["id"]], MergeRules(fields={"firstName": "primary"}))

    report = await erase_person(kith, ann["id"])
    assert ("contact", twin["id"]) in {(s.table, s.record_id) for s in report.scrubbed}
    gone = await kith.records.get("contact", twin["id"], include_deleted=True)
    assert gone["first_name"] != "Annabel" and "annabel@home.example" not in gone["emails"]
    journal = await kith.db.execute("SELECT * FROM kith_merge")
    change_rows = await kith.db.execute("SELECT * FROM kith_merge_change")
    assert "Annabel" not in str(journal) + str(change_rows)
    assert "annabel@home.example" not in str(journal) + str(change_rows)


async def test_a_reader_sees_only_merges_of_survivors_they_may_read_without_hidden_fields(make_kith):
    from kith.core.errors import NotFound
    from kith.core.merge import get_merge
    from kith.core.security.permissions import permissions_for
    from kith.core.security.roles import save_role

    kith = await make_kith()
    grant = Grant(actions=["read", "update", "delete", "restore"], scope="own", hidden=["title"])
    await save_role(kith, RoleDefinition(name="own_titleless", grants={"contact": grant}))
    rep = await make_user(kith, email="rep@example.com", roles=["own_titleless"])
    other = await make_user(kith, email="other@example.com")
    mine = await make_contact(kith, first_name="Ann", title=None, owner=rep["id"])
    my_twin = await make_contact(kith, first_name="Ann", title="CTO", owner=rep["id"])
    theirs = await make_contact(kith, first_name="Bo", owner=other["id"])
    their_twin = await make_contact(kith, first_name="Bo", city="Oslo", owner=other["id"])
    rules = MergeRules(default="most_recent")
    visible = await merge_records(kith, "contact", mine["id"], [my_twin["id"]], rules)
    hidden = await merge_records(kith, "contact", theirs["id"], [their_twin["id"]], rules)
    assert "title" in {c.field for c in visible.choices}  # the merge chose the twin's title

    viewer = await permissions_for(kith, await kith.auth.principal_for_user(rep["id"], "token"))
    page = await list_merges(kith, "contact", viewer=viewer)
    assert [m.id for m in page.merges] == [visible.id]  # not the merge of a survivor out of their scope
    assert "title" not in {c.field for c in page.merges[0].choices}  # nor a field hidden from them
    with pytest.raises(NotFound):
        await get_merge(kith, hidden.id, viewer=viewer)
