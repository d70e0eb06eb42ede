"""The one write path: validation, versions, soft delete, audit and events together."""

from __future__ import annotations

import json

import pytest

from kith.core.errors import NotFound, ValidationFailed, VersionConflict
from kith.sdk import Actor
from kith.sdk.testing import make_contact, make_organization


async def count(kith, table: str) -> int:
    rows = await kith.db.execute(f"SELECT COUNT(*) AS n FROM {table}")
    return int(rows[0]["n"])


async def test_create_normalises_contact_data_and_journals_it(kith):
    org = await make_organization(kith, domain="https://www.Acme.example.com/")
    assert org["domain"] == "acme.example.com"
    contact = await kith.records.create(
        "contact",
        {
            "first_name": " Ann ",
            "emails": ["Ann@Example.COM", "ann@example.com"],
            "phones": ["(415) 555-2671"],
            "organization": org["id"],
        },
        Actor("ann-admin", "cli"),
    )
    assert contact["first_name"] == "Ann"
    assert contact["emails"] == ["ann@example.com"]
    assert contact["phones"] == ["+14155552671"]
    assert contact["version"] == 1
    audit = await kith.db.execute(
        "SELECT * FROM kith_audit WHERE entity = {} AND record_id = {}", "contact", contact["id"]
    )
    assert len(audit) == 1
    assert audit[0]["actor"] == "ann-admin" and audit[0]["source"] == "cli"
    assert json.loads(audit[0]["changes"])["emails"] == [None, ["ann@example.com"]]
    events = await kith.db.execute("SELECT event, record_id FROM kith_outbox WHERE entity = {}", "contact")
    assert [(e["event"], e["record_id"]) for e in events] == [("contact.created", contact["id"])]


async def test_bad_input_names_every_field_and_writes_nothing(kith):
    await kith.custom_fields.add("contact", "tier", "integer")
    with pytest.raises(ValidationFailed) as caught:
        await kith.records.create(
            "contact",
            {"emails": ["not-an-email"], "lifecycle_stage": "prospect", "custom": {"tier": "gold"}},
        )
    fields = {e.field: e.code for e in caught.value.errors}
    assert fields == {"emails": "invalid", "lifecycleStage": "invalid", "customFields.tier": "invalid"}
    assert await count(kith, "contact") == 0
    assert await count(kith, "kith_audit") == 0
    assert await count(kith, "kith_outbox") == 0


async def test_missing_related_record_is_refused(kith):
    with pytest.raises(ValidationFailed) as caught:
        await make_contact(kith, organization=999)
    assert caught.value.errors[0].field == "organizationId"
    assert caught.value.errors[0].code == "not_found"
    assert await count(kith, "contact") == 0


async def test_stale_version_is_refused_and_changes_nothing(kith):
    contact = await make_contact(kith, title="Buyer")
    updated = await kith.records.update("contact", contact["id"], {"title": "CFO"}, expected_version=1)
    assert updated["version"] == 2
    with pytest.raises(VersionConflict) as caught:
        await kith.records.update("contact", contact["id"], {"title": "CEO"}, expected_version=1)
    assert caught.value.errors[0].field == "expectedVersion"
    stored = await kith.records.get("contact", contact["id"])
    assert stored["title"] == "CFO" and stored["version"] == 2
    assert await count(kith, "kith_audit") == 2  # create + the one update that happened


async def test_update_of_custom_fields_merges_and_null_clears(kith):
    await kith.custom_fields.add("contact", "tier", "integer")
    await kith.custom_fields.add("contact", "segment", "single_select", choices=["smb", "enterprise"])
    contact = await make_contact(kith, custom={"tier": 2, "segment": "smb"})
    contact = await kith.records.update("contact", contact["id"], {"custom": {"tier": 3}})
    assert contact["custom"] == {"tier": 3, "segment": "smb"}
    contact = await kith.records.update("contact", contact["id"], {"custom": {"segment": None}})
    assert contact["custom"] == {"tier": 3}
    audit = await kith.db.execute("SELECT changes FROM kith_audit WHERE action = 'update' ORDER BY id")
    assert json.loads(audit[0]["changes"]) == {"customFields.tier": [2, 3]}
    assert json.loads(audit[1]["changes"]) == {"customFields.segment": ["smb", None]}


async def test_soft_delete_hides_and_restore_brings_back(kith):
    contact = await make_contact(kith)
    await kith.records.delete("contact", contact["id"])
    with pytest.raises(NotFound):
        await kith.records.get("contact", contact["id"])
    with pytest.raises(NotFound):
        await kith.records.update("contact", contact["id"], {"title": "x"})
    restored = await kith.records.restore("contact", contact["id"])
    assert restored["deleted_at"] is None and restored["version"] == 3
    events = await kith.db.execute("SELECT event FROM kith_outbox ORDER BY id")
    assert [e["event"] for e in events] == ["contact.created", "contact.deleted", "contact.restored"]


async def test_required_custom_field_and_default(kith):
    await kith.custom_fields.add("organization", "region_code", "text", required=True)
    await kith.custom_fields.add("organization", "active", "boolean", default=True)
    with pytest.raises(ValidationFailed) as caught:
        await make_organization(kith)
    assert [e.field for e in caught.value.errors] == ["customFields.regionCode"]
    org = await make_organization(kith, custom={"region_code": "EMEA"})
    assert org["custom"] == {"region_code": "EMEA", "active": True}


async def test_activity_must_point_at_an_existing_record_of_a_timeline_entity(kith):
    contact = await make_contact(kith)
    with pytest.raises(ValidationFailed) as caught:
        await kith.records.create("activity", {"kind": "note", "subject": "x", "subject_type": "team", "subject_id": 1})
    assert caught.value.errors[0].field == "subjectType"
    with pytest.raises(ValidationFailed) as caught:
        await kith.records.create(
            "activity",
            {"kind": "note", "subject": "x", "subject_type": "contact", "subject_id": contact["id"] + 1},
        )
    assert caught.value.errors[0].field == "subjectId"
    note = await kith.records.create(
        "activity", {"kind": "note", "subject": "x", "subject_type": "contact", "subject_id": contact["id"]}
    )
    assert note["subject_id"] == contact["id"]


async def test_a_failure_inside_the_transaction_leaves_nothing(kith, monkeypatch):
    """If the journal cannot be written, the record is not written either."""
    service = kith.records

    async def broken_journal(entity, change):
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "_journal", broken_journal)
    with pytest.raises(RuntimeError):
        await make_contact(kith)
    assert await count(kith, "contact") == 0


async def test_an_update_that_changes_nothing_leaves_no_trace(kith):
    contact = await make_contact(kith, title="CEO")
    same = await kith.records.update("contact", contact["id"], {"title": "CEO"})
    assert same["version"] == 1
    assert await count(kith, "kith_audit") == 1 and await count(kith, "kith_outbox") == 1
