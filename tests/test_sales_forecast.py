"""Sales forecasts and KPIs: the figures GraphQL and the CLI give, checked against a
small Python model of the same definitions computed over this file's own data table
(not over the database, and not with the plugin's code)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from kith.sdk.testing import GraphQLClient, make_user

UTC = dt.UTC
START, END = dt.date(2025, 4, 1), dt.date(2025, 6, 30)  # the period: Q2 2025, both days included
DECIMALS = {"EUR": 2, "USD": 2, "JPY": 0}  # minor units of the currencies used here

# -- the data, and the model of what the figures must be ------------------------------------

#: stage -> (pipeline, probability %, kind, forecast category): the default Sales pipeline,
#: and an Enterprise pipeline the test creates
STAGES = {
    "Qualification": ("Sales", 10, "open", "pipeline"),
    "Proposal": ("Sales", 40, "open", "best_case"),
    "Negotiation": ("Sales", 70, "open", "commit"),
    "Won": ("Sales", 100, "won", None),
    "Lost": ("Sales", 0, "lost", "omitted"),
    "Discovery": ("Enterprise", 20, "open", None),
    "Signed off": ("Enterprise", 90, "open", "commit"),
    "Closed won": ("Enterprise", 100, "won", None),
    "Closed lost": ("Enterprise", 0, "lost", None),
}
ENTERPRISE_STAGES = [name for name, facts in STAGES.items() if facts[0] == "Enterprise"]
#: user key -> (name, team)
USERS = {
    "ann": ("Ann Archer", "North"),
    "bob": ("Bob Baker", "North"),
    "cy": ("Cy Cole", "South"),
    "dee": ("Dee Dunn", None),
}


def at(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


@dataclass(frozen=True)
class D:
    """A deal: created in ``stages[0]``, then moved through the other stages in order."""

    name: str
    owner: str | None
    stages: tuple[str, ...]
    amount: str | None
    currency: str | None
    expected: dt.date | None = None
    closed: dt.datetime | None = None  # when it (last) closed, for deals that end won or lost
    created: dt.datetime = field(default_factory=lambda: at(2025, 1, 2, 9))
    category: str | None = None  # the deal's own forecast category
    deleted: bool = False

    @property
    def stage(self) -> str:
        return self.stages[-1]

    @property
    def pipeline(self) -> str:
        return STAGES[self.stage][0]


DEALS = [
    D("A1", "ann", ("Negotiation",), "1000.00", "EUR", dt.date(2025, 5, 10)),
    D("A2", "ann", ("Proposal",), "333.33", "EUR", dt.date(2025, 6, 30)),  # last day of the period
    D("A3", "ann", ("Qualification",), "99.99", "USD", dt.date(2025, 4, 1)),  # first day
    D(
        "A4",
        "ann",
        ("Qualification", "Won"),
        "2500.00",
        "EUR",
        dt.date(2025, 4, 20),
        at(2025, 4, 15, 10),
        created=at(2025, 3, 1, 8),
    ),
    D("A5", "ann", ("Proposal", "Lost"), "400.00", "EUR", dt.date(2025, 5, 31), at(2025, 5, 20, 12)),
    D("A6", "ann", ("Qualification", "Lost"), "250.00", "USD", None, at(2025, 4, 1, 0, 30)),
    D("N1", "ann", ("Qualification", "Won"), None, None, None, at(2025, 5, 2, 9), created=at(2025, 4, 2, 9)),
    D(
        "B1",
        "bob",
        ("Won",),
        "150000",
        "JPY",
        dt.date(2025, 6, 30),
        at(2025, 6, 30, 23, 30),
        created=at(2025, 6, 1, 0, 0),
    ),
    D("B2", "bob", ("Won",), "50000", "JPY", dt.date(2025, 6, 30), at(2025, 7, 1, 0, 0, 1)),  # a second late
    D("B3", "bob", ("Negotiation",), "80000", "JPY", dt.date(2025, 5, 1), category="omitted"),
    D("B4", "bob", ("Proposal",), "70000", "JPY"),  # no expected close: in no period
    D("C1", "cy", ("Signed off",), "5000.00", "USD", dt.date(2025, 5, 1)),
    D("C2", "cy", ("Discovery",), "1234.56", "USD", dt.date(2025, 7, 1)),  # due after the period
    # won, then reopened: open again, not won
    D(
        "C3",
        "cy",
        ("Discovery", "Closed won", "Discovery"),
        "777.77",
        "USD",
        dt.date(2025, 6, 15),
        category="best_case",
    ),
    # won, reopened, won again: counts once
    D(
        "C4",
        "cy",
        ("Discovery", "Closed won", "Discovery", "Closed won"),
        "3000.00",
        "USD",
        dt.date(2025, 5, 5),
        at(2025, 5, 5, 15),
        created=at(2025, 2, 1, 12),
    ),
    D(
        "C5",
        "cy",
        ("Closed won",),
        "1000.01",
        "USD",
        dt.date(2025, 6, 1),
        at(2025, 6, 2, 10),
        created=at(2025, 5, 20, 10, 30, 15),
    ),
    D("C6", "cy", ("Closed lost",), "2000.00", "EUR", None, at(2025, 6, 10, 8)),
    # 01:59 in UTC+3 is still March 31st in UTC: outside the period
    D("D1", "dee", ("Won",), "999.99", "EUR", None, at(2025, 4, 1, 1, 59, tz=dt.timezone(dt.timedelta(hours=3)))),
    D("D2", None, ("Qualification",), "10.00", "EUR", dt.date(2025, 4, 30)),
    D("X1", "ann", ("Negotiation",), "999.00", "EUR", dt.date(2025, 5, 1), deleted=True),
]

FIGURES = (
    "openCount",
    "pipeline",
    "weighted",
    "commit",
    "bestCase",
    "closedWon",
    "closedWonCount",
    "closedLost",
    "closedLostCount",
)


def group_of(deal: D, by: str) -> str:
    if by == "pipeline":
        return deal.pipeline
    if deal.owner is None:
        return "Unassigned"
    name, team = USERS[deal.owner]
    return name if by == "owner" else (team or "Unassigned")


def model_forecast(
    deals: list[D], by: str = "owner", *, owner: str | None = None, pipeline: str | None = None
) -> dict[tuple[str, str], dict[str, Decimal]]:
    """What each (group, currency) row must say, straight from the definitions."""
    rows: dict[tuple[str, str], dict[str, Decimal]] = {}
    for deal in deals:
        if deal.deleted or deal.amount is None or (owner and deal.owner != owner):
            continue
        if pipeline and deal.pipeline != pipeline:
            continue
        _pipeline, probability, kind, stage_category = STAGES[deal.stage]
        category = deal.category or stage_category or "pipeline"
        due = kind == "open" and deal.expected is not None and START <= deal.expected <= END and category != "omitted"
        closed = kind != "open" and START <= deal.closed.astimezone(UTC).date() <= END
        if not (due or closed):
            continue
        row = rows.setdefault((group_of(deal, by), deal.currency), defaultdict(Decimal))
        amount = Decimal(deal.amount)
        if due:
            row["openCount"] += 1
            row["pipeline"] += amount
            row["weighted"] += amount * probability / 100
            row["commit"] += amount if category == "commit" else 0
            row["bestCase"] += amount if category in ("commit", "best_case") else 0
        elif kind == "won":
            row["closedWon"] += amount
            row["closedWonCount"] += 1
            row["commit"] += amount
            row["bestCase"] += amount
        else:
            row["closedLost"] += amount
            row["closedLostCount"] += 1
    return {key: {name: row[name] for name in FIGURES} for key, row in rows.items()}


def model_totals(rows: dict[tuple[str, str], dict[str, Decimal]]) -> dict[tuple[str, str], dict[str, Decimal]]:
    totals: dict[tuple[str, str], dict[str, Decimal]] = {}
    for (_group, currency), row in rows.items():
        total = totals.setdefault(("Total", currency), defaultdict(Decimal))
        for name in FIGURES:
            total[name] += row[name]
    return {key: dict(total) for key, total in totals.items()}


def as_numbers(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Decimal]]:
    """GraphQL rows keyed like the model, figures as numbers."""
    return {(r["label"], r["currency"]): {name: Decimal(str(r[name])) for name in FIGURES} for r in rows}


def model_kpis(
    deals: list[D], leads: list[L], *, owner: str | None = None, pipeline: str | None = None
) -> dict[str, Any]:
    """The KPIs as exact fractions, rounded half up only at the end."""

    def half_up(value: Fraction, places: int) -> Decimal:
        with decimal.localcontext() as ctx:
            ctx.prec = 60
            exact = Decimal(value.numerator) / Decimal(value.denominator)
            return exact.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP)

    mine = [
        d
        for d in deals
        if not d.deleted and (owner is None or d.owner == owner) and (pipeline is None or d.pipeline == pipeline)
    ]

    def closed_in_period(deal: D, kind: str) -> bool:
        return STAGES[deal.stage][2] == kind and START <= deal.closed.astimezone(UTC).date() <= END

    won = [d for d in mine if closed_in_period(d, "won")]
    lost = [d for d in mine if closed_in_period(d, "lost")]
    seconds = sum(int((d.closed - d.created).total_seconds()) for d in won)
    cycle = Fraction(seconds, len(won) * 86400) if won else None
    win_rate = Fraction(len(won), len(won) + len(lost)) if won or lost else None
    currencies = {}
    for currency in sorted({d.currency for d in mine if d.currency}):
        won_c = [Decimal(d.amount) for d in won if d.currency == currency]
        lost_c = [d for d in lost if d.currency == currency]
        open_c = [
            d
            for d in mine
            if d.currency == currency
            and STAGES[d.stage][2] == "open"
            and (d.category or STAGES[d.stage][3]) != "omitted"
        ]
        average = Fraction(sum(won_c)) / len(won_c) if won_c else None
        velocity = len(open_c) * win_rate * average / cycle if average is not None and cycle else None
        if won_c or lost_c or open_c:
            currencies[currency] = {
                "dealsWon": len(won_c),
                "dealsLost": len(lost_c),
                "wonAmount": sum(won_c, Decimal(0)),
                "averageDealSize": None if average is None else half_up(average, DECIMALS[currency]),
                "openDeals": len(open_c),
                "pipelineVelocity": None if velocity is None else half_up(velocity, DECIMALS[currency]),
            }
    created = [
        lead
        for lead in leads
        if START <= lead.created.astimezone(UTC).date() <= END and (owner is None or lead.owner == owner)
    ]
    converted = [lead for lead in created if lead.converted_to_deal]
    return {
        "leadsCreated": len(created),
        "leadsConverted": len(converted),
        "leadConversionRate": half_up(Fraction(100 * len(converted), len(created)), 2) if created else None,
        "dealsWon": len(won),
        "dealsLost": len(lost),
        "winRate": None if win_rate is None else half_up(100 * win_rate, 2),
        "salesCycleDays": None if cycle is None else half_up(cycle, 2),
        "currencies": currencies,
    }


@dataclass(frozen=True)
class L:
    """A lead: who owns it, when it was created, and how it was converted (if it was)."""

    email: str
    owner: str
    created: dt.datetime
    converted_to_deal: bool = False
    converted_without_deal: bool = False


LEADS = [
    L("l1@acme.com", "ann", at(2025, 4, 10, 9), converted_to_deal=True),
    L("l2@globex.com", "bob", at(2025, 5, 1, 9), converted_without_deal=True),
    L("l3@initech.com", "cy", at(2025, 6, 30, 23, 59)),
    L("l4@umbrella.com", "ann", at(2025, 3, 31, 23, 59), converted_to_deal=True),  # before the period
    L("l5@hooli.com", "ann", at(2025, 4, 20, 9)),
]

# -- building the data as a user would ----------------------------------------------------------

CREATE_DEAL = """mutation($input: DealCreateInput!) { createDeal(input: $input) { deal { id } errors { message } } }"""
MOVE = """mutation($id: ID!, $stage: ID!) { updateDeal(id: $id, input: {stageId: $stage, lostReason: "price"}) {
  errors { message } } }"""
FORECAST = """query($start: Date!, $end: Date!, $by: SalesForecastGrouping!, $pipeline: ID) {
  salesForecast(start: $start, end: $end, groupBy: $by, pipelineId: $pipeline) {
    groupBy pipelineId
    rows { groupId label currency openCount pipeline weighted commit bestCase closedWon closedWonCount
           closedLost closedLostCount
           comparison { weighted commit bestCase closedMinusWeighted closedMinusCommit closedMinusBestCase } }
    totals { label currency openCount pipeline weighted commit bestCase closedWon closedWonCount closedLost
             closedLostCount
             comparison { weighted commit bestCase closedMinusWeighted closedMinusCommit closedMinusBestCase } }
    comparedWith { id takenBy } } }"""
KPIS = """query($start: Date!, $end: Date!, $pipeline: ID, $owner: ID) {
  salesKpis(start: $start, end: $end, pipelineId: $pipeline, ownerId: $owner) {
    leadsCreated leadsConverted leadConversionRate dealsWon dealsLost winRate salesCycleDays
    currencies { currency dealsWon dealsLost wonAmount averageDealSize openDeals pipelineVelocity } } }"""
SNAPSHOT = """mutation($start: Date!, $end: Date!, $by: SalesForecastGrouping!) {
  snapshotForecast(start: $start, end: $end, groupBy: $by) {
    snapshot { id takenBy } forecast { rows { label currency weighted } } errors { field code message } } }"""


@dataclass
class Crm:
    kith: Any
    gql: GraphQLClient
    users: dict[str, dict[str, Any]]
    stages: dict[str, str]  # name -> id
    pipelines: dict[str, str]  # name -> id
    deals: dict[str, str]  # name -> id


async def ok(gql: GraphQLClient, query: str, **variables: Any) -> dict[str, Any]:
    data = await gql.query(query, **variables)
    payload = next(iter(data.values()))
    assert payload.get("errors", []) == [], payload
    return payload


async def build(kith: Any, deals: list[D] = DEALS, leads: list[L] = LEADS) -> Crm:
    gql = GraphQLClient(kith)
    teams = {}
    for team in sorted({t for _n, t in USERS.values() if t}):
        teams[team] = (
            await ok(
                gql,
                "mutation($n: String!) { createTeam(input: {name: $n}) { team { id } errors { message } } }",
                n=team,
            )
        )["team"]["id"]
    users = {
        key: await make_user(kith, name=name, email=f"{key}@example.com", team=int(teams[team]) if team else None)
        for key, (name, team) in USERS.items()
    }
    pipelines = {
        p["name"]: p["id"] for p in (await gql.query("{ pipelines { nodes { id name } } }"))["pipelines"]["nodes"]
    }
    pipelines["Enterprise"] = (
        await ok(gql, 'mutation { createPipeline(input: {name: "Enterprise"}) { pipeline { id } errors { message } } }')
    )["pipeline"]["id"]
    for position, name in enumerate(ENTERPRISE_STAGES):
        _p, probability, kind, category = STAGES[name]
        await ok(
            gql,
            """mutation($input: StageCreateInput!) { createStage(input: $input) { errors { message } } }""",
            input={
                "pipelineId": pipelines["Enterprise"],
                "name": name,
                "position": position,
                "probability": probability,
                "kind": kind,
                "forecastCategory": category,
            },
        )
    stages = {
        s["name"]: s["id"] for s in (await gql.query("{ stages(first: 100) { nodes { id name } } }"))["stages"]["nodes"]
    }
    ids = {}
    for deal in deals:
        values: dict[str, Any] = {"name": deal.name, "stageId": stages[deal.stages[0]], "lostReason": "price"}
        if deal.amount is not None:
            values["amount"] = {"amount": deal.amount, "currency": deal.currency}
        if deal.owner:
            values["ownerId"] = str(users[deal.owner]["id"])
        if deal.expected:
            values["expectedClose"] = deal.expected.isoformat()
        if deal.category:
            values["forecastCategory"] = deal.category
        deal_id = (await ok(gql, CREATE_DEAL, input=values))["deal"]["id"]
        for stage in deal.stages[1:]:
            await ok(gql, MOVE, id=deal_id, stage=stages[stage])
        # Test data lives in the past: no API sets when a deal was created or closed, so
        # both are backdated with a direct SQL UPDATE after the deal went through its stages.
        await kith.db.execute(
            "UPDATE sales_deal SET created_at = {}, closed_at = {} WHERE id = {}",
            deal.created,
            deal.closed,
            int(deal_id),
        )
        if deal.deleted:
            await ok(gql, "mutation($id: ID!) { deleteDeal(id: $id) { errors { message } } }", id=deal_id)
        ids[deal.name] = deal_id
    for lead in leads:
        lead_id = (
            await ok(
                gql,
                """mutation($input: LeadCreateInput!) { createLead(input: $input) {
            lead { id } errors { message } } }""",
                input={
                    "email": lead.email,
                    "company": lead.email.split("@")[1],
                    "ownerId": str(users[lead.owner]["id"]),
                    "status": "qualified" if lead.converted_to_deal or lead.converted_without_deal else "new",
                },
            )
        )["lead"]["id"]
        if lead.converted_to_deal or lead.converted_without_deal:
            deal = "From the lead" if lead.converted_to_deal else None
            await ok(
                gql,
                "mutation($id: ID!, $deal: String) { convertLead(id: $id, dealName: $deal) { errors { message } } }",
                id=lead_id,
                deal=deal,
            )
        # backdated like the deals (created_at is set by the record service, not by clients)
        await kith.db.execute("UPDATE sales_lead SET created_at = {} WHERE id = {}", lead.created, int(lead_id))
    return Crm(kith, gql, users, stages, pipelines, ids)


@pytest.fixture
async def crm(make_kith) -> Crm:
    return await build(await make_kith(enable=["sales"]))


async def forecast(
    client: Any, by: str = "OWNER", pipeline: str | None = None, start: dt.date = START, end: dt.date = END
) -> dict[str, Any]:
    return (await client.query(FORECAST, start=start.isoformat(), end=end.isoformat(), by=by, pipeline=pipeline))[
        "salesForecast"
    ]


class AsUser:
    """A GraphQL client acting as one user, under their roles."""

    def __init__(self, kith: Any, user: dict[str, Any]) -> None:
        self.kith, self.user = kith, user

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        from kith.core.web.app import execute

        principal = await self.kith.auth.principal_for_user(self.user["id"], "token")
        return await execute(self.kith, query, variables or {}, principal=principal)

    async def query(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.execute(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]


# -- forecasts ----------------------------------------------------------------------------------


async def test_forecast_rows_and_totals_match_the_model_for_every_grouping(crm):
    for by in ("owner", "team", "pipeline"):
        result = await forecast(crm.gql, by.upper())
        expected = model_forecast(DEALS, by)
        assert as_numbers(result["rows"]) == expected, by
        assert as_numbers(result["totals"]) == model_totals(expected), by
        assert result["comparedWith"] is None
    enterprise = await forecast(crm.gql, "OWNER", crm.pipelines["Enterprise"])
    assert enterprise["pipelineId"] == crm.pipelines["Enterprise"]
    assert as_numbers(enterprise["rows"]) == model_forecast(DEALS, "owner", pipeline="Enterprise")


async def test_forecast_figures_by_hand(crm):
    """Ann's deals, worked out on paper: exact decimals in each currency's own format."""
    result = await forecast(crm.gql)
    rows = {(r["label"], r["currency"]): r for r in result["rows"]}
    ann_eur = {k: v for k, v in rows[("Ann Archer", "EUR")].items() if k != "comparison"}
    assert ann_eur == {
        "groupId": str(crm.users["ann"]["id"]),
        "label": "Ann Archer",
        "currency": "EUR",
        "openCount": 2,  # A1, A2 (X1 is deleted)
        "pipeline": "1333.33",  # 1000.00 + 333.33
        "weighted": "833.332",  # 1000.00 x 70% + 333.33 x 40%: exact, a fraction of a cent kept
        "commit": "3500.00",  # won 2500.00 + open commit 1000.00
        "bestCase": "3833.33",  # commit + open best case 333.33
        "closedWon": "2500.00",
        "closedWonCount": 1,
        "closedLost": "400.00",
        "closedLostCount": 1,
    }
    assert rows[("Bob Baker", "JPY")]["closedWon"] == "150000"  # closed 23:30 UTC on the last day
    assert rows[("Bob Baker", "JPY")]["openCount"] == 0  # B3 is omitted, B4 has no close date
    assert rows[("Cy Cole", "USD")]["closedWonCount"] == 2  # C4 (won twice) once, C5; C3 was reopened
    assert [r["label"] for r in result["rows"]] == [
        "Ann Archer",
        "Ann Archer",
        "Bob Baker",
        "Cy Cole",
        "Cy Cole",
        "Unassigned",
    ]
    assert [(r["currency"], r["closedWon"]) for r in result["totals"]] == [
        ("EUR", "2500.00"),
        ("JPY", "150000"),
        ("USD", "4000.01"),
    ]
    teams = await forecast(crm.gql, "TEAM")
    assert [(r["label"], r["currency"]) for r in teams["rows"]] == [
        ("North", "EUR"),
        ("North", "JPY"),
        ("North", "USD"),
        ("South", "EUR"),
        ("South", "USD"),
        ("Unassigned", "EUR"),
    ]


async def test_a_sales_rep_gets_the_forecast_and_kpis_of_their_own_deals(crm):
    await crm.kith.auth.grant_role(crm.users["ann"]["id"], "sales_rep")
    ann = AsUser(crm.kith, crm.users["ann"])
    for by in ("owner", "team", "pipeline"):
        mine = await forecast(ann, by.upper())
        assert as_numbers(mine["rows"]) == model_forecast(DEALS, by, owner="ann"), by
        assert as_numbers(mine["totals"]) == model_totals(model_forecast(DEALS, by, owner="ann"))
    kpis = (await ann.query(KPIS, start=START.isoformat(), end=END.isoformat()))["salesKpis"]
    assert plain_kpis(kpis) == model_kpis(DEALS, LEADS, owner="ann")
    assert (kpis["leadsCreated"], kpis["leadsConverted"], kpis["leadConversionRate"]) == (2, 1, "50.00")


async def test_viewers_who_may_not_see_deals_or_amounts_are_refused(crm):
    agent = await make_user(crm.kith, email="agent@example.com")
    await crm.kith.auth.grant_role(agent["id"], "support_agent")
    refused = await AsUser(crm.kith, agent).execute(KPIS, {"start": "2025-04-01", "end": "2025-06-30"})
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["errors"][0] == {
        "field": None,
        "code": "forbidden",
        "message": "you may not read deal records",
    }
    await crm.kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('no_amounts', '', {}, 'admin')",
        '{"deal": {"actions": ["read"], "scope": "all", "hidden": ["amount"]}}',
    )
    await crm.kith.auth.grant_role(agent["id"], "no_amounts")
    hidden = await AsUser(crm.kith, agent).execute(
        FORECAST, {"start": "2025-04-01", "end": "2025-06-30", "by": "OWNER"}
    )
    assert hidden["errors"][0]["extensions"]["errors"][0]["message"] == "deal amounts are hidden from you"


async def test_bad_periods_and_ids_name_the_argument(crm):
    body = await crm.gql.execute(FORECAST, {"start": "2025-07-01", "end": "2025-06-30", "by": "OWNER"})
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "errors": [{"field": "end", "code": "invalid", "message": "the period ends before it starts"}],
    }
    body = await crm.gql.execute(KPIS, {"start": "2025-04-01", "end": "2025-06-30", "owner": "ann"})
    # an id variable is checked along its declared type, so the error names the variable sent
    assert body["errors"][0]["extensions"]["errors"][0]["field"] == "$owner"
    payload = (await crm.gql.query(SNAPSHOT, start="2025-07-01", end="2025-06-30", by="TEAM"))["snapshotForecast"]
    assert payload == {
        "snapshot": None,
        "forecast": None,
        "errors": [{"field": "end", "code": "invalid", "message": "the period ends before it starts"}],
    }
    empty = await forecast(crm.gql, start=dt.date(2030, 1, 1), end=dt.date(2030, 1, 31))
    assert empty["rows"] == [] and empty["totals"] == []


# -- snapshots -----------------------------------------------------------------------------------


async def test_a_snapshot_is_compared_with_what_closed_afterwards(crm):
    taken = await crm.gql.query(SNAPSHOT, start=START.isoformat(), end=END.isoformat(), by="OWNER")
    taken = taken["snapshotForecast"]
    assert taken["errors"] == [] and taken["snapshot"]["takenBy"] == "system"
    before = model_forecast(DEALS, "owner")
    assert {(r["label"], r["currency"]): Decimal(r["weighted"]) for r in taken["forecast"]["rows"]} == {
        key: row["weighted"] for key, row in before.items()
    }

    # then A1 (commit) is won in the period, and D2 (the only unassigned deal) slips out of it
    await ok(crm.gql, MOVE, id=crm.deals["A1"], stage=crm.stages["Won"])
    won_at = at(2025, 6, 1, 12)
    await crm.kith.db.execute("UPDATE sales_deal SET closed_at = {} WHERE id = {}", won_at, int(crm.deals["A1"]))
    await ok(
        crm.gql,
        'mutation($id: ID!) { updateDeal(id: $id, input: {expectedClose: "2025-08-01"}) { errors { message } } }',
        id=crm.deals["D2"],
    )
    now = [
        dataclasses.replace(d, stages=(*d.stages, "Won"), closed=won_at)
        if d.name == "A1"
        else dataclasses.replace(d, expected=dt.date(2025, 8, 1))
        if d.name == "D2"
        else d
        for d in DEALS
    ]
    after = model_forecast(now, "owner")

    result = await forecast(crm.gql)
    assert result["comparedWith"] == taken["snapshot"]
    rows = {(r["label"], r["currency"]): r for r in result["rows"]}
    assert set(rows) == set(before) | set(after)  # Unassigned stays, with nothing in it now
    assert ("Unassigned", "EUR") not in after and rows[("Unassigned", "EUR")]["pipeline"] == "0.00"
    for key, row in rows.items():
        was = before[key]
        closed = after.get(key, {}).get("closedWon", Decimal(0))
        assert {name: Decimal(value) for name, value in row["comparison"].items()} == {
            "weighted": was["weighted"],
            "commit": was["commit"],
            "bestCase": was["bestCase"],
            "closedMinusWeighted": closed - was["weighted"],
            "closedMinusCommit": closed - was["commit"],
            "closedMinusBestCase": closed - was["bestCase"],
        }, key
    assert rows[("Ann Archer", "EUR")]["comparison"] == {
        "weighted": "833.332",
        "commit": "3500.00",
        "bestCase": "3833.33",
        "closedMinusWeighted": "2666.668",
        "closedMinusCommit": "0.00",
        "closedMinusBestCase": "-333.33",
    }
    totals = {r["currency"]: r for r in result["totals"]}
    assert Decimal(totals["EUR"]["comparison"]["commit"]) == model_totals(before)[("Total", "EUR")]["commit"]

    # the latest snapshot of the same period and grouping is the one compared
    again = await crm.gql.query(SNAPSHOT, start=START.isoformat(), end=END.isoformat(), by="OWNER")
    assert (await forecast(crm.gql))["comparedWith"] == again["snapshotForecast"]["snapshot"]
    assert (await forecast(crm.gql, "TEAM"))["comparedWith"] is None
    assert (await forecast(crm.gql, "OWNER", crm.pipelines["Sales"]))["comparedWith"] is None


async def test_snapshots_are_compared_only_for_viewers_who_see_the_same_deals(crm):
    await crm.gql.query(SNAPSHOT, start=START.isoformat(), end=END.isoformat(), by="TEAM")
    await crm.kith.auth.grant_role(crm.users["ann"]["id"], "sales_rep")
    await crm.kith.auth.grant_role(crm.users["bob"]["id"], "sales_manager")
    ann, manager = AsUser(crm.kith, crm.users["ann"]), AsUser(crm.kith, crm.users["bob"])
    # the team's snapshot holds other reps' deals: not for Ann
    assert (await forecast(ann, "TEAM"))["comparedWith"] is None
    assert (await forecast(manager, "TEAM"))["comparedWith"]["takenBy"] == "system"
    mine = (await ann.query(SNAPSHOT, start=START.isoformat(), end=END.isoformat(), by="TEAM"))["snapshotForecast"]
    assert mine["errors"] == [] and mine["snapshot"]["takenBy"] == "ann@example.com"
    compared = await forecast(ann, "TEAM")
    assert compared["comparedWith"] == mine["snapshot"]
    north = next(r for r in compared["rows"] if (r["label"], r["currency"]) == ("North", "EUR"))
    assert (
        Decimal(north["comparison"]["weighted"])
        == model_forecast(DEALS, "team", owner="ann")[("North", "EUR")]["weighted"]
    )
    assert (await forecast(manager, "TEAM"))["comparedWith"]["takenBy"] == "system"


# -- KPIs ----------------------------------------------------------------------------------------


def plain_kpis(kpis: dict[str, Any]) -> dict[str, Any]:
    """GraphQL KPIs shaped like the model: decimals as numbers, currencies by code."""

    def number(value: Any) -> Any:
        return None if value is None else Decimal(value)

    out = {name: kpis[name] for name in ("leadsCreated", "leadsConverted", "dealsWon", "dealsLost")}
    out.update({name: number(kpis[name]) for name in ("leadConversionRate", "winRate", "salesCycleDays")})
    out["currencies"] = {
        c["currency"]: {
            "dealsWon": c["dealsWon"],
            "dealsLost": c["dealsLost"],
            "openDeals": c["openDeals"],
            **{name: number(c[name]) for name in ("wonAmount", "averageDealSize", "pipelineVelocity")},
        }
        for c in kpis["currencies"]
    }
    return out


async def test_kpis_match_the_model(crm):
    everything = (await crm.gql.query(KPIS, start=START.isoformat(), end=END.isoformat()))["salesKpis"]
    assert plain_kpis(everything) == model_kpis(DEALS, LEADS)
    # by hand: won A4, N1, B1, C4 (once), C5; lost A5, A6, C6; C3 was reopened, B2 closed too late
    assert (everything["dealsWon"], everything["dealsLost"], everything["winRate"]) == (5, 3, "62.50")
    assert (everything["leadsCreated"], everything["leadsConverted"], everything["leadConversionRate"]) == (
        4,
        1,
        "25.00",
    )
    usd = next(c for c in everything["currencies"] if c["currency"] == "USD")
    assert (usd["wonAmount"], usd["averageDealSize"], usd["openDeals"]) == ("4000.01", "2000.01", 4)  # 2000.005 up
    cy = str(crm.users["cy"]["id"])
    by_owner = (await crm.gql.query(KPIS, start=START.isoformat(), end=END.isoformat(), owner=cy))["salesKpis"]
    assert plain_kpis(by_owner) == model_kpis(DEALS, LEADS, owner="cy")
    enterprise = (
        await crm.gql.query(KPIS, start=START.isoformat(), end=END.isoformat(), pipeline=crm.pipelines["Enterprise"])
    )["salesKpis"]
    assert plain_kpis(enterprise) == model_kpis(DEALS, LEADS, pipeline="Enterprise")
    nothing = (await crm.gql.query(KPIS, start="2030-01-01", end="2030-12-31"))["salesKpis"]
    assert (nothing["winRate"], nothing["salesCycleDays"], nothing["leadConversionRate"]) == (None, None, None)


# -- the CLI -------------------------------------------------------------------------------------


def test_forecast_and_kpis_from_the_cli(kith_cli, kith_database_url):
    from kith.core.runtime import Kith
    from kith.sdk import load_settings

    assert kith_cli("plugins", "enable", "sales").exit_code == 0
    deals = [d for d in DEALS if d.name in ("A1", "A2", "A4", "A5", "B1", "D2")]

    async def data() -> None:
        kith = await Kith.open(load_settings(database_url=kith_database_url))
        try:
            await build(kith, deals, leads=[])
        finally:
            await kith.close()

    asyncio.run(data())
    period = ("--start", "2025-04-01", "--end", "2025-06-30")
    first = kith_cli("sales", "forecast", *period, "--snapshot")
    assert first.exit_code == 0, first.output
    assert "Forecast 2025-04-01 to 2025-06-30 by owner" in first.output
    lines = {
        line.split("│")[1].strip() + " " + line.split("│")[2].strip(): [c.strip() for c in line.split("│")[3:-1]]
        for line in first.output.splitlines()
        if line.count("│") > 4
    }
    # open, pipeline, weighted, commit, best case, won (count), lost (count)
    assert lines["Ann Archer EUR"] == ["2", "1333.33", "833.332", "3500.00", "3833.33", "2500.00 (1)", "400.00 (1)"]
    assert lines["Bob Baker JPY"] == ["0", "0", "0", "150000", "150000", "150000 (1)", "0 (0)"]
    assert lines["Total EUR"] == ["3", "1343.33", "834.332", "3500.00", "3833.33", "2500.00 (1)", "400.00 (1)"]
    assert "Snapshot 1 taken." in first.output and "Compared with" not in first.output
    second = kith_cli("sales", "forecast", *period)
    assert "Compared with snapshot 1 taken" in second.output and "snap. commit" in second.output
    by_pipeline = kith_cli("sales", "forecast", *period, "--by", "pipeline", "--pipeline", "Enterprise")
    assert by_pipeline.exit_code == 0 and "No deals due or closed in this period." in by_pipeline.output
    unknown = kith_cli("sales", "forecast", *period, "--pipeline", "Nope")
    assert unknown.exit_code == 1 and "no pipeline named 'Nope'" in unknown.output
    backwards = kith_cli("sales", "forecast", "--start", "2025-06-30", "--end", "2025-04-01")
    assert backwards.exit_code == 1 and "the period ends before it starts" in backwards.output
    kpis = kith_cli("sales", "kpis", *period)
    assert kpis.exit_code == 0, kpis.output
    assert "Win rate: 66.67% (won 2, lost 1)" in kpis.output
