"""Aggregates: counts, sums and averages by field and by date bucket, in SQL, scoped."""

from __future__ import annotations

import datetime as dt

from kith.sdk.testing import make_contact, make_organization, make_user


async def test_group_by_field_and_measures(kith, gql):
    await kith.custom_fields.add("contact", "score", "integer")
    for stage, score in (("lead", 10), ("lead", 30), ("customer", 5), ("customer", None), ("opportunity", 7)):
        await make_contact(kith, lifecycle_stage=stage, custom={"score": score} if score is not None else {})
    data = await gql.query("""{ contactsAggregate(groupBy: ["lifecycleStage"], sum: ["customFields.score"],
                                 avg: ["customFields.score"]) { key count sums averages } }""")
    groups = {g["key"]["lifecycleStage"]: g for g in data["contactsAggregate"]}
    assert groups["lead"] == {
        "key": {"lifecycleStage": "lead"},
        "count": 2,
        "sums": {"customFields.score": 40},
        "averages": {"customFields.score": 20},
    }
    assert groups["customer"]["count"] == 2 and groups["customer"]["sums"]["customFields.score"] == 5
    filtered = await gql.query('{ contactsAggregate(filter: {lifecycleStage: {ne: "lead"}}) { count } }')
    assert filtered["contactsAggregate"] == [{"count": 3}]


async def test_date_buckets(kith, gql):
    await kith.custom_fields.add("contact", "signed", "date")
    for day in ("2026-01-05", "2026-01-20", "2026-02-02", "2026-04-15"):
        await make_contact(kith, custom={"signed": day})
    data = await gql.query(
        """{ contactsAggregate(bucket: {field: "customFields.signed", unit: MONTH}) { key count } }"""
    )
    assert [(g["key"]["customFields.signed:month"], g["count"]) for g in data["contactsAggregate"]] == [
        ("2026-01-01", 2),
        ("2026-02-01", 1),
        ("2026-04-01", 1),
    ]
    quarters = await gql.query(
        """{ contactsAggregate(bucket: {field: "customFields.signed", unit: QUARTER}) { key count } }"""
    )
    assert [(g["key"]["customFields.signed:quarter"], g["count"]) for g in quarters["contactsAggregate"]] == [
        ("2026-01-01", 3),
        ("2026-04-01", 1),
    ]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    created = await gql.query('{ contactsAggregate(bucket: {field: "createdAt", unit: DAY}) { key count } }')
    assert created["contactsAggregate"] == [{"key": {"createdAt:day": today}, "count": 4}]


async def test_bad_aggregates_name_the_field(kith, gql):
    body = await gql.execute('{ contactsAggregate(groupBy: ["shoeSize"], sum: ["firstName"]) { count } }')
    errors = body["errors"][0]["extensions"]["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {("groupBy[0]", "unknown"), ("sum[0]", "invalid")}


async def test_aggregates_respect_scope(kith):
    from kith.core.web.app import execute

    rep = await make_user(kith, email="rep@example.com")
    await kith.auth.grant_role(rep["id"], "sales_rep")
    org = await make_organization(kith)
    for owner in (rep["id"], rep["id"], None):
        await make_contact(kith, owner=owner, organization=org["id"])
    principal = await kith.auth.principal_for_user(rep["id"], "token")
    body = await execute(kith, "{ contactsAggregate { count } }", principal=principal)
    assert body["data"]["contactsAggregate"] == [{"count": 2}]
