"""A person's social data in ``kith gdpr export|erase``: their handles and mentions are
exported; erased, their words and handles are gone — from the mentions, the replies
and posts that named them, their timeline — while the rows stay, so a platform
delivering the same item again brings nothing back."""

from __future__ import annotations

import json

from social_helpers import item, signed, social_kith

from kith.plugins.social import accounts
from kith.plugins.social.publishing import posts
from kith.sdk.testing import (
    erase_personal_data,
    export_personal_data,
    make_contact,
    run_worker_until_idle,
    system_context,
    web_client,
)

ANN_SAYS = "@acme my order 4471 is late and nobody answers. Terrible service! #orders"


async def setup(make_kith):
    kith = await social_kith(make_kith)
    context = system_context(kith)
    account, secret = await accounts.connect(context, platform="webhook", handle="acme")
    ann = await make_contact(kith, first_name="Annabel", last_name="Lee", emails=["annabel@example.com"])
    payload = {"items": [
        item("t-1", ANN_SAYS, handle="annabel_l", name="Annabel Lee",
             author={"email": "annabel@example.com", "id": "u-7", "url": "https://social.example/@annabel_l"},
             url="https://social.example/@annabel_l/1", tags=["orders"]),
        item("t-2", "@annabel_l same here, mine is late too", handle="bob_b", name="Bob Brown", inReplyTo="t-1",
             createdAt="2026-03-02T10:00:00Z"),
        item("t-3", "@acme love the new dashboard!", handle="carla_c", name="Carla Cruz",
             author={"email": "carla@example.com"}),
        item("t-4", "@acme update: it arrived, thanks", handle="annabel_l", name="Annabel Lee", inReplyTo="t-2",
             createdAt="2026-03-02T11:00:00Z"),
    ]}  # fmt: skip
    status = await deliver(kith, account["id"], secret, payload)
    assert status == 202
    await run_worker_until_idle(kith)
    await posts.reply(context, account["id"], "t-1", "@annabel_l sorry about that, we are on it")
    return kith, account, secret, payload, ann


async def deliver(kith, account_id, secret, payload) -> int:
    body, headers = signed(secret, payload)
    async with web_client(kith) as client:
        answer = await client.post(f"/social/webhooks/{account_id}", content=body, headers=headers)
    return answer.status_code


async def test_the_persons_handles_and_mentions_are_exported(make_kith):
    kith, _account, _secret, _payload, ann = await setup(make_kith)
    exported = await export_personal_data(kith, ann["id"])
    social = exported["plugins"]["social"]
    assert [(i["platform"], i["handle"], i["matched_by"]) for i in social["social_identities"]] == [
        ("webhook", "annabel_l", "email")
    ]
    assert [m["text"] for m in social["social_mentions"]] == [
        ANN_SAYS,
        "@annabel_l same here, mine is late too",  # a reply to them, which names them
        "@acme update: it arrived, thanks",
    ]
    assert [p["text"] for p in social["social_posts"]] == ["@annabel_l sorry about that, we are on it"]
    assert [t["tag"] for t in social["social_mention_topics"]] == ["orders"]  # what their mention is about
    assert "Carla" not in json.dumps(exported, default=str)  # nobody else's mentions
    nobody = await make_contact(kith, first_name="Dora")
    assert "social" not in (await export_personal_data(kith, nobody["id"]))["plugins"]


async def test_erasure_leaves_no_handle_or_word_of_theirs_and_a_replay_brings_nothing_back(make_kith):
    kith, account, secret, payload, ann = await setup(make_kith)
    report = await erase_personal_data(kith, ann["id"])
    assert {"social_identity", "social_mention", "social_post"} <= set(report.counts())
    records = system_context(kith).records
    mentions = {m["platform_id"]: m for m in await records.list("social_mention")}
    for mine in ("t-1", "t-4"):
        erased = mentions[mine]
        assert (erased["text"], erased["author_handle"], erased["author_name"]) == ("[erased]", "[erased]", None)
        assert (erased["author_email"], erased["author_platform_id"], erased["url"]) == (None, None, None)
        assert erased["contact"] == ann["id"] and erased["sentiment_label"] is not None  # the figures still count
    assert mentions["t-2"]["text"] == "@[erased] same here, mine is late too"  # Bob's words stay
    assert mentions["t-2"]["author_handle"] == "bob_b"
    assert mentions["t-3"]["text"] == "@acme love the new dashboard!"
    (identity,) = await records.list("social_identity", {"contactId": {"eq": ann["id"]}})
    assert identity["handle"] is None and identity["display_name"] is None
    (reply,) = await records.list("social_post")
    assert reply["text"] == "@[erased] sorry about that, we are on it"
    timeline = await records.list("activity", {"kind": {"eq": "social_mention"}, "subjectId": {"eq": ann["id"]}})
    assert timeline and all("4471" not in (a["body"] or "") for a in timeline)
    everything = json.dumps(await export_personal_data(kith, ann["id"]), default=str)
    assert "annabel" not in everything.lower() and "4471" not in everything

    # the platform delivers the same items again: nothing of them comes back
    assert await deliver(kith, account["id"], secret, payload) == 200
    await run_worker_until_idle(kith)
    assert await records.count("social_mention") == 4
    assert await records.count("social_identity", {"handle": {"eq": "annabel_l"}}) == 0


async def test_people_erased_one_after_the_other_on_one_platform_are_all_erased(make_kith):
    kith, _account, _secret, _payload, ann = await setup(make_kith)
    records = system_context(kith).records
    carla = await records.first("contact", {"emails": {"contains": "carla@example.com"}})
    await records.create("social_identity", {"platform": "webhook", "handle": "ann_second", "contact": ann["id"]})
    await erase_personal_data(kith, ann["id"])  # two handles of hers on one platform
    await erase_personal_data(kith, carla["id"])  # and the next person on that platform
    handles = [i["handle"] for i in await records.list("social_identity", order_by=[{"id": "ASC"}])]
    assert sorted(handles, key=str) == sorted(["bob_b", None, None, None], key=str)
