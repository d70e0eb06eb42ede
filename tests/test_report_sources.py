"""Report sources: the plugins' figures (sales forecast, SLA compliance, campaign ROI,
social sentiment) as reports, each computed as the reader: a reader whose scope is
``own`` gets the figures of their own records only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kith.core.errors import ValidationFailed
from kith.core.reports import ReportColumn, ReportRequest, ReportSource, run_report, save_report
from kith.core.security.permissions import permissions_for
from kith.core.security.roles import save_role
from kith.sdk import Grant, RoleDefinition
from kith.sdk.testing import make_contact, make_user, system_context, throwaway_plugin

UTC = dt.UTC


async def reader(kith: Any, user: dict[str, Any]) -> Any:
    return await permissions_for(kith, await kith.auth.principal_for_user(user["id"], "token"))


async def role(kith: Any, name: str, **grants: Grant) -> None:
    await save_role(kith, RoleDefinition(name=name, grants=grants))


def rows_without(result: Any, *names: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in names} for row in result.rows]


async def test_sales_forecast_source_covers_the_readers_deals(make_kith):
    kith = await make_kith(enable=["sales"])
    records = system_context(kith).records
    rep = await make_user(kith, name="Rita Rep", roles=["sales_rep"])
    boss = await make_user(kith, name="Bea Boss", roles=["manager"])
    negotiation = await records.first("stage", {"name": {"eq": "Negotiation"}})
    for owner, amount in ((rep, "1000.00"), (rep, "500.00"), (boss, "2000.00")):
        await records.create(
            "deal", {"name": f"Deal {amount}", "stage": negotiation["id"], "owner": owner["id"],
                     "amount": {"amount": amount, "currency": "EUR"}, "expected_close": "2025-05-10"},
        )  # fmt: skip
    report = {"kind": "source", "source": "sales.forecast", "params": {"groupBy": "owner"}}
    q2 = {"date_from": dt.datetime(2025, 4, 1, tzinfo=UTC), "date_to": dt.datetime(2025, 7, 1, tzinfo=UTC)}
    everyone = await run_report(kith, report, await reader(kith, boss), **q2)
    assert [c.name for c in everyone.columns][:4] == ["label", "currency", "openCount", "pipeline"]
    assert [(r["label"], r["openCount"], r["pipeline"], r["commit"]) for r in everyone.rows] == [
        ("Bea Boss", 1, 2000, 2000),
        ("Rita Rep", 2, 1500, 1500),
        ("Total", 3, 3500, 3500),
    ]
    own = await run_report(kith, report, await reader(kith, rep), **q2)
    assert [(r["label"], r["openCount"], r["pipeline"]) for r in own.rows] == [
        ("Rita Rep", 2, 1500),
        ("Total", 2, 1500),
    ]
    # an aggregate report of the same deals: money adds up per currency, in major units
    summed = {"entity": "deal", "groupBy": ["ownerId"], "measures": [{"op": "sum", "field": "amount"}]}
    assert (await run_report(kith, summed, await reader(kith, rep))).rows == [
        {"ownerId": rep["id"], "amount.currency": "EUR", "sum_amount": 1500}
    ]
    # a dashboard's filter narrows the deals; the period is the dashboard's range
    narrowed = await run_report(kith, report, None, filter={"ownerId": {"eq": boss["id"]}}, **q2)
    assert [r["label"] for r in narrowed.rows] == ["Bea Boss", "Total"]
    later = {"date_from": dt.datetime(2025, 7, 1, tzinfo=UTC), "date_to": dt.datetime(2025, 10, 1, tzinfo=UTC)}
    assert (await run_report(kith, report, None, **later)).rows == []
    with pytest.raises(ValidationFailed) as bad:
        await run_report(kith, {**report, "params": {"groupBy": "moon", "colour": "red"}}, None, **q2)
    assert {(e.field, e.code) for e in bad.value.errors} == {
        ("params.groupBy", "invalid"),
        ("params.colour", "unknown"),
    }


async def test_sla_compliance_source_covers_the_readers_tickets(make_kith):
    from kith.plugins.service.sla import engine

    kith = await make_kith(enable=["service"])
    context = system_context(kith)
    records = context.records
    rep = await make_user(kith)
    boss = await make_user(kith, roles=["manager"])
    await role(kith, "own_tickets", ticket=Grant(actions=["read"], scope="own"))
    await kith.auth.grant_role(rep["id"], "own_tickets")
    await records.create("sla_policy", {"name": "Standard", "targets": {"default": {"first_response": 30}}})
    answered = await records.create("ticket", {"subject": "Answered", "assignee": rep["id"]})
    await records.create("ticket_message", {"ticket": answered["id"], "body": "on it"})
    await records.create("ticket", {"subject": "Waiting", "assignee": rep["id"]})
    late = await records.create("ticket", {"subject": "Forgotten", "assignee": boss["id"]})
    # the clock moves on two hours for the forgotten one: its first response is overdue
    await engine.refresh(context, "ticket", await records.get("ticket", late["id"]),
                         now=dt.datetime.now(UTC) + dt.timedelta(hours=2))  # fmt: skip
    report = {"kind": "source", "source": "service.sla"}
    everyone = await run_report(kith, report, await reader(kith, boss))
    assert everyone.rows == [{"policy": "Standard", "target": "first_response", "tickets": 3, "onTime": 1, "late": 1,
                      "running": 1, "compliance": 0.5}]  # fmt: skip
    own = await run_report(kith, report, await reader(kith, rep))
    assert own.rows == [
        {"policy": "Standard", "target": "first_response", "tickets": 2, "onTime": 1, "late": 0, "running": 1,
         "compliance": 1.0}
    ]  # fmt: skip
    before = await run_report(kith, report, None, date_to=dt.datetime.now(UTC) - dt.timedelta(days=1))
    assert before.rows == []


async def test_campaign_roi_source_counts_only_the_readers_deals(make_kith):
    kith = await make_kith(enable=["marketing", "sales"])
    records = system_context(kith).records
    rep = await make_user(kith, roles=["sales_rep"])
    boss = await make_user(kith, roles=["manager"])
    await role(
        kith, "campaign_reader", campaign=Grant(actions=["read"]), campaign_delivery=Grant(actions=["read"]),
        deal=Grant(actions=["read"], scope="own"), contact=Grant(actions=["read"], scope="own"),
    )  # fmt: skip
    await kith.auth.grant_role(rep["id"], "campaign_reader")
    campaign = await records.create(
        "campaign",
        {"name": "Spring", "subject": "Hi", "html": "<p>Hi</p>", "cost": {"amount": "100.00", "currency": "EUR"}},
    )
    won = await records.first("stage", {"kind": {"eq": "won"}})
    now = dt.datetime.now(UTC)
    for owner, amount in ((rep, "1000.00"), (boss, "500.00")):
        person = await make_contact(kith, owner=owner["id"])
        await records.create(
            "campaign_delivery", {"campaign": campaign["id"], "contact": person["id"], "status": "sent",
                                  "sent_at": now - dt.timedelta(days=3)},
        )  # fmt: skip
        await records.create(
            "deal", {"name": f"Order {amount}", "contact": person["id"], "stage": won["id"], "owner": owner["id"],
                     "amount": {"amount": amount, "currency": "EUR"}},
        )  # fmt: skip
    report = {"kind": "source", "source": "marketing.campaign_roi", "params": {"model": "linear"}}
    everyone = await run_report(kith, report, await reader(kith, boss))
    assert everyone.rows == [
        {"campaign": "Spring", "currency": "EUR", "deals": 2, "revenue": 1500, "cost": 100, "roi": 14}
    ]
    own = await run_report(kith, report, await reader(kith, rep))
    assert own.rows == [{"campaign": "Spring", "currency": "EUR", "deals": 1, "revenue": 1000, "cost": 100, "roi": 9}]
    # the period picks deals by when they were won
    earlier = await run_report(kith, report, None, date_to=now - dt.timedelta(days=1))
    assert earlier.rows == [{"campaign": "Spring", "currency": "EUR", "deals": 0, "revenue": 0, "cost": 100, "roi": -1}]


async def test_social_sentiment_source_counts_the_readers_mentions(make_kith):
    kith = await make_kith(enable=["social"])
    records = system_context(kith).records
    rep = await make_user(kith)
    await role(
        kith, "own_listener", social_mention=Grant(actions=["read"], scope="own"),
        contact=Grant(actions=["read"], scope="own"),
    )  # fmt: skip
    await kith.auth.grant_role(rep["id"], "own_listener")
    mine = await make_contact(kith, owner=rep["id"])
    theirs = await make_contact(kith)
    mentions = [
        (mine, "2026-03-02T09:00:00+00:00", 0.6, "positive"),
        (theirs, "2026-03-02T10:00:00+00:00", -0.5, "negative"),
        (theirs, "2026-03-08T23:30:00+00:00", 0.0, "neutral"),  # Monday 9 March in Berlin
        (mine, "2026-03-10T08:00:00+00:00", -0.2, "negative"),
    ]
    for number, (contact, posted, score, label) in enumerate(mentions):
        await records.create(
            "social_mention", {"platform": "webhook", "platform_id": f"m{number}", "author_handle": "someone",
                               "contact": contact["id"], "posted_at": posted, "sentiment_score": score,
                               "sentiment_label": label},
        )  # fmt: skip
    report = {"kind": "source", "source": "social.sentiment", "params": {"bucket": "week"}, "timeZone": "Europe/Berlin"}
    everyone = await run_report(kith, report, None)
    assert everyone.rows == [
        {"period": "2026-03-02", "mentions": 2, "averageSentiment": 0.05, "positive": 1, "neutral": 0, "negative": 1},
        {"period": "2026-03-09", "mentions": 2, "averageSentiment": -0.1, "positive": 0, "neutral": 1, "negative": 1},
    ]
    own = await run_report(kith, report, await reader(kith, rep))
    assert own.rows == [
        {"period": "2026-03-02", "mentions": 1, "averageSentiment": 0.6, "positive": 1, "neutral": 0, "negative": 0},
        {"period": "2026-03-09", "mentions": 1, "averageSentiment": -0.2, "positive": 0, "neutral": 0, "negative": 1},
    ]
    in_utc = await run_report(kith, {**report, "timeZone": "UTC"}, None)
    assert [(r["period"], r["mentions"]) for r in in_utc.rows] == [("2026-03-02", 3), ("2026-03-09", 1)]


async def test_a_plugins_source_runs_as_the_reader_and_keeps_to_its_columns(make_kith):
    async def owners(context: Any, request: ReportRequest) -> list[dict[str, Any]]:
        contacts = [c async for c in context.records.each("contact", request.filter_for("contact"))]
        return [{"who": context.user_id, "contacts": len(contacts), "secret": "not a column"}]

    def kith_report_sources() -> list[ReportSource]:
        columns = [ReportColumn("who", "Reader", "dimension"), ReportColumn("contacts", "Contacts")]
        return [ReportSource("crm.contacts", "Contacts I see", columns, owners)]

    kith = await make_kith(plugins=[throwaway_plugin("crm", kith_report_sources)], enable=["crm"])
    rep = await make_user(kith, roles=["sales_rep"])
    for owner in (rep["id"], None, None):
        await make_contact(kith, owner=owner, city="Oslo" if owner else "Rome")
    report = {"kind": "source", "source": "crm.contacts"}
    assert (await run_report(kith, report, None)).rows == [{"who": None, "contacts": 3}]
    assert (await run_report(kith, report, await reader(kith, rep))).rows == [{"who": rep["id"], "contacts": 1}]
    narrowed = await run_report(kith, report, None, filter={"city": {"eq": "Rome"}, "stageId": {"eq": 1}})
    assert narrowed.rows == [{"who": None, "contacts": 2}]
    saved = await save_report(kith, "Mine", report)
    assert saved.definition.source == "crm.contacts"
    with pytest.raises(ValidationFailed) as unknown:
        await save_report(kith, "Nope", {"kind": "source", "source": "crm.nothing"})
    assert [(e.field, e.code) for e in unknown.value.errors] == [("definition.source", "unknown")]
