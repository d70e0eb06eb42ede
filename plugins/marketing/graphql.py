"""The marketing plugin's GraphQL: segment counts and previews as the caller sees them,
and a static list's members changed by hand.  Segments themselves are the generated
``createSegment`` / ``updateSegment`` / ``segments``."""

import datetime
import decimal
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kith.plugins.marketing.campaigns import attribution, control
from kith.plugins.marketing.segments import members
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import GraphQLTypes, UserError, ValidationFailed, context_from, require_permission


def segment_queries(graphql: GraphQLTypes) -> type:
    @strawberry.type(description="What a segment definition matches, as you see it.")
    class SegmentPreview:
        count: int = strawberry.field(description="How many contacts you may read match.")
        contacts: Any = strawberry.field(
            graphql_type=graphql.list_of("contact"), description="The first of them, by last and first name."
        )
        errors: list[UserError]

    async def _preview(work: Any) -> SegmentPreview:
        try:
            found = await work
        except ValidationFailed as exc:
            return SegmentPreview(count=0, contacts=[], errors=[UserError.from_error(e) for e in exc.errors])
        return SegmentPreview(count=found.count, contacts=found.contacts, errors=[])

    @strawberry.type
    class SegmentQueries:
        @strawberry.field(
            description="Count and preview a segment definition (a contact filter) before saving it, "
            "computed from the definition now."
        )
        async def preview_segment(self, info: Info, definition: JSON, first: int = 20) -> SegmentPreview:
            require_permission(info, "contact", "read")
            if not isinstance(definition, dict):
                error = UserError(field="definition", code="invalid", message="must be a filter object")
                return SegmentPreview(count=0, contacts=[], errors=[error])
            return await _preview(members.preview(context_from(info), definition, min(first, 100)))

        @strawberry.field(description="A segment's current members you may read: how many, and the first of them.")
        async def segment_members(self, info: Info, segment_id: strawberry.ID, first: int = 20) -> SegmentPreview:
            require_permission(info, "segment", "read")
            return await _preview(members.members(context_from(info), int(segment_id), min(first, 100)))

    return SegmentQueries


def segment_mutations(graphql: GraphQLTypes) -> type:
    @strawberry.type
    class SegmentListPayload:
        changed: int = strawberry.field(description="Memberships added or removed.")
        errors: list[UserError]
        segment: Any = strawberry.field(graphql_type=Optional[graphql.node("segment")], default=None)

    async def _list(info: Info, segment_id: strawberry.ID, contact_ids: list[strawberry.ID], add: bool) -> Any:
        context = context_from(info)
        try:
            changed = await members.change_list(context, int(segment_id), [int(i) for i in contact_ids], add=add)
        except ValidationFailed as exc:
            return SegmentListPayload(changed=0, errors=[UserError.from_error(e) for e in exc.errors])
        return SegmentListPayload(changed=changed, errors=[], segment=await members.segment(context, int(segment_id)))

    @strawberry.type
    class EnrollPayload:
        entered: int = strawberry.field(description="Contacts who entered the journey.")
        errors: list[UserError]

    @strawberry.type
    class SegmentMutations:
        @strawberry.mutation(
            description="Put contacts on an active journey at its first step (those on it already, or through it "
            "when it takes nobody twice, are left); returns how many entered."
        )
        async def enroll_in_journey(
            self, info: Info, journey_id: strawberry.ID, contact_ids: list[strawberry.ID]
        ) -> EnrollPayload:
            from kith.plugins.marketing.journeys import triggers

            try:
                entered = await triggers.enroll_by_hand(
                    context_from(info), int(journey_id), [int(i) for i in contact_ids]
                )
            except ValidationFailed as exc:
                return EnrollPayload(entered=0, errors=[UserError.from_error(e) for e in exc.errors])
            return EnrollPayload(entered=entered, errors=[])

        @strawberry.mutation(description="Add contacts to a static segment (those already in it are left).")
        async def add_to_segment(
            self, info: Info, segment_id: strawberry.ID, contact_ids: list[strawberry.ID]
        ) -> SegmentListPayload:
            return await _list(info, segment_id, contact_ids, True)

        @strawberry.mutation(description="Remove contacts from a static segment.")
        async def remove_from_segment(
            self, info: Info, segment_id: strawberry.ID, contact_ids: list[strawberry.ID]
        ) -> SegmentListPayload:
            return await _list(info, segment_id, contact_ids, False)

        @strawberry.mutation(
            description="Bring a dynamic segment's members up to date now (writes keep them current; this is "
            "for changes further away, such as a renamed deal stage)."
        )
        async def refresh_segment(self, info: Info, segment_id: strawberry.ID) -> SegmentListPayload:
            context = context_from(info)
            try:
                found = await members.refresh(context, int(segment_id))
            except ValidationFailed as exc:
                return SegmentListPayload(changed=0, errors=[UserError.from_error(e) for e in exc.errors])
            return SegmentListPayload(changed=0, errors=[], segment=found)

    return SegmentMutations


def campaign_queries(graphql: GraphQLTypes) -> type:
    @strawberry.type(description="How many deliveries a campaign has in one status.")
    class DeliveryCount:
        status: str
        count: int

    @strawberry.type(
        description="A campaign's engagement, counted in SQL as you may see its recipients. Opens by mail "
        "privacy proxies (machine opens) and clicks by security scanners are left out of opens, clicks and "
        "the unique figures unless includeFlagged, and counted on their own."
    )
    class CampaignEngagementFigures:
        sent: int = strawberry.field(description="Deliveries handed to the receiving server.")
        delivered: int = strawberry.field(description="Sent less hard bounces.")
        opens: int = strawberry.field(description="Times the mail was opened (the pixel fetched).")
        unique_opens: int = strawberry.field(description="Deliveries opened at least once.")
        clicks: int = strawberry.field(description="Tracked links followed.")
        unique_clicks: int = strawberry.field(description="Deliveries with at least one click.")
        machine_opens: int = strawberry.field(description="Opens by privacy proxies (Apple, Gmail, Yahoo).")
        scanner_clicks: int = strawberry.field(
            description="Clicks by security scanners: too soon after delivery, a burst, or a gateway's agent."
        )
        hard_bounces: int = strawberry.field(description="Deliveries bounced for good (status bounced).")
        soft_bounces: int = strawberry.field(description="Temporary failures reported (4.x.x, delayed).")
        complaints: int = strawberry.field(description="Deliveries reported as spam (status complained).")
        replies: int = strawberry.field(
            description="Deliveries a person replied to (automatic replies such as out-of-office do not count)."
        )
        unsubscribes: Optional[int] = strawberry.field(
            description="Contacts who unsubscribed with a link of this campaign (null if you may not read "
            "suppressions)."
        )
        open_rate: Optional[float] = strawberry.field(description="uniqueOpens / delivered.")
        click_rate: Optional[float] = strawberry.field(description="uniqueClicks / delivered.")
        reply_rate: Optional[float] = strawberry.field(description="replies / delivered.")

    @strawberry.type(description="How a campaign's sending went, as you may see its recipients.")
    class CampaignReport:
        deliveries: list[DeliveryCount]
        resent: int = strawberry.field(
            description="Deliveries handed to SMTP more than once: sent again after a crash with the same "
            "Message-ID, so a recipient may have it twice."
        )
        errors: list[UserError]
        engagement: Optional[CampaignEngagementFigures] = None

    def _engagement(found: Any) -> Any:
        if found is None:
            return None
        return CampaignEngagementFigures(
            sent=found.sent,
            delivered=found.delivered,
            opens=found.opens,
            unique_opens=found.unique_opens,
            clicks=found.clicks,
            unique_clicks=found.unique_clicks,
            machine_opens=found.machine_opens,
            scanner_clicks=found.scanner_clicks,
            hard_bounces=found.hard_bounces,
            soft_bounces=found.soft_bounces,
            complaints=found.complaints,
            replies=found.replies,
            unsubscribes=found.unsubscribes,
            open_rate=found.open_rate,
            click_rate=found.click_rate,
            reply_rate=found.reply_rate,
        )

    @strawberry.type(description="An amount in one currency.")
    class CurrencyAmount:
        currency: str
        amount: decimal.Decimal

    @strawberry.type(description="The won deals a campaign had a share in, and its return on its cost.")
    class CampaignAttribution:
        model: str
        deals: int = strawberry.field(description="Won deals (that you may read) with a share from this campaign.")
        revenue: list[CurrencyAmount] = strawberry.field(description="The campaign's share of their amounts.")
        cost: Optional[CurrencyAmount]
        roi: Optional[decimal.Decimal] = strawberry.field(
            description="(revenue - cost) / cost, in the cost's currency; null without a cost."
        )
        errors: list[UserError]

    @strawberry.type
    class CampaignQueries:
        @strawberry.field(
            description="Won deals attributed to a campaign by first_touch, last_touch, linear or time_decay "
            "(a touch: the campaign's mail to the deal's contact before it was won), with revenue and ROI."
        )
        async def campaign_attribution(
            self, info: Info, campaign_id: strawberry.ID, model: str = "linear"
        ) -> CampaignAttribution:
            require_permission(info, "campaign", "read")
            context = context_from(info)
            settings = marketing_settings(context)
            try:
                found = await attribution.attribute(
                    context, int(campaign_id), model,
                    window_days=settings.attribution_window_days, half_life_days=settings.attribution_half_life_days,
                )  # fmt: skip
            except ValidationFailed as exc:
                return CampaignAttribution(
                    model=model, deals=0, revenue=[], cost=None, roi=None,
                    errors=[UserError.from_error(e) for e in exc.errors],
                )  # fmt: skip
            cost = CurrencyAmount(currency=found.cost["currency"], amount=found.cost["amount"]) if found.cost else None
            revenue = [CurrencyAmount(currency=c, amount=a) for c, a in sorted(found.revenue.items())]
            return CampaignAttribution(
                model=found.model, deals=found.deals, revenue=revenue, cost=cost, roi=found.roi, errors=[]
            )

        @strawberry.field(
            description="A campaign's deliveries by status (queued, sending, sent, failed, skipped, bounced, "
            "complained) and its engagement; includeFlagged counts machine opens and scanner clicks as engagement."
        )
        async def campaign_report(
            self, info: Info, campaign_id: strawberry.ID, include_flagged: bool = False
        ) -> CampaignReport:
            require_permission(info, "campaign_delivery", "read")
            try:
                found = await control.report(context_from(info), int(campaign_id), include_flagged)
            except ValidationFailed as exc:
                return CampaignReport(deliveries=[], resent=0, errors=[UserError.from_error(e) for e in exc.errors])
            counts = [DeliveryCount(status=s, count=n) for s, n in sorted(found.by_status.items())]
            return CampaignReport(
                deliveries=counts, resent=found.resent, errors=[], engagement=_engagement(found.engagement)
            )

    return CampaignQueries


def campaign_mutations(graphql: GraphQLTypes) -> type:
    @strawberry.type
    class CampaignActionPayload:
        errors: list[UserError]
        campaign: Any = strawberry.field(graphql_type=Optional[graphql.node("campaign")], default=None)

    @strawberry.type
    class TestSendPayload:
        sent: int
        errors: list[UserError]

    async def _act(work: Any) -> Any:
        try:
            return CampaignActionPayload(campaign=await work, errors=[])
        except ValidationFailed as exc:
            return CampaignActionPayload(errors=[UserError.from_error(e) for e in exc.errors])

    @strawberry.type
    class CampaignMutations:
        @strawberry.mutation(
            description="Send a campaign now, or at a time (`at`): its recipients are fixed when it starts."
        )
        async def start_campaign(
            self, info: Info, id: strawberry.ID, at: Optional[datetime.datetime] = None
        ) -> CampaignActionPayload:
            return await _act(control.start(context_from(info), int(id), at))

        @strawberry.mutation(description="Pause a sending or scheduled campaign; resumeCampaign goes on.")
        async def pause_campaign(self, info: Info, id: strawberry.ID) -> CampaignActionPayload:
            return await _act(control.pause(context_from(info), int(id)))

        @strawberry.mutation(description="Go on sending a paused campaign where it stopped.")
        async def resume_campaign(self, info: Info, id: strawberry.ID) -> CampaignActionPayload:
            return await _act(control.resume(context_from(info), int(id)))

        @strawberry.mutation(description="Stop a campaign for good; what was not sent stays unsent.")
        async def cancel_campaign(self, info: Info, id: strawberry.ID) -> CampaignActionPayload:
            return await _act(control.cancel(context_from(info), int(id)))

        @strawberry.mutation(
            description="Send the campaign to some addresses now, marked [TEST], rendered for one contact you "
            "may read (or a sample contact); it counts nowhere."
        )
        async def send_test_campaign(
            self, info: Info, id: strawberry.ID, to: list[str], contact_id: Optional[strawberry.ID] = None
        ) -> TestSendPayload:
            try:
                sent = await control.send_test(
                    context_from(info), int(id), to, int(contact_id) if contact_id is not None else None
                )
            except ValidationFailed as exc:
                return TestSendPayload(sent=0, errors=[UserError.from_error(e) for e in exc.errors])
            return TestSendPayload(sent=sent, errors=[])

    return CampaignMutations
