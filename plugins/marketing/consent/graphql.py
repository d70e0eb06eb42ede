"""Subscribing and unsubscribing a contact by hand (someone asked by phone, at a fair):
``subscribeContact`` and ``unsubscribeContact``, run as the caller.

The caller must be allowed to update contacts and create topic subscriptions, and must
see the contact: one they cannot see is ``not_found`` (naming ``contactId``), as if it
did not exist.  The work is ``subscriptions.subscribe`` / ``unsubscribe``, so the consent
record, the suppression list and a double opt-in's mail follow as everywhere else.
"""

from typing import Any, Optional

import strawberry
from strawberry.types import Info

from kith.plugins.marketing.consent import subscriptions
from kith.plugins.marketing.consent.models import Subscription
from kith.sdk import GraphQLTypes, PluginContext, UserError, ValidationFailed, context_from


async def _visible_contact(context: PluginContext, contact_id: str) -> int:
    """The contact's id once the caller may change consent on it, else an error."""
    for entity, action in (("contact", "update"), ("topic_subscription", "create")):
        if not context.can(entity, action):
            raise ValidationFailed.single(None, "forbidden", f"you may not {action} {entity} records")
    if not str(contact_id).isdigit() or await context.records.get("contact", int(contact_id)) is None:
        raise ValidationFailed.single("contactId", "not_found", f"no contact with id {contact_id}")
    return int(contact_id)


async def _subscriptions(context: PluginContext, contact_id: int, channel: str) -> list[dict[str, Any]]:
    rows = await Subscription.select(Subscription.id).where(
        (Subscription.contact == contact_id) & (Subscription.channel == channel.strip().lower())
    )
    found = [await context.records.get("topic_subscription", int(r["id"])) for r in rows]
    return sorted((s for s in found if s is not None), key=lambda s: str(s["topic"]))


def consent_mutations(graphql: GraphQLTypes) -> type:
    @strawberry.type(description="A contact's subscription after subscribeContact.")
    class SubscribePayload:
        errors: list[UserError]
        subscription: Any = strawberry.field(
            graphql_type=Optional[graphql.node("topic_subscription")],
            default=None,
            description="The subscription: `subscribed`, or `pending` until a double opt-in is confirmed.",
        )

    @strawberry.type(description="A contact's subscriptions on the channel after unsubscribeContact.")
    class UnsubscribePayload:
        errors: list[UserError]
        subscriptions: Any = strawberry.field(graphql_type=graphql.list_of("topic_subscription"), default_factory=list)

    @strawberry.type
    class ConsentMutations:
        @strawberry.mutation(
            description="Subscribe a contact you may see to a topic (a key of the `topics` setting): at once, or "
            "with `doubleOptIn` pending until they confirm the mail they get.  An address that unsubscribed "
            "before always has to confirm."
        )
        async def subscribe_contact(
            self, info: Info, contact_id: strawberry.ID, topic: str, channel: str = "email", double_opt_in: bool = False
        ) -> SubscribePayload:
            context = context_from(info)
            try:
                found = await _visible_contact(context, str(contact_id))
                written = await subscriptions.subscribe(
                    context, found, topic, channel=channel, source="admin", double_opt_in=double_opt_in
                )
            except ValidationFailed as exc:
                return SubscribePayload(errors=[UserError.from_error(e) for e in exc.errors])
            return SubscribePayload(errors=[], subscription=written)

        @strawberry.mutation(
            description="Unsubscribe a contact you may see from a topic, or (no topic) from all marketing: the "
            "subscriptions become `unsubscribed`, the consents are withdrawn and, by email, the addresses suppressed."
        )
        async def unsubscribe_contact(
            self, info: Info, contact_id: strawberry.ID, topic: Optional[str] = None, channel: str = "email"
        ) -> UnsubscribePayload:
            context = context_from(info)
            try:
                found = await _visible_contact(context, str(contact_id))
                await subscriptions.unsubscribe(context, found, topic=topic, channel=channel, source="admin")
            except ValidationFailed as exc:
                return UnsubscribePayload(errors=[UserError.from_error(e) for e in exc.errors])
            return UnsubscribePayload(errors=[], subscriptions=await _subscriptions(context, found, channel))

    return ConsentMutations
