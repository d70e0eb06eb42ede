"""Deals attributed to campaigns by first touch, last touch, linear and time decay, with
revenue and ROI in GraphQL, read as the caller."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from kith.core.security.roles import save_role
from kith.plugins.marketing.campaigns.attribution import shares
from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.consent import subscribe
from kith.sdk import Grant, RoleDefinition
from kith.sdk.testing import GraphQLClient, make_contact, make_user, run_worker_until_idle, smtp_sink, system_context

ATTRIBUTION = """query($id: ID!, $model: String!) { campaignAttribution(campaignId: $id, model: $model) {
  deals revenue { currency amount } cost { currency amount } roi errors { field } } }"""
NOW = dt.datetime.now(dt.UTC)


def test_the_models_share_a_deal_among_its_touches():
    won = NOW
    touches = [(won - dt.timedelta(days=14), 1), (won - dt.timedelta(days=7), 2), (won - dt.timedelta(days=7), 2)]
    assert shares("first_touch", touches, won, 7) == {1: 1.0}
    assert shares("last_touch", touches, won, 7) == {2: 1.0}
    assert shares("linear", touches, won, 7) == {1: 1 / 3, 2: 2 / 3}
    decay = shares("time_decay", touches, won, 7)  # weights 1/4 and 2 x 1/2
    assert round(decay[1], 6) == 0.2 and round(decay[2], 6) == 0.8


async def test_a_won_deal_is_attributed_to_the_campaigns_that_touched_its_contact(make_kith):
    async with smtp_sink() as sink:
        kith = await make_kith(enable=["marketing", "sales"], public_url="https://crm.acme.example", **sink.settings)
        context, gql = system_context(kith), GraphQLClient(kith)
        ann = await make_contact(kith, first_name="Ann", emails=["ann@example.com"], lifecycle_stage="customer")
        bob = await make_contact(kith, first_name="Bob", emails=["bob@example.com"], lifecycle_stage="customer")
        for person in (ann, bob):
            await subscribe(context, person["id"], "newsletter", source="test")
        segment = await context.records.create(
            "segment", {"name": "Customers", "definition": json.dumps({"lifecycleStage": {"eq": "customer"}})}
        )
        campaigns = []
        for name, days_before in (("Spring", 20), ("Summer", 5)):
            made = await context.records.create(
                "campaign", {"name": name, "subject": "Hi", "html": "<p>Hi</p>", "segment": segment["id"],
                             "cost": {"amount": "100.00", "currency": "EUR"}},
            )  # fmt: skip
            await gql.query("mutation($id: ID!) { startCampaign(id: $id) { errors { field } } }", id=str(made["id"]))
            await run_worker_until_idle(kith)
            await CampaignDelivery.update({CampaignDelivery.sent_at: NOW - dt.timedelta(days=days_before)}).where(
                CampaignDelivery.campaign == made["id"]
            )
            campaigns.append(str(made["id"]))
        won = await context.records.first("stage", {"kind": {"eq": "won"}})
        await context.records.create(
            "deal", {"name": "Big order", "contact": ann["id"], "stage": won["id"],
                     "amount": {"amount": "1000.00", "currency": "EUR"}},
        )  # fmt: skip
        await context.records.create(
            "deal", {"name": "Untouched", "contact": bob["id"], "amount": {"amount": "500.00", "currency": "EUR"}}
        )  # open: no revenue yet
    spring, summer = campaigns

    async def revenue(campaign: str, model: str) -> tuple[int, str, str | None]:
        found = (await gql.query(ATTRIBUTION, id=campaign, model=model))["campaignAttribution"]
        assert found["errors"] == [] and found["cost"] == {"currency": "EUR", "amount": "100.00"}
        amount = found["revenue"][0]["amount"] if found["revenue"] else "0"
        return found["deals"], amount, found["roi"]

    assert await revenue(spring, "first_touch") == (1, "1000.00", "9.0000")  # (1000 - 100) / 100
    assert await revenue(summer, "first_touch") == (0, "0", "-1.0000")
    assert await revenue(summer, "last_touch") == (1, "1000.00", "9.0000")
    assert await revenue(spring, "linear") == (1, "500.00", "4.0000")
    spring_decay, summer_decay = await revenue(spring, "time_decay"), await revenue(summer, "time_decay")
    assert Decimal(spring_decay[1]) + Decimal(summer_decay[1]) == Decimal("1000.00")
    assert Decimal(summer_decay[1]) > Decimal(spring_decay[1])  # the later touch counts more
    bad = await gql.query(ATTRIBUTION, id=spring, model="gut_feeling")
    assert bad["campaignAttribution"]["errors"] == [{"field": "model"}]
    # someone who may read campaigns but not deals sees the cost, and no revenue from deals hidden from them
    await save_role(kith, RoleDefinition(name="campaign_reader", grants={
        "campaign": Grant(actions=["read"]), "campaign_delivery": Grant(actions=["read"]),
    }))  # fmt: skip
    mia = await make_user(kith, email="mia@example.com", roles=["campaign_reader"])
    as_mia = await GraphQLClient.as_user(kith, mia["id"])
    hidden = (await as_mia.query(ATTRIBUTION, id=spring, model="linear"))["campaignAttribution"]
    assert (hidden["deals"], hidden["revenue"], hidden["roi"]) == (0, [], None)  # unknown to them, not -100 %
