"""Listening figures in GraphQL: volume, sentiment over time, share by account and by
topic, each counted as the reader may see the mentions."""

from __future__ import annotations

from social_helpers import item, signed, social_kith

from kith.core.security.roles import save_role
from kith.sdk import Grant, RoleDefinition
from kith.sdk.testing import GraphQLClient, make_contact, make_user, run_worker_until_idle, web_client

LISTENING = """query($bucket: String!) { socialListening(bucket: $bucket) {
  mentions averageSentiment sentiment { label mentions }
  overTime { bucket mentions averageSentiment sentiment { label mentions } }
  byAccount { key kind mentions share } byTopic { key kind mentions share } tickets { tickets } errors { field } } }"""
CONNECT = """mutation($h: String!) { connectSocialAccount(platform: "webhook", handle: $h) {
  account { id } signingSecret errors { field } } }"""


async def feed(kith, handle: str, items: list[dict]) -> None:
    made = (await GraphQLClient(kith).query(CONNECT, h=handle))["connectSocialAccount"]
    body, headers = signed(made["signingSecret"], {"items": items})
    async with web_client(kith) as client:
        answer = await client.post(f"/social/webhooks/{made['account']['id']}", content=body, headers=headers)
        assert answer.status_code == 202, answer.text


async def test_volume_sentiment_and_shares_as_the_reader_sees_them(make_kith):
    kith = await social_kith(make_kith, social={"topics": {"delivery": ["late", "parcel"], "price": ["expensive"]}})
    rep = await make_user(kith, email="rep@acme.example")
    await make_contact(kith, first_name="Ann", emails=["ann@example.com"], owner=rep["id"])
    await feed(kith, "acme", [
        item("a1", "My parcel is late again, awful #fail", author={"email": "ann@example.com"},
             createdAt="2026-03-02T09:00:00Z", tags=["fail"]),
        item("a2", "Love the new shop! #spring", handle="bob", name="Bob B", createdAt="2026-03-02T10:00:00Z",
             tags=["spring"]),
        item("a3", "Too expensive for me", handle="cy", name="Cy C", createdAt="2026-03-03T08:00:00Z"),
    ])  # fmt: skip
    await feed(kith, "acme_help", [
        item("b1", "Thanks for the quick help, great team #spring", handle="dee", name="Dee D",
             createdAt="2026-03-03T12:00:00Z", tags=["spring"]),
    ])  # fmt: skip
    await run_worker_until_idle(kith)
    found = (await GraphQLClient(kith).query(LISTENING, bucket="day"))["socialListening"]
    assert found["errors"] == [] and found["mentions"] == 4 and found["tickets"] is None  # no service plugin
    labels = {s["label"]: s["mentions"] for s in found["sentiment"]}
    assert labels == {"negative": 1, "neutral": 1, "positive": 2}
    assert [(p["bucket"][:10], p["mentions"]) for p in found["overTime"]] == [("2026-03-02", 2), ("2026-03-03", 2)]
    assert found["byAccount"] == [
        {"key": "acme", "kind": "account", "mentions": 3, "share": 0.75},
        {"key": "acme_help", "kind": "account", "mentions": 1, "share": 0.25},
    ]
    assert found["byTopic"][0] == {"key": "spring", "kind": "hashtag", "mentions": 2, "share": 0.5}
    assert {(t["key"], t["kind"]) for t in found["byTopic"]} == {
        ("spring", "hashtag"), ("fail", "hashtag"), ("delivery", "topic"), ("price", "topic")
    }  # fmt: skip
    # a reader who sees only their own contacts' mentions counts only those
    await save_role(kith, RoleDefinition(name="own_listener", grants={
        "social_mention": Grant(actions=["read"], scope="own"), "social_mention_topic": Grant(actions=["read"], scope="own"),
        "contact": Grant(actions=["read"], scope="own"),
    }))  # fmt: skip
    listener = await make_user(kith, email="listener@acme.example", roles=["own_listener"])
    await make_contact(kith, first_name="Eve", emails=["eve@example.com"], owner=listener["id"])
    await feed(kith, "acme_eu", [item("c1", "Bad parcel service", handle="eve", name="Eve E", author={"email": "eve@example.com"},
                                      createdAt="2026-03-04T08:00:00Z")])  # fmt: skip
    await run_worker_until_idle(kith)
    mine = (await (await GraphQLClient.as_user(kith, listener["id"])).query(LISTENING, bucket="week"))[
        "socialListening"
    ]
    assert mine["mentions"] == 1  # Eve's only: the others' mentions are not theirs
    assert [(t["key"], t["mentions"]) for t in mine["byTopic"]] == [("delivery", 1)]
    bad = (await GraphQLClient(kith).query(LISTENING, bucket="fortnight"))["socialListening"]
    assert bad["errors"] == [{"field": "bucket"}]
