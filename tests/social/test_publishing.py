"""Publishing exactly once against the local Mastodon server's faults: time-outs after
the post was accepted, 5xx before and after, 429 with a reset, an expired token.  Every
target ends published, failed with a reason, or flagged for a person; none twice."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import Counter

from mastodon_server import Fault, mastodon_server
from social_helpers import social_kith

from kith.core.automations.worker import Worker
from kith.sdk.testing import GraphQLClient, make_user, run_worker_until_idle, system_context

CONNECT = """mutation($url: String!, $token: String!, $tz: String!, $approval: Boolean!) {
  connectSocialAccount(platform: "mastodon", baseUrl: $url, credentials: {access_token: $token}, timeZone: $tz,
                       requiresApproval: $approval) { account { id } errors { field message } } }"""
SCHEDULE = """mutation($id: ID!, $targets: [PostTargetInput!]!, $at: String) {
  schedulePost(postId: $id, targets: $targets, at: $at) { post { id status scheduledAt } errors { field message } } }"""


async def connect(kith, server, tz="UTC", approval=False) -> str:
    made = await GraphQLClient(kith).query(CONNECT, url=server.url, token=server.token, tz=tz, approval=approval)
    assert made["connectSocialAccount"]["errors"] == [], made
    return made["connectSocialAccount"]["account"]["id"]


async def draft(kith, text: str) -> str:
    return str((await system_context(kith).records.create("social_post", {"text": text}))["id"])


async def run_for(kith, minutes: int) -> None:
    """Run the worker as time passes, a minute a step (retries and checks come due).
    The platform's rate-limit reset is real time, so a little of that passes too."""
    start = dt.datetime.now(dt.UTC)
    for minute in range(minutes + 1):
        worker = Worker(kith)
        worker.clock = lambda minute=minute: start + dt.timedelta(minutes=minute)
        await worker.run_until_idle()
        await asyncio.sleep(0.05)


async def test_every_post_ends_published_failed_or_flagged_and_none_twice(make_kith):
    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"], social={"call_timeout_seconds": 0.3})
        account = await connect(kith, server)
        await run_worker_until_idle(kith)  # the first poll
        server.faults += [
            Fault("timeout_after_accept", times=3, seconds=2),  # posted, but the answer never came in time
            Fault("error_503_after", times=2, after=4),  # posted, then an error
            Fault("error_500_before", times=2, after=8),  # not posted
            Fault("rate_limit", times=1, after=12, seconds=1, on="POST /api/v1/statuses"),
        ]
        gql = GraphQLClient(kith)
        posts = [await draft(kith, f"Spring news number {n} #spring") for n in range(24)]
        posts.append(await draft(kith, "x" * 600))  # too long for Mastodon: refused for good
        for post in posts:
            done = await gql.query(SCHEDULE, id=post, targets=[{"accountId": account}], at=None)
            assert done["schedulePost"]["errors"] == [], done
        await run_for(kith, 40)
    targets = await system_context(kith).records.list("social_post_target", first=100, order_by=[{"id": "ASC"}])
    assert Counter(t["status"] for t in targets) == {"published": 24, "failed": 1}
    texts = Counter(status.text for status in server.statuses)
    assert all(count == 1 for count in texts.values()) and len(texts) == 24  # none twice, none lost
    (refused,) = [t for t in targets if t["status"] == "failed"]
    assert "500" in refused["error"] and refused["platform_id"] is None
    by_id = {status.id: status.text for status in server.statuses}
    assert all(by_id[t["platform_id"]].startswith("Spring news") for t in targets if t["status"] == "published")
    settled = [t for t in targets if t["checks"]]
    assert len(settled) >= 5  # the time-outs and 503s were checked, not blindly sent again


class Killed(BaseException):
    """The worker's process dying: nothing after it runs, no handler sees it."""


async def test_a_post_whose_worker_died_during_the_call_is_settled_and_made_once(make_kith, monkeypatch):
    from kith.plugins.social.connectors.mastodon import MastodonConnector

    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"])
        account = await connect(kith, server)
        await run_worker_until_idle(kith)
        publish = MastodonConnector.publish

        async def posted_then_killed(self, access, post):
            await publish(self, access, post)  # the platform made it; the answer never got home
            raise Killed

        monkeypatch.setattr(MastodonConnector, "publish", posted_then_killed)
        post = await draft(kith, "Made before the crash")
        await GraphQLClient(kith).query(SCHEDULE, id=post, targets=[{"accountId": account}])
        with contextlib.suppress(Killed):
            await Worker(kith).run_until_idle()
        (target,) = await system_context(kith).records.list("social_post_target")
        assert target["status"] == "publishing" and len(server.statuses) == 1
        monkeypatch.setattr(MastodonConnector, "publish", publish)
        await run_for(kith, 10)  # another worker, after the dead one's call is taken to be over
    (target,) = await system_context(kith).records.list("social_post_target")
    assert target["status"] == "published" and target["platform_id"] == server.statuses[0].id
    assert [s.text for s in server.statuses] == ["Made before the crash"]  # settled, not posted twice


RECONNECT = """mutation($id: ID!, $token: String!) {
  reconnectSocialAccount(accountId: $id, credentials: {access_token: $token}) {
    account { status lastError } errors { field message } } }"""


async def test_an_expired_token_holds_the_post_until_a_manager_reconnects_the_account(make_kith):
    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"])
        account = await connect(kith, server)
        await run_worker_until_idle(kith)
        server.revoke_token()
        post = await draft(kith, "Hello")
        await GraphQLClient(kith).query(SCHEDULE, id=post, targets=[{"accountId": account}])
        await run_worker_until_idle(kith)
        (target,) = await system_context(kith).records.list("social_post_target")
        assert target["status"] == "pending" and "waiting for the account" in target["error"]
        assert target["attempts"] == 0  # a refused call is no attempt at the post
        stored = await system_context(kith).records.get("social_account", int(account))
        assert stored["status"] == "reconnect_needed" and server.statuses == []

        manager = await make_user(kith, email="social@acme.example", roles=["social_media_manager"])
        as_manager = await GraphQLClient.as_user(kith, manager["id"])
        refused = await as_manager.query(RECONNECT, id=account, token="stale")
        assert refused["reconnectSocialAccount"]["errors"][0]["field"] == "credentials"
        server.token_valid = True  # the manager makes a new token on the platform
        done = await as_manager.query(RECONNECT, id=account, token=server.token)
        assert done["reconnectSocialAccount"] == {"account": {"status": "connected", "lastError": None}, "errors": []}
        await run_worker_until_idle(kith)
    (target,) = await system_context(kith).records.list("social_post_target")
    assert target["status"] == "published" and [s.text for s in server.statuses] == ["Hello"]


async def test_a_naive_time_is_each_accounts_own_and_approval_needs_a_second_person(make_kith):
    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"])
        tokyo = await connect(kith, server, tz="Asia/Tokyo", approval=True)
        author = await make_user(kith, email="writer@acme.example", roles=["social_media_manager"])
        approver = await make_user(kith, email="boss@acme.example", roles=["social_approver"])
        as_author = await GraphQLClient.as_user(kith, author["id"])
        made = await as_author.execute('mutation { createSocialPost(input: {text: "Morning!"}) { socialPost { id } } }')
        post = made["data"]["createSocialPost"]["socialPost"]["id"]
        scheduled = await as_author.execute(
            SCHEDULE, {"id": post, "targets": [{"accountId": tokyo}], "at": "2030-01-02T09:00"}
        )
        assert scheduled["data"]["schedulePost"]["post"]["status"] == "awaiting_approval"
        assert scheduled["data"]["schedulePost"]["post"]["scheduledAt"].startswith(
            "2030-01-02T00:00:00"
        )  # 9:00 in Tokyo
        approve = "mutation($id: ID!) { approvePost(postId: $id) { post { status } errors { field message } } }"
        own = await as_author.execute(approve, {"id": post})
        assert own["data"]["approvePost"]["errors"][0]["field"] in ("approvedBy", "approved_by")
        as_approver = await GraphQLClient.as_user(kith, approver["id"])
        ok = await as_approver.execute(approve, {"id": post})
        assert ok["data"]["approvePost"] == {"post": {"status": "scheduled"}, "errors": []}
        await run_worker_until_idle(kith)
        assert server.statuses == []  # not before its time


async def test_an_outcome_that_cannot_be_settled_asks_a_person_and_posts_once(make_kith):
    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"], social={"call_timeout_seconds": 0.2})
        account = await connect(kith, server)
        await run_worker_until_idle(kith)
        server.faults.append(Fault("timeout_after_accept", times=None, seconds=1))  # every answer too late
        post = await draft(kith, "Launch day!")
        await GraphQLClient(kith).query(SCHEDULE, id=post, targets=[{"accountId": account}])
        await run_for(kith, 60)
    (target,) = await system_context(kith).records.list("social_post_target")
    assert target["status"] == "needs_attention" and "could not tell whether it was published" in target["error"]
    assert [status.text for status in server.statuses] == ["Launch day!"]  # sent with one key: posted once
    assert (await system_context(kith).records.get("social_post", int(post)))["status"] == "done"


async def test_a_reconnect_while_polling_leaves_one_poll_a_minute(make_kith, monkeypatch):
    from kith.plugins.social import polling

    fetches = []
    fetch_once = polling.fetch_once

    async def counted(context, account_id, **options):
        fetches.append(account_id)
        await fetch_once(context, account_id, **options)

    monkeypatch.setattr(polling, "fetch_once", counted)
    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"], social={"poll_seconds": 60})
        account = await connect(kith, server)
        manager = await make_user(kith, email="social@acme.example", roles=["social_media_manager"])
        again = await (await GraphQLClient.as_user(kith, manager["id"])).query(
            RECONNECT, id=account, token=server.token
        )
        assert again["reconnectSocialAccount"]["errors"] == []  # a second chain of polls starts here
        await run_for(kith, 12)
    # the first poll, the reconnect's, and then one a minute: the two chains became one
    assert 12 <= len(fetches) <= 12 + 4, fetches


async def test_a_call_refused_with_credentials_replaced_meanwhile_is_tried_again_not_flagged(make_kith, monkeypatch):
    from kith.plugins.social import accounts
    from kith.plugins.social.connectors.base import TokenExpired
    from kith.plugins.social.connectors.mastodon import MastodonConnector

    async with mastodon_server() as server:
        kith = await social_kith(make_kith, outbound_allow=["127.0.0.1"])
        account = await connect(kith, server)
        await run_worker_until_idle(kith)
        publish = MastodonConnector.publish
        calls = []

        async def refused_while_a_person_reconnects(self, access, post):
            calls.append(post.text)
            if len(calls) > 1:
                return await publish(self, access, post)
            # a person reconnects the account while this call is out (the server's one token stands
            # for the new one), and the platform's refusal of the old token comes back after
            await accounts.reconnect(system_context(kith), int(account), {"access_token": server.token})
            raise TokenExpired("The access token is invalid")

        monkeypatch.setattr(MastodonConnector, "publish", refused_while_a_person_reconnects)
        post = await draft(kith, "Sent with the new token")
        await GraphQLClient(kith).query(SCHEDULE, id=post, targets=[{"accountId": account}])
        await run_worker_until_idle(kith)
    stored = await system_context(kith).records.get("social_account", int(account))
    assert stored["status"] == "connected"  # the refusal was of the credentials replaced meanwhile
    (target,) = await system_context(kith).records.list("social_post_target")
    assert target["status"] == "published" and [s.text for s in server.statuses] == ["Sent with the new token"]
    assert len(calls) == 2
