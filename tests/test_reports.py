"""Reports: aggregates (time-zone buckets, distinct counts, filtered measures, ratios),
funnels, cohorts, saved reports and their GraphQL, each computed as the reader."""

from __future__ import annotations

import datetime as dt
import json
import random
import zoneinfo
from typing import Any

import pytest

from kith.core.errors import ValidationFailed
from kith.core.reports import (
    ReportDefinition,
    delete_report,
    get_report,
    list_reports,
    run_report,
    run_saved_report,
    save_report,
)
from kith.core.security.permissions import permissions_for
from kith.sdk.testing import make_activity, make_contact, make_organization, make_user

UTC = dt.UTC


async def reader(kith: Any, user: dict[str, Any]) -> Any:
    principal = await kith.auth.principal_for_user(user["id"], "token")
    return await permissions_for(kith, principal)


async def rep_and_boss(kith: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    rep = await make_user(kith, roles=["sales_rep"])
    boss = await make_user(kith, roles=["manager"])
    return rep, boss


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


async def test_aggregate_groups_measures_ratios_as_the_reader(kith):
    rep, boss = await rep_and_boss(kith)
    await kith.custom_fields.add("contact", "score", "integer")
    people = [
        ("lead", 10, "a.example", rep["id"]),
        ("lead", 30, "b.example", rep["id"]),
        ("customer", 5, "a.example", rep["id"]),
        ("customer", 7, "c.example", boss["id"]),
        ("lead", 1, "c.example", boss["id"]),
    ]
    for stage, score, city, owner in people:
        await make_contact(kith, lifecycle_stage=stage, city=city, owner=owner, custom={"score": score})
    definition = {
        "entity": "contact",
        "groupBy": ["lifecycleStage"],
        "measures": [
            {"op": "count"},
            {"op": "sum", "field": "customFields.score"},
            {"op": "avg", "field": "customFields.score", "name": "meanScore"},
            {"op": "distinct", "field": "city", "name": "cities"},
            {"op": "count", "name": "high", "filter": {"customFields": {"score": {"gte": 7}}}},
        ],
        "ratios": [{"name": "highShare", "numerator": "high", "denominator": "count"}],
    }
    everyone = await run_report(kith, definition, await reader(kith, boss))
    assert [(c.name, c.kind) for c in everyone.columns] == [
        ("lifecycleStage", "dimension"),
        ("count", "measure"),
        ("sum_customFields_score", "measure"),
        ("meanScore", "measure"),
        ("cities", "measure"),
        ("high", "measure"),
        ("highShare", "measure"),
    ]
    assert by(everyone.rows, "lifecycleStage") == {
        "customer": {"lifecycleStage": "customer", "count": 2, "sum_customFields_score": 12, "meanScore": 6,
                     "cities": 2, "high": 1, "highShare": 0.5},
        "lead": {"lifecycleStage": "lead", "count": 3, "sum_customFields_score": 41, "meanScore": 13.666667,
                 "cities": 3, "high": 2, "highShare": 0.6667},
    }  # fmt: skip
    own = await run_report(kith, definition, await reader(kith, rep))
    assert by(own.rows, "lifecycleStage") == {
        "customer": {"lifecycleStage": "customer", "count": 1, "sum_customFields_score": 5, "meanScore": 5,
                     "cities": 1, "high": 0, "highShare": 0.0},
        "lead": {"lifecycleStage": "lead", "count": 2, "sum_customFields_score": 40, "meanScore": 20,
                 "cities": 2, "high": 2, "highShare": 1.0},
    }  # fmt: skip


def _round_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()} for row in rows]


async def test_saved_reports_over_graphql_run_as_each_reader(kith, gql):
    from kith.sdk.testing import GraphQLClient

    rep, boss = await rep_and_boss(kith)
    for owner in (rep["id"], boss["id"], boss["id"]):
        await make_contact(kith, owner=owner, lifecycle_stage="lead")
    saved = await gql.query(
        """mutation($input: ReportInput!) { saveReport(input: $input) {
             report { id name kind definition ownerId } errors { field code message } } }""",
        input={"name": "Leads by stage", "definition": {"entity": "contact", "groupBy": ["lifecycleStage"]}},
    )
    report = saved["saveReport"]["report"]
    assert saved["saveReport"]["errors"] == []
    assert (report["name"], report["kind"], report["definition"]["groupBy"]) == (
        "Leads by stage",
        "aggregate",
        ["lifecycleStage"],
    )
    run = """query($id: ID) { runReport(id: $id) { columns { name label kind } rows } }"""
    assert (await gql.query(run, id=report["id"]))["runReport"] == {
        "columns": [
            {"name": "lifecycleStage", "label": "Lifecycle stage", "kind": "dimension"},
            {"name": "count", "label": "Count", "kind": "measure"},
        ],
        "rows": [{"lifecycleStage": "lead", "count": 3}],
    }
    as_rep = await GraphQLClient.as_user(kith, rep["id"])
    assert (await as_rep.query(run, id=report["id"]))["runReport"]["rows"] == [{"lifecycleStage": "lead", "count": 1}]
    listed = await as_rep.query("{ reports { id name } report(id: 999) { id } }")
    assert listed == {"reports": [{"id": report["id"], "name": "Leads by stage"}], "report": None}
    refused = await as_rep.query(
        """mutation($id: ID!) { deleteReport(id: $id) { report { id } errors { field code } } }""", id=report["id"]
    )
    assert refused["deleteReport"] == {"report": None, "errors": [{"field": None, "code": "forbidden"}]}
    bad = await gql.query(
        """mutation($input: ReportInput!) { saveReport(input: $input) { report { id } errors { field code } } }""",
        input={"name": "", "definition": {"entity": "contact", "groupBy": ["shoeSize", "city", "title"],
                                          "measures": [{"op": "sum", "field": "city"}]}},
    )  # fmt: skip
    assert {(e["field"], e["code"]) for e in bad["saveReport"]["errors"]} == {
        ("name", "required"),
        ("definition.groupBy[2]", "invalid"),
    }
    bad = await gql.query(
        """mutation($input: ReportInput!) { saveReport(input: $input) { report { id } errors { field code } } }""",
        input={"name": "x", "definition": {"entity": "contact", "groupBy": ["shoeSize"],
                                           "measures": [{"op": "sum", "field": "city"}]}},
    )  # fmt: skip
    assert {(e["field"], e["code"]) for e in bad["saveReport"]["errors"]} == {
        ("definition.groupBy[0]", "unknown"),
        ("definition.measures[0].field", "invalid"),
    }
    body = await gql.execute('{ runReport(definition: {entity: "contact", timeZone: "Mars/Olympus"}) { rows } }')
    assert body["errors"][0]["extensions"]["errors"] == [
        {
            "field": "timeZone",
            "code": "invalid",
            "message": "'Mars/Olympus' is not a time zone (use an IANA name: Europe/Berlin)",
        }
    ]
    deleted = await gql.query(
        """mutation($id: ID!) { deleteReport(id: $id) { report { name } errors { field } } }""", id=report["id"]
    )
    assert deleted["deleteReport"] == {"report": {"name": "Leads by stage"}, "errors": []}
    assert (await gql.query("{ reports { id } }"))["reports"] == []


def _instants() -> list[dt.datetime]:
    """Moments around the 2026 daylight-saving changes of Berlin and New York, around
    local midnights next to them, and a seeded spread over three years."""
    changes = [
        dt.datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin: +1 -> +2
        dt.datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin: +2 -> +1
        dt.datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York: -5 -> -4
        dt.datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York: -4 -> -5
    ]
    out = []
    for change in changes:
        for minutes in (-90, -30, 0, 30, 90):
            out.append(change + dt.timedelta(minutes=minutes))
        out.append(change - dt.timedelta(seconds=1))
    for zone in ("Europe/Berlin", "America/New_York"):
        for day in (dt.date(2026, 3, 29), dt.date(2026, 3, 30), dt.date(2026, 10, 26), dt.date(2026, 11, 1)):
            midnight = dt.datetime.combine(day, dt.time(), zoneinfo.ZoneInfo(zone)).astimezone(UTC)
            out += [midnight - dt.timedelta(minutes=1), midnight, midnight + dt.timedelta(minutes=1)]
    draw = random.Random(16)
    start = dt.datetime(2024, 12, 1, tzinfo=UTC)
    out += [start + dt.timedelta(seconds=draw.randrange(3 * 365 * 86400)) for _ in range(25)]
    return out


def _expected(instants: list[dt.datetime], zone: str, unit: str) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for moment in instants:
        day = moment.astimezone(zoneinfo.ZoneInfo(zone)).date()
        first = {
            "day": day,
            "week": day - dt.timedelta(days=day.weekday()),
            "month": day.replace(day=1),
            "quarter": day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1),
            "year": day.replace(month=1, day=1),
        }[unit]
        counts[first.isoformat()] = counts.get(first.isoformat(), 0) + 1
    return sorted(counts.items())


async def test_date_buckets_in_a_time_zone_across_daylight_saving(kith):
    contact = await make_contact(kith)
    instants = _instants()
    for moment in instants:
        await make_activity(kith, contact, occurred_at=moment)
    for zone in ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"):
        for unit in ("day", "week", "month", "quarter", "year"):
            result = await run_report(
                kith,
                {"entity": "activity", "bucket": {"field": "occurredAt", "unit": unit}, "timeZone": zone},
                None,
            )
            assert [c.name for c in result.columns] == [f"occurredAt:{unit}", "count"]
            got = [(row[f"occurredAt:{unit}"], row["count"]) for row in result.rows]
            assert got == _expected(instants, zone, unit), (zone, unit)
    # the first night of summer time: Berlin's midnight is 22:00 UTC (a fixed +1 would say 23:00)
    berlin = await run_report(
        kith,
        {"entity": "activity", "bucket": {"field": "occurredAt", "unit": "day"}, "timeZone": "Europe/Berlin",
         "filter": {"occurredAt": {"gte": "2026-03-29T21:30:00+00:00", "lt": "2026-03-29T22:30:00+00:00"}}},
        None,
    )  # fmt: skip
    assert berlin.rows == [{"occurredAt:day": "2026-03-29", "count": 1}, {"occurredAt:day": "2026-03-30", "count": 2}]


async def test_funnel_counts_each_step_as_the_reader_with_a_dashboard_filter(kith):
    rep, boss = await rep_and_boss(kith)
    await make_organization(kith, owner=rep["id"], industry="retail")
    await make_organization(kith, owner=boss["id"], industry="retail")
    for owner, stage in ((rep["id"], "lead"), (rep["id"], "customer"), (boss["id"], "lead"), (boss["id"], "lead")):
        await make_contact(kith, owner=owner, lifecycle_stage=stage)
    funnel = {
        "kind": "funnel",
        "steps": [
            {"label": "Organizations", "entity": "organization"},
            {"label": "Contacts", "entity": "contact"},
            {"label": "Leads", "entity": "contact", "filter": {"lifecycleStage": {"in": ["lead", "customer"]}}},
            {"label": "Customers", "entity": "contact", "filter": {"lifecycleStage": {"eq": "customer"}}},
        ],
    }
    result = await run_report(kith, funnel, await reader(kith, boss))
    assert [c.name for c in result.columns] == ["step", "count", "fromPrevious", "fromFirst"]
    assert result.rows == [
        {"step": "Organizations", "count": 2, "fromPrevious": None, "fromFirst": None},
        {"step": "Contacts", "count": 4, "fromPrevious": 2.0, "fromFirst": 2.0},
        {"step": "Leads", "count": 4, "fromPrevious": 1.0, "fromFirst": 2.0},
        {"step": "Customers", "count": 1, "fromPrevious": 0.25, "fromFirst": 0.5},
    ]
    own = await run_report(kith, funnel, await reader(kith, rep))
    assert [row["count"] for row in own.rows] == [1, 2, 2, 1]
    # one filter for the whole dashboard: each step takes the parts its entity has fields for
    narrowed = await run_report(
        kith,
        funnel,
        None,
        filter={"ownerId": {"eq": boss["id"]}, "lifecycleStage": {"eq": "lead"}, "industry": {"eq": "x"}},
    )
    assert [row["count"] for row in narrowed.rows] == [0, 2, 2, 0]
    later = await run_report(kith, funnel, None, date_from=dt.datetime.now(UTC) + dt.timedelta(hours=1))
    assert [row["count"] for row in later.rows] == [0, 0, 0, 0]
    with pytest.raises(ValidationFailed) as refused:
        await run_report(kith, {"kind": "funnel", "steps": [{"label": "x", "entity": "contact", "filter": {"shoe": {"eq": 1}}},
                                                             {"label": "y", "entity": "spaceship"}]}, None)  # fmt: skip
    assert {(e.field, e.code) for e in refused.value.errors} == {
        ("steps[0].filter.shoe", "unknown"),
        ("steps[1].entity", "unknown"),
    }
    with pytest.raises(ValidationFailed) as bad_filter:
        await run_report(kith, funnel, None, filter={"ownerId": {"eq": "nobody"}})
    assert [e.field for e in bad_filter.value.errors] == ["filter.ownerId.eq"]


async def test_date_range_applies_to_the_date_field_in_the_time_zone(kith):
    await kith.custom_fields.add("contact", "signed", "date")
    await kith.custom_fields.add("contact", "called", "datetime")
    for signed, called in (("2026-03-01", "2026-02-28T23:30:00+00:00"), ("2026-03-31", "2026-03-31T22:30:00+00:00"),
                           ("2026-04-01", "2026-04-01T12:00:00+00:00")):  # fmt: skip
        await make_contact(kith, custom={"signed": signed, "called": called})
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    march = {"date_from": dt.datetime(2026, 3, 1, tzinfo=berlin), "date_to": dt.datetime(2026, 4, 1, tzinfo=berlin)}
    by_signed = {
        "entity": "contact",
        "bucket": {"field": "customFields.signed", "unit": "month"},
        "timeZone": "Europe/Berlin",
    }
    assert (await run_report(kith, by_signed, None, **march)).rows == [
        {"customFields.signed:month": "2026-03-01", "count": 2}
    ]
    by_call = {
        "entity": "contact",
        "bucket": {"field": "customFields.called", "unit": "month"},
        "timeZone": "Europe/Berlin",
    }
    # 23:30 UTC on 28 February is March in Berlin; 22:30 UTC on 31 March is April there
    assert (await run_report(kith, by_call, None, **march)).rows == [
        {"customFields.called:month": "2026-03-01", "count": 1}
    ]
    counted = {"entity": "contact", "dateField": "customFields.called"}
    assert (await run_report(kith, counted, None, **march)).rows == [{"count": 1}]
    with pytest.raises(ValidationFailed) as not_a_date:
        await run_report(kith, {"entity": "contact", "dateField": "city"}, None, **march)
    assert [(e.field, e.code) for e in not_a_date.value.errors] == [("dateField", "invalid")]


def _month(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


async def test_cohorts_by_month_of_first_activity_as_the_reader(kith):
    rep, boss = await rep_and_boss(kith)
    today = dt.datetime.now(UTC).date()
    now = today.year * 12 + today.month - 1
    first = now - 4

    def at(number: int) -> dt.datetime:
        return dt.datetime(number // 12, number % 12 + 1, 10, 12, tzinfo=UTC)

    plan = {
        ("boss", "a"): [first, first + 1, first + 3],
        ("rep", "b"): [first, first + 2, first + 2],
        ("boss", "c"): [first + 1, first + 2],
        ("boss", "d"): [],
    }
    for (owner_name, _), months in plan.items():
        owner = rep if owner_name == "rep" else boss
        contact = await make_contact(kith, owner=owner["id"])
        for number in months:
            await make_activity(kith, contact, occurred_at=at(number), owner=owner["id"], kind="call")
    cohort = {"kind": "cohort", "months": 4}
    result = await run_report(kith, cohort, await reader(kith, boss))
    assert [c.name for c in result.columns] == ["cohort", "size", "month_1", "month_2", "month_3", "month_4"]
    assert result.rows == [
        {"cohort": _month(first), "size": 2, "month_1": 1, "month_2": 1, "month_3": 1, "month_4": 0},
        {"cohort": _month(first + 1), "size": 1, "month_1": 1, "month_2": 0, "month_3": 0, "month_4": None},
    ]
    own = await run_report(kith, cohort, await reader(kith, rep))
    assert own.rows == [{"cohort": _month(first), "size": 1, "month_1": 0, "month_2": 1, "month_3": 0, "month_4": 0}]
    emails = await run_report(kith, {**cohort, "activityFilter": {"kind": {"eq": "email"}}}, None)
    assert emails.rows == []
    latest = dt.datetime.combine(dt.date(first // 12, first % 12 + 1, 1), dt.time(), UTC)
    picked = await run_report(kith, cohort, None, date_from=latest + dt.timedelta(days=40))
    assert [row["cohort"] for row in picked.rows] == [_month(first + 1)]


async def test_a_cohort_month_is_the_report_time_zone_month(kith):
    contact = await make_contact(kith)
    await make_activity(kith, contact, occurred_at=dt.datetime(2025, 1, 31, 23, 30, tzinfo=UTC))
    utc = await run_report(kith, {"kind": "cohort", "months": 1}, None)
    berlin = await run_report(kith, {"kind": "cohort", "months": 1, "timeZone": "Europe/Berlin"}, None)
    assert [row["cohort"] for row in utc.rows] == ["2025-01"]
    assert [row["cohort"] for row in berlin.rows] == ["2025-02"]


async def test_saved_reports_are_kept_changed_by_their_owner_and_run_as_the_reader(kith):
    rep, boss = await rep_and_boss(kith)
    await make_contact(kith, owner=rep["id"])
    await make_contact(kith, owner=boss["id"])
    as_rep, as_boss = await reader(kith, rep), await reader(kith, boss)
    definition = ReportDefinition(entity="contact", measures=[{"op": "count", "name": "contacts"}])
    saved = await save_report(kith, "Contacts", definition, as_rep, description="How many I have")
    assert (saved.owner, saved.description, saved.definition) == (rep["id"], "How many I have", definition)
    assert (await get_report(kith, saved.id)).definition.to_json() == {
        "kind": "aggregate",
        "entity": "contact",
        "measures": [{"name": "contacts"}],
    }
    assert (await run_saved_report(kith, saved.id, as_rep)).rows == [{"contacts": 1}]
    assert (await run_saved_report(kith, saved.id, as_boss)).rows == [{"contacts": 2}]
    with pytest.raises(ValidationFailed) as not_theirs:
        await save_report(kith, "Mine now", definition, as_boss, report_id=saved.id)
    assert not_theirs.value.errors[0].code == "forbidden"
    renamed = await save_report(kith, "My contacts", definition, as_rep, report_id=saved.id)
    assert [r.name for r in await list_reports(kith)] == ["My contacts"] and renamed.id == saved.id
    with pytest.raises(ValidationFailed):
        await delete_report(kith, saved.id, as_boss)
    await delete_report(kith, saved.id, as_rep)
    assert await list_reports(kith) == []
    with pytest.raises(ValidationFailed) as gone:
        await run_saved_report(kith, saved.id, as_rep)
    assert gone.value.errors[0].code == "not_found"


def test_reports_from_the_cli(kith_cli, tmp_path):
    rep = kith_cli("users", "add", "rep@example.com", "--name", "Rep", "--role", "sales_rep", "--no-password")
    assert rep.exit_code == 0
    definition = tmp_path / "stages.json"
    definition.write_text('{"entity": "contact", "groupBy": ["lifecycleStage"], "measures": [{"name": "people"}]}')
    saved = kith_cli("reports", "save", "By stage", "--definition", f"@{definition}", "--description", "Funnel")
    assert saved.exit_code == 0 and "Saved report 1: By stage (aggregate)" in saved.output
    listed = kith_cli("reports", "list")
    assert "By stage" in listed.output and "1 saved report(s)" in listed.output
    as_json = kith_cli("reports", "run", "1", "--format", "json")
    assert json.loads(as_json.output) == {
        "columns": [
            {"name": "lifecycleStage", "label": "Lifecycle stage", "kind": "dimension"},
            {"name": "people", "label": "People", "kind": "measure"},
        ],
        "rows": [],
    }
    as_rep = kith_cli("reports", "run", "1", "--format", "csv", "--as", "rep@example.com")
    assert as_rep.output.splitlines() == ["Lifecycle stage,People"]
    bad = kith_cli("reports", "save", "Bad", "--definition", '{"entity": "contact", "groupBy": ["shoe"]}')
    assert bad.exit_code != 0 and "definition.groupBy[0]" in bad.output
    no_mail = kith_cli("reports", "schedule", "add", "1", "--to", "boss@example.com")
    assert no_mail.exit_code != 0 and "mail_from is not set" in no_mail.output


async def test_a_field_hidden_from_the_reader_groups_counts_and_filters_as_empty(kith):
    from kith.core.security.roles import Grant, RoleDefinition, save_role

    await save_role(kith, RoleDefinition(name="cityless", grants={"contact": Grant(actions=["read"], hidden=["city"])}))
    cityless = await make_user(kith, roles=["cityless"])
    for city in ("Boston", "Boston", "Oslo"):
        await make_contact(kith, city=city)
    definition = {
        "entity": "contact",
        "groupBy": ["city"],
        "measures": [
            {"op": "count"},
            {"op": "distinct", "field": "city", "name": "cities"},
            {"op": "count", "name": "bostonians", "filter": {"city": {"eq": "Boston"}}},
        ],
    }
    admin = await run_report(kith, definition, None)
    assert by(admin.rows, "city")["Boston"]["bostonians"] == 2 and len(admin.rows) == 2
    seen = await run_report(kith, definition, await reader(kith, cityless))
    # the cities are neither shown, nor counted, nor matched: one group of empty cities
    assert seen.rows == [{"city": None, "count": 3, "cities": 0, "bostonians": 0}]
