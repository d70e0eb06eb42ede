"""The social plugin's GraphQL beyond its entities' generated queries: connecting and
reconnecting accounts (credentials go in, never come out), run as the caller."""

import datetime
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kith.plugins.social import accounts, listening
from kith.plugins.social.publishing import posts
from kith.sdk import GraphQLTypes, UserError, ValidationFailed, context_from


def _secrets(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValidationFailed.single(
            "credentials", "invalid", 'must be an object of strings, like {"access_token": "…"}'
        )
    return {str(k): v for k, v in value.items()}


def social_mutations(graphql: GraphQLTypes) -> type:
    @strawberry.type(description="An account after connectSocialAccount or reconnectSocialAccount.")
    class SocialAccountConnected:
        errors: list[UserError]
        account: Any = strawberry.field(graphql_type=Optional[graphql.node("social_account")], default=None)
        signing_secret: Optional[str] = strawberry.field(
            default=None,
            description="A webhook account's signing secret, shown this once (it is kept only encrypted): give it "
            "to the bridge that posts to /social/webhooks/<account id>.",
        )

    @strawberry.input(description="One account a post goes to, with its own text if it should differ.")
    class PostTargetInput:
        account_id: strawberry.ID
        text: Optional[str] = None

    @strawberry.type(description="A post after schedulePost, approvePost or cancelPost.")
    class SocialPostChanged:
        errors: list[UserError]
        post: Any = strawberry.field(graphql_type=Optional[graphql.node("social_post")], default=None)

    async def _post_change(info: Info, post_id: strawberry.ID, change: Any) -> SocialPostChanged:
        context = context_from(info)
        try:
            if not str(post_id).isdigit():
                raise ValidationFailed.single("postId", "not_found", f"no post {post_id}")
            return SocialPostChanged(errors=[], post=await change(context, int(post_id)))
        except ValidationFailed as exc:
            return SocialPostChanged(errors=[UserError.from_error(e) for e in exc.errors])

    @strawberry.type
    class SocialMutations:
        @strawberry.mutation(
            description="Send a draft to accounts at a time (`at`, ISO 8601; without an offset it is read in each "
            "account's time zone; null: now). Each account gets its own publication, published exactly once; an "
            "account that requires approval holds the post until a second person approves it."
        )
        async def schedule_post(
            self, info: Info, post_id: strawberry.ID, targets: list[PostTargetInput], at: Optional[str] = None
        ) -> SocialPostChanged:
            chosen = [{"accountId": str(t.account_id), "text": t.text} for t in targets]
            return await _post_change(info, post_id, lambda context, pid: posts.schedule(context, pid, at, chosen))

        @strawberry.mutation(description="Approve a post awaiting approval (not your own); it is then scheduled.")
        async def approve_post(self, info: Info, post_id: strawberry.ID) -> SocialPostChanged:
            return await _post_change(info, post_id, posts.approve)

        @strawberry.mutation(description="Withdraw what of a post has not gone out yet.")
        async def cancel_post(self, info: Info, post_id: strawberry.ID) -> SocialPostChanged:
            return await _post_change(info, post_id, posts.cancel)

        @strawberry.mutation(
            description="Connect an account a company manages: the connector checks the credentials first (a "
            "refused token is an error on `credentials`), which are then kept encrypted with the `credentials_key` "
            "setting."
        )
        async def connect_social_account(
            self,
            info: Info,
            platform: str,
            handle: str = "",
            base_url: str = "",
            credentials: Optional[JSON] = None,
            time_zone: str = "UTC",
            requires_approval: bool = False,
            posts_per_day: Optional[int] = None,
        ) -> SocialAccountConnected:
            context = context_from(info)
            try:
                if not context.can("social_account", "create"):
                    raise ValidationFailed.single(None, "forbidden", "you may not create social_account records")
                account, secret = await accounts.connect(
                    context, platform=platform, handle=handle, base_url=base_url, secrets=_secrets(credentials),
                    time_zone=time_zone, requires_approval=requires_approval, posts_per_day=posts_per_day,
                )  # fmt: skip
            except ValidationFailed as exc:
                return SocialAccountConnected(errors=[UserError.from_error(e) for e in exc.errors])
            return SocialAccountConnected(errors=[], account=account, signing_secret=secret)

        @strawberry.mutation(description="Give an account new credentials (after `reconnect_needed`).")
        async def reconnect_social_account(
            self, info: Info, account_id: strawberry.ID, credentials: JSON
        ) -> SocialAccountConnected:
            context = context_from(info)
            try:
                if not str(account_id).isdigit():
                    raise ValidationFailed.single("accountId", "not_found", f"no social account {account_id}")
                account = await accounts.reconnect(context, int(account_id), _secrets(credentials))
            except ValidationFailed as exc:
                return SocialAccountConnected(errors=[UserError.from_error(e) for e in exc.errors])
            return SocialAccountConnected(errors=[], account=account)

    return SocialMutations


def social_queries(graphql: GraphQLTypes) -> type:
    @strawberry.type(description="Mentions by sentiment label.")
    class SentimentCount:
        label: str
        mentions: int

    @strawberry.type(description="One period of listening: its mentions and how they sounded.")
    class ListeningPeriod:
        bucket: str = strawberry.field(description="The period's first day (UTC), e.g. 2026-03-02.")
        mentions: int
        average_sentiment: Optional[float] = strawberry.field(description="The mean compound score (-1..1).")
        sentiment: list[SentimentCount]

    @strawberry.type(description="A share of the mentions: an account's, a hashtag's or a topic's.")
    class ListeningShare:
        key: str = strawberry.field(description="The account's handle, the hashtag, or the topic's name.")
        kind: str = strawberry.field(description="account, hashtag or topic.")
        mentions: int
        share: float = strawberry.field(description="mentions / all mentions in the period (0..1).")
        average_sentiment: Optional[float] = None

    @strawberry.type(description="How fast tickets that came from social were answered and solved.")
    class SocialTicketTimes:
        tickets: int
        solved: int
        average_first_response_seconds: Optional[float] = strawberry.field(
            description="Mean time to first response, in working seconds of the ticket's SLA calendar."
        )
        average_resolution_seconds: Optional[float]

    @strawberry.type(
        description="Listening figures, each an aggregate in SQL over the mentions you may see (never a stored "
        "counter): volume, sentiment over time, share by account and by topic (hashtags and the `topics` "
        "setting's keywords), and response times on social tickets."
    )
    class SocialListening:
        mentions: int
        average_sentiment: Optional[float]
        sentiment: list[SentimentCount]
        over_time: list[ListeningPeriod]
        by_account: list[ListeningShare]
        by_topic: list[ListeningShare]
        tickets: Optional[SocialTicketTimes] = strawberry.field(
            description="Null without the service plugin, or if you may not read tickets."
        )
        errors: list[UserError]

    def _counts(found: dict[str, int]) -> list[SentimentCount]:
        return [SentimentCount(label=label, mentions=count) for label, count in sorted(found.items())]

    def _shares(found: list[Any]) -> list[ListeningShare]:
        return [
            ListeningShare(key=s.key, kind=s.kind, mentions=s.mentions, share=s.share,
                           average_sentiment=s.average_sentiment)
            for s in found
        ]  # fmt: skip

    @strawberry.type
    class SocialQueries:
        @strawberry.field(description="Listening figures for mentions posted from `since` until `until`.")
        async def social_listening(
            self,
            info: Info,
            since: Optional[datetime.datetime] = None,
            until: Optional[datetime.datetime] = None,
            bucket: str = "day",
            account_id: Optional[strawberry.ID] = None,
        ) -> SocialListening:
            context = context_from(info)
            try:
                found = await listening.listening(
                    context, since=since, until=until, bucket=bucket,
                    account_id=int(account_id) if account_id and str(account_id).isdigit() else None,
                )  # fmt: skip
            except ValidationFailed as exc:
                errors = [UserError.from_error(e) for e in exc.errors]
                return SocialListening(
                    mentions=0,
                    average_sentiment=None,
                    sentiment=[],
                    over_time=[],
                    by_account=[],
                    by_topic=[],
                    tickets=None,
                    errors=errors,
                )
            times = found.tickets
            return SocialListening(
                mentions=found.mentions,
                average_sentiment=found.average_sentiment,
                sentiment=_counts(found.by_label),
                over_time=[
                    ListeningPeriod(
                        bucket=p.bucket,
                        mentions=p.mentions,
                        average_sentiment=p.average_sentiment,
                        sentiment=_counts(p.by_label),
                    )
                    for p in found.over_time
                ],
                by_account=_shares(found.by_account),
                by_topic=_shares(found.by_topic),
                tickets=SocialTicketTimes(
                    tickets=times.tickets,
                    solved=times.solved,
                    average_first_response_seconds=times.average_first_response_seconds,
                    average_resolution_seconds=times.average_resolution_seconds,
                )
                if times
                else None,
                errors=[],
            )

    return SocialQueries
