"""Personal data: export everything tied to a person; erase it everywhere; consent."""

from __future__ import annotations

import json

from kith.core.automations import service as automations
from kith.core.automations.worker import Worker
from kith.core.privacy import service
from kith.sdk.testing import GraphQLClient, make_activity, make_contact, make_organization

PERSONAL = {
    "first": "Zanzibarina",
    "last": "Quixotelund",
    "email": "zanzibarina.q@example.com",
    "phone": "+14155550123",
    "street": "12 Ozymandias Lane",
    "passport": "XQ-998877",
}


async def person(kith) -> dict:
    await kith.custom_fields.add("contact", "passport", "text", personal=True)
    await kith.custom_fields.add("contact", "tier", "integer")
    org = await make_organization(kith, name="Acme")
    return await make_contact(
        kith,
        first_name=PERSONAL["first"],
        last_name=PERSONAL["last"],
        emails=[PERSONAL["email"]],
        phones=[PERSONAL["phone"]],
        street=PERSONAL["street"],
        organization=org["id"],
        custom={"passport": PERSONAL["passport"], "tier": 3},
    )


async def everything(kith) -> str:
    dump = []
    for table in sorted(await kith.db.table_names()):
        rows = await kith.db.execute(f'SELECT * FROM "{table}"')
        dump.append(json.dumps([dict(r) for r in rows], default=str))
    return "\n".join(dump)


async def test_erasure_leaves_no_personal_value_anywhere(make_kith, loyalty_plugin):
    kith = await make_kith(plugins=[loyalty_plugin], enable=["loyalty"])
    await automations.apply_rule(
        kith,
        {
            "name": "greet",
            "enabled": True,
            "trigger": {"event": "contact.updated"},
            "actions": [
                {
                    "create_record": {
                        "entity": "activity",
                        "values": {
                            "kind": "note",
                            "subject": "Met {{ record.first_name }} {{ record.last_name }}",
                            "body": "Passport {{ record.custom.passport }}",
                            "subjectType": "contact",
                            "subjectId": "{{ record.id }}",
                        },
                    }
                }
            ],
        },
    )
    contact = await person(kith)
    await make_activity(kith, contact, subject="Call", body=f"Rang {PERSONAL['first']} on {PERSONAL['phone']}")
    await kith.records.update("contact", contact["id"], {"title": "Buyer"})
    await kith.records.create("loyalty_card", {"contact": contact["id"], "points": 7})
    await service.record_consent(kith, contact["id"], "newsletter", "signup-form", "v3")
    await Worker(kith).run_until_idle()
    before = await everything(kith)
    assert all(value in before for value in PERSONAL.values())  # the scan would see them

    report = await service.erase_person(kith, contact["id"])
    await Worker(kith).run_until_idle()  # events of the erasure itself must not bring values back
    after = await everything(kith)
    leaks = [value for value in PERSONAL.values() if value in after]
    assert leaks == [], leaks
    assert len({e.record_id for e in report.scrubbed if e.table == "activity"}) == 2
    # rows stay, so counts and aggregates still add up; the non-personal tier stays too
    assert await kith.count("contact") == 1
    stored = await kith.records.get("contact", contact["id"])
    assert stored["custom"] == {"tier": 3} and stored["title"] == "Buyer" and stored["emails"] == []
    assert (await kith.db.execute("SELECT points FROM loyalty_card"))[0]["points"] == 7


async def test_a_later_import_of_an_erased_email_is_flagged(kith):
    contact = await person(kith)
    await service.erase_person(kith, contact["id"])
    again = await make_contact(kith, emails=[PERSONAL["email"].upper()])
    other = await make_contact(kith, emails=["someone.else@example.com"])
    assert "previously-erased" in again["tags"] and "previously-erased" not in other["tags"]


async def test_export_contains_every_row_that_references_the_person(make_kith, loyalty_plugin):
    kith = await make_kith(plugins=[loyalty_plugin], enable=["loyalty"])
    contact = await person(kith)
    note = await make_activity(kith, contact, subject="Call", body="hello")
    card = await kith.records.create("loyalty_card", {"contact": contact["id"], "points": 7})
    await service.record_consent(kith, contact["id"], "newsletter", "signup-form", "v3")
    await kith.records.update("contact", contact["id"], {"title": "Buyer"})
    document = await service.export_person(kith, contact["id"])
    assert document["contact"]["emails"] == [PERSONAL["email"]]
    assert document["contact"]["custom"]["passport"] == PERSONAL["passport"]
    assert document["organization"]["name"] == "Acme"
    assert [a["id"] for a in document["timeline"]] == [note["id"]]
    assert [c["purpose"] for c in document["consents"]] == ["newsletter"]
    assert [h["action"] for h in document["history"] if h["entity"] == "contact"] == ["create", "update"]
    assert ("activity", note["id"], "create") in {
        (h["entity"], h["record_id"], h["action"]) for h in document["history"]
    }
    assert document["plugins"]["loyalty"] == {"loyalty_cards": [{"id": card["id"], "level": "bronze", "points": 7}]}
    json.dumps(document)  # one JSON document


async def test_consent_given_and_withdrawn_through_graphql(kith):
    contact = await make_contact(kith)
    gql = GraphQLClient(kith)
    cid = str(contact["id"])
    given = await gql.query(
        'mutation($id: ID!) { recordConsent(contactId: $id, purpose: "newsletter", source: "form", wordingVersion: "v1") { ok errors { field } } }',
        id=cid,
    )
    assert given["recordConsent"] == {"ok": True, "errors": []}
    withdrawn = await gql.query(
        'mutation($id: ID!) { withdrawConsent(contactId: $id, purpose: "newsletter") { ok } }', id=cid
    )
    assert withdrawn["withdrawConsent"]["ok"]
    again = await gql.query(
        'mutation($id: ID!) { withdrawConsent(contactId: $id, purpose: "newsletter") { ok errors { field code } } }',
        id=cid,
    )
    assert again["withdrawConsent"]["errors"] == [{"field": "purpose", "code": "not_found"}]
    listing = await gql.query(
        "query($id: ID!) { consents(contactId: $id) { purpose source wordingVersion withdrawnAt } }", id=cid
    )
    (record,) = listing["consents"]
    assert record["purpose"] == "newsletter" and record["withdrawnAt"] is not None
    exported = await gql.query(
        "mutation($id: ID!) { exportPersonalData(contactId: $id) { document errors { code } } }", id=cid
    )
    assert exported["exportPersonalData"]["document"]["consents"][0]["purpose"] == "newsletter"


def test_gdpr_cli(kith_cli, tmp_path):
    assert kith_cli("demo", "--no-serve", "--contacts", "3", "--core-only").exit_code == 0
    out = tmp_path / "person.json"
    exported = kith_cli("gdpr", "export", "1", "-o", str(out))
    assert exported.exit_code == 0 and json.loads(out.read_text())["contact"]["id"] == 1
    assert kith_cli("gdpr", "consent", "1", "--purpose", "calls", "--source", "phone", "--wording", "v1").exit_code == 0
    assert "calls" in kith_cli("gdpr", "consents", "1").output
    erased = kith_cli("gdpr", "erase", "1", "--yes")
    assert erased.exit_code == 0 and "Erased contact 1" in erased.output
    missing = kith_cli("gdpr", "export", "999")
    assert missing.exit_code == 1 and "contact 999 does not exist" in missing.output
