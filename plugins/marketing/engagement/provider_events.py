"""Bounces and complaints reported by a sending provider's webhook.

A provider (or a bridge in front of one) posts signed deliveries to the core's inbound
webhooks, ``POST /webhooks/mail-events`` once an admin ran ``kith webhooks add-source
mail-events``: the core checks the signature, keeps the delivery before it answers and
ignores a replay.  The rule this plugin ships (``marketing.provider-mail-events``) then
calls ``marketing.mail_events`` with the body, which does what a DSN or ARF mail
through the mail gateway does: a hard bounce or a complaint suppresses the address
and marks the campaign delivery, a soft bounce is counted.

The body is one event or ``{"events": [...]}``, each::

    {"type": "bounce", "hard": true, "email": "ann@example.com",
     "messageId": "<kith.c3.d41.…@acme.example>", "diagnostic": "5.1.1 user unknown"}

``type`` is ``bounce`` or ``complaint``; ``hard`` (bounces only, default true);
``email`` or ``messageId`` (the campaign mail's, as sent) or both; ``diagnostic``
optional.  An event that does not fit is skipped and reported in the run's result
with its index, field and reason; the others still apply.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.consent.suppression import suppress
from kith.plugins.marketing.engagement.bounces import count_soft_bounce, delivery_of, mark_bounced, mark_complained
from kith.sdk import ActionContext, PluginContext, ValidationFailed

#: the inbound webhook source the shipped rule listens to
SOURCE = "mail-events"
FUNCTION = "marketing.mail_events"


class MailEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["bounce", "complaint"]
    hard: bool = True
    email: str | None = Field(default=None, max_length=320)
    message_id: str | None = Field(default=None, alias="messageId", max_length=1000)
    diagnostic: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _names_someone(self) -> MailEvent:
        if not (self.email or self.message_id):
            raise ValueError("give email or messageId")
        return self


def _events(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        return list(data["events"])
    return [data]


async def mail_events(ctx: ActionContext) -> dict[str, Any]:
    """The shipped rule's function: apply each event of the webhook's body."""
    context = ctx.context.as_plugin(keep_permissions=False, name="mail events")
    applied, skipped = 0, []
    for index, raw in enumerate(_events(ctx.event.get("data"))):
        try:
            event = MailEvent.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "event"
            skipped.append({"index": index, "field": field, "message": first["msg"]})
            continue
        try:
            await apply(context, event)
        except ValidationFailed as exc:
            skipped.append({"index": index, "field": "email", "message": str(exc)})
            continue
        applied += 1
    return {"applied": applied, "skipped": skipped}


async def apply(context: PluginContext, event: MailEvent) -> None:
    """One event: the same effects as the DSN or ARF mail saying it."""
    delivery = delivery_of(context, event.message_id)
    why = event.diagnostic or ("complaint" if event.type == "complaint" else "bounced")
    if event.type == "bounce" and not event.hard:
        if delivery is not None:
            await count_soft_bounce(delivery, why)
        return
    reason = "complained" if event.type == "complaint" else "bounced"
    async with context.db.transaction():
        if event.email:
            await suppress(context, email=event.email, reason=reason, source=f"provider {event.type}: {why}"[:120])
        elif delivery is not None:
            contact = await CampaignDelivery.select(CampaignDelivery.contact).where(CampaignDelivery.id == delivery)
            if contact and contact[0]["contact"]:
                await suppress(
                    context, contact_id=int(contact[0]["contact"]), reason=reason, source=f"provider {event.type}"
                )
        if delivery is not None:
            await (mark_complained(delivery) if event.type == "complaint" else mark_bounced(delivery, why))


def rules() -> list[dict[str, Any]]:
    return [
        {
            "name": "marketing.provider-mail-events",
            "description": "Bounces and complaints a sending provider posts to /webhooks/mail-events suppress "
            "the address and mark the campaign mail (add the source with: kith webhooks add-source mail-events).",
            "enabled": True,
            "trigger": {"webhook": SOURCE},
            "actions": [{"call_function": {"function": FUNCTION, "args": {}}}],
        }
    ]
