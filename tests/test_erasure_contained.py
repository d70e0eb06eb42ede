"""Erasing a person is correct and contained, and their export is complete (both engines).

One person with every custom field type set, converted from a lead, with deals (one
named after them), a deal role, a sent quote, stage history, notes quoting their email
and phone, consent, audit history, rule runs and webhook deliveries — next to other
people who share their first name and their organization.  Every row of every table is
read before and after the erasure, with tables and columns listed from the database's
own catalogue, so a table added later is checked too.
"""

from __future__ import annotations

import json
from typing import Any

from kith.core.automations import service as automations
from kith.core.automations import webhooks
from kith.core.privacy import service
from kith.plugins.sales.conversion import convert
from kith.sdk import Actor
from kith.sdk.testing import GraphQLClient, make_activity, make_contact, run_worker_until_idle, system_context

TEST = Actor(name="test", source="system")
SHARED_FIRST_NAME = "Zanzibarina"

#: personal values of the person that no one else has: none may survive anywhere
UNIQUE = {
    "last": "Quixotelund",
    "email": "zanzibarina.q@example.com",
    "phone": "+14155550123",
    "phone, as people write it": "(415) 555-0123",
    "street": "12 Ozymandias Lane",
    "postal": "K7X 9QZ",
    "text": "Kestrelwood-Passage",
    "long_text": "Prefers calls after the marmalade hour",
    "integer": "918273645",
    "decimal": "31415.9265",
    "date": "1987-03-14",
    "datetime": "1987-03-14T09:26:53",
    "email field": "zq.private@example.org",
    "phone field": "+14155550199",
    "url": "zanzi-quixote.example.net",
    "money": "98765.43",
}

#: one custom field of every type, all personal, with the person's value
CUSTOM: dict[str, tuple[str, Any]] = {
    "c_text": ("text", UNIQUE["text"]),
    "c_long_text": ("long_text", UNIQUE["long_text"]),
    "c_integer": ("integer", int(UNIQUE["integer"])),
    "c_decimal": ("decimal", UNIQUE["decimal"]),
    "c_boolean": ("boolean", True),
    "c_date": ("date", UNIQUE["date"]),
    "c_datetime": ("datetime", UNIQUE["datetime"] + "Z"),
    "c_single": ("single_select", "gold"),
    "c_multi": ("multi_select", ["gold", "silver"]),
    "c_email": ("email", UNIQUE["email field"]),
    "c_phone": ("phone", UNIQUE["phone field"]),
    "c_url": ("url", "https://" + UNIQUE["url"] + "/me"),
    "c_money": ("money", {"amount": UNIQUE["money"], "currency": "EUR"}),
    "c_relation": ("relation", None),  # set to the organization's id
}

SEND = "mutation($id: ID!) { sendQuote(id: $id) { status errors { field code message } } }"


async def build(kith: Any) -> dict[str, Any]:
    """The person, the people around them, and everything tied to them."""
    for name, (kind, _) in CUSTOM.items():
        extra: dict[str, Any] = {"choices": ["gold", "silver"]} if "select" in kind else {}
        if kind == "relation":
            extra["target"] = "organization"
        await kith.custom_fields.add("contact", name, kind, personal=True, **extra)
    await kith.custom_fields.add("contact", "tier", "integer")  # not personal: stays
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
                            "body": "Ring {{ record.phones[0] }} about {{ record.custom.c_text }}",
                            "subjectType": "contact",
                            "subjectId": "{{ record.id }}",
                        },
                    }
                }
            ],
        },
    )
    # deliveries exist whether or not the receiver answers (nothing listens here)
    await webhooks.add_subscription(kith, "crm-sync", "http://127.0.0.1:9/hook", ["*"])
    lead = await kith.records.create(
        "lead",
        {
            "first_name": SHARED_FIRST_NAME,
            "last_name": UNIQUE["last"],
            "email": UNIQUE["email"],
            "phone": UNIQUE["phone"],
            "company": "Acme Shared",
            "domain": "acme-shared.example",
            "need": f"{SHARED_FIRST_NAME} wants a quote by phone {UNIQUE['phone, as people write it']}",
            "status": "qualified",
            "source": "webinar",
        },
        TEST,
    )
    done = await convert(
        system_context(kith),
        lead["id"],
        deal_name=f"{UNIQUE['last']} renewal",
        amount={"amount": "5000", "currency": "EUR"},
    )
    person_id, org_id, named_deal = done["contact"], done["organization"], done["deal"]
    custom = {name: value for name, (_, value) in CUSTOM.items()}
    custom["c_relation"] = org_id
    custom["tier"] = 3
    await kith.records.update(
        "contact",
        person_id,
        {"street": UNIQUE["street"], "postal_code": UNIQUE["postal"], "city": "Springfield", "custom": custom},
        TEST,
    )
    # other people: the same first name, the same organization, their own deal and notes
    other = await make_contact(
        kith, first_name=SHARED_FIRST_NAME, last_name="Otherperson", organization=org_id, city="Springfield"
    )
    await make_activity(kith, other, subject=f"Lunch with {SHARED_FIRST_NAME}", body="Springfield office")
    others_deal = await kith.records.create("deal", {"name": "Acme group purchase", "contact": other["id"]}, TEST)
    own_deal = await kith.records.create(
        "deal", {"name": f"{SHARED_FIRST_NAME} {UNIQUE['last']} expansion", "contact": person_id}, TEST
    )
    await kith.records.create("deal_contact", {"deal": others_deal["id"], "contact": person_id, "role": "champion"})
    stages = await kith.db.execute("SELECT id FROM sales_stage WHERE name = 'Proposal'")
    await kith.records.update("deal", own_deal["id"], {"stage": stages[0]["id"]}, TEST)
    quote = await kith.records.create(
        "quote",
        {"deal": named_deal, "title": f"Offer for {UNIQUE['last']}", "notes": f"Send to {UNIQUE['email']}"},
        TEST,
    )
    await kith.records.create(
        "quote_line",
        {
            "quote": quote["id"],
            "description": f"Setup for {UNIQUE['last']}",
            "quantity": "2",
            "unit_price": {"amount": "150.00", "currency": "EUR"},
        },
        TEST,
    )
    sent = await GraphQLClient(kith).query(SEND, id=str(quote["id"]))
    assert sent["sendQuote"]["errors"] == [], sent
    person = await kith.records.get("contact", person_id)
    await make_activity(
        kith,
        person,
        subject="Call",
        body=f"Mail {UNIQUE['email']} or ring {UNIQUE['phone, as people write it']}",
    )
    await make_activity(kith, own_deal, entity="deal", subject=f"Demo for {UNIQUE['last']}", body="went well")
    await service.record_consent(kith, person_id, "newsletter", "signup-form", "v3")
    await run_worker_until_idle(kith)
    return {
        "person": person_id,
        "other": other["id"],
        "organization": org_id,
        "lead": lead["id"],
        "deals": sorted({named_deal, own_deal["id"], others_deal["id"]}),
        "others_deal": others_deal["id"],
        "quote": quote["id"],
    }


# -- reading the whole database generically -------------------------------------------------


async def catalogue(kith: Any) -> dict[str, dict[str, str]]:
    """Every table and the kind of each column ("json", "text" or "other"), from the
    database's own catalogue."""
    out: dict[str, dict[str, str]] = {}
    if kith.db.dialect.is_postgres:
        rows = await kith.db.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
        for row in rows:
            kind = row["data_type"]
            out.setdefault(row["table_name"], {})[row["column_name"]] = (
                "json" if kind in ("json", "jsonb") else "text" if kind in ("text", "character varying") else "other"
            )
        return out
    tables = await kith.db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    for table in tables:
        for column in await kith.db.execute(f'PRAGMA table_info("{table["name"]}")'):
            kind = str(column["type"]).upper()
            out.setdefault(table["name"], {})[column["name"]] = (
                "json" if "JSON" in kind else "text" if ("CHAR" in kind or "TEXT" in kind) else "other"
            )
    return out


async def snapshot(kith: Any) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for table in sorted(await catalogue(kith)):
        rows = await kith.db.execute(f'SELECT * FROM "{table}"')
        out[table] = {int(r["id"]): dict(r) for r in rows}
    return out


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


async def tied_rows(kith: Any, ids: dict[str, Any]) -> set[tuple[str, int]]:
    """(table, id) of every row tied to the person: their records, the records about them,
    and the journal rows of exactly those records — read before the erasure."""
    records: dict[str, set[int]] = {
        "contact": {ids["person"]},
        "lead": {ids["lead"]},
        "deal": set(ids["deals"]),
    }

    async def select(sql: str, *args: Any) -> set[int]:
        return {int(r["id"]) for r in await kith.db.execute(sql, *args)}

    deal_marks = ", ".join(str(d) for d in ids["deals"])
    records["deal_contact"] = await select("SELECT id FROM sales_deal_contact WHERE contact = {}", ids["person"])
    records["quote"] = await select(f"SELECT id FROM sales_quote WHERE deal IN ({deal_marks})")
    records["quote_line"] = await select(
        f"SELECT id FROM sales_quote_line WHERE quote IN (SELECT id FROM sales_quote WHERE deal IN ({deal_marks}))"
    )
    records["stage_change"] = await select(f"SELECT id FROM sales_stage_change WHERE deal IN ({deal_marks})")
    records["lead_score_item"] = await select("SELECT id FROM sales_lead_score_item WHERE lead = {}", ids["lead"])
    activities: set[int] = set()
    for entity in ("contact", "lead", "deal", "quote"):
        for record_id in records[entity]:
            activities |= await select(
                "SELECT id FROM activity WHERE subject_type = {} AND subject_id = {}", entity, record_id
            )
    records["activity"] = activities
    tables = {e: kith.entity(e).tablename for e in records}
    tied = {(tables[e], i) for e, found in records.items() for i in found}
    keys: set[str] = set()
    event_ids: set[int] = set()
    for entity, found in records.items():
        for record_id in found:
            tied |= {
                ("kith_audit", i)
                for i in await select(
                    "SELECT id FROM kith_audit WHERE entity = {} AND record_id = {}", entity, record_id
                )
            }
            for row in await kith.db.execute(
                "SELECT id, idempotency_key, payload FROM kith_outbox WHERE entity = {} AND record_id = {}",
                entity,
                record_id,
            ):
                tied.add(("kith_outbox", int(row["id"])))
                event_ids.add(int(row["id"]))
                keys.add(row["idempotency_key"])
                payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
                if isinstance(payload.get("key"), str):
                    keys.add(payload["key"])
            tied |= {
                ("kith_automation_run", i)
                for i in await select(
                    "SELECT id FROM kith_automation_run WHERE entity = {} AND record_id = {}", entity, record_id
                )
            }
    for event_id in event_ids:
        tied |= {
            ("kith_automation_run", i)
            for i in await select("SELECT id FROM kith_automation_run WHERE event_id = {}", event_id)
        }
    for row in await kith.db.execute("SELECT id, key FROM kith_action_effect"):
        if any(row["key"].startswith(k + ":") for k in keys):
            tied.add(("kith_action_effect", int(row["id"])))
    tied |= {
        ("kith_consent", i) for i in await select("SELECT id FROM kith_consent WHERE contact_id = {}", ids["person"])
    }
    return tied


# -- the tests ---------------------------------------------------------------------------


async def test_erasure_changes_only_the_persons_rows_and_only_what_it_reports(make_kith):
    kith = await make_kith(enable=["sales"], outbound_allow=["127.0.0.1"])  # deliveries stay on this machine
    ids = await build(kith)
    columns = await catalogue(kith)
    before = await snapshot(kith)
    tied = await tied_rows(kith, ids)
    everything = "\n".join(text_of(v) for rows in before.values() for row in rows.values() for v in row.values())
    assert all(value in everything for value in UNIQUE.values()), "the scan must see every value before"
    assert ("kith_outbox", max(i for t, i in tied if t == "kith_outbox")) in tied
    deliveries = [r for r in before["kith_outbox"].values() if '"delivery"' in text_of(r["payload"])]
    assert any(("kith_outbox", r["id"]) in tied for r in deliveries), "webhook deliveries of the person exist"

    report = await service.erase_person(kith, ids["person"])
    after = await snapshot(kith)

    listed: dict[tuple[str, int], set[str]] = {}
    for entry in report.scrubbed:
        listed.setdefault((entry.table, entry.record_id), set()).add(entry.field.split(".")[0])
    bookkeeping = {"version", "updated_at"}
    for table, rows in before.items():
        for row_id, row in rows.items():
            now = after[table].get(row_id)
            assert now is not None, f"{table} {row_id} was deleted; erasure keeps rows"
            changed = {c for c in row if row[c] != now[c]}
            if (table, row_id) not in tied:
                # (b) rows not tied to the person are exactly as they were
                assert not changed, f"{table} {row_id} is not the person's but changed: {sorted(changed)}"
            else:
                # (c) rows tied to them differ only in what the report lists
                allowed = listed.get((table, row_id), set())
                unlisted = changed - allowed - (bookkeeping if allowed else set())
                assert not unlisted, f"{table} {row_id} changed {sorted(unlisted)}, not in the report"
    for table, row_id in listed:
        assert (table, row_id) in tied, f"the report lists {table} {row_id}, which is not the person's"

    new_rows = {t: set(after[t]) - set(before.get(t, {})) for t in after}
    assert {t for t, new in new_rows.items() if new} <= {"kith_audit", "kith_outbox", "kith_erasure_tombstone"}
    for table, rows in after.items():
        for row_id, row in rows.items():
            for column, value in row.items():
                kind = columns[table].get(column)
                if value is None or kind == "other":
                    continue
                text = text_of(value)
                # (a) no personal value of theirs is left anywhere
                leaks = [name for name, v in UNIQUE.items() if v.lower() in text.lower()]
                assert not leaks, f"{table} {row_id} {column} still holds {leaks}: {text[:300]}"
                if (table, row_id) in tied or row_id in new_rows[table]:
                    assert SHARED_FIRST_NAME not in text, f"{table} {row_id} {column}: {text[:300]}"
                # (d) every JSON document still parses
                if kind == "json" and isinstance(value, str):
                    json.loads(value)

    # what stays: the rows, the other person, what is not personal, the sent quote's figures
    other = await kith.records.get("contact", ids["other"])
    assert other["first_name"] == SHARED_FIRST_NAME and other["organization"] == ids["organization"]
    erased = await kith.records.get("contact", ids["person"])
    assert erased["custom"] == {"tier": 3} and erased["emails"] == [] and erased["last_name"] is None
    assert erased["organization"] == ids["organization"]
    lead = await kith.records.get("lead", ids["lead"])
    assert (lead["status"], lead["source"], lead["email"]) == ("converted", "webinar", None)
    deal_names = {r["name"] for r in await kith.db.execute("SELECT name FROM sales_deal")}
    assert deal_names == {"[erased] renewal", "[erased] [erased] expansion", "Acme group purchase"}
    quote = await kith.records.get("quote", ids["quote"])
    assert quote["status"] == "sent" and quote["title"] == "Offer for [erased]" and quote["total"] is not None
    fields = {(e.table, e.field) for e in report.scrubbed}
    assert {("contact", "last_name"), ("contact", "custom.c_money"), ("sales_deal", "name")} <= fields
    assert ("sales_quote", "notes") in fields and ("activity", "body") in fields


async def test_the_erasure_report_is_what_the_mutation_returns(make_kith):
    kith = await make_kith(enable=["sales"], outbound_allow=["127.0.0.1"])  # deliveries stay on this machine
    ids = await build(kith)
    data = await GraphQLClient(kith).query(
        "mutation($id: ID!) { erasePersonalData(contactId: $id) { erased scrubbed { table recordId field } "
        "errors { code } } }",
        id=str(ids["person"]),
    )
    payload = data["erasePersonalData"]
    assert payload["errors"] == []
    assert {"table": "contact", "recordId": str(ids["person"]), "field": "last_name"} in payload["scrubbed"]
    assert payload["erased"]["contact"] == 1 and payload["erased"]["sales_deal"] == 2
    again = await service.erase_person(kith, ids["person"])
    assert again.scrubbed == []  # nothing left to erase


def json_strings(value: Any, path: str = "$") -> list[str]:
    """Paths of strings that are themselves JSON objects or arrays."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in json_strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in json_strings(v, f"{path}[{i}]")]
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return [path] if isinstance(json.loads(value), dict | list) else []
        except ValueError:
            return []
    return []


async def test_the_export_holds_every_record_tied_to_the_person_as_structured_data(make_kith):
    kith = await make_kith(enable=["sales"], outbound_allow=["127.0.0.1"])  # deliveries stay on this machine
    ids = await build(kith)
    document = await service.export_person(kith, ids["person"])
    json.dumps(document)  # one JSON document
    assert json_strings(document) == []
    sales = document["plugins"]["sales"]
    assert [lead["id"] for lead in sales["leads"]] == [ids["lead"]]
    assert [d["id"] for d in sales["deals"]] == ids["deals"]
    assert [(r["deal"], r["role"]) for r in sales["deal_contacts"]] == [(ids["others_deal"], "champion")]
    assert [q["id"] for q in sales["quotes"]] == [ids["quote"]] and len(sales["quote_lines"]) == 1
    assert sales["stage_changes"] and sales["quotes"][0]["total"]["currency"] == "EUR"
    contact = document["contact"]
    assert contact["custom"]["c_money"] == {"amount": UNIQUE["money"], "currency": "EUR"}
    assert contact["custom"]["c_multi"] == ["gold", "silver"] and contact["emails"] == [UNIQUE["email"]]
    subjects = {(a["subject_type"], a["subject"]) for a in document["timeline"]}
    assert ("contact", "Call") in subjects and ("deal", f"Demo for {UNIQUE['last']}") in subjects
    assert [c["purpose"] for c in document["consents"]] == ["newsletter"]
    audited = {(h["entity"], h["record_id"]) for h in document["history"]}
    assert {("contact", ids["person"]), ("lead", ids["lead"]), ("quote", ids["quote"])} <= audited
    assert all(isinstance(h["changes"], dict) for h in document["history"])
    assert {d["subscription"] for d in document["deliveries"]} == {"crm-sync"}
    others = json.dumps(document)
    assert "Otherperson" not in others  # the other Zanzibarina is not in this person's export
