"""The generic webhook connector: a bridge's signed delivery is stored before it is
answered, a replay stores nothing new, and each mention is matched to a contact,
threaded, scored and put on the timeline."""

from __future__ import annotations

import datetime as dt
import json

from social_helpers import item, signed, social_kith

from kith.plugins.social.models import SocialCredential
from kith.sdk.testing import GraphQLClient, make_contact, run_worker_until_idle, system_context, web_client

CONNECT = """mutation($p: String!, $h: String!) { connectSocialAccount(platform: $p, handle: $h) {
  account { id handle status } signingSecret errors { field message } } }"""


async def connected(kith):
    gql = GraphQLClient(kith)
    made = (await gql.query(CONNECT, p="webhook", h="@Acme"))["connectSocialAccount"]
    assert made["errors"] == [] and made["account"]["handle"] == "acme" and made["account"]["status"] == "connected"
    assert made["signingSecret"].startswith("whsec_")
    return made["account"]["id"], made["signingSecret"]


async def test_a_delivery_is_kept_before_the_answer_and_a_replay_adds_nothing(make_kith):
    kith = await social_kith(make_kith)
    account, secret = await connected(kith)
    ann = await make_contact(kith, first_name="Ann", last_name="Lee", emails=["ann@example.com"])
    payload = {"items": [
        item("t-1", "@acme my order is late and nobody answers. Terrible service!",
             author={"email": "ANN@example.com", "id": "u-7"}, tags=["Orders"]),
        item("t-2", "@acme thanks, it arrived, love it!", handle="bob_b", name="Bob Brown",
             inReplyTo="t-1", createdAt="2026-03-02T10:00:00Z"),
    ]}  # fmt: skip
    body, headers = signed(secret, payload, "d-1")
    async with web_client(kith) as client:
        first = await client.post(f"/social/webhooks/{account}", content=body, headers=headers)
        assert (first.status_code, first.json()) == (202, {"status": "accepted", "stored": 2})
        # stored before the answer: the rows are there before any worker ran
        stored = await system_context(kith).records.list("social_mention", order_by=[{"id": "ASC"}])
        assert [(m["platform_id"], m["state"]) for m in stored] == [("t-1", "received"), ("t-2", "received")]
        again = await client.post(
            f"/social/webhooks/{account}", content=body, headers=signed(secret, payload, "d-2")[1]
        )
        assert (again.status_code, again.json()) == (200, {"status": "duplicate", "stored": 0})
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        assert (await client.post(f"/social/webhooks/{account}", content=body, headers=forged)).status_code == 401
        stale = signed(secret, payload, "d-3", at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
        assert (await client.post(f"/social/webhooks/{account}", content=stale[0], headers=stale[1])).status_code == 401
    await run_worker_until_idle(kith)
    context = system_context(kith)
    first_mention, reply = await context.records.list("social_mention", order_by=[{"id": "ASC"}])
    assert first_mention["contact"] == ann["id"]  # matched by the email the bridge gave
    assert (first_mention["sentiment_label"], reply["sentiment_label"]) == ("negative", "positive")
    assert first_mention["sentiment_score"] < -0.5 and first_mention["tags"] == " orders "
    assert (reply["parent"], reply["thread"]) == (first_mention["id"], first_mention["id"])
    bob = await context.records.get("contact", reply["contact"])
    assert (bob["first_name"], bob["last_name"]) == ("Bob", "Brown")  # a new contact, named by the display name
    identities = await context.records.list("social_identity", order_by=[{"id": "ASC"}])
    assert [(i["handle"], i["matched_by"]) for i in identities] == [("ann", "email"), ("bob_b", "created")]
    activities = await context.records.list("activity", {"kind": {"eq": "social_mention"}}, order_by=[{"id": "ASC"}])
    assert [(a["subject_id"], a["subject"]) for a in activities] == [
        (ann["id"], "Mentioned us on webhook"), (bob["id"], "Mentioned us on webhook")
    ]  # fmt: skip
    assert await context.records.count("contact") == 2  # nobody twice
    view = await GraphQLClient(kith).query(
        "query($id: ID!) { customerView(contactId: $id) { sections { title items } } }", id=str(ann["id"])
    )
    (social,) = [s for s in view["customerView"]["sections"] if s["title"] == "Social"]
    assert social["items"][0] == {"platform": "webhook", "handle": "ann", "displayName": "Ann Lee", "matchedBy": "email",
                                  "profileUrl": None}  # fmt: skip
    assert social["items"][1]["sentiment"] == "negative" and social["items"][1]["text"].startswith("@acme my order")


async def test_a_bad_item_is_refused_by_field_and_nothing_of_the_delivery_is_kept(make_kith):
    kith = await social_kith(make_kith)
    account, secret = await connected(kith)
    payload = {"items": [item("t-1", "fine"), {"id": "t-2", "text": "no author", "createdAt": "yesterday"}]}
    body, headers = signed(secret, payload)
    async with web_client(kith) as client:
        answer = await client.post(f"/social/webhooks/{account}", content=body, headers=headers)
    assert answer.status_code == 400
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["items[1].createdAt", "items[1].author"]
    assert await system_context(kith).records.count("social_mention") == 0


async def test_in_production_no_account_is_connected_without_a_credentials_key(make_kith):
    kith = await make_kith(enable=["social"], mode="production")
    made = (await GraphQLClient(kith).query(CONNECT, p="webhook", h="acme"))["connectSocialAccount"]
    assert made["account"] is None and made["errors"][0]["field"] == "credentials_key"
    assert await system_context(kith).records.count("social_account") == 0


async def test_a_developer_connects_without_a_key_and_rotate_key_moves_the_accounts_to_a_real_one(make_kith):
    from cryptography.fernet import Fernet

    from kith.plugins.social import credentials

    kith = await make_kith(enable=["social"])  # development: the key derived from the installation's secret
    account, secret = await connected(kith)
    context = system_context(kith)
    assert await credentials.load(context, int(account)) == {"secret": secret}
    real = Fernet.generate_key().decode()
    kith.settings.plugin["social"] = {"credentials_key": real}  # the operator sets a key, and rotates
    assert await credentials.rotate(context) == 1
    assert await credentials.load(context, int(account)) == {"secret": secret}
    (row,) = await SocialCredential.select(SocialCredential.ciphertext)
    assert json.loads(Fernet(real.encode()).decrypt(row["ciphertext"].encode())) == {"secret": secret}


async def test_two_bridges_may_use_the_same_ids_and_threads_stay_within_an_account(make_kith):
    kith = await social_kith(make_kith)
    gql = GraphQLClient(kith)
    shop, secret_shop = await connected(kith)
    made = (await gql.query(CONNECT, p="webhook", h="acme_support"))["connectSocialAccount"]
    support, secret_support = made["account"]["id"], made["signingSecret"]
    async with web_client(kith) as client:
        for account, secret, texts in ((shop, secret_shop, ("shop one", "shop two")),
                                       (support, secret_support, ("support one", "support two"))):  # fmt: skip
            payload = {"items": [item("1", texts[0]), item("2", texts[1], inReplyTo="1")]}
            body, headers = signed(secret, payload)
            answer = await client.post(f"/social/webhooks/{account}", content=body, headers=headers)
            assert (answer.status_code, answer.json()) == (202, {"status": "accepted", "stored": 2})
    await run_worker_until_idle(kith)
    mentions = await system_context(kith).records.list("social_mention", order_by=[{"id": "ASC"}])
    by_text = {m["text"]: m for m in mentions}
    assert sorted(by_text) == ["shop one", "shop two", "support one", "support two"]
    assert by_text["shop two"]["parent"] == by_text["shop one"]["id"]
    assert by_text["support two"]["parent"] == by_text["support one"]["id"]


async def test_a_webhook_account_needs_a_handle(make_kith):
    kith = await social_kith(make_kith)
    made = (await GraphQLClient(kith).query(CONNECT, p="webhook", h="  "))["connectSocialAccount"]
    assert made["account"] is None and [e["field"] for e in made["errors"]] == ["handle"]
    assert await system_context(kith).records.count("social_account") == 0
