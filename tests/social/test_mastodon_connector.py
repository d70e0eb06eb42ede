"""The Mastodon connector against a local Mastodon-compatible server (mastodon_server.py):
what the social plugin sees of verify, fetch, publish, find_published and delete, and
how each failure of the platform reaches it (no Kith database involved)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from mastodon_server import Fault, MastodonServer, mastodon_server

from kith.plugins.social.connectors.base import (
    AccountAccess,
    AccountInfo,
    Fetched,
    Media,
    OutcomeUnknown,
    PostRequest,
    RateLimited,
    Rejected,
    TokenExpired,
    Unavailable,
)
from kith.plugins.social.connectors.mastodon import MastodonConnector, html_to_text

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
async def server() -> AsyncIterator[MastodonServer]:
    async with mastodon_server() as running:
        yield running


@pytest.fixture
async def account(server: MastodonServer) -> AsyncIterator[AccountAccess]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield access(server, client)


@pytest.fixture
def connector() -> MastodonConnector:
    return MastodonConnector(page_size=3, media_poll_interval=0.01, media_poll_timeout=2.0)


def access(server: MastodonServer, client: httpx.AsyncClient, *, base_url: str | None = None) -> AccountAccess:
    return AccountAccess(
        platform="mastodon",
        handle="kith",
        base_url=base_url or server.url,
        credentials={"access_token": server.token},
        client=client,
    )


def post(
    text: str = "Thanks for coming by!",
    key: str = "post-1",
    *,
    in_reply_to: str | None = None,
    media: Sequence[Media] = (),
) -> PostRequest:
    return PostRequest(text=text, idempotency_key=key, in_reply_to=in_reply_to, media=media)


def requests_to(server: MastodonServer, method: str, path: str) -> int:
    return sum(1 for r in server.requests if r.method == method and r.path == path)


# -- verify ------------------------------------------------------------------------------


async def test_verify_names_the_account_and_a_dead_token_needs_a_person(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    assert await connector.verify(account) == AccountInfo(handle="kith", display_name="Kith CRM")

    server.faults.append(Fault("expire_token"))
    with pytest.raises(TokenExpired) as refused:
        await connector.verify(account)
    assert "The access token is invalid" in refused.value.reason


async def test_a_missing_token_is_not_sent_anywhere(server: MastodonServer, connector: MastodonConnector) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        tokenless = AccountAccess("mastodon", "kith", server.url, {}, client)
        with pytest.raises(TokenExpired):
            await connector.verify(tokenless)
    assert server.requests == []


# -- fetch -------------------------------------------------------------------------------


async def test_fetch_pages_through_every_mention_once_oldest_first(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    assert await connector.fetch_items(account, None) == Fetched(items=[], cursor=None)  # nothing yet
    texts = [f"mention {n}" for n in range(7)]
    for n, text in enumerate(texts):
        server.mention(from_acct=f"fan{n}@example.social", text=text)
        server.notify("favourite")  # not a mention: never an item

    fetched = await connector.fetch_items(account, None)

    assert [item.text for item in fetched.items] == [f"@kith {text}" for text in texts]
    assert [item.platform_id for item in fetched.items] == [s.id for s in server.others]
    assert fetched.cursor == server.others[-1].notification_id
    # three to a page: three pages and the empty one that says there is no more, each
    # one the "prev" link of the page before
    pages = [r for r in server.requests if r.path == "/api/v1/notifications"]
    assert len(pages) >= 4
    assert [dict(p.query).get("min_id") for p in pages[-4:]] == [
        "0",
        server.others[2].notification_id,
        server.others[5].notification_id,
        server.others[6].notification_id,
    ]

    again = await connector.fetch_items(account, fetched.cursor)
    assert again.items == []
    assert again.cursor == fetched.cursor

    server.mention(text="one more")
    server.mention(text="and another")
    newer = await connector.fetch_items(account, fetched.cursor)
    assert [item.text for item in newer.items] == ["@kith one more", "@kith and another"]
    assert newer.cursor == server.others[-1].notification_id


async def test_a_fetch_cut_short_keeps_what_it_read_and_the_next_goes_on(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    for n in range(5):
        server.mention(text=f"m{n}")
    server.faults.append(Fault("rate_limit", on="GET /api/v1/notifications", after=1, seconds=0.2))

    first = await connector.fetch_items(account, None)
    assert [item.text for item in first.items] == ["@kith m0", "@kith m1", "@kith m2"]
    assert first.cursor == server.others[2].notification_id
    # the 429 is in the budget: the next call waits for its reset, as the plugin would
    assert account.usage.remaining == 0
    with pytest.raises(RateLimited) as limited:
        await connector.fetch_items(account, first.cursor)
    assert limited.value.retry_at is not None
    await asyncio.sleep((limited.value.retry_at - dt.datetime.now(dt.UTC)).total_seconds() + 0.01)

    rest = await connector.fetch_items(account, first.cursor)
    assert [item.text for item in rest.items] == ["@kith m3", "@kith m4"]


async def test_a_mention_as_the_plugin_sees_it(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    ours = await connector.publish(account, post("Our launch post"))
    public = server.mention(
        from_acct="ann@example.social",
        display_name="Ann Example",
        text="Loving the #NewRelease and #kith\nsee https://www.example.com/a/rather/long/path/to/the/release/notes",
        in_reply_to_id=ours.platform_id,
    )
    direct = server.mention(from_acct="bob@other.example", text="can we talk privately?", visibility="direct")

    mention, message = (await connector.fetch_items(account, None)).items

    assert mention.platform_id == public.id
    assert mention.kind == "mention"
    assert mention.author.handle == "ann@example.social"
    assert mention.author.display_name == "Ann Example"
    assert mention.author.platform_id == public.account.id
    assert mention.author.url == "https://example.social/@ann"
    assert mention.text == (
        "@kith Loving the #NewRelease and #kith\nsee https://www.example.com/a/rather/long/path/to/the/release/notes"
    )
    assert mention.in_reply_to == ours.platform_id
    assert mention.url == f"https://example.social/@ann/{public.id}"
    assert mention.tags == ("newrelease", "kith")
    assert mention.language == "en"
    assert mention.created_at == public.created_at.replace(microsecond=public.created_at.microsecond // 1000 * 1000)
    assert mention.created_at.tzinfo is not None

    assert message.platform_id == direct.id
    assert message.kind == "message"
    assert message.author.handle == "bob@other.example"
    assert message.text == "@kith can we talk privately?"


async def test_html_content_becomes_the_text_its_author_typed(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    server.mention(
        content=(
            '<p><span class="h-card" translate="no"><a href="https://crm.example/@kith" class="u-url mention">'
            "@<span>kith</span></a></span> Fish &amp; chips &lt;3</p>"
            "<p>line one<br />line two<br>"
            '<a href="https://example.com/x" rel="nofollow noopener" target="_blank">'
            '<span class="invisible">https://</span><span class="">example.com/x</span>'
            '<span class="invisible"></span></a></p>'
            '<p class="quote-inline">RE: <a href="https://example.social/@ann/1">https://example.social/@ann/1</a></p>'
            "<p>last   paragraph</p>"
        )
    )

    (item,) = (await connector.fetch_items(account, None)).items

    assert item.text == "@kith Fish & chips <3\n\nline one\nline two\nhttps://example.com/x\n\nlast paragraph"


def test_html_to_text_keeps_lists_and_preformatted_text() -> None:
    assert html_to_text("<p>plain</p>") == "plain"
    assert html_to_text("no markup at all ") == "no markup at all"
    assert html_to_text("<ul><li>one</li><li>two</li></ul><p>after</p>") == "- one\n- two\n\nafter"
    assert html_to_text("<pre>a  b\n  c</pre>") == "a  b\n  c"


async def test_fetch_failures_are_unavailable(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    server.mention(text="hello")
    server.faults.append(Fault("error_500_before", on="GET /api/v1/notifications"))
    with pytest.raises(Unavailable):
        await connector.fetch_items(account, None)

    server.faults.append(Fault("timeout_after_accept", on="GET /api/v1/notifications", seconds=5))
    async with httpx.AsyncClient(timeout=0.5) as impatient:
        with pytest.raises(Unavailable):
            await connector.fetch_items(access(server, impatient), None)

    assert len((await connector.fetch_items(account, None)).items) == 1


# -- publish -----------------------------------------------------------------------------


async def test_publish_uploads_media_waits_for_processing_and_replies(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    question = server.mention(text="do you have pictures?")
    server.media_processing_polls = 2  # 202 on upload, then 206, 206, 200

    published = await connector.publish(
        account,
        post(
            "Here they are",
            in_reply_to=question.id,
            media=[
                Media("front.png", "image/png", PNG, description="The shop front"),
                Media("back.png", "image/png", PNG),
            ],
        ),
    )

    (status,) = server.statuses
    assert published.platform_id == status.id
    assert published.url == f"{server.url}/@kith/{status.id}"
    assert status.text == "Here they are"
    assert status.in_reply_to_id == question.id
    assert [server.media[m].filename for m in status.media_ids] == ["front.png", "back.png"]
    assert server.media[status.media_ids[0]].description == "The shop front"
    assert requests_to(server, "GET", f"/api/v1/media/{status.media_ids[0]}") == 3
    assert status.idempotency_key == "post-1"
    request = next(r for r in server.requests if r.path == "/api/v1/statuses")
    assert request.headers["idempotency-key"] == "post-1"


async def test_media_that_never_finishes_processing_is_not_posted(
    server: MastodonServer, account: AccountAccess
) -> None:
    server.media_processing_polls = 1000
    slow = MastodonConnector(media_poll_interval=0.01, media_poll_timeout=0.1)
    with pytest.raises(Unavailable, match="still processing"):
        await slow.publish(account, post(media=[Media("clip.png", "image/png", PNG)]))
    assert server.statuses == []


async def test_a_time_out_after_the_post_was_accepted_is_unknown_and_the_same_key_is_safe(
    server: MastodonServer, connector: MastodonConnector
) -> None:
    server.faults.append(Fault("timeout_after_accept", seconds=5))
    async with httpx.AsyncClient(timeout=0.5) as client:
        account = access(server, client)
        with pytest.raises(OutcomeUnknown):
            await connector.publish(account, post("Big news today"))
        assert len(server.statuses) == 1  # it did arrive

        found = await connector.find_published(account, post("Big news today"))
        again = await connector.publish(account, post("Big news today"))

    assert found is not None
    assert found.platform_id == again.platform_id == server.statuses[0].id
    assert len(server.statuses) == 1


async def test_a_500_before_the_post_is_unknown_and_find_published_sees_no_post(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    await connector.publish(account, post("An older post", key="older"))
    server.faults.append(Fault("error_500_before"))

    with pytest.raises(OutcomeUnknown):
        await connector.publish(account, post("Fresh post"))

    assert await connector.find_published(account, post("Fresh post")) is None
    assert [s.text for s in server.statuses] == ["An older post"]


async def test_a_503_after_the_post_was_made_is_unknown_and_find_published_finds_it(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    question = server.mention(text="when do you open?")
    reply = post("We open at 9.\n\nSee you https://example.com/opening-hours-and-directions", in_reply_to=question.id)
    server.faults.append(Fault("error_503_after"))

    with pytest.raises(OutcomeUnknown):
        await connector.publish(account, reply)

    found = await connector.find_published(account, reply)
    assert found is not None
    assert found.platform_id == server.statuses[0].id
    # the same text elsewhere in the thread (or not a reply) is another post
    assert await connector.find_published(account, post(reply.text)) is None


async def test_find_published_cannot_tell_when_mastodon_is_unreachable(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    server.faults.append(Fault("error_500_before", on="GET /api/v1/accounts"))
    with pytest.raises(OutcomeUnknown):
        await connector.find_published(account, post())

    server.faults.append(Fault("rate_limit", on="GET /api/v1/accounts/", seconds=60))
    with pytest.raises(OutcomeUnknown) as limited:
        await connector.find_published(account, post())
    assert limited.value.retry_at is not None


async def test_publishing_to_an_unreachable_server_is_unavailable_not_unknown(
    server: MastodonServer, connector: MastodonConnector
) -> None:
    closed = socket_nobody_listens_on()
    async with httpx.AsyncClient(timeout=1.0) as client:
        with pytest.raises(Unavailable):
            await connector.publish(access(server, client, base_url=f"http://127.0.0.1:{closed}"), post())


async def test_validation_errors_are_rejected_with_mastodons_message(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    with pytest.raises(Rejected, match="Text character limit of 500 exceeded"):
        await connector.publish(account, post("x" * 501))
    with pytest.raises(Rejected, match="Text can't be blank"):
        await connector.publish(account, post("   "))
    with pytest.raises(Rejected, match="does not appear to exist"):
        await connector.publish(account, post("a reply", in_reply_to="404404"))
    # a link counts 23 characters, however long it is
    long_link = "https://example.com/" + "a" * 600
    await connector.publish(account, post("x" * 400 + " " + long_link, key="with-link"))
    assert len(server.statuses) == 1


# -- rate limits -------------------------------------------------------------------------


async def test_429_is_rate_limited_until_the_reset_the_header_gives(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    server.faults.append(Fault("rate_limit", seconds=120))
    before = dt.datetime.now(dt.UTC)

    with pytest.raises(RateLimited) as limited:
        await connector.publish(account, post())

    assert limited.value.retry_at is not None
    assert before + dt.timedelta(seconds=118) < limited.value.retry_at < before + dt.timedelta(seconds=122)
    assert server.statuses == []


async def test_a_spent_budget_is_a_429_with_the_window_end(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    server.rate_limit = 0

    with pytest.raises(RateLimited) as limited:
        await connector.verify(account)

    assert limited.value.retry_at == account.usage.reset_at
    assert account.usage.remaining == 0
    assert limited.value.retry_at is not None and limited.value.retry_at > dt.datetime.now(dt.UTC)


async def test_usage_headers_fill_the_budget_and_the_connector_stops_before_it_is_spent(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    server.rate_limit = 8  # the connector keeps the last 5 (Limits.reserve)
    server.rate_window = 86400  # no new window half-way through the test

    await connector.verify(account)
    assert (account.usage.limit, account.usage.remaining) == (8, 7)
    assert account.usage.reset_at is not None and account.usage.reset_at.tzinfo is not None

    await connector.fetch_items(account, None)  # one empty page
    await connector.verify(account)
    assert account.usage.remaining == 5
    asked = len(server.requests)

    with pytest.raises(RateLimited) as limited:
        await connector.publish(account, post())

    assert len(server.requests) == asked  # Mastodon was not asked
    assert limited.value.retry_at == account.usage.reset_at
    assert server.statuses == []


# -- delete ------------------------------------------------------------------------------


async def test_delete_twice_is_fine(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    published = await connector.publish(account, post())

    await connector.delete(account, published.platform_id)
    await connector.delete(account, published.platform_id)

    assert server.statuses == []
    assert [s.id for s in server.deleted] == [published.platform_id]


async def test_delete_with_a_dead_token_needs_a_person(
    server: MastodonServer, account: AccountAccess, connector: MastodonConnector
) -> None:
    published = await connector.publish(account, post())
    server.revoke_token()
    with pytest.raises(TokenExpired):
        await connector.delete(account, published.platform_id)
    server.faults.append(Fault("error_500_before", on="DELETE /api/v1/statuses"))
    server.token_valid = True
    with pytest.raises(Unavailable):
        await connector.delete(account, published.platform_id)
    assert len(server.statuses) == 1


def socket_nobody_listens_on() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
