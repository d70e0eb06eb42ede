"""Every custom field type, end to end through GraphQL: typed in the schema, stored,
read back, filtered, sorted, and refused with a field-named error when wrong."""

from __future__ import annotations

import pytest

from kith.core.errors import ValidationFailed
from kith.sdk.testing import make_contact, make_organization

# type, extra definition args, GraphQL input literal, expected output, a filter that matches it,
# a bad input literal that the record service (not the GraphQL type system) refuses
CASES = [
    ("text", {}, '"Gold"', "Gold", '{eq: "Gold"}', '"' + "x" * 300 + '"'),
    ("long_text", {}, '"Long story"', "Long story", '{contains: "STORY"}', None),
    ("integer", {}, "42", 42, "{gte: 40}", None),
    ("decimal", {}, '"12.50"', "12.50", '{gt: "12.4"}', None),
    ("boolean", {}, "true", True, "{eq: true}", None),
    ("date", {}, '"2026-03-01"', "2026-03-01", '{lt: "2026-04-01"}', None),
    ("datetime", {}, '"2026-03-01T09:30:00+02:00"', "2026-03-01T07:30:00+00:00", '{gt: "2026-03-01T07:00:00Z"}', None),
    ("single_select", {"choices": ["smb", "enterprise"]}, '"smb"', "smb", '{in: ["smb"]}', '"huge"'),
    (
        "multi_select",
        {"choices": ["red", "blue", "green"]},
        '["red", "blue"]',
        ["red", "blue"],
        '{contains: "blue"}',
        '["pink"]',
    ),
    ("email", {}, '"Ann@Example.com"', "ann@example.com", '{eq: "ann@example.com"}', '"ann@"'),
    ("phone", {}, '"+44 20 7946 0958"', "+442079460958", '{startsWith: "+44"}', '"12"'),
    ("url", {}, '"example.com/about"', "https://example.com/about", '{contains: "about"}', '"not a url"'),
    (
        "money",
        {},
        '{amount: "99.90", currency: "eur"}',
        {"amount": "99.90", "currency": "EUR"},
        '{amount: {gte: "50"}, currency: {eq: "EUR"}}',
        '{amount: "1", currency: "EURO"}',
    ),
    ("relation", {"target": "organization"}, None, None, None, '"999"'),
]


def selection(field_type: str) -> str:
    return "value { amount currency }" if field_type == "money" else "value"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_custom_field_type_round_trip(kith, gql, case):
    field_type, extra, literal, expected, filter_literal, bad_literal = case
    await kith.custom_fields.add("contact", "value", field_type, **extra)
    if field_type == "relation":
        org = await make_organization(kith, name="Acme")
        literal, expected, filter_literal = f'"{org["id"]}"', str(org["id"]), f'{{eq: "{org["id"]}"}}'
    created = await gql.query(
        f'mutation {{ createContact(input: {{firstName: "Ann", customFields: {{value: {literal}}}}}) '
        f"{{ contact {{ id customFields {{ {selection(field_type)} }} }} errors {{ field message }} }} }}"
    )
    payload = created["createContact"]
    assert payload["errors"] == []
    assert payload["contact"]["customFields"]["value"] == expected
    await make_contact(kith, first_name="Other")  # without a value: must not match
    found = await gql.query(
        f"{{ contacts(filter: {{customFields: {{value: {filter_literal}}}}}) {{ nodes {{ firstName }} }} }}"
    )
    assert found["contacts"]["nodes"] == [{"firstName": "Ann"}]
    missing = await gql.query("{ contacts(filter: {customFields: {value: {isNull: true}}}) { nodes { firstName } } }")
    assert missing["contacts"]["nodes"] == [{"firstName": "Other"}]
    if bad_literal is not None:
        refused = await gql.query(
            f"mutation {{ createContact(input: {{customFields: {{value: {bad_literal}}}}}) "
            "{ contact { id } errors { field code message } } }"
        )
        error = refused["createContact"]["errors"][0]
        assert error["field"] == "customFields.value" and error["code"] in ("invalid", "not_found")
        assert await kith.count("contact") == 2


async def test_sorting_on_custom_fields_puts_empty_values_last(kith, gql):
    await kith.custom_fields.add("contact", "score", "decimal")
    for name, score in (("a", "10.5"), ("b", None), ("c", "2"), ("d", "100")):
        await make_contact(kith, first_name=name, custom={"score": score} if score else {})
    for direction, expected in (("ASC", ["c", "a", "d", "b"]), ("DESC", ["d", "a", "c", "b"])):
        data = await gql.query(
            f"{{ contacts(orderBy: [{{customFields: {{score: {direction}}}}}]) {{ nodes {{ firstName }} }} }}"
        )
        assert [n["firstName"] for n in data["contacts"]["nodes"]] == expected


async def test_definition_errors_name_the_argument(kith):
    with pytest.raises(ValidationFailed) as caught:
        await kith.custom_fields.add("contact", "level", "single_select", choices=["a", "a"])
    assert caught.value.errors[0].field == "choices"
    with pytest.raises(ValidationFailed) as caught:
        await kith.custom_fields.add("contact", "level", "integer", default="high")
    assert caught.value.errors[0].field == "default"
    with pytest.raises(ValidationFailed) as caught:
        await kith.custom_fields.add("tag", "level", "integer")
    assert caught.value.errors[0].field == "entity"
    assert kith.custom_fields.all() == []


async def test_rename_keeps_values_and_remove_clears_them(kith, gql):
    await kith.custom_fields.add("contact", "tier", "integer", indexed=True)
    contact = await make_contact(kith, custom={"tier": 3})
    await kith.custom_fields.rename("contact", "tier", "level")
    data = await gql.query("query($id: ID!) { contact(id: $id) { customFields { level } } }", id=str(contact["id"]))
    assert data["contact"]["customFields"] == {"level": 3}
    assert (await kith.records.get("contact", contact["id"]))["custom"] == {"level": 3}
    assert await kith.custom_fields.remove("contact", "level") == 1
    assert (await kith.records.get("contact", contact["id"]))["custom"] == {}


async def test_money_with_a_json_default_and_graphql_mutations(kith, gql):
    data = await gql.query("""mutation {
      addCustomField(input: {entity: "organization", name: "budget", type: "money"}) { field { name } errors { field } }
      bad: addCustomField(input: {entity: "organization", name: "budget", type: "money"}) { field { name } errors { field code } }
    }""")
    assert data["addCustomField"]["field"] == {"name": "budget"}
    assert data["bad"]["errors"] == [{"field": "name", "code": "taken"}]
    renamed = await gql.query(
        'mutation { renameCustomField(entity: "organization", name: "budget", newName: "annual_budget") { field { name } errors { field } } }'
    )
    assert renamed["renameCustomField"]["field"] == {"name": "annual_budget"}
    defs = await gql.query('{ customFieldDefinitions(entity: "organization") { name type } }')
    assert defs["customFieldDefinitions"] == [{"name": "annual_budget", "type": "money"}]
    removed = await gql.query(
        'mutation { removeCustomField(entity: "organization", name: "annual_budget") { errors { field } } }'
    )
    assert removed["removeCustomField"]["errors"] == []
    assert "annualBudget" not in kith.schema.sdl()


async def test_indexed_field_gets_an_index_the_filter_uses(kith, kith_engine):
    await kith.custom_fields.add("contact", "tier", "integer", indexed=True)
    for i in range(30):
        await make_contact(kith, custom={"tier": i})
    where = kith.query.where(kith.entity("contact"), {"customFields": {"tier": {"eq": 7}}})
    from piccolo.querystring import QueryString

    if kith_engine == "sqlite":
        plan = await kith.db.fetch(QueryString('EXPLAIN QUERY PLAN SELECT t.id FROM "contact" t WHERE {}', where))
        assert any("kith_cf_contact_tier" in str(dict(r)) for r in plan), plan
    else:
        async with kith.db.transaction():
            await kith.db.execute("SET LOCAL enable_seqscan = off")
            plan = await kith.db.fetch(QueryString('EXPLAIN SELECT t.id FROM "contact" t WHERE {}', where))
        assert any("kith_cf_contact_tier" in str(dict(r)) for r in plan), plan


async def contact_filter_plan(make_kith, filter_) -> str:
    """How a fresh Kith on this database would run a contact list filtered by ``filter_``
    (a Kith of its own: SQLite's EXPLAIN QUERY PLAN does not see another connection's DDL)."""
    from piccolo.querystring import QueryString

    kith = await make_kith()
    where = kith.query.where(kith.entity("contact"), filter_)
    if not kith.db.dialect.is_postgres:
        rows = await kith.db.fetch(QueryString('EXPLAIN QUERY PLAN SELECT t.id FROM "contact" t WHERE {}', where))
    else:
        async with kith.db.transaction():
            await kith.db.execute("SET LOCAL enable_seqscan = off")
            rows = await kith.db.fetch(QueryString('EXPLAIN SELECT t.id FROM "contact" t WHERE {}', where))
    return str([dict(r) for r in rows])


async def test_an_index_built_on_an_older_expression_is_rebuilt_by_the_migration(make_kith, kith_engine):
    """Relation fields were indexed as text while filters compare them as numbers, so the
    index served nothing: the migration rebuilds every custom-field index (same name) on
    the expression the filters use now."""
    from kith.core.core_migrations import rebuild_custom_field_indexes

    kith = await make_kith()
    await kith.custom_fields.add("contact", "referrer", "relation", target="organization", indexed=True)
    org = await make_organization(kith)
    for _ in range(3):
        await make_contact(kith, custom={"referrer": org["id"]})
    by_referrer = {"customFields": {"referrer": {"eq": str(org["id"])}}}
    assert "kith_cf_contact_referrer" in await contact_filter_plan(make_kith, by_referrer)
    old = "(custom->>'referrer')" if kith_engine == "postgres" else "json_extract(custom, '$.referrer') || ''"
    await kith.db.run_ddl('DROP INDEX "kith_cf_contact_referrer"')
    await kith.db.run_ddl(f'CREATE INDEX "kith_cf_contact_referrer" ON "contact" (({old}))')
    assert "kith_cf_contact_referrer" not in await contact_filter_plan(make_kith, by_referrer)
    await rebuild_custom_field_indexes(kith.db)
    assert "kith_cf_contact_referrer" in await contact_filter_plan(make_kith, by_referrer)


async def test_a_field_that_exists_can_be_indexed_later(make_kith, gql):
    kith = gql.kith
    await kith.custom_fields.add("contact", "segment", "single_select", choices=["smb", "enterprise"])
    for segment in ("smb", "enterprise", "smb"):
        await make_contact(kith, custom={"segment": segment})
    smb = {"customFields": {"segment": {"eq": "smb"}}}
    assert "kith_cf_contact_segment" not in await contact_filter_plan(make_kith, smb)
    field = await kith.custom_fields.set_indexed("contact", "segment")
    assert field.indexed and kith.custom_fields.get("contact", "segment").indexed
    assert "kith_cf_contact_segment" in await contact_filter_plan(make_kith, smb)
    data = await gql.query('{ customFieldDefinitions(entity: "contact") { name indexed } }')
    assert data["customFieldDefinitions"] == [{"name": "segment", "indexed": True}]
    await kith.custom_fields.set_indexed("contact", "segment", False)
    assert "kith_cf_contact_segment" not in await contact_filter_plan(make_kith, smb)
    await kith.custom_fields.add("contact", "notes", "long_text")
    with pytest.raises(ValidationFailed) as refused:
        await kith.custom_fields.set_indexed("contact", "notes")
    assert refused.value.errors[0].field == "indexed"


async def test_a_long_text_field_cannot_be_indexed(kith):
    with pytest.raises(ValidationFailed) as refused:
        await kith.custom_fields.add("contact", "notes", "long_text", indexed=True)
    assert [(e.field, e.code) for e in refused.value.errors] == [("indexed", "invalid")]
    assert "too big for an index" in refused.value.errors[0].message


async def test_integer_fields_hold_what_graphql_can_return(kith):
    from kith.sdk import ValidationFailed

    await kith.custom_fields.add("contact", "visits", "integer")
    ok = await kith.records.create("contact", {"first_name": "A", "custom": {"visits": 2**31 - 1}})
    assert ok["custom"]["visits"] == 2147483647
    with pytest.raises(ValidationFailed) as refused:
        await kith.records.create("contact", {"first_name": "B", "custom": {"visits": 2**31}})
    assert refused.value.errors[0].field == "customFields.visits"
    assert "between -2147483648 and 2147483647" in refused.value.errors[0].message
