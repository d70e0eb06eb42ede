"""Lead scoring: rules with decay and an explanation, kept current by the automation
engine's shipped rules; a trained model beside them; the automations shipped with the
sales plugin (hot lead, stage-change task, stale-deal reminder); assignment rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kith.sdk import apply_rule
from kith.sdk.testing import GraphQLClient, make_activity, make_user, run_worker_until_idle, system_context

RULE = """mutation($input: ScoringRuleCreateInput!) { createScoringRule(input: $input) {
  scoringRule { id name } errors { field code message } } }"""
LEAD = """mutation($input: LeadCreateInput!) { createLead(input: $input) { lead { id } errors { field message } } }"""
SCORE = """query($id: ID!) { lead(id: $id) { score scoreModel scoreItems { source name points reason } } }"""


@pytest.fixture
async def sales(make_kith):
    return await make_kith(enable=["sales"])


async def add_rule(gql: GraphQLClient, **values) -> dict:
    if "conditions" in values:
        values["conditions"] = json.dumps(values["conditions"])
    result = (await gql.query(RULE, input=values))["createScoringRule"]
    assert result["errors"] == []
    return result["scoringRule"]


async def score_of(gql: GraphQLClient, lead_id: str) -> dict:
    return (await gql.query(SCORE, id=lead_id))["lead"]


async def test_a_score_and_its_explanation_follow_the_lead_and_its_timeline(sales):
    gql = GraphQLClient(sales)
    await sales.custom_fields.add("lead", "employees", "integer")
    await add_rule(
        gql, name="Webinar lead", points=20, conditions={"source": {"eq": "webinar"}}, description="came from a webinar"
    )
    await add_rule(gql, name="Big company", points=15, conditions={"customFields": {"employees": {"gte": 500}}})
    await add_rule(gql, name="Calls", points=10, activityKind="call", maxPoints=25)
    await add_rule(gql, name="Student", points=-30, conditions={"email": {"contains": ".edu"}})
    lead = (
        await gql.query(
            LEAD,
            input={
                "firstName": "Ann",
                "email": "ann@acme.com",
                "source": "webinar",
                "customFields": {"employees": 800},
            },
        )
    )["createLead"]["lead"]
    await run_worker_until_idle(sales)
    scored = await score_of(gql, lead["id"])
    assert scored["score"] == 35 and scored["scoreModel"] is None  # 20 + 15; no model trained yet
    assert sorted((i["name"], i["points"], i["reason"]) for i in scored["scoreItems"]) == [
        ("Big company", 15, "matches the rule's conditions"),
        ("Webinar lead", 20, "came from a webinar"),
    ]

    await make_activity(sales, {"id": int(lead["id"])}, entity="lead", kind="call", subject="Intro call")
    await run_worker_until_idle(sales)
    assert (await score_of(gql, lead["id"]))["score"] == 45  # + 1 call x 10
    for n in range(3):
        await make_activity(sales, {"id": int(lead["id"])}, entity="lead", kind="call", subject=f"Call {n}")
    await run_worker_until_idle(sales)
    scored = await score_of(gql, lead["id"])
    assert scored["score"] == 60  # 4 calls = 40 points, capped at 25
    assert ("Calls", 25, "4 calls at 10 points each, capped at 25") in [
        (i["name"], i["points"], i["reason"]) for i in scored["scoreItems"]
    ]

    await gql.query(
        "mutation($id: ID!) { updateLead(id: $id, input: {customFields: {employees: 20}}) { errors { code } } }",
        id=lead["id"],
    )
    await run_worker_until_idle(sales)
    assert (await score_of(gql, lead["id"]))["score"] == 45  # no longer a big company
    events = await sales.db.execute("SELECT payload FROM kith_outbox WHERE event = 'lead.score_changed' ORDER BY id")
    assert [json.loads(e["payload"]) if isinstance(e["payload"], str) else e["payload"] for e in events][-1] == {
        "from": 60,
        "to": 45,
    }


async def test_points_halve_with_each_half_life(sales):
    from kith.plugins.sales.scoring import score_leads

    gql = GraphQLClient(sales)
    await add_rule(gql, name="Meetings", points=40, activityKind="meeting", halfLifeDays=10)
    await add_rule(gql, name="Fresh", points=12, conditions={"status": {"eq": "new"}}, halfLifeDays=30)
    lead = (await gql.query(LEAD, input={"firstName": "Bo", "email": "bo@x.com"}))["createLead"]["lead"]
    meeting = await make_activity(sales, {"id": int(lead["id"])}, entity="lead", kind="meeting", subject="Demo")
    await run_worker_until_idle(sales)
    assert (await score_of(gql, lead["id"]))["score"] == 52
    now = dt.datetime.now(dt.UTC)
    # the meeting happened 20 days ago (two half-lives: 40 -> 10); the lead is 30 days old (12 -> 6)
    await sales.db.execute(
        "UPDATE activity SET occurred_at = {} WHERE id = {}", now - dt.timedelta(days=20), meeting["id"]
    )
    await sales.db.execute(
        "UPDATE sales_lead SET created_at = {} WHERE id = {}", now - dt.timedelta(days=30), int(lead["id"])
    )
    assert await score_leads(system_context(sales), now=now) == 1
    scored = await score_of(gql, lead["id"])
    assert scored["score"] == 16
    assert {i["name"]: i["points"] for i in scored["scoreItems"]} == {"Meetings": 10, "Fresh": 6}
    assert "halving every 10 days" in next(i["reason"] for i in scored["scoreItems"] if i["name"] == "Meetings")


async def test_bad_scoring_rules_are_refused_naming_the_field(sales):
    gql = GraphQLClient(sales)
    unknown = await gql.query(RULE, input={"name": "X", "points": 5, "conditions": '{"shoeSize": {"eq": 3}}'})
    assert unknown["createScoringRule"]["errors"][0]["field"] == "conditions"
    assert "shoeSize" in unknown["createScoringRule"]["errors"][0]["message"]
    broken = await gql.query(RULE, input={"name": "Y", "points": 5, "conditions": "{not json"})
    assert broken["createScoringRule"]["errors"][0]["message"].startswith("not JSON")
    empty = await gql.query(RULE, input={"name": "Z", "points": 5})
    assert empty["createScoringRule"]["errors"] == [
        {"field": "conditions", "code": "required", "message": "give conditions, an activityKind, or both"}
    ]
    kind = await gql.query(RULE, input={"name": "W", "points": 5, "activityKind": "tweet"})
    assert kind["createScoringRule"]["errors"][0]["field"] == "activityKind"
    assert await sales.count("scoring_rule") == 0


async def test_changing_a_rule_rescores_open_leads(sales):
    gql = GraphQLClient(sales)
    rule = await add_rule(gql, name="Any", points=5, conditions={"status": {"eq": "new"}})
    lead = (await gql.query(LEAD, input={"firstName": "Cy", "email": "cy@x.com"}))["createLead"]["lead"]
    await run_worker_until_idle(sales)
    assert (await score_of(gql, lead["id"]))["score"] == 5
    await gql.query(
        "mutation($id: ID!) { updateScoringRule(id: $id, input: {points: 9}) { errors { code } } }", id=rule["id"]
    )
    await run_worker_until_idle(sales)
    assert (await score_of(gql, lead["id"]))["score"] == 9


async def test_the_owner_gets_a_task_when_a_lead_turns_hot(sales):
    gql = GraphQLClient(sales)
    owner = await make_user(sales, name="Olga", email="olga@example.com")
    await add_rule(gql, name="Meetings", points=50, activityKind="meeting")
    lead = (
        await gql.query(
            LEAD, input={"firstName": "Dee", "lastName": "Ray", "email": "dee@x.com", "ownerId": str(owner["id"])}
        )
    )["createLead"]["lead"]
    await make_activity(sales, {"id": int(lead["id"])}, entity="lead", kind="meeting", subject="Demo")
    await run_worker_until_idle(sales)
    assert await sales.db.execute("SELECT id FROM activity WHERE kind = 'task'") == []  # 50: not hot yet
    await make_activity(sales, {"id": int(lead["id"])}, entity="lead", kind="meeting", subject="Workshop")
    await make_activity(sales, {"id": int(lead["id"])}, entity="lead", kind="meeting", subject="Visit")
    await run_worker_until_idle(sales)
    tasks = await sales.db.execute("SELECT subject, assignee, subject_type FROM activity WHERE kind = 'task'")
    assert [dict(t) for t in tasks] == [
        {"subject": "Hot lead: Dee Ray scored 150", "assignee": owner["id"], "subject_type": "lead"}
    ]  # once, though rescored twice


async def test_a_stage_move_makes_a_task_and_stale_deals_get_a_reminder(sales):
    from kith.core.automations.schedules import fire_due

    owner = await make_user(sales, name="Sam", email="sam@example.com")
    deal = await sales.records.create("deal", {"name": "Globex", "owner": owner["id"]})
    stage = await sales.db.execute("SELECT id FROM sales_stage WHERE name = 'Proposal'")
    await sales.records.update("deal", deal["id"], {"stage": stage[0]["id"]})
    await run_worker_until_idle(sales)
    tasks = await sales.db.execute("SELECT subject, assignee FROM activity WHERE kind = 'task'")
    assert [dict(t) for t in tasks] == [{"subject": "Proposal: next step for Globex", "assignee": owner["id"]}]

    await sales.records.create("deal", {"name": "Fresh", "owner": owner["id"]})  # touched today: no reminder
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    await sales.db.execute("UPDATE sales_deal SET updated_at = {} WHERE id = {}", long_ago, deal["id"])
    # the worker saw the weekly schedule first and armed it for next Monday; a week on, it is due
    await fire_due(sales, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=7, minutes=1))
    await run_worker_until_idle(sales)
    reminders = await sales.db.execute("SELECT subject, subject_id FROM activity WHERE subject LIKE 'Stale deal%'")
    assert [dict(r) for r in reminders] == [
        {"subject": "Stale deal: Globex has not moved in 14 days", "subject_id": deal["id"]}
    ]


async def test_assignment_rules_by_territory_and_source_and_round_robin(sales):
    teams = {}
    for name in ("DACH", "Inbound", "Everyone"):
        teams[name] = await sales.records.create("team", {"name": name})
    dach = await make_user(sales, name="Dieter", team=teams["DACH"]["id"])
    inbound = [await make_user(sales, name=f"In {n}", team=teams["Inbound"]["id"]) for n in range(2)]
    everyone = [await make_user(sales, name=f"All {n}", team=teams["Everyone"]["id"]) for n in range(2)]
    rules = [
        ("a-territory", {"country": {"in": ["DE", "AT", "CH"]}}, "DACH", "round_robin"),
        ("b-source", {"source": {"eq": "webinar"}, "ownerId": {"isNull": True}}, "Inbound", "least_loaded"),
        ("c-everyone-else", {"ownerId": {"isNull": True}}, "Everyone", "round_robin"),
    ]
    for name, conditions, team, strategy in rules:
        await apply_rule(
            sales,
            {
                "name": f"assign-{name}",
                "enabled": True,
                "trigger": {"event": "lead.created"},
                "conditions": conditions,
                "actions": [{"assign_owner": {"team": team, "strategy": strategy}}],
            },
        )
    # someone on the inbound team already has two leads: least-loaded passes them over
    for n in range(2):
        await sales.records.create("lead", {"first_name": f"Old {n}", "owner": inbound[0]["id"]})
    await run_worker_until_idle(sales)
    created = {}
    for name, values in [
        ("Hans", {"country": "de"}),
        ("Wendy", {"source": "webinar"}),
        ("Will", {"source": "webinar"}),
        ("Xia", {}),
        ("Yan", {}),
        ("Zed", {}),
    ]:
        created[name] = await sales.records.create("lead", {"first_name": name, **values})
    await run_worker_until_idle(sales)
    owners = {}
    for name, lead in created.items():
        owners[name] = (await sales.records.get("lead", lead["id"]))["owner"]
    assert owners["Hans"] == dach["id"]
    assert owners["Wendy"] == inbound[1]["id"] and owners["Will"] == inbound[1]["id"]  # 0 and 1 vs 2 leads
    assert [owners["Xia"], owners["Yan"], owners["Zed"]] == [everyone[0]["id"], everyone[1]["id"], everyone[0]["id"]]


TRAIN = """mutation { trainLeadModel { rescored model { samples won lost accuracy factors { feature weight } }
  errors { field code message } } }"""


async def test_a_model_trained_on_won_and_lost_leads_scores_beside_the_rules(sales):
    from kith.plugins.sales.conversion import convert

    gql = GraphQLClient(sales)
    too_early = (await gql.query(TRAIN))["trainLeadModel"]
    assert too_early["model"] is None and too_early["errors"] == [
        {
            "field": "history",
            "code": "insufficient",
            "message": "the model needs at least 10 converted leads with "
            "won or lost deals, at least 2 of each (have 0 won, 0 lost)",
        }
    ]
    stages = {r["name"]: r["id"] for r in await sales.db.execute("SELECT id, name FROM sales_stage")}
    # referrals that had meetings were mostly won; cold leads mostly lost
    history = (
        [("referral", 2, "Won")] * 6 + [("referral", 0, "Lost")] + [("cold", 0, "Lost")] * 6 + [("cold", 1, "Won")]
    )
    for n, (source, meetings, outcome) in enumerate(history):
        lead = await sales.records.create(
            "lead", {"first_name": f"L{n}", "email": f"l{n}@x.com", "source": source, "status": "qualified"}
        )
        for m in range(meetings):
            await make_activity(sales, lead, entity="lead", kind="meeting", subject=f"Meeting {m}")
        done = await convert(system_context(sales), lead["id"], deal_name=f"Deal {n}")
        await sales.records.update("deal", done["deal"], {"stage": stages[outcome], "lost_reason": "price"})
    await add_rule(gql, name="Referral", points=30, conditions={"source": {"eq": "referral"}})
    warm = (await gql.query(LEAD, input={"firstName": "Warm", "email": "warm@x.com", "source": "referral"}))[
        "createLead"
    ]["lead"]
    cold = (await gql.query(LEAD, input={"firstName": "Cold", "email": "cold@x.com", "source": "cold"}))["createLead"][
        "lead"
    ]
    await make_activity(sales, {"id": int(warm["id"])}, entity="lead", kind="meeting", subject="Demo")
    await run_worker_until_idle(sales)

    trained = (await gql.query(TRAIN))["trainLeadModel"]
    assert trained["errors"] == [] and trained["rescored"] == 2
    model = trained["model"]
    assert (model["samples"], model["won"], model["lost"]) == (14, 7, 7) and 0 <= model["accuracy"] <= 1
    weights = {f["feature"]: f["weight"] for f in model["factors"]}
    assert weights["source:referral"] > 0 > weights["source:cold"] and weights["meetings"] > 0
    warm_score, cold_score = await score_of(gql, warm["id"]), await score_of(gql, cold["id"])
    assert warm_score["scoreModel"] > 50 > cold_score["scoreModel"]
    assert warm_score["score"] == 30  # the rules' score is unchanged by the model
    lines = {(i["source"], i["name"]) for i in warm_score["scoreItems"]}
    assert {("rules", "Referral"), ("model", "source is referral"), ("model", "1 meeting")} <= lines
    assert (await gql.query("{ leadModel { samples } }"))["leadModel"] == {"samples": 14}


async def test_only_who_may_update_leads_trains_the_model(sales):
    from kith.core.web.app import execute

    agent = await make_user(sales, email="agent@example.com")
    await sales.auth.grant_role(agent["id"], "support_agent")
    refused = await execute(
        sales,
        "mutation { trainLeadModel { rescored } }",
        principal=await sales.auth.principal_for_user(agent["id"], "token"),
    )
    assert refused["errors"][0]["extensions"]["errors"][0] == {
        "field": None,
        "code": "forbidden",
        "message": "you may not update lead records",
    }


async def test_without_scikit_learn_training_says_so_and_rules_still_score(make_kith, monkeypatch):
    """scikit-learn is an optional extra: a plain install trains no model, says how to
    get one, and keeps scoring leads by the rules."""
    import sys

    from kith.plugins.sales import lead_model
    from kith.sdk import ValidationFailed

    kith = await make_kith(enable=["sales"])
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    with pytest.raises(ValidationFailed) as refused:
        await lead_model.train(system_context(kith))
    (error,) = refused.value.errors
    assert (error.field, error.code) == ("model", "unavailable") and "kith-crm[ml]" in error.message
    gql = GraphQLClient(kith)
    await add_rule(gql, name="Webinar lead", points=20, conditions={"source": {"eq": "webinar"}})
    lead = await gql.query(LEAD, input={"firstName": "Ann", "email": "ann@acme.com", "source": "webinar"})
    await run_worker_until_idle(kith)
    scored = await score_of(gql, lead["createLead"]["lead"]["id"])
    assert scored["score"] == 20 and scored["scoreModel"] is None
